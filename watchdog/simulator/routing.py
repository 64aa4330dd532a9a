"""Which API, and which operation of it, a request addresses.

One simulator process serves three APIs side by side:

- Confluent Cloud's Connect API (research note §2): every operation lives under
  `/connect/v1/environments/{environment_id}/clusters/{kafka_cluster_id}`.
- Confluent's Metrics API (research note §5): `POST /v2/metrics/{dataset}/query` and
  `GET /v2/metrics/{dataset}/export` (on api.telemetry.confluent.cloud in real life).
- Self-managed Apache Kafka Connect clusters (research note §4): `/kafka-connect/{cluster}`
  followed by the worker's own REST paths, so that `http://host:port/kafka-connect/{cluster}`
  stands for one cluster's worker URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ApiFamily = Literal["cloud", "kafka_connect", "metrics"]
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
    "other",
]

KAFKA_CONNECT_PREFIX = "/kafka-connect"

_CLUSTER_PATH = re.compile(
    r"^/connect/v1/environments/(?P<environment>[^/]+)/clusters/(?P<cluster>[^/]+)(?P<rest>/.*)?$"
)
_KAFKA_CONNECT_PATH = re.compile(rf"^{KAFKA_CONNECT_PREFIX}/(?P<cluster>[^/]+)(?P<rest>/.*)?$")
_METRICS_PATH = re.compile(r"^/v2/metrics/(?P<dataset>[^/]+)(?P<rest>/.*)?$")

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


def classify(method: str, path: str) -> Route:
    """Name the API and the operation; a path or method none of them serves is `other`."""
    path = path.rstrip("/")
    if (match := _KAFKA_CONNECT_PATH.match(path)) is not None:
        return _kafka_connect_route(method, match["cluster"], match["rest"])
    if (match := _METRICS_PATH.match(path)) is not None:
        operation = (match["rest"] or "").strip("/")
        kind = _METRICS_OPERATIONS.get((method, operation), "other")
        return Route(kind, api="metrics", dataset=match["dataset"])
    return _cloud_route(method, path)


def _cloud_route(method: str, path: str) -> Route:
    match = _CLUSTER_PATH.match(path)
    if match is None:
        return Route("other")
    environment, cluster = match["environment"], match["cluster"]
    parts = (match["rest"] or "").strip("/").split("/")
    if parts[0] != "connectors":
        return Route("other", environment, cluster)
    if len(parts) == 1:
        return Route("list" if method == "GET" else "other", environment, cluster)
    connector, operation = parts[1], "/".join(parts[2:])
    kind = _CONNECTOR_OPERATIONS.get((method, operation), "other")
    return Route(kind, environment, cluster, connector)


def _kafka_connect_route(method: str, cluster: str, rest: str | None) -> Route:
    parts = (rest or "").strip("/").split("/")
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
