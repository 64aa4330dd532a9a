"""Confluent Cloud's environment and cluster lists, for discovery: `GET /org/v2/environments` and
`GET /cmk/v2/clusters?environment=...` (the org/v2 and cmk/v2 specs; scenario keys and what is
ASSUMED in discovery_scenario.py).

They live on api.confluent.cloud with connect/v1, so this door shares the Connect API's door for
authentication and the per-key rate limit (one key, one limit), and answers errors in these APIs'
own shape, `{"errors": [{"id", "status", "code", "title", "detail"}]}`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from watchdog.simulator.cloud_api import CloudApi, phrase
from watchdog.simulator.doors import Admission, ApiRequest
from watchdog.simulator.operations import ApiReply, json_reply
from watchdog.simulator.routing import Route
from watchdog.simulator.scenario import ApiKeySpec, ClusterSpec, EnvironmentSpec, Scenario

# Where `metadata.next` and every `self` link point, as in real answers: the client must take
# the page token from them and never call the host they name (it would carry the key there).
PUBLIC_BASE = "https://api.confluent.cloud"
DEFAULT_PAGE_SIZE = 10  # the specs' default
ORGANIZATION = "1111aaaa-11aa-11aa-11aa-111111aaaaaa"  # as in the Terraform provider's fixtures
_CODES = {400: "bad_request", 401: "user_unauthenticated", 403: "user_unauthorized", 404: "resource_not_found",
          429: "rate_limited", 500: "internal_server_error", 503: "service_unavailable"}
_DETAILS = {401: "Valid authentication credentials must be provided",
            403: "The user is not allowed to access the requested resource"}


class ClusterLifecycles:
    """When each Confluent Cloud cluster of the scenario exists, and in which phase."""

    def __init__(self, scenario: Scenario) -> None:
        self._environments = {e.id: e for e in scenario.environments}
        self._clusters = {c.id: (e, c) for e in scenario.environments for c in e.clusters}

    def exists(self, cluster: str, t: float) -> bool:
        """A cluster not (or no longer) created, or in an environment deleted by now, answers
        connect/v1 calls like an unknown cluster (404; ASSUMED). Self-managed names: always."""
        found = self._clusters.get(cluster)
        if found is None:
            return True  # not a Confluent Cloud cluster of the scenario: routing decides
        environment, spec = found
        return spec.lifecycle.exists(t) and environment.listed(t)

    def environment(self, environment_id: str) -> EnvironmentSpec | None:
        return self._environments.get(environment_id)


class DiscoveryApi:
    def __init__(self, scenario: Scenario, cloud: CloudApi, lifecycles: ClusterLifecycles, epoch: float) -> None:
        self._scenario = scenario
        self._cloud = cloud
        self._lifecycles = lifecycles
        self._epoch = epoch

    def admit(self, route: Route, request: ApiRequest, t: float) -> Admission:
        admission = self._cloud.admit(route, request, t)
        refusal = admission.refusal
        if refusal is not None and (refusal.status != 429 or refusal.body):
            # The Connect API's door answered in connect/v1's error shape; these APIs have their own.
            admission.refusal = failure_reply(refusal.status)
            admission.refusal.headers.update({k: v for k, v in refusal.headers.items() if k != "Content-Type"})
        return admission

    def answer(self, route: Route, request: ApiRequest, admission: Admission, t: float) -> ApiReply:
        assert admission.key is not None  # admit() refuses every request without a key
        try:
            if route.kind == "list_environments":
                reply = self._environments(admission.key, request.query, t)
            elif route.kind == "list_clusters":
                reply = self._clusters(admission.key, request.query, t)
            else:
                reply = failure_reply(404)
        except _BadRequest as problem:
            reply = failure_reply(400, str(problem), code=problem.code)
        self._cloud.add_success_headers(reply, admission, t)
        return reply

    def injected_error(self, status: int) -> ApiReply:
        return failure_reply(status)

    # -- the two lists ---------------------------------------------------------------------------

    def _environments(self, key: ApiKeySpec, query: Sequence[tuple[str, str]], t: float) -> ApiReply:
        shown = self._scenario.discovery.unpermitted_environments == "listed"
        environments = [e for e in self._scenario.environments if e.listed(t) and (shown or key.may_list(e.id))]
        items = [environment_body(e, self._epoch) for e in sorted(environments, key=lambda e: e.id)]
        return json_reply(200, self._page("org/v2", "EnvironmentList", "/org/v2/environments", items, query, {}))

    def _clusters(self, key: ApiKeySpec, query: Sequence[tuple[str, str]], t: float) -> ApiReply:
        environment_ids = [value for name, value in query if name == "environment"]
        if not environment_ids or not environment_ids[0]:
            raise _BadRequest("The 'environment' query parameter is required", "missing_parameter")
        environment = self._lifecycles.environment(environment_ids[0])
        if environment is None or not environment.listed(t) or not key.may_list(environment.id):
            # ASSUMED: an environment the key may not see is refused like one that is not there.
            return failure_reply(403)
        clusters = [c for c in environment.clusters if c.lifecycle.exists(t) and key.may_use(c.id)]
        items = [cluster_body(environment, c, t, self._epoch) for c in sorted(clusters, key=lambda c: c.id)]
        page = self._page("cmk/v2", "ClusterList", "/cmk/v2/clusters", items, query, {"environment": environment.id})
        return json_reply(200, page)

    def _page(
        self, api_version: str, kind: str, path: str, items: list[dict[str, Any]],
        query: Sequence[tuple[str, str]], filters: dict[str, str],
    ) -> dict[str, Any]:
        """One page, cursor-paged: the token is the last id shown (base64 JSON, as the Terraform
        provider's recorded tokens are), so an item created meanwhile is neither lost nor repeated."""
        size = self._page_size(query)
        after = _cursor(next((v for n, v in query if n == "page_token"), None))
        remaining = [item for item in items if after is None or item["id"] > after]
        page, more = remaining[:size], len(remaining) > size
        metadata: dict[str, Any] = {"first": f"{PUBLIC_BASE}{path}", "total_size": len(items)}
        if filters:
            metadata["first"] += "?" + urlencode(filters)
        if more:
            token = base64.urlsafe_b64encode(json.dumps({"id": page[-1]["id"]}).encode()).decode().rstrip("=")
            metadata["next"] = f"{PUBLIC_BASE}{path}?" + urlencode({**filters, "page_size": size, "page_token": token})
        return {"api_version": api_version, "kind": kind, "metadata": metadata, "data": page}

    def _page_size(self, query: Sequence[tuple[str, str]]) -> int:
        text = next((v for n, v in query if n == "page_size"), None)
        if text is None:
            return DEFAULT_PAGE_SIZE
        maximum = self._scenario.discovery.page_size_max
        if not text.isdigit() or not 1 <= int(text) <= maximum:
            raise _BadRequest(f"page_size must be between 1 and {maximum}", "invalid_page_size")
        return int(text)


class _BadRequest(ValueError):
    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.code = code


def _cursor(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise _BadRequest("The page_token is not valid", "invalid_page_token") from None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("id"), str):
        raise _BadRequest("The page_token is not valid", "invalid_page_token")
    return str(decoded["id"])


def failure_reply(status: int, detail: str | None = None, code: str | None = None) -> ApiReply:
    """The org/v2 and cmk/v2 `Failure` body."""
    error = {
        "id": hashlib.sha256(f"{status}/{detail}".encode()).hexdigest()[:32],
        "status": str(status),
        "code": code or _CODES.get(status, "error"),
        "title": phrase(status),
        "detail": detail or _DETAILS.get(status, phrase(status)),
    }
    return json_reply(status, {"errors": [error]})


def _timestamp(epoch: float, t: float) -> str:
    moment = datetime.fromtimestamp(epoch + t, tz=timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def environment_body(environment: EnvironmentSpec, epoch: float) -> dict[str, Any]:
    return {
        "api_version": "org/v2",
        "kind": "Environment",
        "id": environment.id,
        "display_name": environment.display_name or environment.id,
        "metadata": {
            "self": f"{PUBLIC_BASE}/org/v2/environments/{environment.id}",
            "resource_name": f"crn://confluent.cloud/organization={ORGANIZATION}/environment={environment.id}",
            "created_at": _timestamp(epoch, 0.0),
            "updated_at": _timestamp(epoch, 0.0),
        },
        "stream_governance_config": {"package": "ESSENTIALS"},
    }


def cluster_body(environment: EnvironmentSpec, cluster: ClusterSpec, t: float, epoch: float) -> dict[str, Any]:
    """As the Terraform provider's recorded cmk/v2 answers show a Standard cluster."""
    environment_crn = f"crn://confluent.cloud/organization={ORGANIZATION}/environment={environment.id}"
    suffix = cluster.id.removeprefix("lkc-")
    host = f"pkc-{suffix}.{cluster.region}.{cluster.cloud.lower()}.confluent.cloud"
    return {
        "api_version": "cmk/v2",
        "kind": "Cluster",
        "id": cluster.id,
        "metadata": {
            "self": f"{PUBLIC_BASE}/cmk/v2/clusters/{cluster.id}",
            "resource_name": f"{environment_crn}/cloud-cluster={cluster.id}/kafka={cluster.id}",
            "created_at": _timestamp(epoch, cluster.lifecycle.created_at),
            "updated_at": _timestamp(epoch, cluster.lifecycle.created_at),
        },
        "spec": {
            "display_name": cluster.display_name or cluster.id,
            "availability": "SINGLE_ZONE",
            "cloud": cluster.cloud,
            "region": cluster.region,
            "config": {"kind": "Standard"},
            "environment": {
                "api_version": "org/v2",
                "id": environment.id,
                "kind": "Environment",
                "related": f"{PUBLIC_BASE}/org/v2/environments/{environment.id}",
                "resource_name": environment_crn,
            },
            "http_endpoint": f"https://{host}:443",
            "kafka_bootstrap_endpoint": f"SASL_SSL://{host}:9092",
        },
        "status": {"phase": cluster.lifecycle.phase(t)},
    }
