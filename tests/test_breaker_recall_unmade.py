"""The fleet window recalled at a start counts what the live count counts (engine/fleet_count.py):
a failure restart whose call may have run (accepted, timed out), not one whose only call was
answered 429 (nothing ran). Before, every record with a try counted: a daemon restarted after a
429 storm held its failure restarts `breaker_open` for a window though none had been made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from watchdog.model import ConnectorKey, HistoryRecord, Outcome, Trigger
from watchdog.state import SqliteStateStore

from .support import CLUSTER, daemon_config, in_process, sim_scenario

HEAL = {"name": "heal", "select": {"include": ["*"]}, "trigger": {"type": "status", "interval": 60, "confirm_polls": 1}}
N = 3


def _started_after(tmp_path: Path, outcome: Outcome, status_code: int | None,
                   tries: int = 1) -> tuple[int | None, list[dict]]:
    """A daemon with breaker.max_restarts N started after a run whose N failure restarts, a minute
    ago, each had one call ending `outcome` with `status_code`: its fleet room, and its log."""
    path = tmp_path / "state.db"
    ago = datetime.now(UTC) - timedelta(seconds=60)
    store = SqliteStateStore(str(path))
    for i in range(N):
        key = ConnectorKey(CLUSTER, f"c{i}")
        store.finish(f"j{i}", key, None, HistoryRecord(
            at=ago, key=key, job_id=f"j{i}", rule="heal", trigger=Trigger.STATUS, triggers=(Trigger.STATUS,),
            outcome=outcome, status_code=status_code, tries=tries))
    store.close()
    config = daemon_config([HEAL], state={"path": str(path)}, breaker={"max_restarts": N, "window": 600})
    w = in_process(sim_scenario([{"name": f"c{i}"} for i in range(N)]), config)
    daemon = w.daemon
    with structlog.testing.capture_logs() as logs:
        daemon.engine.recover()
    room = daemon.engine.breaker.fleet_room()
    daemon.engine.state.close()
    return room, logs


def test_restarts_answered_only_429_before_a_start_leave_the_fleet_window_free(tmp_path: Path) -> None:
    room, logs = _started_after(tmp_path, Outcome.RATE_LIMITED, 429)
    assert room == N, f"nothing ran: the window is free (room {room})"
    assert not [e for e in logs if e["event"] == "breaker_recalled"], logs


def test_restarts_accepted_before_a_start_still_fill_the_fleet_window(tmp_path: Path) -> None:
    room, logs = _started_after(tmp_path, Outcome.ACCEPTED, 202)
    assert room == 0
    assert next(e for e in logs if e["event"] == "breaker_recalled")["restarts"] == N


def test_restarts_that_timed_out_before_a_start_still_fill_the_fleet_window(tmp_path: Path) -> None:
    room, _ = _started_after(tmp_path, Outcome.NETWORK_ERROR, None)  # no answer: it may have run
    assert room == 0


def test_restarts_whose_last_of_several_calls_got_429_still_count(tmp_path: Path) -> None:
    """The history keeps the last answer alone: an earlier call may have timed out, and run."""
    room, _ = _started_after(tmp_path, Outcome.RATE_LIMITED, 429, tries=2)
    assert room == 0
