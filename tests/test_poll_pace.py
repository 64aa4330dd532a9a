"""An `unconfirmed` failure's detail says when its confirming poll comes: in about the polls
still needed times the interval while polls come at it; while the key's rate limit holds them
further apart, which poll, with no time that is false (a storm probe, 2026-12-06: "in about 10s"
while polls came 60 s apart behind 300 queued restarts)."""

from __future__ import annotations

from typing import Any

import structlog

from .support import CLUSTER, daemon_config, in_process, sim_cluster, sim_scenario


def _unconfirmed(logs: list[dict[str, Any]]) -> list[str]:
    return [e["detail"] for e in logs if e["event"] == "decision" and e["decision"] == "unconfirmed"]


async def test_an_unconfirmed_failure_names_no_false_time_while_its_polls_are_held_apart() -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 10, "confirm_polls": 3},
              "select": {"include": ["*"]}}]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": 1}}])
    w = in_process(scenario, daemon_config(rules), fake_time=True)
    assert w.clock is not None
    with structlog.testing.capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
        w.clock.advance(60)  # the next poll held 60 s by the key's rate limit, not 10 s
        await w.daemon.pollers[CLUSTER].poll()
    first, second = _unconfirmed(logs)
    # The first poll knows no gap yet: its interval's pace.
    assert first.endswith("restarted at the last of them if it still fails, in about 20s"), first
    assert second == (
        "seen failed on 2 of the 3 polls in a row that confirm it (confirm_polls 3, every 10s): restarted at the last "
        "of them if it still fails, at the next poll; no time said: the latest poll came 1m after the one before, "
        "not every 10s (the key's rate limit or slow answers hold them)"), second
    # Back at its pace, it says the time again.
    with structlog.testing.capture_logs() as logs:
        w.simulator.set_state(sim_cluster(), "orders-sink", "RUNNING")
        w.clock.advance(10)
        await w.daemon.pollers[CLUSTER].poll()
        w.simulator.set_state(sim_cluster(), "orders-sink", "FAILED")
        w.clock.advance(10)
        await w.daemon.pollers[CLUSTER].poll()
    assert [d.split(": ", 1)[1] for d in _unconfirmed(logs)] == [
        "restarted at the last of them if it still fails, in about 20s"], _unconfirmed(logs)
