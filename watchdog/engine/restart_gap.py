"""The gap between two restarts of one connector that different rules ask for
(`queue.manual_restart_gap`). A status rule's failure restart and a schedule's run restarted the
same connector 9 ms apart in `run --once` and about 1 s apart in the daemon (probe of rules,
finding 2): each restart stops every task, and the `duplicate` check holds only while a restart is
queued, not once it was sent. A schedule's run within the gap of the connector's last restart (any
rule's, accepted or possibly made) is refused `recently_restarted`; a poll's failure restart within
the gap of a schedule's restart waits for the gap to pass, as its backoff would after a
restart of its own, and is decided again at each poll.

The gap counts from a restart that was, or may have been, made (`made_gap`), not from a call the
API refused: `state.last_restart_at` moves at every failure attempt whatever its answer (its
backoff counts from it), and measured from it a 401, 403 or 500 held the gap as if the connector
had been restarted (a runbook probe, 2026-12-06). The runbook's fix-up, `watchdog restart --daemon`
once the key was fixed, was refused `recently_restarted: restarted 17 s ago`, and a nightly
schedule's run was dropped until the next night."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..model import ConnectorKey, ConnectorState, HistoryRecord, Outcome, Trigger
from ..rules import manual_gap_left
from ..state import StateStore, StateStoreError

# Outcomes of a restart that was, or may have been, made (recorder.MAY_HAVE_RESTARTED); and a
# network error whose last call got no answer, which its message says (queue/dispatch.py's
# NO_ANSWER_NOTE, report/history.py reads it the same way), or whose job crashed (restart_queue.py:
# whether its call went is not known).
_MADE = frozenset({Outcome.ACCEPTED, Outcome.UNCONFIRMED, Outcome.INTERRUPTED})
_NO_ANSWER_SAID = "may have reached the API"
_CRASHED = "internal error: "
# Records read, newest first, to find the last restart made within the gap. A gap of a day can
# hold more failure attempts than that: past them the gap holds, the safe side (as before).
_RECORDS_READ = 50


@dataclass(frozen=True)
class Gap:
    """What is left of the gap: `left` seconds, after the restart `by` (None when the history
    does not say which: a restart still under way, the store unreadable)."""

    left: float
    by: HistoryRecord | None
    last: datetime  # when that restart ended (state.last_restart_at when `by` is None)


def may_have_been_made(record: HistoryRecord, *, dry_run: bool = False) -> bool:
    """Whether the record's restart was, or may have been, made; in a dry run's view
    (`dry_run`), one the dry run would have made counts too (its gap holds as the live one's)."""
    return record.outcome in _MADE or (dry_run and record.outcome is Outcome.DRY_RUN) or (
        record.outcome is Outcome.NETWORK_ERROR and record.status_code is None
        and (_NO_ANSWER_SAID in record.message or record.message.startswith(_CRASHED)))


def made_gap(store: StateStore, key: ConnectorKey, state: ConnectorState, now: datetime, gap: float, *,
             dry_run: bool = False) -> Gap | None:
    """The gap left after the connector's last restart that was, or may have been, made; None
    when none holds it. The history is read only where `state.last_restart_at` leaves a gap (a
    restart by name or a schedule's run of a connector not restarted within it costs no read)."""
    left = manual_gap_left(state, now, gap)
    if not left:
        return None
    last = state.last_restart_at
    assert last is not None  # a gap is left
    try:
        records = store.history(key, _RECORDS_READ)
    except StateStoreError:
        return Gap(left, None, last)
    if not records or records[0].at < last.replace(microsecond=0):
        # The last restart has no record yet (under way, its outcome not written): it may be made.
        return Gap(left, None, last)
    for record in records:
        ago = (now - record.at).total_seconds()
        if ago >= gap:
            return None  # every restart within the gap was refused, dropped or cancelled: none made
        if may_have_been_made(record, dry_run=dry_run):
            held = left if record is records[0] else max(0.0, gap - ago)
            return Gap(held, record, record.at) if held else None
    # The whole history read and no restart made in it: none holds the gap. Past the records
    # read, an older one may: the gap holds (the safe side).
    return None if len(records) < _RECORDS_READ else Gap(left, None, last)


def said(found: Gap) -> str:
    """Which rule restarted the connector last, and when, from its history record (the time alone
    when the history cannot say: a restart still under way, the store unreadable)."""
    record = found.by
    if record is None:
        return f"at {found.last.isoformat(timespec='seconds')}"
    return (f"by rule {record.rule} ({'+'.join(t.value for t in record.triggers)}) at "
            f"{record.at.isoformat(timespec='seconds')}, {record.outcome.value}")


def restarted_ago(found: Gap, gap: float) -> str:
    """`restarted 6 s ago`, or, when the restart that holds the gap is not known to have run (its
    outcome unconfirmed, interrupted, or a call with no answer), `a restart that may have run 6 s
    ago (unconfirmed)`: refused as "restarted 6 s ago", a restart no worker had confirmed (a
    proxy's 502 page, probe s73) read as one made, and the FAILED connector was left alone."""
    ago = f"{gap - found.left:.0f} s ago"
    record = found.by
    if record is None or record.outcome in (Outcome.ACCEPTED, Outcome.DRY_RUN):
        return f"restarted {ago}"
    return f"a restart that may have run {ago} ({record.outcome.value}: no answer said it ran)"


def schedule_too_soon(store: StateStore, key: ConnectorKey, state: ConnectorState, now: datetime,
                      gap: float, rule: str, *, dry_run: bool = False) -> str:
    """Why a schedule's run does not restart the connector now ("" when it may). Its own last run's
    restart does not hold it: an `interval` shorter than the gap (10 s at the least) restarts at
    each run, as it says."""
    found = made_gap(store, key, state, now, gap, dry_run=dry_run)
    if found is None:
        return ""
    newest = found.by
    if newest is not None and newest.rule == rule and set(newest.triggers) == {Trigger.SCHEDULE}:
        return ""
    return (f"{restarted_ago(found, gap)} {said(found)}: a schedule's run does not "
            f"restart it again within queue.manual_restart_gap ({gap:g} s); not made, its next run restarts it")


def failure_too_soon(store: StateStore, key: ConnectorKey, state: ConnectorState, now: datetime,
                     gap: float, *, dry_run: bool = False) -> str:
    """Why a poll's failure restart waits ("" when it may go): the connector's last restart made,
    within the gap, was a schedule's (not joined by a failure: then it was an attempt, its backoff's)."""
    found = made_gap(store, key, state, now, gap, dry_run=dry_run)
    # A schedule's alone: a restart by name followed by a failure is the operator's to judge
    # (restarted again at once, as before).
    if found is None or found.by is None or set(found.by.triggers) != {Trigger.SCHEDULE}:
        return ""
    return (f"{restarted_ago(found, gap)} {said(found)}: not restarted again within "
            f"queue.manual_restart_gap ({gap:g} s); restarted in {found.left:.0f} s if a poll still sees it failing")
