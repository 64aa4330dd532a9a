"""The gap between two restarts of one connector that different rules ask for
(`queue.manual_restart_gap`). A status rule's failure restart and a schedule's run restarted the
same connector 9 ms apart in `run --once` and about 1 s apart in the daemon (probe of rules,
finding 2): each restart stops every task, and the `duplicate` check holds only while a restart is
queued, not once it was sent. A schedule's run within the gap of the connector's last restart (any
rule's, accepted or possibly made) is refused `recently_restarted`; a poll's failure restart within
the gap of a schedule's restart waits for the gap to pass, as its backoff would after a
restart of its own, and is decided again at each poll."""

from __future__ import annotations

from datetime import datetime

from ..model import ConnectorKey, ConnectorState, HistoryRecord, Trigger
from ..rules import manual_gap_left
from ..state import StateStore, StateStoreError


def last_restart_said(store: StateStore, key: ConnectorKey, state: ConnectorState) -> str:
    """Which rule restarted the connector last, and when, from its newest history record (the
    time alone when the history cannot say: a restart still under way, the store unreadable)."""
    assert state.last_restart_at is not None
    record = _newest(store, key)
    when = state.last_restart_at.isoformat(timespec="seconds")
    if record is None or record.at < state.last_restart_at.replace(microsecond=0):
        return f"at {when}"
    return (f"by rule {record.rule} ({'+'.join(t.value for t in record.triggers)}) at "
            f"{record.at.isoformat(timespec='seconds')}, {record.outcome.value}")


def _newest(store: StateStore, key: ConnectorKey) -> HistoryRecord | None:
    try:
        newest = store.history(key, 1)
    except StateStoreError:
        return None
    return newest[0] if newest else None


def schedule_too_soon(store: StateStore, key: ConnectorKey, state: ConnectorState, now: datetime,
                      gap: float, rule: str) -> str:
    """Why a schedule's run does not restart the connector now ("" when it may). Its own last run's
    restart does not hold it: an `interval` shorter than the gap (10 s at the least) restarts at
    each run, as it says."""
    left = manual_gap_left(state, now, gap)
    if not left:
        return ""
    newest, last = _newest(store, key), state.last_restart_at
    assert last is not None  # a gap is left
    if newest is not None and newest.rule == rule and set(newest.triggers) == {Trigger.SCHEDULE} \
            and newest.at >= last.replace(microsecond=0):
        return ""
    return (f"restarted {gap - left:.0f} s ago {last_restart_said(store, key, state)}: a schedule's run does not "
            f"restart it again within queue.manual_restart_gap ({gap:g} s); not made, its next run restarts it")


def failure_too_soon(store: StateStore, key: ConnectorKey, state: ConnectorState, now: datetime,
                     gap: float) -> str:
    """Why a poll's failure restart waits ("" when it may go): the connector's last restart, within
    the gap, was a schedule's (not joined by a failure: then it was an attempt, its backoff's)."""
    left = manual_gap_left(state, now, gap)
    if not left:
        return ""
    newest = _newest(store, key)
    # A schedule's alone: a restart by name followed by a failure is the operator's to judge
    # (restarted again at once, as before).
    if newest is None or set(newest.triggers) != {Trigger.SCHEDULE}:
        return ""
    return (f"restarted {gap - left:.0f} s ago {last_restart_said(store, key, state)}: not restarted again within "
            f"queue.manual_restart_gap ({gap:g} s); restarted in {left:.0f} s if a poll still sees it failing")
