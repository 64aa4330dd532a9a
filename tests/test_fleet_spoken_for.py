"""The fleet breaker shown open while its room is spoken for: when the key's rate limit, not the
breaker, paces a backlog, failure restarts queued to go take the window's room and a poll's next
restarts are held `breaker_open` though the restarts sent never reach `max_restarts`. What holds
them must show where the on-call looks: watchdog_breaker_open{scope="fleet"} (WatchdogBreakerOpen
keys on it), and a breaker_opened / breaker_closed line for `fleet` (a storm probe, 2026-12-06:
hundreds held `breaker_open`, a new failure on a healthy cluster too, while the gauge said 0)."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, Clock, World, daemon_config, sim_scenario

HEAL = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
        "backoff": {"base": 60, "cap": 600, "jitter": 0}}


def backlog_world() -> World:
    """Ten connectors failing (each healed by one restart), four failure restarts per 10 minutes;
    the queue not started: its restarts wait, as behind a rate-limited key."""
    clock = Clock()
    connectors = [{"name": f"f{i}", "script": {"initial": "FAILED", "recover_after_restarts": 1}} for i in range(10)]
    simulator = Simulator(Scenario.model_validate(sim_scenario(connectors)), clock=clock.monotonic)
    config = daemon_config([HEAL], rate_limit={"max_requests_per_second": 10000},
                           breaker={"max_failing_share": None, "max_restarts": 4, "window": 600})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall, rng=lambda: 0.0)
    return World(simulator, daemon, clock)


def fleet_lines(logs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["event"], e.get("reason", "")) for e in logs
            if e["event"] in ("breaker_opened", "breaker_closed") and e["scope"] == "fleet"]


async def test_restarts_held_for_the_fleets_room_taken_by_those_queued_show_the_fleet_breaker_open() -> None:
    w = backlog_world()
    assert w.clock is not None
    with structlog.testing.capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
    assert w.simulator.restarts() == [], "the queue has sent nothing yet: no restart was sent in the window"
    held = [e for e in logs if e["event"] == "decision" and e["decision"] == "breaker_open"]
    assert len(held) == 6
    assert held[0]["detail"].startswith("0 restarts in the last 600s and 4 queued to go (limit 4)")
    # What holds them shows: the gauge WatchdogBreakerOpen keys on, and the breaker's own line,
    # before the first restart it holds.
    assert w.sample("watchdog_breaker_open", scope="fleet") == 1
    assert fleet_lines(logs) == [("breaker_opened", "0 restarts in the last 600s, 4 queued to go (limit 4); "
                                                    "those queued: 4 on API key 'main'; "
                                                    "the room of this window is spoken for")]
    opened = next(e for e in logs if e["event"] == "breaker_opened")
    assert logs.index(opened) < logs.index(held[0])
    assert opened["note"].startswith("failure restarts (status, alert, stall) wait for room")

    # The backlog drains, the rest go a window later, and the breaker closes (and says so) once
    # nothing waits and the window has let the last restarts go.
    w.daemon.queue.start()
    await w.daemon.queue.join()
    with structlog.testing.capture_logs() as logs:
        for _ in range(25):
            w.clock.advance(60)
            await w.daemon.pollers[CLUSTER].poll()
            await w.daemon.queue.join()
            w.daemon.engine.refresh_breaker()
    assert len(w.simulator.restarts()) == 10
    assert fleet_lines(logs) == [("breaker_closed", "")], "open through the drain, closed once at its end"
    assert w.sample("watchdog_breaker_open", scope="fleet") == 0
