"""`PostgresStateStore`: the state store in a PostgreSQL database that several replicas share.

The same records and the same guarantees as `SqliteStateStore` (see contract.py), plus fencing:
every write transaction starts by reading the lease row `FOR SHARE` and comparing its epoch with
the one this replica leads under (`fence`). The share lock is held until the transaction commits,
and a replica taking the lease over must update that row, so the two cannot interleave: a write
either commits before the takeover (and the new leader's recovery, which reads after it took the
lease, sees it) or finds the new epoch and is refused (`Fenced`), whatever the old leader's
process was doing in between (paused, swapped out, cut off).

Synchronous on purpose, like the SQLite store: the engine calls the store from the event loop
between two awaits, and every decision reads and writes the state in one step. A write costs a
few round trips and one commit (about 1-3 ms on loopback, mostly the commit's WAL flush), so the
writes of one poll go into one transaction (`batch`); every wait is bounded (connect 3 s, statement
5 s, TCP 5 s, any answer 7 s: `AnsweringConnection`), and after a failed connection attempt calls fail at once for `RECONNECT_PAUSE`
instead of blocking the loop again. The connection is made again on the next call after that:
a database restart needs no action from anyone.

This module says what is read and written; the connection, the fencing and the transactions are
`PostgresTransactions` (postgres_transactions.py), and the side tables `PostgresMemory`
(postgres_memory.py), its bases.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from pydantic import SecretStr

from ..model import (
    ConnectorKey,
    ConnectorState,
    HistoryRecord,
    PendingPhase,
    PendingRequest,
    RestartRequest,
)
from ..report import StatusRow
from . import postgres_rows
from .errors import StateStoreError
from .postgres_connection import (
    connection_parameters,
    describe,
    error_text,
    refuse_read_only,
    refuse_unreadable,
    say_dropped_settings,
    what_to_check,
)
from .postgres_memory import PostgresMemory
from .postgres_schema import (
    ensure_history_asked,
    ensure_running_tables,
    migrate,
    read_version,
    require_current,
)
from .pruning import excess_step, older_step, prune_all
from .rows import DRY_RUN_LAST_RESTARTS, history_filter, history_insert


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class PostgresStateStore(PostgresMemory):
    def __init__(
        self,
        url: str,
        *,
        password: SecretStr | None = None,
        now: Callable[[], datetime] = utc_now,
        read_only: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.path = describe(url)  # what messages and `watchdog status` name
        refuse_unreadable(url, self.description)  # `?sslmod=require`: a parameter libpq does not know
        # a reload rotates its password (postgres_password.py)
        super().__init__(connection_parameters(url, password, role="reader" if read_only else "store"), clock)
        self._now = now
        self._asked = False  # whether restart_history has the reason and origin columns (writers only)
        self._running = False  # whether it has the tables of what the polls saw running (running.py; writers only)
        self._running_not_kept = ""  # if not, why (said by a new leader's first listing of each cluster)
        try:
            conn = self._connection()
            say_dropped_settings(conn, self.description)  # a pooler that ignores `options`
            if read_only:
                require_current(read_version(conn, self.description), self.description)
            else:
                refuse_read_only(conn, self.description)  # else it ran and never led
                migrate(conn, self.description, self.parameters)
                self._asked = ensure_history_asked(conn, self.description, self.parameters)
                self._running_not_kept = ensure_running_tables(conn, self.description, self.parameters)
                self._running = not self._running_not_kept
        except psycopg.Error as error:
            self.close()
            text = error_text(error, self.parameters)
            raise StateStoreError(f"{self.description} cannot be used ({text}). {what_to_check(text)}") from error
        except BaseException:
            self.close()
            raise

    @property
    def durable(self) -> bool:
        return True

    @property
    def schema_version(self) -> int:
        rows = self._read("read the schema version", "SELECT max(version) AS version FROM schema_version")
        return int(rows[0]["version"])

    def __enter__(self) -> PostgresStateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- per-connector state ----------------------------------------------------------------------

    def load(self, key: ConnectorKey) -> ConnectorState:
        rows = self._read("load a connector's state",
                          "SELECT * FROM connector_state WHERE cluster = %s AND connector = %s",
                          (key.cluster, key.connector))
        return postgres_rows.state(rows[0]) if rows else ConnectorState()

    def save(self, key: ConnectorKey, state: ConnectorState) -> None:
        values = postgres_rows.state_values(key, state)
        self.marks.wrote(key)
        with self._write("save a connector's state") as db:
            postgres_rows.save_state(db, values)

    def forget(self, key: ConnectorKey) -> None:
        self.marks.wrote(key)
        with self._write("forget a connector") as db:
            db.execute("DELETE FROM connector_state WHERE cluster = %s AND connector = %s", (key.cluster, key.connector))

    def items(self) -> Iterator[tuple[ConnectorKey, ConnectorState]]:
        return iter([(row.key, row.state) for row in self.rows()])

    def load_many(self, keys: Sequence[ConnectorKey]) -> dict[ConnectorKey, ConnectorState]:
        if not keys:
            return {}
        rows = self._read("load connectors' states", postgres_rows.LOAD_MANY,
                          ([key.cluster for key in keys], [key.connector for key in keys]))
        found = {postgres_rows.key(row): postgres_rows.state(row) for row in rows}
        return {key: found.get(key) or ConnectorState() for key in keys}

    def observe_status(self, key: ConnectorKey, seen_state: str, seen_at: datetime,
                       state: ConnectorState | None = None) -> None:
        values = None if state is None else postgres_rows.state_values(key, state)
        if state is not None:
            self.marks.wrote(key)
        at = postgres_rows.utc(seen_at)
        if self._batch is not None:
            # Sent with the batch's next statement (any read or write, its end), all in one round
            # trip: a round trip each, a poll of 2,000 connectors 1 ms away took 4.5 s.
            self._seen.append((key, seen_state, at, values))
            return
        with self._write("record a connector's status") as db:
            postgres_rows.save_seen(db, key, seen_state, at, values)

    def dry_run_last_restarts(self) -> list[ConnectorKey]:
        rows = self._read("find restarts an older release kept from a dry run", DRY_RUN_LAST_RESTARTS)
        return [postgres_rows.key(row) for row in rows]

    def rows(self) -> list[StatusRow]:
        return self._status_rows("SELECT * FROM connector_state ORDER BY cluster COLLATE \"C\", connector COLLATE \"C\"")

    def rows_seen_before(self, moment: datetime) -> list[StatusRow]:
        return self._status_rows(f"SELECT * FROM connector_state WHERE {postgres_rows.LAST_ACTIVE} <= %s "
                                 "ORDER BY cluster COLLATE \"C\", connector COLLATE \"C\"", (postgres_rows.utc(moment),))

    def _status_rows(self, sql: str, params: Sequence[Any] = ()) -> list[StatusRow]:
        found = self._read("list connector states", sql, params)
        return [StatusRow(key=postgres_rows.key(row), state=postgres_rows.state(row), seen_state=row["seen_state"], seen_at=row["seen_at"])
                for row in found]

    # -- restart requests: queued -> sending -> finished ------------------------------------------

    def add_pending(self, request: RestartRequest, job_id: str, *, phase: PendingPhase = PendingPhase.QUEUED) -> None:
        values = (
            request.id, job_id, phase.value, request.key.cluster, request.key.connector,
            request.rule, request.trigger.value, postgres_rows.text(request.reason), request.origin, postgres_rows.utc(request.requested_at),
            request.dry_run,
        )
        # Durable before the request is queued, even inside a batch (a commit point).
        with self._write("remember a restart request", commit=True) as db:
            db.execute(
                """
                INSERT INTO pending_request (request_id, job_id, phase, cluster, connector, rule,
                    trigger_name, reason, origin, requested_at, dry_run)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (request_id) DO UPDATE SET job_id = excluded.job_id
                """,
                values,
            )

    def mark_sending(self, job_id: str, key: ConnectorKey, state: ConnectorState) -> None:
        self._mark("mark a restart as sending", PendingPhase.SENDING, job_id, key, state)

    def mark_queued(self, job_id: str, key: ConnectorKey | None = None, state: ConnectorState | None = None) -> None:
        self._mark("mark a restart as queued again", PendingPhase.QUEUED, job_id, key, state)

    def _mark(self, what: str, phase: PendingPhase, job_id: str, key: ConnectorKey | None, state: ConnectorState | None) -> None:
        values = None if key is None or state is None else postgres_rows.state_values(key, state)
        if key is not None:
            self.marks.wrote(key)
        with self._write(what, commit=True) as db:
            db.execute("UPDATE pending_request SET phase = %s WHERE job_id = %s", (phase.value, job_id))
            if values is not None:
                postgres_rows.save_state(db, values)

    def finish(self, job_id: str, key: ConnectorKey, state: ConnectorState | None, record: HistoryRecord) -> None:
        if record.key != key or record.job_id != job_id:
            raise ValueError(f"history record of {record.key} job {record.job_id} given for {key} job {job_id}")
        history = postgres_rows.history_values(record, asked=self._asked)
        values = None if state is None else postgres_rows.state_values(key, state)
        if state is not None:
            self.marks.wrote(key)
        with self._write("record a finished restart", commit=True) as db:
            db.execute(history_insert("%s", asked=self._asked), history)
            if values is not None:
                postgres_rows.save_state(db, values)
            db.execute("DELETE FROM pending_request WHERE job_id = %s", (job_id,))

    def withdraw_pending(self, request_ids: Sequence[str]) -> None:
        with self._write("withdraw restart requests") as db:
            db.execute("DELETE FROM pending_request WHERE request_id = ANY(%s)", (list(request_ids),))

    def pending(self) -> list[PendingRequest]:
        rows = self._read("list pending restart requests", "SELECT * FROM pending_request ORDER BY requested_at, seq")
        return [postgres_rows.pending(row) for row in rows]

    # -- history -----------------------------------------------------------------------------------

    def history(
        self, key: ConnectorKey | None = None, limit: int = 50, *, cluster: str | None = None, connector: str | None = None
    ) -> list[HistoryRecord]:
        where, values = history_filter(key, cluster, connector, "%s")
        rows = self._read("read the restart history",
                          f"SELECT * FROM restart_history{where} ORDER BY at DESC, id DESC LIMIT %s", (*values, limit))
        return [postgres_rows.record(row) for row in rows]

    def prune(self, max_age: timedelta, max_entries: int) -> int:
        return prune_all(self, max_age, max_entries)

    def prune_older(self, max_age: timedelta, limit: int) -> int:
        with self._write("prune the restart history") as db:
            return older_step(db, "%s", self._now() - max_age, limit)

    def prune_excess(self, max_entries: int, after: ConnectorKey | None, connectors: int) -> tuple[int, ConnectorKey | None]:
        with self._write("prune the restart history") as db:
            return excess_step(db, "%s", max_entries, after, connectors)
