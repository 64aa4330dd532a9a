"""A cluster a reload adds while the daemon is ready does not take the daemon out of its Service.

Measured against `watchdog simulate`: a ready daemon watching `d` was sent SIGHUP with a config
adding `c`, whose Connect API takes calls and answers none; /readyz answered 503
(`clusters_not_yet_polled: ["c"]`) for 30 s, until c's first poll timed out. The shipped
readinessProbe (failureThreshold 3, periodSeconds 5) takes the pod out of its Service after 15 s
of that: the Alertmanager webhook and the restart API of every healthy cluster with it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from watchdog.config import Config

from .support import ENVIRONMENT, HeldCalls, daemon_config, in_process, sim_scenario, until


def config(*clusters: str) -> Config:
    rule = {"name": "heal", "trigger": {"type": "status", "interval": 10}, "select": {"include": ["*"]}}
    return daemon_config([rule], clusters={name: {"environment_id": ENVIRONMENT, "kafka_cluster_id": f"lkc-{name}"}
                                           for name in clusters})


async def test_a_cluster_a_reload_adds_does_not_make_a_ready_daemon_unready_while_its_first_poll_hangs() -> None:
    scenario: dict[str, Any] = sim_scenario([])
    scenario["environments"][0]["clusters"] = [{"id": f"lkc-{name}", "connectors": [{"name": f"{name}-sink"}]}
                                               for name in ("c", "d")]
    w = in_process(scenario, config("d"))
    daemon = w.daemon
    daemon.probes.config_loaded = True
    held = HeldCalls(w, "lkc-c")  # c's API takes the call and answers nothing
    try:
        assert daemon.probes.readiness()[0] is False, "not ready before the first poll"
        await daemon.pollers["d"].poll()
        assert daemon.probes.readiness()[0] is True
        daemon._reload_config = lambda: config("c", "d")
        assert await daemon.reload("test") is True
        poll = asyncio.create_task(daemon.pollers["c"].poll())
        await asyncio.wait_for(held.reached.wait(), 5)
        ready, detail = daemon.probes.readiness()
        assert ready is True, detail
    finally:
        held.release()
    await asyncio.wait_for(poll, 10)
    await until(lambda: daemon.pollers["c"].first_poll_done, "c polled")
    assert daemon.probes.readiness()[0] is True


async def test_a_fresh_start_still_waits_for_every_clusters_first_poll() -> None:
    scenario: dict[str, Any] = sim_scenario([])
    scenario["environments"][0]["clusters"] = [{"id": f"lkc-{name}", "connectors": []} for name in ("c", "d")]
    w = in_process(scenario, config("c", "d"))
    daemon = w.daemon
    daemon.probes.config_loaded = True
    await daemon.pollers["d"].poll()
    ready, detail = daemon.probes.readiness()
    assert ready is False and detail["clusters_not_yet_polled"] == ["c"], detail
    await daemon.pollers["c"].poll()
    assert daemon.probes.readiness()[0] is True
