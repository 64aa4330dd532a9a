"""A discovered cluster's cmk/v2 phase across a restart of the daemon. "Has been ready once" lives
only in memory: read as ready only when exactly PROVISIONED, a live cluster whose phase was a new
one (UPDATING, say: the spec calls the phase an extensible enum) or missing (`status` left out by
a gateway) stayed watched while the daemon ran, and after a restart was no longer watched, with an
info line only, its failed connectors no longer healed (found 2026-12-07 by a black-box probe).
Only the phases the spec says serve nothing yet (PROVISIONING, FAILED) keep a cluster unwatched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.model import ConnectorKey

from .test_discovery import config_data, make_config

CLUSTERS = ("lkc-a1", "lkc-a2", "lkc-new", "lkc-broken")


def cmk(phases: dict[str, str | None]) -> httpx.MockTransport:
    """org/v2, cmk/v2 and connect/v1 answering as recorded answers do; each cluster in `phases`
    with that status.phase (None: no `status` at all); one FAILED connector `c1` on each."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/org/v2/environments":
            return httpx.Response(200, json={"metadata": {}, "data": [{"id": "env-a", "display_name": "prod"}]})
        if path == "/cmk/v2/clusters":
            return httpx.Response(200, json={"metadata": {"next": None}, "data": [
                {"id": cluster, "spec": {"display_name": cluster, "environment": {"id": "env-a"}},
                 **({} if phase is None else {"status": {"phase": phase}})} for cluster, phase in phases.items()]})
        if path.endswith("/connectors"):
            return httpx.Response(200, json={"c1": {"status": {
                "name": "c1", "connector": {"state": "FAILED", "worker_id": "w", "trace": "boom"}, "tasks": [],
                "type": "source"}}})
        return httpx.Response(202, json={})
    return httpx.MockTransport(handler)


def watched(daemon: Daemon) -> list[str]:
    return sorted(name for name in daemon.config.clusters if daemon.fleet.is_discovered(name))


def gauge(daemon: Daemon, state: str) -> float | None:
    return daemon.metrics.registry.get_sample_value("watchdog_discovery_clusters", {"state": state})


async def test_a_live_cluster_in_a_new_or_missing_phase_is_still_watched_after_a_restart_and_said_once(tmp_path: Path) -> None:
    data: dict[str, Any] = config_data({}, state={"path": str(tmp_path / "state.db")})
    first = Daemon(make_config(data), transport=cmk({"lkc-a1": "PROVISIONED", "lkc-a2": "PROVISIONED"}))
    await first.refresh_discovery()
    assert watched(first) == ["lkc-a1", "lkc-a2"]
    await first.stop()

    # The pod restarts while Confluent shows a phase it did not list before, and a gateway strips `status`.
    phases: dict[str, str | None] = {"lkc-a1": "UPDATING", "lkc-a2": None, "lkc-new": "PROVISIONING",
                                     "lkc-broken": "FAILED"}
    second = Daemon(make_config(data), transport=cmk(phases))
    with structlog.testing.capture_logs() as logs:
        await second.refresh_discovery()
        await second.refresh_discovery()
    assert watched(second) == ["lkc-a1", "lkc-a2"], "a live cluster in a phase the spec does not list went unwatched"
    assert gauge(second, "watched") == 2 and gauge(second, "not_ready") == 2
    said = [(e["cluster"], e["log_level"], e["detail"]) for e in logs if e["event"] == "discovery_cluster_phase_unknown"]
    assert said == [
        ("lkc-a1", "warning", "phase 'UPDATING' is not one the cmk/v2 spec lists (PROVISIONING, PROVISIONED, FAILED): "
                              "watched as a cluster that serves; only PROVISIONING and FAILED keep a cluster from being watched"),
        ("lkc-a2", "warning", "no phase (status.phase missing) is not one the cmk/v2 spec lists (PROVISIONING, PROVISIONED, "
                              "FAILED): watched as a cluster that serves; only PROVISIONING and FAILED keep a cluster from being watched"),
    ], "said once each, at warning, not at every refresh"
    not_ready = {e["cluster"]: e["detail"] for e in logs if e["event"] == "discovery_cluster_not_ready"}
    assert not_ready == {"lkc-new": "phase PROVISIONING", "lkc-broken": "phase FAILED"}
    await second.pollers["lkc-a1"].poll()
    assert second.engine.statuses[ConnectorKey("lkc-a1", "c1")].state == "FAILED", "polled: its connectors are healed"
    await second.stop()
