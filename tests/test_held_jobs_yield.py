"""Restarts that the gates end at their turn (the fleet breaker opened over a poll's queue during an
outage, a window that closed, a blocking alert) each cost a write of their end; a worker ending
them must let the event loop run between two, or the lease's renewal waits on all of them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from watchdog.app import Daemon
from watchdog.engine import core
from watchdog.model import ConnectorKey, ConnectorState, HistoryRecord, Outcome

from .support import CLUSTER, daemon_config, in_process, sim_scenario
from .test_event_loop_lag import MAX_LAG, DistantStore, WorkClock, longest_stall

HEAL = {"name": "heal", "select": {"include": ["*"]}, "max_restarts": None,
        "trigger": {"type": "status", "interval": 60, "confirm_polls": 1}}


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> WorkClock:
    """The WorkClock the writes are charged to (the poll's slices read it too)."""
    clock = WorkClock()
    monkeypatch.setattr(core, "time", SimpleNamespace(monotonic=clock.monotonic))
    return clock


class DistantEnds(DistantStore):
    """Each restart's end, too, written to a database a few milliseconds away."""

    def finish(self, job_id: str, key: ConnectorKey, state: ConnectorState | None, record: HistoryRecord) -> None:
        self._away()
        super().finish(job_id, key, state, record)


async def test_restarts_the_breaker_ends_at_their_turn_let_the_event_loop_run(work: WorkClock) -> None:
    # An outage: a poll queued 200 failing connectors' restarts, the fleet breaker opened after
    # the first went out, and a worker ended the 199 others (breaker_open), one write each, in
    # one turn of the event loop. With PostgreSQL 2 ms away, 280 held a leader 3.2 s past its
    # renew_deadline (4 s): it stepped down at its next send, led again under a new epoch and
    # ended the rest again as dropped (two real replicas, bench/ha.py). Each end lets the loop go.
    names = [f"c{i:03d}" for i in range(200)]
    failing = [{"name": n, "script": {"initial": "FAILED", "recover_after_restarts": "never"}} for n in names]
    config = daemon_config([HEAL], breaker={"max_failing_share": 1.0, "min_failing": 100000, "max_restarts": len(names)},
                           rate_limit={"max_requests_per_second": 1000, "max_concurrent_requests": 1})
    w = in_process(sim_scenario(failing), config)
    slow = DistantEnds(0.02, work)
    daemon = Daemon(w.daemon.config, transport=w.daemon._transport, state=slow)
    try:
        await daemon.pollers[CLUSTER].poll()
        assert daemon.queue.depth("main") == len(names)
        # The window filled before their turn by failure restarts a poll's count of what is
        # queued does not hold (alerts', a leader's before, recalled from the history): one more
        # goes, the breaker then opens, and the others are ended at their turn. (A poll no longer
        # queues more failure restarts than the window has room for.)
        daemon.engine.breaker.remember_restarts([daemon.engine._now()] * (len(names) - 1))
        daemon.queue.start()
        stalled = await longest_stall(daemon.queue.join(), work)
        outcomes: dict[Any, int] = {}
        for record in slow.history(limit=1000):
            outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
        assert outcomes == {Outcome.ACCEPTED: 1, Outcome.DROPPED: len(names) - 1}, outcomes
        assert stalled <= MAX_LAG, f"the event loop was held {stalled:.2f} s of writes at once ending held restarts"
    finally:
        await daemon.stop()
