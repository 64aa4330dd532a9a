"""Rows of the PostgreSQL store <-> values: what `PostgresStateStore` (postgres.py) writes for a
connector's state, a history record or a pending request, and the values it reads back.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg.abc import PQGen
from psycopg.errors import _WaitTimeout  # psycopg >= 3.3 (pyproject): Connection.wait's timeout
from psycopg.types.json import Json

from ..model import (
    ConnectorKey,
    ConnectorState,
    Health,
    HistoryRecord,
    Outcome,
    PendingPhase,
    PendingRequest,
    RestartRequest,
    Trigger,
)
from .held import HeldTime
from .postgres_connection import ANSWER_TIMEOUT
from .rows import connector_upserts, masked, whole

Row = dict[str, Any]
Connection = psycopg.Connection[Row]


def rollback(conn: Connection) -> None:
    """The transaction open on `conn`, if any, rolled back (postgres.py)."""
    try:
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
    except psycopg.Error:
        conn.close()  # a connection in an unknown state is not used again


# When a connector's row was last touched, as store.py's LAST_ACTIVE (GREATEST skips NULLs): a row
# no poll stamped (a schedule's, an alert's) was never read by the sweep, and stayed for good.
LAST_ACTIVE = "COALESCE(seen_at, GREATEST(last_restart_at, next_allowed_at, healthy_since))"


class AnsweringConnection(psycopg.Connection[Row]):
    """A connection whose every wait for the database ends within ANSWER_TIMEOUT: then the
    connection is closed (its state is unknown halfway through a statement) and the wait raises
    OperationalError, so the store makes a new connection at its next call. Each wait counts in
    `held` (the store's, once it set it): the time the event loop was held."""

    held = HeldTime()

    def wait(self, gen: PQGen[Any], interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            with self.held.holding():
                return super().wait(gen, interval, ANSWER_TIMEOUT if timeout is None else timeout)
        except _WaitTimeout:
            self.close()
            raise psycopg.OperationalError(
                f"no answer from the database within {ANSWER_TIMEOUT:g}s (the connection is up, but nothing "
                "comes back: a pooler or a proxy cut off from it, or a server that stopped answering?); "
                "the connection is dropped") from None


def aware(value: object) -> datetime:
    """A timestamptz as psycopg reads it (an aware datetime); anything else is not one."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{value!r} is not a time with its zone")
    return value.astimezone(timezone.utc)


def utc(moment: datetime | None) -> datetime | None:
    """Times are kept in UTC; a naive one is refused (as the SQLite store does), never guessed."""
    if moment is None:
        return None
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone: the watchdog keeps UTC times only")
    return moment.astimezone(timezone.utc)


def state_values(key: ConnectorKey, state: ConnectorState) -> tuple[Any, ...]:
    return (
        key.cluster, key.connector, state.consecutive_failures, state.attempts, utc(state.last_restart_at),
        utc(state.next_allowed_at), state.gave_up, None if state.health is None else state.health.value,
        utc(state.healthy_since), state.awaiting_resolution,
    )


_SAVE, _SEEN, _SAVE_SEEN = connector_upserts("%s")


def save_state(db: Connection, values: tuple[Any, ...]) -> None:
    # An upsert that leaves seen_state/seen_at alone: observe_status owns those.
    db.execute(_SAVE, values)


def save_seen(db: Connection, key: ConnectorKey, seen_state: str, seen_at: datetime | None,
              values: tuple[Any, ...] | None) -> None:
    """What a poll saw of the connector and, with `values` (state_values), its state: one statement."""
    if values is None:
        db.execute(_SEEN, (key.cluster, key.connector, seen_state, seen_at))
    else:
        db.execute(_SAVE_SEEN, (*values, seen_state, seen_at))


# A status seen kept for later: the connector, the state seen, when (UTC), its state_values or None.
Seen = tuple[ConnectorKey, str, "datetime | None", "tuple[Any, ...] | None"]


def save_seen_many(db: Connection, seen: list[Seen]) -> None:
    """save_seen for each, one statement per connector sent in one pipeline (psycopg's
    executemany): one round trip for them all. One row per connector and statement kind, the
    last kept, so that the order between the two kinds does not matter."""
    latest: dict[tuple[ConnectorKey, bool], tuple[Any, ...]] = {}
    for key, seen_state, at, values in seen:
        if values is None and (key, True) in latest:
            latest[(key, True)] = (*latest[(key, True)][:-2], seen_state, at)
        elif values is None:
            latest[(key, False)] = (key.cluster, key.connector, seen_state, at)
        else:
            latest.pop((key, False), None)  # this write sets the status too
            latest[(key, True)] = (*values, seen_state, at)
    with db.cursor() as cursor:
        for with_state, sql in ((False, _SEEN), (True, _SAVE_SEEN)):
            rows = [row for (_, kind), row in latest.items() if kind is with_state]
            if rows:
                cursor.executemany(sql, rows)


LOAD_MANY = """
    SELECT s.* FROM connector_state AS s
    JOIN unnest(%s::text[], %s::text[]) AS wanted (cluster, connector)
      ON s.cluster = wanted.cluster AND s.connector = wanted.connector
"""


def history_values(record: HistoryRecord, *, asked: bool = True) -> tuple[Any, ...]:
    """The values of rows.history_insert's columns (`asked`: with reason and origin)."""
    values = (
        utc(record.at), record.key.cluster, record.key.connector, record.job_id, record.rule, record.trigger.value,
        Json([t.value for t in record.triggers]), record.outcome.value, record.status_code,
        record.request_id, text(record.message), record.tries, record.attempt,
        None if record.evidence is None else Json(record.evidence), Json(list(record.recommendations)),
    )
    if not asked:
        return values
    return (*values, *(None if value is None else text(value) for value in (record.reason, record.origin)))


def text(value: str) -> str:
    """PostgreSQL's text cannot hold a NUL character (SQLite's can); an upstream message with one
    keeps everything else. (JSON columns are safe: JSON writes NUL as the escape \\u0000.)"""
    return value.replace("\x00", "\ufffd")


def key(row: Row) -> ConnectorKey:
    return ConnectorKey(row["cluster"], row["connector"])


def state(row: Row) -> ConnectorState:
    return ConnectorState(
        consecutive_failures=whole(row, "connector_state", "consecutive_failures"),
        attempts=whole(row, "connector_state", "attempts"),
        last_restart_at=row["last_restart_at"],
        next_allowed_at=row["next_allowed_at"],
        gave_up=row["gave_up"],
        health=None if row["health"] is None else Health(row["health"]),
        healthy_since=row["healthy_since"],
        awaiting_resolution=row["awaiting_resolution"],
    )


def record(row: Row) -> HistoryRecord:
    return HistoryRecord(
        at=row["at"],
        key=key(row),
        job_id=row["job_id"],
        rule=row["rule"],
        trigger=Trigger(row["primary_trigger"]),
        triggers=tuple(Trigger(value) for value in row["triggers"]),
        outcome=Outcome(row["outcome"]),
        status_code=whole(row, "restart_history", "status_code"),
        request_id=row["request_id"],
        message=masked(row["message"]),
        tries=whole(row, "restart_history", "tries"),
        attempt=whole(row, "restart_history", "attempt"),
        evidence=masked(row["evidence"]),
        recommendations=tuple(masked(row["recommendations"])),
        # None in a database whose table lacks them (postgres_schema.ensure_history_asked).
        reason=row.get("reason"),
        origin=row.get("origin"),
    )


def pending(row: Row) -> PendingRequest:
    request = RestartRequest(
        id=row["request_id"],
        key=key(row),
        rule=row["rule"],
        trigger=Trigger(row["trigger_name"]),
        reason=row["reason"],
        requested_at=row["requested_at"],
        dry_run=row["dry_run"],
        origin=row["origin"],
    )
    return PendingRequest(request=request, job_id=row["job_id"], phase=PendingPhase(row["phase"]))
