"""The `discovery` section: which Confluent Cloud environments and clusters the daemon finds by
itself (`GET /org/v2/environments`, `GET /cmk/v2/clusters?environment=...`) instead of reading
them from `clusters:`, with which credential, and how often it looks again.

A discovered cluster is named by its lkc- id in metrics, logs, rules and the state file: the id
never changes and is unique in the organization, where a display name can be renamed at any time
(and state is kept by cluster name). Its display name is shown next to it (`watchdog status`,
`watchdog_discovered_cluster_info`), and the `clusters` globs below match either.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Annotated

from pydantic import BeforeValidator, Field

from .types import ResourceId, Strict, parse_duration

# At least 10 s (the demo refreshes that often), at most a day; each refresh costs one call per
# page of environments and one per page of each selected environment's clusters.
DEFAULT_DISCOVERY_INTERVAL = 300.0
Glob = Annotated[str, Field(min_length=1, max_length=255)]


class EnvironmentSelection(Strict):
    """Which environments to look in. Neither `ids` nor `names`: every environment the key can
    see. Both: the union. With `ids` only, environments are not listed at all (the key needs no
    organization-wide access), so their display names are not known."""

    ids: list[ResourceId] = []
    names: list[Glob] = []  # globs on the environment's display name (`prod-*`)

    @property
    def everything(self) -> bool:
        return not self.ids and not self.names

    @property
    def needs_listing(self) -> bool:
        """Whether the environments must be listed to know which to look in."""
        return self.everything or bool(self.names)

    def selects(self, environment_id: str, display_name: str | None) -> bool:
        if self.everything or environment_id in self.ids:
            return True
        return display_name is not None and any(fnmatchcase(display_name, glob) for glob in self.names)


class ClusterSelection(Strict):
    """Which clusters of those environments to watch: globs on the display name or the lkc- id.
    Exclusion wins."""

    include: Annotated[list[Glob], Field(min_length=1)] = ["*"]
    exclude: list[Glob] = []

    def selects(self, cluster_id: str, display_name: str) -> bool:
        names = (cluster_id, display_name)
        if any(fnmatchcase(name, glob) for glob in self.exclude for name in names):
            return False
        return any(fnmatchcase(name, glob) for glob in self.include for name in names)


class DiscoverySettings(Strict):
    # The key that lists environments and clusters and then polls and restarts their connectors
    # (one key, one rate-limit lane). May be left out when exactly one credential is configured.
    credential: str | None = None
    interval: Annotated[float, BeforeValidator(parse_duration), Field(ge=10, le=86400)] = DEFAULT_DISCOVERY_INTERVAL
    environments: EnvironmentSelection = EnvironmentSelection()
    clusters: ClusterSelection = ClusterSelection()
