"""Which API, and which operation of it, a request addresses.

One simulator process serves four APIs side by side:

- Confluent Cloud's Connect API (research note §2): every operation lives under
  `/connect/v1/environments/{environment_id}/clusters/{kafka_cluster_id}`.
- Confluent's Metrics API (research note §5): `POST /v2/metrics/{dataset}/query` and
  `GET /v2/metrics/{dataset}/export` (on api.telemetry.confluent.cloud in real life).
- Confluent Cloud's environment and cluster lists (org/v2, cmk/v2) for discovery:
  `GET /org/v2/environments` and `GET /cmk/v2/clusters?environment=...`.
- Self-managed Apache Kafka Connect clusters (research note §4): `/kafka-connect/{cluster}`
  followed by the worker's own REST paths, so that `http://host:port/kafka-connect/{cluster}`
  stands for one cluster's worker URL.

Connector names in Confluent Cloud paths (ASSUMED: Confluent does not publish how its API
gateway routes encoded paths; `routing.encoded_slash` in the scenario picks one of two servers):

- `keep` (default): the path is split on `/` as sent, literal `.` and `..` segments are removed
  (RFC 3986, as every proxy does), then each segment is percent-decoded. `%2F` stays inside its
  segment, so `a%2Fb` names the connector `a/b`, and `%2E%2E` names the connector `..`. This is
  how routers that match on the escaped path behave (Go's ServeMux since 1.22, Envoy by default).
- `decode`: the path is percent-decoded first, adjacent slashes are merged (nginx's default,
  `merge_slashes on`), then dot segments are removed: `a%2F..%2Fb/restart` restarts `b`, and
  `%2Forders/restart` or `orders%2F/restart` restarts `orders`. A server like this is why a
  client must never send a name whose `/`-separated parts include `.`, `..` or an empty one
  (the daemon refuses: `unaddressable`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

ApiFamily = Literal["cloud", "kafka_connect", "metrics", "discovery"]
EncodedSlash = Literal["keep", "decode"]
EndpointKind = Literal[
    "list",
    "status",
    "read",
    "restart",
    "pause",
    "resume",
    "stop",
    "error_recommendations",
    "metrics_query",
    "metrics_export",
    "list_environments",  # GET /org/v2/environments (discovery_api.py)
    "list_clusters",  # GET /cmk/v2/clusters (discovery_api.py)
    "other",
]

KAFKA_CONNECT_PREFIX = "/kafka-connect"

_KAFKA_CONNECT_PATH = re.compile(rf"^{KAFKA_CONNECT_PREFIX}/(?P<cluster>[^/]+)(?P<rest>/.*)?$")
_METRICS_PATH = re.compile(r"^/v2/metrics/(?P<dataset>[^/]+)(?P<rest>/.*)?$")
# Confluent Cloud's organization and cluster-management lists, on the same host and key as connect/v1.
_DISCOVERY_PATHS: dict[str, EndpointKind] = {"/org/v2/environments": "list_environments", "/cmk/v2/clusters": "list_clusters"}

# (method, path after /connectors/{name}) -> operation
_CONNECTOR_OPERATIONS: dict[tuple[str, str], EndpointKind] = {
    ("GET", ""): "read",
    ("GET", "status"): "status",
    ("PUT", "pause"): "pause",
    ("PUT", "resume"): "resume",
    ("POST", "restart"): "restart",
    ("GET", "error-recommendations"): "error_recommendations",
}
# Kafka Connect has no error recommendations, and adds the per-task status and restart.
_KAFKA_CONNECT_OPERATIONS: dict[tuple[str, str], EndpointKind] = {
    ("GET", ""): "read",
    ("GET", "status"): "status",
    ("PUT", "pause"): "pause",
    ("PUT", "resume"): "resume",
    ("PUT", "stop"): "stop",  # 3.5+ (KIP-875)
    ("POST", "restart"): "restart",
}
_KAFKA_CONNECT_TASK_OPERATIONS: dict[tuple[str, str], EndpointKind] = {
    ("GET", "status"): "status",
    ("POST", "restart"): "restart",
}
_METRICS_OPERATIONS: dict[tuple[str, str], EndpointKind] = {
    ("POST", "query"): "metrics_query",
    ("GET", "export"): "metrics_export",
}


@dataclass(frozen=True, slots=True)
class Route:
    kind: EndpointKind
    environment: str | None = None
    cluster: str | None = None  # an lkc- id, or a Kafka Connect cluster's name
    connector: str | None = None
    api: ApiFamily = "cloud"
    task: int | None = None  # Kafka Connect's per-task status and restart
    dataset: str | None = None  # the Metrics API's dataset


def classify(
    method: str, path: str, raw_path: str | None = None, encoded_slash: EncodedSlash = "keep"
) -> Route:
    """Name the API and the operation; a path or method none of them serves is `other`.

    `path` is percent-decoded; `raw_path` is the path as sent (None: `path` is taken as sent).
    """
    path = path.rstrip("/")
    if (match := _KAFKA_CONNECT_PATH.match(path)) is not None:
        raw = _KAFKA_CONNECT_PATH.match(raw_path.rstrip("/")) if raw_path is not None else None
        if raw is not None:
            # Split as sent, then decoded: `a%2Fb` is one name (Kafka Connect before 4.0, on Jetty
            # 9.4, answers "No status found for connector a/b"; Jetty 12 refuses it before routing).
            return _kafka_connect_route(method, match["cluster"], raw["rest"], encoded=True)
        return _kafka_connect_route(method, match["cluster"], match["rest"])
    if path in _DISCOVERY_PATHS:
        return Route(_DISCOVERY_PATHS[path] if method == "GET" else "other", api="discovery")
    if (match := _METRICS_PATH.match(path)) is not None:
        operation = (match["rest"] or "").strip("/")
        kind = _METRICS_OPERATIONS.get((method, operation), "other")
        return Route(kind, api="metrics", dataset=match["dataset"])
    return _cloud_route(method, cloud_segments(raw_path if raw_path is not None else path, encoded_slash))


def cloud_segments(raw_path: str, encoded_slash: EncodedSlash = "keep") -> list[str]:
    """The decoded segments of a Confluent Cloud path, split as the module docstring says."""
    if encoded_slash == "decode":
        # The leading "" stands for the root; any other empty segment is a merged slash.
        merged = [segment for i, segment in enumerate(unquote(raw_path).split("/")) if segment or i == 0]
        return _without_dot_segments(merged)
    return [unquote(segment) for segment in _without_dot_segments(raw_path.split("/"))]


def _without_dot_segments(segments: list[str]) -> list[str]:
    """RFC 3986 5.2.4 on a split path: `.` is dropped, `..` drops the segment before it."""
    kept: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if len(kept) > 1:
                kept.pop()
            continue
        kept.append(segment)
    return kept


_CLOUD_PREFIX = ["", "connect", "v1", "environments"]


def _cloud_route(method: str, segments: list[str]) -> Route:
    while len(segments) > 1 and segments[-1] == "":
        segments = segments[:-1]  # a trailing slash
    if segments[:4] != _CLOUD_PREFIX or len(segments) < 7 or segments[5] != "clusters":
        return Route("other")
    environment, cluster, rest = segments[4], segments[6], segments[7:]
    if not environment or not cluster:
        return Route("other")
    if not rest or rest[0] != "connectors":
        return Route("other", environment, cluster)
    if len(rest) == 1:
        return Route("list" if method == "GET" else "other", environment, cluster)
    connector, operation = rest[1], "/".join(rest[2:])
    kind = _CONNECTOR_OPERATIONS.get((method, operation), "other")
    return Route(kind, environment, cluster, connector)


def _kafka_connect_route(method: str, cluster: str, rest: str | None, encoded: bool = False) -> Route:
    parts = (rest or "").strip("/").split("/")
    if encoded:
        parts = [unquote(part) for part in parts]
    if parts[0] != "connectors":
        return Route("other", cluster=cluster, api="kafka_connect")
    if len(parts) == 1:
        kind: EndpointKind = "list" if method == "GET" else "other"
        return Route(kind, cluster=cluster, api="kafka_connect")
    connector = parts[1]
    if len(parts) == 5 and parts[2] == "tasks" and parts[3].isdigit():
        kind = _KAFKA_CONNECT_TASK_OPERATIONS.get((method, parts[4]), "other")
        return Route(kind, None, cluster, connector, "kafka_connect", task=int(parts[3]))
    kind = _KAFKA_CONNECT_OPERATIONS.get((method, "/".join(parts[2:])), "other")
    return Route(kind, None, cluster, connector, "kafka_connect")
