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


async def test_a_first_poll_waiting_out_a_429_pause_does_not_keep_the_daemon_unready_for_the_pause() -> None:
    """Started while the key is under a 429 pause (a probe of a Kubernetes rollout): the first
    cluster's poll met the 429 (a poll, "listed once, successfully or not"), the second's waited
    for the pause before its call, and /readyz said 503 `clusters_not_yet_polled` for the whole
    pause (121 s at `Retry-After: 120`): the only leader out of its Service, a rolling update
    stalled. A cluster whose first poll waits on its key's pause counts as tried, and is named."""
    scenario: dict[str, Any] = sim_scenario([])
    scenario["environments"][0]["clusters"] = [{"id": f"lkc-{name}", "connectors": [{"name": f"{name}-sink"}]}
                                               for name in ("c", "d")]
    w = in_process(scenario, config("c", "d"))
    daemon = w.daemon
    daemon.probes.config_loaded = True
    w.simulator.set_faults([{"match": {"endpoint": "list"}, "when": {"count": 1},
                             "action": {"status": 429, "headers": {"Retry-After": "120"}}}])
    await daemon.pollers["c"].poll()  # answered 429: its key pauses 120 s
    waiting = asyncio.create_task(daemon.pollers["d"].poll())
    try:
        await asyncio.sleep(0.2)
        assert not waiting.done(), "d's first poll waits out the key's pause"
        ready, detail = daemon.probes.readiness()
        assert ready is True, detail
        assert [(p["cluster"], p["paused_by"].startswith("a 429")) for p in detail["clusters_waiting_on_a_pause"]] == [
            ("d", True)], detail
    finally:
        waiting.cancel()
