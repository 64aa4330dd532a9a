"""A refresh whose listings would drop every watched cluster at once (the whole fleet, or all of
an environment) on an empty or refused answer: held, said at error, counted for alerting. Before,
one `200 {"data": []}` from org/v2 (or cmk/v2 for one environment, or a 403 on it) on two
refreshes dropped them all, each refresh counted `ok`, and nothing paged (found 2026-12-07 by a
black-box probe). Clusters deleted one by one are still dropped by the ordinary rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

from watchdog.app import Daemon

from .test_discovery import config_data, make_config


class Cloud:
    """org/v2 and cmk/v2 as recorded answers show them, changed by the test between refreshes."""

    def __init__(self, clusters: dict[str, list[str]]) -> None:
        self.clusters = clusters  # environment -> its clusters' ids
        self.environments_empty = False
        self.refused: set[str] = set()  # environments whose cluster list answers 403
        self.not_found: set[str] = set()  # environments whose cluster list answers 404
        self.t = 1000.0

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/org/v2/environments":
            listed = [] if self.environments_empty else [{"id": e, "display_name": e} for e in sorted(self.clusters)]
            return httpx.Response(200, json={"metadata": {}, "data": listed})
        if path == "/cmk/v2/clusters":
            environment = request.url.params["environment"]
            if environment in self.refused:
                return httpx.Response(403, json={"errors": [{"status": "403", "detail": "Forbidden Access"}]})
            if environment in self.not_found:
                return httpx.Response(404, json={"errors": [{"status": "404", "detail": "Not Found"}]})
            return httpx.Response(200, json={"metadata": {"next": None}, "data": [
                {"id": c, "spec": {"display_name": c, "environment": {"id": environment}}, "status": {"phase": "PROVISIONED"}}
                for c in self.clusters.get(environment, [])]})
        return httpx.Response(200, json={"c1": {"status": {"connector": {"state": "RUNNING"}, "tasks": []}}})

    def daemon(self) -> Daemon:
        return Daemon(make_config(config_data({"interval": 60})), transport=httpx.MockTransport(self.handler),
                      clock=lambda: self.t, now=lambda: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.t))


def watched(daemon: Daemon) -> list[str]:
    return sorted(name for name in daemon.config.clusters if daemon.fleet.is_discovered(name))


def sample(daemon: Daemon, name: str, **labels: str) -> float | None:
    return daemon.metrics.registry.get_sample_value(name, labels)


async def refreshes(cloud: Cloud, daemon: Daemon, count: int, every: float = 120) -> list[dict[str, Any]]:
    with structlog.testing.capture_logs() as logs:
        for _ in range(count):
            cloud.t += every
            await daemon.refresh_discovery()
    return logs


async def test_an_empty_environment_listing_holds_the_whole_fleet_says_it_at_error_and_counts_it() -> None:
    cloud = Cloud({"env-a": ["lkc-a1", "lkc-a2"], "env-b": ["lkc-b1"]})
    daemon = cloud.daemon()
    await daemon.refresh_discovery()
    assert watched(daemon) == ["lkc-a1", "lkc-a2", "lkc-b1"]

    cloud.environments_empty = True  # an IAM glitch, a gateway's empty cached page
    logs = await refreshes(cloud, daemon, 4)

    assert watched(daemon) == ["lkc-a1", "lkc-a2", "lkc-b1"], "one empty listing unwatched the whole fleet"
    assert [e["event"] for e in logs if e["event"] == "discovery_cluster_removed"] == []
    held = [e for e in logs if e["event"] == "discovery_removal_held"]
    assert len(held) == 1 and held[0]["log_level"] == "error", "said once, at error"
    assert held[0]["clusters"] == 3 and held[0]["environments"] == ["env-a", "env-b"]
    # missing from 1120 s on (the first refresh without them), held an hour from then
    assert held[0]["detail"].startswith("the listings would drop every watched discovered cluster (3) at once: held, "
                                        "still watched, until 2026-01-01 01:18:40 UTC unless listed again")
    assert sample(daemon, "watchdog_discovery_removals_held") == 3
    assert sample(daemon, "watchdog_discovery_refreshes_total", result="held") == 3
    assert [e["result"] for e in logs if e["event"] == "discovery_refreshed"][-1] == "held"

    cloud.environments_empty = False  # the glitch ends: nothing was lost
    logs = await refreshes(cloud, daemon, 1)
    assert watched(daemon) == ["lkc-a1", "lkc-a2", "lkc-b1"]
    assert sample(daemon, "watchdog_discovery_removals_held") == 0
    [ended] = [e for e in logs if e["event"] == "discovery_removal_hold_ended"]
    assert ended["returned"] == ["lkc-a1", "lkc-a2", "lkc-b1"] and ended["dropped"] == []

    cloud.environments_empty = True  # and this time it lasts: taken for what it says after the hour
    logs = await refreshes(cloud, daemon, 32)
    assert watched(daemon) == []
    removed = [e for e in logs if e["event"] == "discovery_cluster_removed"]
    assert len(removed) == 3 and "its removal held 60m first" in removed[0]["detail"]
    assert sample(daemon, "watchdog_discovery_removals_held") == 0
    await daemon.stop()


async def test_an_environment_whose_clusters_all_vanish_or_are_refused_is_held_the_others_untouched() -> None:
    for how in ("empty", "403"):
        cloud = Cloud({"env-a": ["lkc-a1", "lkc-a2"], "env-b": ["lkc-b1"]})
        daemon = cloud.daemon()
        await daemon.refresh_discovery()
        if how == "empty":
            cloud.clusters["env-a"] = []
        else:
            cloud.refused.add("env-a")

        logs = await refreshes(cloud, daemon, 3)

        assert watched(daemon) == ["lkc-a1", "lkc-a2", "lkc-b1"], how
        [held] = [e for e in logs if e["event"] == "discovery_removal_held"]
        assert held["environments"] == ["env-a"] and held["clusters"] == 2, how
        assert "every watched cluster of environment env-a (2) at once" in held["detail"]
        assert sample(daemon, "watchdog_discovery_removals_held") == 2
        # The first refresh without them calls them missing, as ever; the next would drop them: held.
        assert sample(daemon, "watchdog_discovery_refreshes_total", result="ok") == 2
        assert sample(daemon, "watchdog_discovery_refreshes_total", result="held") == 2
        await daemon.stop()


async def test_clusters_deleted_one_by_one_are_still_dropped_by_the_ordinary_rule() -> None:
    cloud = Cloud({"env-a": ["lkc-a1", "lkc-a2"], "env-b": ["lkc-b1"]})
    daemon = cloud.daemon()
    await daemon.refresh_discovery()

    cloud.clusters["env-a"] = ["lkc-a2"]
    logs = await refreshes(cloud, daemon, 2)
    assert watched(daemon) == ["lkc-a2", "lkc-b1"]
    cloud.clusters["env-a"] = []  # the last of its environment, while the fleet has others
    logs += await refreshes(cloud, daemon, 2)

    assert watched(daemon) == ["lkc-b1"]
    assert [e["cluster"] for e in logs if e["event"] == "discovery_cluster_removed"] == ["lkc-a1", "lkc-a2"]
    assert [e for e in logs if e["event"] == "discovery_removal_held"] == []
    assert sample(daemon, "watchdog_discovery_refreshes_total", result="held") == 0
    await daemon.stop()


async def test_the_only_cluster_of_an_environment_refused_403_is_held_while_a_404_drops_it() -> None:
    # The key's role on env-a removed (or being re-applied by Terraform) while env-b stays readable:
    # the environment is still listed, only its clusters are refused. Before, its one cluster was
    # dropped after two refreshes, each counted `ok`, and nothing paged: it lost its healing.
    cloud = Cloud({"env-a": ["lkc-a1"], "env-b": ["lkc-b1", "lkc-b2"]})
    daemon = cloud.daemon()
    await daemon.refresh_discovery()
    cloud.refused.add("env-a")

    logs = await refreshes(cloud, daemon, 3)

    assert watched(daemon) == ["lkc-a1", "lkc-b1", "lkc-b2"], "a 403 on a listed environment is no deletion"
    [held] = [e for e in logs if e["event"] == "discovery_removal_held"]
    assert held["environments"] == ["env-a"] and held["clusters"] == 1 and held["log_level"] == "error"
    assert "the clusters of environment env-a, whose cluster list the key was refused (403" in held["detail"]
    assert sample(daemon, "watchdog_discovery_removals_held") == 1
    assert sample(daemon, "watchdog_discovery_refreshes_total", result="held") == 2

    cloud.refused.clear()  # the role binding is back: nothing was lost
    logs = await refreshes(cloud, daemon, 1)
    assert watched(daemon) == ["lkc-a1", "lkc-b1", "lkc-b2"]
    assert sample(daemon, "watchdog_discovery_removals_held") == 0

    cloud.refused.add("env-a")  # and this time it lasts the hour: taken for what it says
    logs = await refreshes(cloud, daemon, 32)
    assert watched(daemon) == ["lkc-b1", "lkc-b2"]
    [removed] = [e for e in logs if e["event"] == "discovery_cluster_removed"]
    assert removed["cluster"] == "lkc-a1" and "its removal held 60m first" in removed["detail"]
    await daemon.stop()

    # A 404 says the environment is gone: its last cluster goes by the ordinary rule, unheld.
    cloud = Cloud({"env-a": ["lkc-a1"], "env-b": ["lkc-b1", "lkc-b2"]})
    daemon = cloud.daemon()
    await daemon.refresh_discovery()
    cloud.not_found.add("env-a")
    logs = await refreshes(cloud, daemon, 2)
    assert watched(daemon) == ["lkc-b1", "lkc-b2"]
    assert [e for e in logs if e["event"] == "discovery_removal_held"] == []
    assert sample(daemon, "watchdog_discovery_refreshes_total", result="held") == 0
    await daemon.stop()
