"""What a strict server refuses in a request, by the specs (scenario `strict_requests: true`).

The real services are lenient in places (unknown query parameters are ignored, research note
§7) and their specs say what a client may send; a client that leans on the leniency breaks the
day a gateway in front of them validates. With `strict_requests` on, the simulator refuses,
after authentication and the rate limit, every request that its operation's spec does not allow:

- query parameters: only those the operation declares, each at most once unless it is an
  array; `expand` values from the spec's enum (connect/v1: id, info, status; Kafka Connect:
  status, info, each whole); `page_size` 1..100 and `page_token` at most 255 characters (org/v2,
  cmk/v2); `environment` present on the cluster list (cmk/v2); Kafka Connect's `includeTasks`
  and `onlyFailed` `true` or `false` (Kafka Connect reads any other value as false, silently);
- a body only where the operation takes one (the Metrics API query, as `application/json`):
  a restart, pause or resume takes none (connect/v1's lifecycle operations and Kafka Connect's
  restarts declare no requestBody);
- an `Accept` that rules out `application/json` (every answer here is JSON): 406.

The refusal is a 400 (406, 415 where HTTP names the problem) in the API's own error shape, and
the call record keeps why (`CallRecord.refused`): tests assert the real clients meet none.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

from watchdog.simulator.discovery_api import failure_reply
from watchdog.simulator.doors import ApiRequest
from watchdog.simulator.kafka_connect_api import kafka_connect_error
from watchdog.simulator.metrics_api import DATASETS as METRICS_DATASETS
from watchdog.simulator.metrics_api import metrics_error
from watchdog.simulator.operations import ApiReply, error_reply
from watchdog.simulator.routing import Route

# connect/v1 listConnectv1ConnectorsWithExpansions: `expand`, enum id | info | status, as a
# comma list (the spec's own path and examples: `expand=info,status,id`) or repeated.
_CLOUD_EXPANSIONS = frozenset({"id", "info", "status"})
# Kafka Connect's ConnectorsResource.listConnectors: @QueryParam("expand") List<String>, each
# value whole (KIP-465).
_KAFKA_CONNECT_EXPANSIONS = frozenset({"status", "info"})
# org/v2 and cmk/v2 list parameters.
_MAX_PAGE_SIZE = 100
_MAX_PAGE_TOKEN_CHARS = 255
# The Metrics API's QueryRequest properties (metrics/v2 spec).
QUERY_REQUEST_PROPERTIES = frozenset(
    {"aggregations", "group_by", "granularity", "filter", "order_by", "intervals", "limit", "format"}
)

# (api, endpoint kind) -> the query parameters the operation declares: name -> repeatable.
_PARAMETERS: dict[tuple[str, str], dict[str, bool]] = {
    ("cloud", "list"): {"expand": True},
    ("discovery", "list_environments"): {"page_size": False, "page_token": False},
    ("discovery", "list_clusters"): {
        "environment": False, "spec.network": True, "spec.deletion_protection": False,
        "page_size": False, "page_token": False,
    },
    ("metrics", "metrics_query"): {"page_token": False},
    ("kafka_connect", "list"): {"expand": True},
    ("kafka_connect", "restart"): {"includeTasks": False, "onlyFailed": False},
}
# Operations that take a body, and its media type.
_BODIES = {("metrics", "metrics_query"): "application/json"}
# The Metrics API's export answers text/plain (OpenMetrics), not JSON: its own door reads it.
_NOT_CHECKED = frozenset({("metrics", "metrics_export")})


class Refusal(ValueError):
    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.status = status


def check(route: Route, request: ApiRequest) -> Refusal | None:
    """Why a strict server refuses `request` (None: it is legal)."""
    key = (route.api, route.kind)
    if key in _NOT_CHECKED or route.kind == "other" or route.dataset not in (None, *METRICS_DATASETS):
        return None  # no such operation: the door answers 404
    try:
        _accept(request)
        _query(key, route, request)
        _body(key, request)
    except Refusal as refusal:
        return refusal
    return None


def _header(request: ApiRequest, name: str) -> str | None:
    return next((value for key, value in request.headers if key.lower() == name), None)


def _accept(request: ApiRequest) -> None:
    accept = _header(request, "accept")
    if accept is None:
        return
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if not any(r in ("application/json", "application/*", "*/*") for r in ranges):
        raise Refusal(f"Accept {accept!r} rules out application/json, the only type answered", 406)


def _query(key: tuple[str, str], route: Route, request: ApiRequest) -> None:
    declared = _PARAMETERS.get(key, {})
    counts = Counter(name for name, _ in request.query)
    unknown = sorted(set(counts) - set(declared))
    if unknown:
        raise Refusal(f"unknown query parameter(s) {', '.join(unknown)}; this operation takes "
                      f"{', '.join(sorted(declared)) or 'none'}")
    repeated = sorted(name for name, count in counts.items() if count > 1 and not declared[name])
    if repeated:
        raise Refusal(f"query parameter(s) {', '.join(repeated)} given more than once")
    values = {name: [v for n, v in request.query if n == name] for name in counts}
    if route.api == "cloud" and "expand" in values:
        _enum("expand", (part for value in values["expand"] for part in value.split(",")), _CLOUD_EXPANSIONS)
    if route.api == "kafka_connect" and "expand" in values:
        _enum("expand", values["expand"], _KAFKA_CONNECT_EXPANSIONS)
    if route.api == "kafka_connect" and route.kind == "restart":
        if route.task is not None and values:
            raise Refusal("a task restart takes no query parameters")
        for name in ("includeTasks", "onlyFailed"):
            for value in values.get(name, []):
                if value.lower() not in ("true", "false"):
                    raise Refusal(f"{name} must be true or false, not {value!r}")
    if route.api == "discovery":
        _page_parameters(values)
        if key[1] == "list_clusters" and not any(values.get("environment", [])):
            raise Refusal("the 'environment' query parameter is required")


def _enum(name: str, given: Iterable[str], allowed: frozenset[str]) -> None:
    for value in given:
        if value not in allowed:
            raise Refusal(f"{name} {value!r} is not one of {', '.join(sorted(allowed))}")


def _page_parameters(values: dict[str, list[str]]) -> None:
    for size in values.get("page_size", []):
        if not (size.isascii() and size.isdigit()) or not 1 <= int(size) <= _MAX_PAGE_SIZE:
            raise Refusal(f"page_size must be an integer from 1 to {_MAX_PAGE_SIZE}")
    for token in values.get("page_token", []):
        if len(token) > _MAX_PAGE_TOKEN_CHARS:
            raise Refusal(f"page_token is longer than {_MAX_PAGE_TOKEN_CHARS} characters")


def _body(key: tuple[str, str], request: ApiRequest) -> None:
    media = _BODIES.get(key)
    content_type = _header(request, "content-type")
    if media is None:
        if request.body:
            raise Refusal(f"{request.method} of this operation takes no body ({len(request.body)} bytes sent)")
        return
    if content_type is None or content_type.split(";")[0].strip().lower() != media:
        raise Refusal(f"the body must be {media}, not {content_type or 'of no declared type'}", 415)
    if key == ("metrics", "metrics_query"):
        _query_request(request.body)


def _query_request(body: bytes) -> None:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return  # the Metrics API's own door answers that
    if isinstance(data, dict):
        unknown = sorted(set(data) - QUERY_REQUEST_PROPERTIES)
        if unknown:
            raise Refusal(f"QueryRequest has no properties {', '.join(unknown)}")


def refusal_reply(route: Route, refusal: Refusal, error_shape: str) -> ApiReply:
    """The refusal in the error shape of the API it came to."""
    status, detail = refusal.status, str(refusal)
    if route.api == "cloud":
        return error_reply(status, detail, error_shape)
    if route.api == "discovery":
        return failure_reply(status, detail)
    if route.api == "metrics":
        return metrics_error(status, detail)
    return kafka_connect_error(status, detail)
