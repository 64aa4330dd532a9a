"""`SqliteStateStore`: what the watchdog remembers per connector, the restart history, and the
restart requests accepted but not yet finished, each write one short transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from ..model import (
    ConnectorKey,
    ConnectorState,
    HistoryRecord,
    PendingPhase,
    PendingRequest,
    RestartRequest,
)
from ..report import StatusRow, format_timestamp, parse_timestamp_or_none
from .errors import (
    StateStoreError,
    damaged_while_running,
    recovery_advice,
    unreadable_record,
    unreadable_record_found,
)
from .file_lock import exclusive_lock
from .held import HeldTime
from .marks import WriteMarks
from .opening import MEMORY, Ownership, check_path, open_database
from .pruning import excess_step, older_step, prune_all
from .rows import (
    DRY_RUN_LAST_RESTARTS,
    KEYS_PER_READ,
    history_filter,
    history_from_row,
    insert_history,
    key_from_row,
    load_many_sql,
    pending_from_row,
    save_seen,
    save_state,
    state_from_row,
)
from .running import (
    judged_write,
    running_writes,
)
from .sqlite_memory import SqliteMemory

T = TypeVar("T")

_RUNNING_WRITES = running_writes("?")
_JUDGED_WRITE = judged_write("?")


# SQLite's primary result codes for a damaged file (an extended code, SQLITE_CORRUPT_INDEX, keeps
# its primary one in the low byte).
_DAMAGE_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# When a connector's row was last touched: its last poll's stamp, or (never polled) the newest of
# its restart times; NULL with none (undated: never read for forgetting).
LAST_ACTIVE = ("COALESCE(seen_at, NULLIF(max(COALESCE(last_restart_at, ''), COALESCE(next_allowed_at, ''), "
               "COALESCE(healthy_since, '')), ''))")


class SqliteStateStore(SqliteMemory):
    """The durable state store. Synchronous on purpose: every call is a short local transaction,
    and the daemon is one asyncio thread, so there is no lock to share and nothing to await.

    `read_only=True` is for readers beside a running daemon (`watchdog status --state-file`): the
    file must exist at the current schema version, and nothing in it is changed or migrated.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        now: Callable[[], datetime] = utc_now,
        read_only: bool = False,
    ) -> None:
        # Absolute, so that every message names the file wherever the daemon was started.
        self.path: str | Path = MEMORY if str(path) == MEMORY else Path(path).absolute()
        self._now = now
        # Why the last write failed (a full disk, a file gone read-only), until a write succeeds
        # again: a daemon that cannot record its decisions must say so (readiness, a metric, an
        # alert) rather than look healthy while every decision fails.
        self.problem: str | None = None
        self.on_failure: Callable[[], None] = lambda: None  # set by the daemon: counts each failure
        # What a read or write found damaged in the file while the daemon ran (SQLite's "database
        # disk image is malformed", a record that cannot be decoded), for good: see _write.
        self._damage: str | None = None
        self.marks = WriteMarks()  # the states written since a moment (marks.py); the lock makes us their only writer
        self.held = HeldTime()  # how long its calls held the event loop (a lock another process holds: 5 s)
        # batch(): whether one is open, whether its transaction has begun, whether commit points join it.
        self._batch = self._batch_open = self._batch_whole = False
        self._lock = None
        if not read_only and self.path != MEMORY:
            check_path(Path(self.path), read_only=False)  # say "missing directory", not "no lock file"
            self._lock = exclusive_lock(Path(self.path))
        self._ownership: Ownership | None = None
        try:
            self._db = open_database(self.path, read_only=read_only)
        except BaseException:
            self._release_lock()
            raise
        if self._lock is not None:
            try:
                self._ownership = Ownership(Path(self.path), self._lock)
            except OSError as exc:  # the file gone between its opening and this: nothing to own
                self.close()
                raise StateStoreError(f"State file {self.path} cannot be used: {exc}") from None

    def close(self) -> None:
        # For a file, the last connection to close checkpoints the log and removes -wal and -shm.
        self._db.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the flock
            self._lock = None

    def __enter__(self) -> SqliteStateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def description(self) -> str:
        return f"State file {self.path}"

    @property
    def durable(self) -> bool:
        return self.path != MEMORY

    def fence(self, epoch: int | None, holder: str | None = None) -> None:
        """One writer per file is the lock's job (a second daemon is refused at start), so there is
        no other leader to be fenced from: the epoch is not needed here."""

    @contextmanager
    def batch(self, *, whole: bool = False) -> Iterator[None]:
        """One transaction for the writes of one step (a slice of a poll), begun at its first
        write; nested batches join the outer. A commit point (add_pending, mark_sending,
        mark_queued, finish) commits what the batch wrote so far with it, and the batch goes on in
        a new transaction; `whole`: commit points join it too. A failure rolls the batch back.
        Each write its own transaction, a poll wrote every connector's row in a commit of its own,
        each appending at least a 4 KiB page to the log: 5,000 connectors polled every 60 s wrote
        22.8 MB a minute to the state volume (33 GB a day, 1 TB a month)."""
        if self._batch:
            yield
            return
        self._batch, self._batch_open, self._batch_whole = True, False, whole
        try:
            yield
        except BaseException:
            self._batch = False
            if self._batch_open and self._db.in_transaction:
                self._db.execute("ROLLBACK")
                self.marks.wrote_all()  # what the batch wrote since its last commit point is undone
            raise
        self._batch = False
        if not self._batch_open:
            return  # nothing written, or its last write was a commit point
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise self._failure("commit a batch of writes", error) from error
        self.problem = None

    @property
    def schema_version(self) -> int:
        return int(self._read("read the schema version", "PRAGMA user_version")[0][0])

    # -- per-connector state ----------------------------------------------------------------------

    def load(self, key: ConnectorKey) -> ConnectorState:
        states = self._read_as(
            "load a connector's state", state_from_row,
            "SELECT * FROM connector_state WHERE cluster = ? AND connector = ?",
            (key.cluster, key.connector),
        )
        return states[0] if states else ConnectorState()

    def save(self, key: ConnectorKey, state: ConnectorState) -> None:
        self.marks.wrote(key)
        with self._write("save a connector's state") as db:
            save_state(db, key, state)

    def forget(self, key: ConnectorKey) -> None:
        """Drop the connector's state (it left the cluster). Its history stays until pruned."""
        self.marks.wrote(key)
        with self._write("forget a connector") as db:
            db.execute(
                "DELETE FROM connector_state WHERE cluster = ? AND connector = ?", (key.cluster, key.connector)
            )

    def items(self) -> Iterator[tuple[ConnectorKey, ConnectorState]]:
        return iter([(row.key, row.state) for row in self.rows()])

    def load_many(self, keys: Sequence[ConnectorKey]) -> dict[ConnectorKey, ConnectorState]:
        found: dict[ConnectorKey, ConnectorState] = {}
        for start in range(0, len(keys), KEYS_PER_READ):
            part = keys[start:start + KEYS_PER_READ]
            found.update(self._read_as("load connectors' states", lambda row: (key_from_row(row), state_from_row(row)),
                                       load_many_sql(len(part)),
                                       [value for key in part for value in (key.cluster, key.connector)]))
        return {key: found.get(key) or ConnectorState() for key in keys}

    def observe_status(self, key: ConnectorKey, seen_state: str, seen_at: datetime,
                       state: ConnectorState | None = None) -> None:
        """Remember the connector state a poll saw (RUNNING, FAILED...), for the status table;
        with `state`, the connector's state too, in the same write."""
        at = format_timestamp(seen_at)
        if state is not None:
            self.marks.wrote(key)
        with self._write("record a connector's status") as db:
            save_seen(db, key, seen_state, at, state)

    def dry_run_last_restarts(self) -> list[ConnectorKey]:
        rows = self._read("find restarts an older release kept from a dry run", DRY_RUN_LAST_RESTARTS)
        return [key_from_row(row) for row in rows]

    def rows(self) -> list[StatusRow]:
        """Every remembered connector, by cluster and name, for `watchdog status`."""
        return self._status_rows("SELECT * FROM connector_state ORDER BY cluster, connector")

    def rows_seen_before(self, moment: datetime) -> list[StatusRow]:
        # Timestamps are fixed-width ISO 8601 UTC text: compared as text, they compare as times.
        # A row no poll stamped (a schedule's, an alert's, a request's) by its newest timestamp:
        # `seen_at <= ?` never matched it, and one such row stayed for every cluster ever deleted.
        return self._status_rows(f"SELECT * FROM connector_state WHERE {LAST_ACTIVE} <= ? ORDER BY cluster, connector",
                                 (format_timestamp(moment),))

    def _status_rows(self, sql: str, params: Sequence[Any] = ()) -> list[StatusRow]:
        return self._read_as("list connector states", lambda row: StatusRow(
            key=key_from_row(row),
            state=state_from_row(row),
            seen_state=row["seen_state"],
            seen_at=parse_timestamp_or_none(row["seen_at"]),
        ), sql, params)

    # -- restart requests: queued -> sending -> finished ------------------------------------------

    def add_pending(self, request: RestartRequest, job_id: str, *, phase: PendingPhase = PendingPhase.QUEUED) -> None:
        """Remember an accepted request (phase `queued`, or `sending` when it joins a job whose
        call may be on the wire) before it can be lost to a crash.

        Adding a request the store already holds (one recovered after a restart of the daemon and
        queued again, under a new job) moves it to `job_id` and keeps its phase and place: a request
        that was `sending` when the daemon died stays `sending`, so the daemon knows its attempt
        was already counted.
        """
        with self._write("remember a restart request", commit=True) as db:
            db.execute(
                """
                INSERT INTO pending_request (request_id, job_id, phase, cluster, connector, rule,
                    trigger_name, reason, origin, requested_at, dry_run)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (request_id) DO UPDATE SET job_id = excluded.job_id
                """,
                (
                    request.id, job_id, phase.value, request.key.cluster, request.key.connector,
                    request.rule, request.trigger.value, request.reason, request.origin,
                    format_timestamp(request.requested_at), int(request.dry_run),
                ),
            )

    def mark_sending(self, job_id: str, key: ConnectorKey, state: ConnectorState) -> None:
        """The job's call is about to go out: mark its requests `sending` and save the connector's
        state (with the attempt already counted) in one transaction, so a crash just after the
        call can lose neither the attempt nor the request."""
        self.marks.wrote(key)
        with self._write("mark a restart as sending", commit=True) as db:
            db.execute(
                "UPDATE pending_request SET phase = ? WHERE job_id = ?", (PendingPhase.SENDING.value, job_id)
            )
            save_state(db, key, state)

    def mark_queued(self, job_id: str, key: ConnectorKey | None = None, state: ConnectorState | None = None) -> None:
        """The job's call was answered and the job will be tried again: its requests are back to
        `queued` (an answer proves the call is no longer on the wire), so a restart of the daemon
        before the next try sends them instead of ending them `interrupted`. With `key` and
        `state`, the connector's state is saved in the same transaction (the attempt taken back
        when the answer proved the call ran nothing: engine/unmade_attempts.py)."""
        if key is not None:
            self.marks.wrote(key)
        with self._write("mark a restart as queued again", commit=True) as db:
            db.execute(
                "UPDATE pending_request SET phase = ? WHERE job_id = ?", (PendingPhase.QUEUED.value, job_id)
            )
            if key is not None and state is not None:
                save_state(db, key, state)

    def finish(self, job_id: str, key: ConnectorKey, state: ConnectorState | None, record: HistoryRecord) -> None:
        """The job ended: in one transaction, add its history record, save the connector's state
        (when given) and drop the job's pending requests."""
        if record.key != key or record.job_id != job_id:
            raise ValueError(f"history record of {record.key} job {record.job_id} given for {key} job {job_id}")
        if state is not None:
            self.marks.wrote(key)
        with self._write("record a finished restart", commit=True) as db:
            insert_history(db, record)
            if state is not None:
                save_state(db, key, state)
            db.execute("DELETE FROM pending_request WHERE job_id = ?", (job_id,))

    def withdraw_pending(self, request_ids: Sequence[str]) -> None:
        """Forget requests that will not be sent (cancelled before their turn)."""
        with self._write("withdraw restart requests") as db:
            db.executemany("DELETE FROM pending_request WHERE request_id = ?", [(rid,) for rid in request_ids])

    def pending(self) -> list[PendingRequest]:
        """Requests accepted but not finished, oldest first: what a restarted daemon must send."""
        return self._read_as(
            "list pending restart requests", pending_from_row, "SELECT * FROM pending_request ORDER BY requested_at, seq"
        )

    # -- history -----------------------------------------------------------------------------------

    def history(
        self, key: ConnectorKey | None = None, limit: int = 50, *, cluster: str | None = None, connector: str | None = None
    ) -> list[HistoryRecord]:
        """Finished restarts, newest first; of one connector when `key` is given, else of those
        matching `cluster` and/or `connector`."""
        where, values = history_filter(key, cluster, connector, "?")
        return self._read_as(
            "read the restart history", history_from_row,
            f"SELECT * FROM restart_history{where} ORDER BY at DESC, id DESC LIMIT ?",
            (*values, limit),
        )

    def prune(self, max_age: timedelta, max_entries: int) -> int:
        """Delete history records older than `max_age`, then all but the newest `max_entries` of
        each connector, all at once (the daemon goes in steps: pruning.py). Returns the number of
        records deleted."""
        return prune_all(self, max_age, max_entries)

    def prune_older(self, max_age: timedelta, limit: int) -> int:
        with self._write("prune the restart history") as db:
            return older_step(db, "?", format_timestamp(self._now() - max_age), limit)

    def prune_excess(self, max_entries: int, after: ConnectorKey | None, connectors: int) -> tuple[int, ConnectorKey | None]:
        with self._write("prune the restart history") as db:
            return excess_step(db, "?", max_entries, after, connectors)

    # -- plumbing ----------------------------------------------------------------------------------

    def _read(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            with self.held.holding():
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise self._failure(what, error) from error

    def _read_as(self, what: str, decode: Callable[[sqlite3.Row], T], sql: str, params: Sequence[Any] = ()) -> list[T]:
        return self._decoded(what, decode, self._read(what, sql, params))

    def _decoded(self, what: str, decode: Callable[[sqlite3.Row], T], rows: list[sqlite3.Row]) -> list[T]:
        """Each row made a value, a row that cannot be one refused as the store's failure. A byte
        changed inside a record (a disk error: SQLite checks a file's structure, not what its
        records say) made `watchdog run` die at its start on a Python traceback (`Invalid isoformat
        string: '2026~12-03T21:54:59...'`), naming neither the file nor what to do; so did a damaged
        index, which handed back another column's value."""
        try:
            return [decode(row) for row in rows]
        except (ValueError, TypeError, KeyError, IndexError) as error:
            self._damage = self._damage or unreadable_record_found(error)
            raise self._failure(what, unreadable_record(Path(self.path), error)) from error

    @contextmanager
    def _write(self, what: str, *, commit: bool = False, quiet_while_failing: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction: all of the block's statements are committed, or none. Inside a batch,
        part of the batch's (with `commit`, its commit point: committed before returning, unless
        the batch is `whole`). `quiet_while_failing`: a failure while another is reported
        (`problem` set) is raised but neither counted nor made the `problem`."""
        quiet = quiet_while_failing and self.problem is not None
        if self._ownership is not None:
            lost = self._ownership.problem()
            if lost is not None:
                raise self._failure(what, lost, report=not quiet)
        if self._damage is not None:
            # Damage found by a read was reported for that instant only: the next write elsewhere
            # (the 30-second sign of life, another cluster's poll) succeeded and cleared it, so
            # /readyz said ready, the alert never fired, and the damaged row's cluster went
            # unjudged for good. A start refuses such a file; so does a running daemon, from then on.
            raise self._failure(what, damaged_while_running(Path(self.path), self._damage), report=not quiet)
        db = self._db
        if self._batch:
            try:
                if not self._batch_open:
                    with self.held.holding():
                        db.execute("BEGIN IMMEDIATE")
                    self._batch_open = True
                yield db  # an error here reaches batch(), which rolls the batch back
                if commit and not self._batch_whole:
                    db.execute("COMMIT")
                    self._batch_open = False
                    self.problem = None  # committed: the file takes writes again
            except sqlite3.Error as error:
                # The batch so far goes with it, at once: SQLite may have rolled it back already
                # (a full disk), and a write after it must not commit half of the batch.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                self._batch_open = False
                raise self._failure(what, error, report=not quiet) from error
            return
        try:
            # IMMEDIATE takes the write lock up front, so the block cannot fail half-way on a
            # lock upgrade it could have waited for (the wait, up to the busy timeout, held the loop).
            with self.held.holding():
                db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise self._failure(what, error, report=not quiet) from error
        self.problem = None

    def _failure(self, what: str, error: sqlite3.Error | str, *, report: bool = True) -> StateStoreError:
        said = str(error)
        if isinstance(error, sqlite3.Error) and getattr(error, "sqlite_errorcode", 0) & 0xFF in _DAMAGE_CODES:
            self._damage = self._damage or f"SQLite finds it damaged: {said}"
            said = f"{said}: the file is damaged. {recovery_advice(Path(self.path))}"
        failure = StateStoreError(f"State file {self.path}: could not {what}: {said}{'' if said.endswith('.') else '.'}")
        self.marks.wrote_all()  # its transaction rolled back (or its end is unknown)
        if report:
            self.problem = str(failure)
            self.on_failure()
        return failure
