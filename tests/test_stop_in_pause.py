"""A stop while a 429's pause (or a spent budget) holds every call of the key past the shutdown deadline ends the
drain at once (probe_restart F6): nothing could be sent before the deadline, and the stop waited
it out all the same (20 s by default, the lease held meanwhile with replicas), to end the same
restarts `unsent`, kept, as it does now at once."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path

import structlog

from watchdog.model import ConnectorKey, Outcome, RestartRequest, Trigger
from watchdog.queue import RestartJob

from .support import CLUSTER, World, daemon_config, in_process, sim_scenario, until

PAUSE_429 = [{"match": {"endpoint": "restart"}, "action": {"status": 429, "headers": {"Retry-After": "300"}}}]
RULES = [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}]


def _asked(w: World) -> list[RestartJob]:
    """A restart by name of each connector, queued (POST /v1/restarts' path past the API)."""
    return [w.daemon.queue.submit(RestartRequest(
        id=f"r-c{i}", key=ConnectorKey(CLUSTER, f"c{i}"), rule="manual", trigger=Trigger.MANUAL, reason="test",
        requested_at=datetime.now(timezone.utc)))[0] for i in range(4)]


def _world(tmp_path: Path, deadline: float, faults: list[dict[str, object]]) -> World:
    connectors = [{"name": f"c{i}"} for i in range(4)]
    config = daemon_config(RULES, queue={"shutdown_deadline": deadline}, state={"path": str(tmp_path / "state.db")},
                           rate_limit={"max_pause": 600, "max_requests_per_second": 1000})
    return in_process(sim_scenario(connectors, faults=faults), config)


async def _stopped_at_once(w: World) -> list[RestartJob]:
    """The daemon's stop, which must not wait out its 20 s deadline: what it left unsent."""
    started = time.monotonic()
    async with asyncio.timeout(30):
        unsent = await w.daemon.stop()
    took = time.monotonic() - started
    assert took < 5, f"the stop waited {took:.1f} s for a deadline no call could beat (before: 20 s)"
    return unsent


async def test_a_stop_inside_a_pause_longer_than_the_deadline_ends_at_once_and_says_why(tmp_path: Path) -> None:
    w = _world(tmp_path, 20, PAUSE_429)
    await w.daemon.pollers[CLUSTER].poll()
    jobs = _asked(w)
    w.daemon.queue.start()
    await until(lambda: any(c.status_code == 429 for c in w.simulator.calls), "a restart answered 429", step=0.005)
    with structlog.testing.capture_logs() as logs:
        unsent = await _stopped_at_once(w)
    assert len(unsent) == 4 and {job.outcome for job in jobs} == {Outcome.UNSENT}
    for job in jobs:
        assert "a 429's Retry-After" in job.message and "past the shutdown deadline (20 s)" in job.message, job.message
        assert job.kept_for.endswith("sent at the next start"), job.kept_for
    stopped = next(e for e in logs if e["event"] == "stopped")
    assert stopped["unsent"] == 4
    assert stopped["drain_ended_early"].startswith("every call of API key 'main' waits "), stopped
    assert "past the shutdown deadline (20 s)" in stopped["drain_ended_early"], stopped
    assert len([c for c in w.simulator.calls if c.endpoint == "restart"]) == 1, "nothing more was sent"


async def test_a_pause_shorter_than_the_deadline_is_still_waited_out(tmp_path: Path) -> None:
    # The other side: a pause that ends before the deadline lets the queue send what it holds.
    w = _world(tmp_path, 20, [{**PAUSE_429[0], "when": {"count": 1}, "action": {"status": 429, "headers": {"Retry-After": "1"}}}])
    await w.daemon.pollers[CLUSTER].poll()
    _asked(w)
    w.daemon.queue.start()
    await until(lambda: any(c.status_code == 429 for c in w.simulator.calls), "a restart answered 429", step=0.005)
    with structlog.testing.capture_logs() as logs:
        async with asyncio.timeout(30):
            unsent = await w.daemon.stop()
    assert unsent == []
    assert sorted(c.connector for c in w.simulator.restarts()) == [f"c{i}" for i in range(4)]
    assert "drain_ended_early" not in next(e for e in logs if e["event"] == "stopped")


async def test_a_stop_while_the_keys_budget_is_spent_past_the_deadline_ends_at_once(tmp_path: Path) -> None:
    # A successful answer's `X-RateLimit-Remaining: 0` with a Reset past the deadline holds every
    # call of the key as surely as a 429's pause does: the limiter sends none before the Reset.
    # Before, the drain asked the pause alone and waited out the whole 20 s deadline to end the
    # same restarts unsent.
    spent = [{"match": {"endpoint": "restart"}, "when": {"count": 1},
              "action": {"status": 202, "headers": {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "300"}}}]
    w = _world(tmp_path, 20, spent)
    await w.daemon.pollers[CLUSTER].poll()
    jobs = _asked(w)
    w.daemon.queue.start()
    await until(lambda: any(c.endpoint == "restart" for c in w.simulator.calls), "a restart answered", step=0.005)
    await until(lambda: sum(job.outcome is Outcome.ACCEPTED for job in jobs) == 1, "the first restart accepted", step=0.005)
    with structlog.testing.capture_logs() as logs:
        unsent = await _stopped_at_once(w)
    assert len(unsent) == 3
    for job in unsent:
        assert "X-RateLimit-Remaining: 0" in job.message and "past the shutdown deadline (20 s)" in job.message, job.message
        assert job.kept_for.endswith("sent at the next start"), job.kept_for
    stopped = next(e for e in logs if e["event"] == "stopped")
    assert stopped["unsent"] == 3
    assert "API key 'main' waits" in stopped["drain_ended_early"] and "X-RateLimit-Remaining: 0" in stopped["drain_ended_early"], stopped
    assert len([c for c in w.simulator.calls if c.endpoint == "restart"]) == 1, "nothing more was sent"
