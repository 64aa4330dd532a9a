"""A status row's cells in the table: what HEALTH, STATE, ATTEMPTS, LAST RESTART, NEXT ALLOWED and
GAVE UP say of it (the STALL CHECK column is stall_word.py's)."""

from __future__ import annotations

from datetime import datetime

from ..model import ConnectorState
from .formatting import distinct_name, format_ago, format_moment, format_span
from .status import QUEUED_DECISIONS, StatusRow, no_restart_due, restarts_refused

DRY_RUN_MARK = " (dry run)"


def shown_held(row: StatusRow) -> bool:
    return row.held is not None and (not row.state.gave_up or row.held[0] in QUEUED_DECISIONS)


def status_cells(row: StatusRow, now: datetime, gone: bool) -> tuple[str, ...]:
    state = row.state
    mark = DRY_RUN_MARK if row.dry_run else ""
    return (
        distinct_name(row.key.connector),
        "-" if state.health is None or row.unwatched or row.cluster_unwatched else state.health.value,  # not judged since
        _seen(row, now, gone),
        f"{state.attempts}{mark}",
        "-" if state.last_restart_at is None else format_moment(state.last_restart_at, now) + (
            "" if row.last_restart_live else mark),
        # Nothing is due of a connector no longer watched, or gone (the last poll did not list it),
        # or one only a stall check restarts that the checks do not judge now (no_restart_due), or
        # one in a state that refuses every restart (restarts_refused).
        (f"held: {row.held[0]}" if row.held and shown_held(row)
         else "-" if row.unwatched or row.cluster_unwatched or gone or no_restart_due(row) or restarts_refused(row)
         else _next_allowed(state, now) + mark),
        ("yes" + mark) if state.gave_up else "no",
    )


def _seen(row: StatusRow, now: datetime, gone: bool) -> str:
    """The state the last poll saw; for a connector that poll did not list (`gone_keys`), that
    it is gone and what it was: shown as it was, a deleted connector looked alive (or failing)
    for days."""
    if row.cluster_unwatched:
        last = (f" (last seen {row.seen_state} {format_ago(row.seen_at, now)})"
                if row.seen_state is not None and row.seen_at is not None else "")
        return f"cluster no longer watched{last}"
    if row.seen_state is None:
        return "-"
    if row.unwatched and row.seen_at is not None:
        # Shown as it was, "healthy  RUNNING ... now" read as watched and due, while it failed since.
        return f"unwatched (last seen {row.seen_state} {format_ago(row.seen_at, now)})"
    if gone and row.seen_at is not None:
        return f"gone (last seen {row.seen_state} {format_ago(row.seen_at, now)})"
    return row.seen_state


def _next_allowed(state: ConnectorState, now: datetime) -> str:
    if state.gave_up:
        # Given up: no restart is due at any time; the flag clears once it has stayed healthy for
        # its gap (policy.observe), its count reset.
        return "when healthy"
    if state.next_allowed_at is None or state.next_allowed_at <= now:
        return "now"
    return f"in {format_span((state.next_allowed_at - now).total_seconds())}"
