"""Rows <-> values: how connector state, history records and pending requests are written to and
read from their tables. Timestamps are ISO 8601 UTC text of fixed width (sortable), enums are
stored by value, evidence and recommendations as JSON."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..connect.masking import without_secret_settings
from ..logs import redact_url_credentials
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
from ..report import format_timestamp, parse_timestamp, parse_timestamp_or_none, timestamp_or_none
from .schema import HISTORY_ASKED_COLUMNS, whole

_STATE_COLUMNS = ("consecutive_failures", "attempts", "last_restart_at", "next_allowed_at", "gave_up", "health",
                  "healthy_since", "awaiting_resolution")
_SEEN_COLUMNS = ("seen_state", "seen_at")
# Keys per read of load_many: two parameters each, well under SQLite's limit on parameters.
KEYS_PER_READ = 400


def connector_upserts(placeholder: str) -> tuple[str, str, str]:
    """The upserts of a connector's row, each setting some columns and leaving the others alone:
    its state, what was last seen of it, and both. `placeholder` is the driver's parameter mark
    (sqlite3's `?`, psycopg's `%s`): both stores write the same columns this one way."""
    def upsert(columns: tuple[str, ...]) -> str:
        return (f"INSERT INTO connector_state (cluster, connector, {', '.join(columns)}) "
                f"VALUES ({placeholder}, {placeholder}, {', '.join([placeholder] * len(columns))}) "
                f"ON CONFLICT (cluster, connector) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns)}")
    return upsert(_STATE_COLUMNS), upsert(_SEEN_COLUMNS), upsert(_STATE_COLUMNS + _SEEN_COLUMNS)


_SAVE, _SEEN, _SAVE_SEEN = connector_upserts("?")


def _state_values(state: ConnectorState) -> tuple[object, ...]:
    return (
        state.consecutive_failures, state.attempts, timestamp_or_none(state.last_restart_at),
        timestamp_or_none(state.next_allowed_at), int(state.gave_up),
        None if state.health is None else state.health.value, timestamp_or_none(state.healthy_since),
        int(state.awaiting_resolution),
    )


def save_state(db: sqlite3.Connection, key: ConnectorKey, state: ConnectorState) -> None:
    # An upsert that leaves seen_state/seen_at alone: observe_status owns those.
    db.execute(_SAVE, (key.cluster, key.connector, *_state_values(state)))


def save_seen(db: sqlite3.Connection, key: ConnectorKey, seen_state: str, seen_at: str,
              state: ConnectorState | None) -> None:
    """What a poll saw of the connector and, given, its state: one statement."""
    if state is None:
        db.execute(_SEEN, (key.cluster, key.connector, seen_state, seen_at))
    else:
        db.execute(_SAVE_SEEN, (key.cluster, key.connector, *_state_values(state), seen_state, seen_at))


def load_many_sql(count: int) -> str:
    """The read of `count` connectors' rows, their keys given as (cluster, connector) pairs. A
    join, which finds each by the primary key: `(cluster, connector) IN (VALUES ...)` scanned the
    whole table for every 64 connectors read."""
    return (f"SELECT s.* FROM (VALUES {', '.join(['(?, ?)'] * count)}) AS wanted "
            "JOIN connector_state AS s ON s.cluster = wanted.column1 AND s.connector = wanted.column2")


# Connectors whose kept last restart is the time of a dry-run restart in their history. Only a
# release before dry-run attempts were kept in memory (3941d9e) wrote such a state: its dry-run
# restarts counted as attempts, backoff and gave-up in the state file (recovery.py undoes them).
# Both stores (SQLite's timestamps are fixed-width text, PostgreSQL's timestamptz: equal instants
# are equal values); one index lookup per connector with attempts.
DRY_RUN_LAST_RESTARTS = """
SELECT s.cluster, s.connector FROM connector_state AS s
WHERE (s.attempts > 0 OR s.gave_up) AND EXISTS (
    SELECT 1 FROM restart_history AS h
    WHERE h.cluster = s.cluster AND h.connector = s.connector AND h.at = s.last_restart_at AND h.outcome = 'dry_run'
)
ORDER BY s.cluster, s.connector
"""


_HISTORY_COLUMNS = ("at", "cluster", "connector", "job_id", "rule", "primary_trigger", "triggers", "outcome",
                    "status_code", "request_id", "message", "tries", "attempt", "evidence", "recommendations")


def history_insert(placeholder: str, *, asked: bool = True) -> str:
    """The INSERT of a history record, naming its columns (an older release's file or database has
    columns it does not know: schema.HISTORY_ASKED_COLUMNS). `asked`: with `reason` and `origin`,
    which a PostgreSQL table may lack (postgres_schema.ensure_history_asked); `placeholder` is the
    driver's parameter mark."""
    columns = _HISTORY_COLUMNS + (HISTORY_ASKED_COLUMNS if asked else ())
    return (f"INSERT INTO restart_history ({', '.join(columns)}) "
            f"VALUES ({', '.join([placeholder] * len(columns))})")


_INSERT_HISTORY = history_insert("?")


def insert_history(db: sqlite3.Connection, record: HistoryRecord) -> None:
    db.execute(
        _INSERT_HISTORY,
        (
            format_timestamp(record.at), record.key.cluster, record.key.connector, record.job_id, record.rule,
            record.trigger.value, json.dumps([t.value for t in record.triggers]), record.outcome.value,
            record.status_code, record.request_id, record.message, record.tries, record.attempt,
            None if record.evidence is None else json.dumps(record.evidence),
            json.dumps(list(record.recommendations)), record.reason, record.origin,
        ),
    )


def masked(value: Any) -> Any:
    """A history record's text, or its evidence (JSON: nested dicts and lists), without the
    credentials of any URL in it, nor the values of settings that name a secret
    (`connection.password=...`, `Bearer ...`). Masked as they arrive since 2026-12-02 and
    2026-12-06 (connect/masking.py upstream_text), but releases before kept them: read back
    unmasked, an upgrade showed them in GET /v1/history and `watchdog history` for
    history.max_age. Both stores read every record through this."""
    if isinstance(value, str):
        return without_secret_settings(redact_url_credentials(value))
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def key_from_row(row: sqlite3.Row) -> ConnectorKey:
    return ConnectorKey(row["cluster"], row["connector"])


def state_from_row(row: sqlite3.Row) -> ConnectorState:
    return ConnectorState(
        consecutive_failures=whole(row, "connector_state", "consecutive_failures"),
        attempts=whole(row, "connector_state", "attempts"),
        last_restart_at=parse_timestamp_or_none(row["last_restart_at"]),
        next_allowed_at=parse_timestamp_or_none(row["next_allowed_at"]),
        gave_up=bool(row["gave_up"]),
        health=None if row["health"] is None else Health(row["health"]),
        healthy_since=parse_timestamp_or_none(row["healthy_since"]),
        awaiting_resolution=bool(row["awaiting_resolution"]),
    )


def history_from_row(row: sqlite3.Row) -> HistoryRecord:
    return HistoryRecord(
        at=parse_timestamp(row["at"]),
        key=key_from_row(row),
        job_id=row["job_id"],
        rule=row["rule"],
        trigger=Trigger(row["primary_trigger"]),
        triggers=tuple(Trigger(value) for value in json.loads(row["triggers"])),
        outcome=Outcome(row["outcome"]),
        status_code=whole(row, "restart_history", "status_code"),
        request_id=row["request_id"],
        message=masked(row["message"]),
        tries=whole(row, "restart_history", "tries"),
        attempt=whole(row, "restart_history", "attempt"),
        evidence=None if row["evidence"] is None else masked(json.loads(row["evidence"])),
        recommendations=tuple(masked(json.loads(row["recommendations"]))),
        # A file no daemon of this release has opened to write lacks them (read by `watchdog
        # history --state`): its records' reasons are not known.
        reason=row["reason"] if "reason" in row.keys() else None,
        origin=row["origin"] if "origin" in row.keys() else None,
    )


def pending_from_row(row: sqlite3.Row) -> PendingRequest:
    request = RestartRequest(
        id=row["request_id"],
        key=key_from_row(row),
        rule=row["rule"],
        trigger=Trigger(row["trigger_name"]),
        reason=row["reason"],
        requested_at=parse_timestamp(row["requested_at"]),
        dry_run=bool(row["dry_run"]),
        origin=row["origin"],
    )
    return PendingRequest(request=request, job_id=row["job_id"], phase=PendingPhase(row["phase"]))


def history_filter(
    key: ConnectorKey | None, cluster: str | None, connector: str | None, placeholder: str
) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause (with its leading space, or "") and values that select history records
    by connector (`key`), or by `cluster` and/or `connector` name; `placeholder` is the driver's
    (`?` for sqlite3, `%s` for psycopg)."""
    if key is not None:
        cluster, connector = key.cluster, key.connector
    conditions = [(column, value) for column, value in (("cluster", cluster), ("connector", connector)) if value is not None]
    if not conditions:
        return "", ()
    where = " AND ".join(f"{column} = {placeholder}" for column, _ in conditions)
    return f" WHERE {where}", tuple(value for _, value in conditions)
