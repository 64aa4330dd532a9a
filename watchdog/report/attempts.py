"""A connector whose restart attempts the API answered with no restart: said beside its row.

A failed call counts as an attempt (the backoff and `max_restarts` hold a revoked key or a failing
API back as they hold a failing connector: README), and ATTEMPTS and LAST RESTART show the count
and the last call. Of a connector whose every call was answered 500, or 429 until the stop, the
row read `ATTEMPTS 5 ... GAVE UP yes` or `ATTEMPTS 1  LAST RESTART 31s ago`: "restarted, and still
FAILED", where the API had made no restart at all (probe_audit run2: err500-0, late-0). The
history says what each attempt got; this says it where the row is read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from ..model import ConnectorKey, ConnectorState, Health, HistoryRecord, Outcome
from ..policy import NEVER_RESTARTED
from .status import QUEUED_DECISIONS, StatusRow

# The most connectors whose history one status reads for its notes: each is a query, on the event
# loop when a daemon answers /v1/connectors, a round trip each to a PostgreSQL state (thousands
# failing at once made thousands). The most recently restarted go first.
MOST_NOTES_READ = 200
# Transient too: a connector whose restart was answered 429 and then dropped because its owner
# paused it meanwhile read `transient PAUSED 1 <LAST RESTART>`, a restart made, with no note.
_NOTED_HEALTHS = frozenset({Health.FAILED, Health.USER_ERROR, Health.TRANSIENT})

# What an outcome that made no restart known to have been made says, in a note's count.
_SAID = {
    Outcome.INTERRUPTED: "interrupted (it may or may not have reached the API)",
    Outcome.UNCONFIRMED: "unconfirmed (no answer: it may have reached the API)",
}


def history_to_read(state: ConnectorState) -> int:
    """How many of a connector's newest history records `attempts_note` needs: its attempts'
    records, and the restarts of other triggers (a schedule's, a person's) between them."""
    return 4 * state.attempts + 20


def attempts_note(state: ConnectorState, records: Sequence[HistoryRecord], *, queued: bool = False) -> str | None:
    """None when a restart of the connector was accepted since its attempts began (or it has
    none); else what its attempts got. `records`: its history, newest first (`history_to_read`
    of them). `queued`: a restart of it is queued or kept now (its `held`), whose attempt, counted
    when its call went out, has no record yet."""
    if state.attempts <= 0:
        return None
    # The current attempts' records: the newest failure restarts, their `attempt` counting down to 1.
    mine: list[HistoryRecord] = []
    for record in records:
        if record.attempt is None or record.outcome is Outcome.DRY_RUN:
            continue
        if len(mine) == state.attempts or (mine and record.attempt >= (mine[-1].attempt or 0)):
            break  # an earlier round of attempts, before the count reset
        mine.append(record)
        if record.attempt <= 1:
            break
    since = mine[-1].at if mine else state.last_restart_at
    if since is None or any(record.outcome is Outcome.ACCEPTED and record.at >= since for record in records):
        return None
    counts: dict[str, int] = {}
    for record in mine:
        said = _SAID.get(record.outcome) or (f"answered HTTP {record.status_code} ({record.outcome.value})"
                                             if record.status_code is not None else record.outcome.value)
        counts[said] = counts.get(said, 0) + 1
    parts = [f"{count} {said}" for said, count in counts.items()]
    missing = state.attempts - len(mine)
    if missing:
        parts.append(f"{missing} " + ("still queued or kept (see Held)" if queued else "not in the history"))
    none = "its 1 attempt was not" if state.attempts == 1 else f"none of its {state.attempts} attempts was"
    return f"{none} accepted by the API: {', '.join(parts)}; LAST RESTART is its last attempt's call, not a restart made"


def with_attempts_notes(
    rows: Iterable[StatusRow], history_of: Callable[[ConnectorKey, int], Sequence[HistoryRecord]],
    most: int = MOST_NOTES_READ,
) -> list[StatusRow]:
    """The rows, each with attempts read with its history (`history_of(key, limit)`, newest
    first): one read per connector failing or given up on with attempts counted now, the
    `most` restarted last of them; the others none. Not of a dry run's row: its attempts are
    would-be ones, no call made."""
    rows = list(rows)
    wanted = rows_to_note(rows, most)
    noted = {row.key: with_note(row, history_of(row.key, history_to_read(row.state))) for row in wanted}
    return [noted.get(row.key, row) for row in rows]


def with_note(row: StatusRow, records: Sequence[HistoryRecord]) -> StatusRow:
    """The row with its attempts' note, read from `records` (its history_to_read newest)."""
    return replace(row, not_accepted=attempts_note(row.state, records,
                                                   queued=row.held is not None and row.held[0] in QUEUED_DECISIONS))


def rows_to_note(rows: Iterable[StatusRow], most: int = MOST_NOTES_READ) -> list[StatusRow]:
    """The rows whose history `with_attempts_notes` reads, the most recently restarted first (the
    earlier row first among equals: api/row_reading.py keeps the same ones a page at a time)."""
    return sorted((row for row in rows if worth_a_read(row)),
                  key=lambda row: row.state.last_restart_at or NEVER_RESTARTED, reverse=True)[:most]


def worth_a_read(row: StatusRow) -> bool:
    """A connector whose attempts a reader may take for restarts made: failing (or transient:
    paused, provisioning), or given up on."""
    state = row.state
    return state.attempts > 0 and not row.dry_run and (state.gave_up or state.health in _NOTED_HEALTHS)
