"""A stop while a 429's pause holds every call of the key past the shutdown deadline ends the
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


async def test_a_stop_inside_a_pause_longer_than_the_deadline_ends_at_once_and_says_why(tmp_path: Path) -> None:
    w = _world(tmp_path, 20, PAUSE_429)
    await w.daemon.pollers[CLUSTER].poll()
    jobs = _asked(w)
    w.daemon.queue.start()
    await until(lambda: any(c.status_code == 429 for c in w.simulator.calls), "a restart answered 429", step=0.005)
    with structlog.testing.capture_logs() as logs:
        started = time.monotonic()
        async with asyncio.timeout(30):
            unsent = await w.daemon.stop()
        took = time.monotonic() - started
    assert took < 5, f"the stop waited {took:.1f} s for a deadline no call could beat (before: 20 s)"
    assert len(unsent) == 4 and {job.outcome for job in jobs} == {Outcome.UNSENT}
    for job in jobs:
        assert "paused for" in job.message and "past the shutdown deadline (20 s)" in job.message, job.message
        assert job.kept_for.endswith("sent at the next start"), job.kept_for
    stopped = next(e for e in logs if e["event"] == "stopped")
    assert stopped["unsent"] == 4
    assert stopped["drain_ended_early"].startswith("every call of API key 'main' is paused for "), stopped
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
