"""The `watchdog_discovery_*` metrics, on the daemon's registry. Label values are bounded: states,
results and changes are fixed sets; the info metric has one series per watched cluster."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from .inventory import Change, ClusterState, EnvironmentOutcome, WatchedCluster

REFRESH_RESULTS = ("ok", "held", "partial", "failed")


class DiscoveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.clusters = Gauge(
            "watchdog_discovery_clusters",
            "Clusters discovery knows of, by state: watched (polled; includes missing), missing (absent "
            "from the last refresh that read its environment), not_ready (PROVISIONING or FAILED), excluded "
            "(by discovery.clusters), static (a clusters: entry covers it).",
            ["state"], registry=registry,
        )
        self.environments = Gauge(
            "watchdog_discovery_environments",
            "Selected environments by the outcome of their last listing: read, gone (403/404, or no "
            "longer listed while its clusters are still held), unknown (could not be read).",
            ["outcome"], registry=registry,
        )
        self.refreshes = Counter(
            "watchdog_discovery_refreshes",
            "Discovery refreshes: ok (every selected environment read), held (read, but they would drop "
            "every watched cluster, or all of an environment, at once: held, see watchdog_discovery_removals_held), "
            "partial (some could not be read), failed (the environments could not be listed, or none could be read).",
            ["result"], registry=registry,
        )
        self.last_success = Gauge(
            "watchdog_discovery_last_success_timestamp_seconds",
            "When a discovery refresh last read every selected environment (0: never).",
            registry=registry,
        )
        self.removals_held = Gauge(
            "watchdog_discovery_removals_held",
            "Discovered clusters still watched though the listings no longer show them, because they would "
            "drop every watched cluster, or all of an environment, at once, or their listed environment's "
            "cluster list answers 403: held for an hour (0: none).",
            registry=registry,
        )
        self.changes = Counter(
            "watchdog_discovery_changes",
            "Changes to discovered clusters: added, removed, missing, returned, renamed, moved, not_ready, "
            "phase_unknown (listed in a phase the cmk/v2 spec does not list, or none: watched).",
            ["change"], registry=registry,
        )
        self.cluster_info = Gauge(
            "watchdog_discovered_cluster_info",
            "1 per watched discovered cluster; its labels name it (join on `cluster` for display names).",
            ["cluster", "environment", "environment_name", "display_name"], registry=registry,
        )
        for state in ClusterState:
            self.clusters.labels(state.value)
        for outcome in EnvironmentOutcome:
            self.environments.labels(outcome.value)
        for result in REFRESH_RESULTS:
            self.refreshes.labels(result)
        for change in Change:
            self.changes.labels(change.value)

    def show_watched(self, before: dict[str, WatchedCluster], after: dict[str, WatchedCluster]) -> None:
        for name, cluster in before.items():
            if after.get(name) != cluster:
                self.cluster_info.remove(*_info_labels(cluster))
        # Every one, not only the changed: a replica that stood by (stand_by) shows them again
        # at its first refresh once it leads.
        for cluster in after.values():
            self.cluster_info.labels(*_info_labels(cluster)).set(1)

    def stand_by(self) -> None:
        """This replica stopped leading: what discovery found is the leader's to show now. Kept,
        a standby showed its last refresh's clusters, environments and success time for ever
        (every discovered cluster twice in a join on `cluster`, one of them as it was when this
        replica stood by). Now they show what a daemon that has not refreshed shows."""
        self.cluster_info.clear()
        for state in ClusterState:
            self.clusters.labels(state.value).set(0)
        for outcome in EnvironmentOutcome:
            self.environments.labels(outcome.value).set(0)
        self.last_success.set(0)
        self.removals_held.set(0)


def _info_labels(cluster: WatchedCluster) -> tuple[str, str, str, str]:
    return (cluster.id, cluster.environment_id, cluster.environment_name or "", cluster.display_name)
