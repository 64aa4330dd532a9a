"""Which Connect API operation a request addresses.

Paths follow the connect/v1 spec (research note §2): every operation lives under
`/connect/v1/environments/{environment_id}/clusters/{kafka_cluster_id}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

EndpointKind = Literal[
    "list", "status", "read", "restart", "pause", "resume", "error_recommendations", "other"
]

_CLUSTER_PATH = re.compile(
    r"^/connect/v1/environments/(?P<environment>[^/]+)/clusters/(?P<cluster>[^/]+)(?P<rest>/.*)?$"
)

# (method, path after /connectors/{name}) -> operation
_CONNECTOR_OPERATIONS: dict[tuple[str, str], EndpointKind] = {
    ("GET", ""): "read",
    ("GET", "status"): "status",
    ("PUT", "pause"): "pause",
    ("PUT", "resume"): "resume",
    ("POST", "restart"): "restart",
    ("GET", "error-recommendations"): "error_recommendations",
}


@dataclass(frozen=True, slots=True)
class Route:
    kind: EndpointKind
    environment: str | None = None
    cluster: str | None = None
    connector: str | None = None


def classify(method: str, path: str) -> Route:
    """Name the operation; a path or method the simulator does not serve is `other`."""
    match = _CLUSTER_PATH.match(path.rstrip("/"))
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
