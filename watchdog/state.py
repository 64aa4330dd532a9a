"""The state store: what the watchdog remembers per connector, the restart history, and the restart
requests accepted but not yet finished.

`SqliteStateStore` keeps it in an embedded SQLite file so that a daemon killed at any moment comes
back with its backoff, budgets and gave-up flags intact (no restart storm) and sends the requests it
had accepted. On `:memory:` it keeps nothing beyond the process (tests, the demo).

Crash safety rests on three choices:
- Every write is one short transaction. The ones that must move together share one:
  `mark_sending` counts the attempt in the same transaction that marks the request as possibly
  sent, and `finish` writes the history record, the state and the removal of the request together.
- WAL journal with `synchronous=NORMAL`: a commit is in the write-ahead log, in the operating
  system's page cache, before COMMIT returns, so a process crash (kill -9, OOM kill) loses no
  committed transaction and cannot corrupt the file. Only a power loss or kernel crash can lose
  the last commits since a checkpoint (never corrupt the file); `FULL` would add an fsync to every
  commit, i.e. to every connector on every poll, to guard against that rarer loss, whose cost is
  a few restarts counted too few.
- A file we cannot read is never replaced: opening it raises `StateStoreError`, which names the
  file and how to recover.

Timestamps are stored as ISO 8601 UTC text of fixed width (sortable), enums by value, evidence and
recommendations as JSON. The schema version is `PRAGMA user_version`; `MIGRATIONS[n - 1]` takes
a file from version n - 1 to n.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from .logs import get_logger
from .model import (
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
from .report import (
    StatusRow,
    format_timestamp,
    parse_timestamp,
    parse_timestamp_or_none,
    timestamp_or_none,
)

log = get_logger("watchdog.state")

MEMORY = ":memory:"

# How long a statement waits for another connection's lock (a `watchdog status` reader, a
# checkpoint) before failing. Writers never wait on readers in WAL mode; this covers the rest.
BUSY_TIMEOUT_MS = 5000


class StateStoreError(Exception):
    """The state store cannot be used. The message names the file and says how to recover."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# -- schema --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    description: str
    statements: tuple[str, ...]  # run one by one: executescript would commit mid-migration


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "connector state, restart history, pending requests",
        (
            """
            CREATE TABLE connector_state (
                cluster              TEXT NOT NULL,
                connector            TEXT NOT NULL,
                consecutive_failures INTEGER NOT NULL DEFAULT 0,
                attempts             INTEGER NOT NULL DEFAULT 0,
                last_restart_at      TEXT,
                next_allowed_at      TEXT,
                gave_up              INTEGER NOT NULL DEFAULT 0 CHECK (gave_up IN (0, 1)),
                health               TEXT,
                healthy_since        TEXT,
                awaiting_resolution  INTEGER NOT NULL DEFAULT 0 CHECK (awaiting_resolution IN (0, 1)),
                seen_state           TEXT,  -- the connector state of the last poll (RUNNING...)
                seen_at              TEXT,
                PRIMARY KEY (cluster, connector)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE restart_history (
                id              INTEGER PRIMARY KEY,
                at              TEXT NOT NULL,
                cluster         TEXT NOT NULL,
                connector       TEXT NOT NULL,
                job_id          TEXT NOT NULL,
                rule            TEXT NOT NULL,
                primary_trigger TEXT NOT NULL,
                triggers        TEXT NOT NULL,  -- JSON array of trigger values
                outcome         TEXT NOT NULL,
                status_code     INTEGER,
                request_id      TEXT,
                message         TEXT NOT NULL,
                tries           INTEGER NOT NULL,
                attempt         INTEGER,
                evidence        TEXT,           -- JSON object, or NULL
                recommendations TEXT NOT NULL   -- JSON array of strings
            )
            """,
            "CREATE INDEX restart_history_by_connector ON restart_history (cluster, connector, at)",
            "CREATE INDEX restart_history_by_time ON restart_history (at)",
            """
            CREATE TABLE pending_request (
                seq          INTEGER PRIMARY KEY,  -- acceptance order, kept when re-queued
                request_id   TEXT NOT NULL UNIQUE,
                job_id       TEXT NOT NULL,
                phase        TEXT NOT NULL CHECK (phase IN ('queued', 'sending')),
                cluster      TEXT NOT NULL,
                connector    TEXT NOT NULL,
                rule         TEXT NOT NULL,
                trigger_name TEXT NOT NULL,
                reason       TEXT NOT NULL,
                origin       TEXT NOT NULL,
                requested_at TEXT NOT NULL,
                dry_run      INTEGER NOT NULL CHECK (dry_run IN (0, 1))
            )
            """,
            "CREATE INDEX pending_request_by_job ON pending_request (job_id)",
        ),
    ),
)


def latest_schema_version() -> int:
    return len(MIGRATIONS)


# -- the store -----------------------------------------------------------------------------------


class SqliteStateStore:
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
        self._lock = None
        if not read_only and self.path != MEMORY:
            _check_path(Path(self.path), read_only=False)  # say "missing directory", not "no lock file"
            self._lock = _exclusive_lock(Path(self.path))
        try:
            self._db = _open(self.path, read_only=read_only)
        except BaseException:
            self._release_lock()
            raise

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
    def schema_version(self) -> int:
        return int(self._read("read the schema version", "PRAGMA user_version")[0][0])

    # -- per-connector state ----------------------------------------------------------------------

    def load(self, key: ConnectorKey) -> ConnectorState:
        rows = self._read(
            "load a connector's state",
            "SELECT * FROM connector_state WHERE cluster = ? AND connector = ?",
            (key.cluster, key.connector),
        )
        return _state_from_row(rows[0]) if rows else ConnectorState()

    def save(self, key: ConnectorKey, state: ConnectorState) -> None:
        with self._write("save a connector's state") as db:
            _save_state(db, key, state)

    def forget(self, key: ConnectorKey) -> None:
        """Drop the connector's state (it left the cluster). Its history stays until pruned."""
        with self._write("forget a connector") as db:
            db.execute(
                "DELETE FROM connector_state WHERE cluster = ? AND connector = ?", (key.cluster, key.connector)
            )

    def items(self) -> Iterator[tuple[ConnectorKey, ConnectorState]]:
        return iter([(row.key, row.state) for row in self.rows()])

    def observe_status(self, key: ConnectorKey, seen_state: str, seen_at: datetime) -> None:
        """Remember the connector state a poll saw (RUNNING, FAILED...), for the status table."""
        with self._write("record a connector's status") as db:
            db.execute(
                """
                INSERT INTO connector_state (cluster, connector, seen_state, seen_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (cluster, connector) DO UPDATE
                SET seen_state = excluded.seen_state, seen_at = excluded.seen_at
                """,
                (key.cluster, key.connector, seen_state, format_timestamp(seen_at)),
            )

    def rows(self) -> list[StatusRow]:
        """Every remembered connector, by cluster and name, for `watchdog status`."""
        found = self._read("list connector states", "SELECT * FROM connector_state ORDER BY cluster, connector")
        return [
            StatusRow(
                key=_key_from_row(row),
                state=_state_from_row(row),
                seen_state=row["seen_state"],
                seen_at=parse_timestamp_or_none(row["seen_at"]),
            )
            for row in found
        ]

    # -- restart requests: queued -> sending -> finished ------------------------------------------

    def add_pending(self, request: RestartRequest, job_id: str) -> None:
        """Remember an accepted request (phase `queued`) before it can be lost to a crash.

        Adding a request the store already holds (one recovered after a restart of the daemon and
        queued again, under a new job) moves it to `job_id` and keeps its phase and place: a request
        that was `sending` when the daemon died stays `sending`, so the daemon knows its attempt
        was already counted.
        """
        with self._write("remember a restart request") as db:
            db.execute(
                """
                INSERT INTO pending_request (request_id, job_id, phase, cluster, connector, rule,
                    trigger_name, reason, origin, requested_at, dry_run)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (request_id) DO UPDATE SET job_id = excluded.job_id
                """,
                (
                    request.id, job_id, PendingPhase.QUEUED.value, request.key.cluster, request.key.connector,
                    request.rule, request.trigger.value, request.reason, request.origin,
                    format_timestamp(request.requested_at), int(request.dry_run),
                ),
            )

    def mark_sending(self, job_id: str, key: ConnectorKey, state: ConnectorState) -> None:
        """The job's call is about to go out: mark its requests `sending` and save the connector's
        state (with the attempt already counted) in one transaction, so a crash just after the
        call can lose neither the attempt nor the request."""
        with self._write("mark a restart as sending") as db:
            db.execute(
                "UPDATE pending_request SET phase = ? WHERE job_id = ?", (PendingPhase.SENDING.value, job_id)
            )
            _save_state(db, key, state)

    def finish(self, job_id: str, key: ConnectorKey, state: ConnectorState | None, record: HistoryRecord) -> None:
        """The job ended: in one transaction, add its history record, save the connector's state
        (when given) and drop the job's pending requests."""
        if record.key != key or record.job_id != job_id:
            raise ValueError(f"history record of {record.key} job {record.job_id} given for {key} job {job_id}")
        with self._write("record a finished restart") as db:
            _insert_history(db, record)
            if state is not None:
                _save_state(db, key, state)
            db.execute("DELETE FROM pending_request WHERE job_id = ?", (job_id,))

    def withdraw_pending(self, request_ids: Sequence[str]) -> None:
        """Forget requests that will not be sent (cancelled before their turn)."""
        with self._write("withdraw restart requests") as db:
            db.executemany("DELETE FROM pending_request WHERE request_id = ?", [(rid,) for rid in request_ids])

    def pending(self) -> list[PendingRequest]:
        """Requests accepted but not finished, oldest first: what a restarted daemon must send."""
        rows = self._read(
            "list pending restart requests", "SELECT * FROM pending_request ORDER BY requested_at, seq"
        )
        return [_pending_from_row(row) for row in rows]

    # -- history -----------------------------------------------------------------------------------

    def history(self, key: ConnectorKey | None = None, limit: int = 50) -> list[HistoryRecord]:
        """Finished restarts, newest first; of one connector when `key` is given."""
        if key is None:
            rows = self._read(
                "read the restart history",
                "SELECT * FROM restart_history ORDER BY at DESC, id DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self._read(
                "read the restart history",
                """
                SELECT * FROM restart_history WHERE cluster = ? AND connector = ?
                ORDER BY at DESC, id DESC LIMIT ?
                """,
                (key.cluster, key.connector, limit),
            )
        return [_history_from_row(row) for row in rows]

    def prune(self, max_age: timedelta, max_entries: int) -> int:
        """Delete history records older than `max_age` (all connectors), then all but the newest
        `max_entries` of EACH connector: counting per connector keeps a quiet connector's last
        restarts from being pushed out by a noisy one. Returns the number of records deleted."""
        if max_age <= timedelta(0) or max_entries < 1:
            raise ValueError(f"history limits must be positive, got max_age={max_age}, max_entries={max_entries}")
        cutoff = format_timestamp(self._now() - max_age)
        with self._write("prune the restart history") as db:
            too_old = db.execute("DELETE FROM restart_history WHERE at < ?", (cutoff,)).rowcount
            too_many = db.execute(
                """
                DELETE FROM restart_history WHERE id IN (
                    SELECT id FROM (
                        SELECT id, ROW_NUMBER() OVER (
                            PARTITION BY cluster, connector ORDER BY at DESC, id DESC
                        ) AS newest_first
                        FROM restart_history
                    ) WHERE newest_first > ?
                )
                """,
                (max_entries,),
            ).rowcount
        return too_old + too_many

    # -- plumbing ----------------------------------------------------------------------------------

    def _read(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise self._failure(what, error) from error

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One transaction: all of the block's statements are committed, or none."""
        db = self._db
        try:
            # IMMEDIATE takes the write lock up front, so the block cannot fail half-way on a
            # lock upgrade it could have waited for.
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise self._failure(what, error) from error

    def _failure(self, what: str, error: sqlite3.Error) -> StateStoreError:
        return StateStoreError(f"State file {self.path}: could not {what}: {error}.")


# -- opening, checking and migrating the file ---------------------------------------------------


def _exclusive_lock(path: Path) -> IO[bytes]:
    """One daemon per state file: two would each believe they own every backoff and restart
    twice. An advisory lock on a companion file (SQLite's own locks guard pages, not ownership);
    the kernel releases it when the process dies, even on kill -9."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        handle = open(lock_path, "ab")  # noqa: SIM115 - held for the store's lifetime
    except OSError as exc:
        raise StateStoreError(f"State file {path}: cannot create its lock file {lock_path}: {exc}") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StateStoreError(
            f"State file {path} is in use by another watchdog process (it holds {lock_path}). "
            "Run one daemon per state file; stop the other one or give this one its own state.path."
        ) from None
    return handle


def _recovery(path: Path) -> str:
    return (
        f"To recover, stop the watchdog and move {path} aside together with {path}-wal and {path}-shm "
        "if they exist (they belong to it), or restore all of them from a backup; then start it again. "
        "With no file, the watchdog creates a new, empty one and forgets backoff, restart budgets, "
        "gave-up flags and history. The watchdog never replaces or deletes a state file itself."
    )


def _open(path: str | Path, *, read_only: bool) -> sqlite3.Connection:
    if isinstance(path, Path):
        _check_path(path, read_only=read_only)
        created = not path.exists()
        db = _connect(path, read_only=read_only)
    else:
        created = False
        db = sqlite3.connect(MEMORY, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    try:
        _prepare(db, path, read_only=read_only)
    except BaseException:
        db.close()
        raise
    if created:
        log.info("state_file_created", path=str(path))
    return db


def _check_path(path: Path, *, read_only: bool) -> None:
    if path.is_dir():
        raise StateStoreError(
            f"State file {path} is a directory, not a file. Point the state path at a file in it, "
            f"such as {path / 'watchdog.db'}."
        )
    if path.exists():
        wanted = os.R_OK if read_only else os.R_OK | os.W_OK
        if not os.access(path, wanted):
            access = "readable" if read_only else "readable and writable"
            raise StateStoreError(
                f"State file {path} is not {access} by this user (uid {os.geteuid()}). Fix its owner or "
                f"permissions (and those of {path}-wal and {path}-shm if they exist). {_recovery(path)}"
            )
        return
    if read_only:
        raise StateStoreError(f"State file {path} does not exist: no daemon has written state there yet.")
    if not path.parent.is_dir():
        # Creating it would hide a missing volume: the state would live in the container and be
        # lost with it, which is exactly what the file is for.
        raise StateStoreError(
            f"Cannot create state file {path}: directory {path.parent} does not exist (is the volume "
            "mounted?). Create the directory or point the state path elsewhere."
        )
    for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if sidecar.exists():
            # SQLite would apply a leftover log to the new, empty database.
            raise StateStoreError(
                f"State file {path} does not exist but {sidecar} does: the state file was moved or "
                f"deleted without it. Move {sidecar} aside too (or put the state file back), then "
                "start again."
            )


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    target = f"{path.as_uri()}?mode={'ro' if read_only else 'rwc'}"
    try:
        # check_same_thread off: the daemon's thread is not always the one that built the store
        # (the CLI runs it in a worker thread); calls never overlap, and SQLite is serialized.
        return sqlite3.connect(target, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise _unusable(path, error) from error


def _prepare(db: sqlite3.Connection, path: str | Path, *, read_only: bool) -> None:
    """Check the file, then bring its schema up to date. Nothing is written before the checks
    pass, so a file that is refused is left exactly as it was."""
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_integrity(db, path)
        version = _check_version(db, path)
        if read_only:
            _require_current(version, path)
            return
        _use_wal(db, path)
        db.execute("PRAGMA synchronous = NORMAL")
        _migrate(db, path, version)
    except sqlite3.Error as error:
        raise _unusable(path, error) from error


def _check_integrity(db: sqlite3.Connection, path: str | Path) -> None:
    # quick_check reads every page once but skips matching indexes against their tables: cheap on
    # a pruned state file, and it catches truncation and torn pages before we trust the numbers.
    report = [row[0] for row in db.execute("PRAGMA quick_check(3)").fetchall()]
    if report != ["ok"]:
        # One row may hold several lines, under a "*** in database main ***" banner.
        problems = [line for text in report for line in text.splitlines() if not line.startswith("***")]
        raise StateStoreError(
            f"State file {path} is damaged: SQLite's integrity check reports: {'; '.join(problems[:3])}. "
            f"{_recovery(Path(path))}"
        )


def _check_version(db: sqlite3.Connection, path: str | Path) -> int:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    latest = latest_schema_version()
    if version > latest:
        raise StateStoreError(
            f"State file {path} has schema version {version}, newer than the {latest} this watchdog "
            "knows: a newer release wrote it. Run that release (or a later one), or move the file "
            "aside to start fresh with a new one. The file was not changed."
        )
    if version == 0:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        if tables:
            raise StateStoreError(
                f"State file {path} is a SQLite database but not a watchdog state file (it has the "
                f"tables {', '.join(tables)} and no watchdog schema version). Point the state path "
                "at another file. The file was not changed."
            )
    return version


def _require_current(version: int, path: str | Path) -> None:
    latest = latest_schema_version()
    if version != latest:
        raise StateStoreError(
            f"State file {path} has schema version {version}; this watchdog reads version {latest}. "
            "Start the daemon once to upgrade it (a read-only reader never changes the file)."
        )


def _use_wal(db: sqlite3.Connection, path: str | Path) -> None:
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if path != MEMORY and mode != "wal":
        # Rollback journals are as safe against a process crash; readers just wait for writers.
        log.warning("state_wal_unavailable", path=str(path), journal_mode=mode)


def _migrate(db: sqlite3.Connection, path: str | Path, found: int) -> None:
    """Take the file from its version to the latest, all in one transaction: a failure, or a
    crash, leaves it at the version it had."""
    latest = latest_schema_version()
    if found == latest:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated the file between our read and taking the lock.
        start = int(db.execute("PRAGMA user_version").fetchone()[0])
        for version in range(start + 1, latest + 1):
            for statement in MIGRATIONS[version - 1].statements:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {latest}")
        db.execute("COMMIT")
    except sqlite3.Error as error:
        db.execute("ROLLBACK")
        raise StateStoreError(
            f"State file {path}: upgrading the schema from version {start} to {latest} failed "
            f"({error}); the file was left at version {start}. {_recovery(Path(path))}"
        ) from error
    if start < latest:
        log.info("state_schema_migrated", path=str(path), from_version=start, to_version=latest)


def _unusable(path: str | Path, error: sqlite3.Error) -> StateStoreError:
    """Map SQLite's refusal to open or read a file to what the operator can do about it."""
    code = getattr(error, "sqlite_errorname", "")
    if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return StateStoreError(
            f"State file {path} is not a readable SQLite database ({error}). {_recovery(Path(path))}"
        )
    return StateStoreError(
        f"State file {path} cannot be opened ({error}). Check that the file, its -wal and -shm "
        f"files and its directory are readable and writable by this user (uid {os.geteuid()}) and "
        "that the disk is not full."
    )


# -- rows <-> values -------------------------------------------------------------------------------


def _save_state(db: sqlite3.Connection, key: ConnectorKey, state: ConnectorState) -> None:
    # An upsert that leaves seen_state/seen_at alone: observe_status owns those.
    db.execute(
        """
        INSERT INTO connector_state (cluster, connector, consecutive_failures, attempts, last_restart_at,
            next_allowed_at, gave_up, health, healthy_since, awaiting_resolution)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (cluster, connector) DO UPDATE SET
            consecutive_failures = excluded.consecutive_failures,
            attempts = excluded.attempts,
            last_restart_at = excluded.last_restart_at,
            next_allowed_at = excluded.next_allowed_at,
            gave_up = excluded.gave_up,
            health = excluded.health,
            healthy_since = excluded.healthy_since,
            awaiting_resolution = excluded.awaiting_resolution
        """,
        (
            key.cluster, key.connector, state.consecutive_failures, state.attempts,
            timestamp_or_none(state.last_restart_at), timestamp_or_none(state.next_allowed_at), int(state.gave_up),
            None if state.health is None else state.health.value, timestamp_or_none(state.healthy_since),
            int(state.awaiting_resolution),
        ),
    )


def _insert_history(db: sqlite3.Connection, record: HistoryRecord) -> None:
    db.execute(
        """
        INSERT INTO restart_history (at, cluster, connector, job_id, rule, primary_trigger, triggers,
            outcome, status_code, request_id, message, tries, attempt, evidence, recommendations)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (
            format_timestamp(record.at), record.key.cluster, record.key.connector, record.job_id, record.rule,
            record.trigger.value, json.dumps([t.value for t in record.triggers]), record.outcome.value,
            record.status_code, record.request_id, record.message, record.tries, record.attempt,
            None if record.evidence is None else json.dumps(record.evidence),
            json.dumps(list(record.recommendations)),
        ),
    )


def _key_from_row(row: sqlite3.Row) -> ConnectorKey:
    return ConnectorKey(row["cluster"], row["connector"])


def _state_from_row(row: sqlite3.Row) -> ConnectorState:
    return ConnectorState(
        consecutive_failures=row["consecutive_failures"],
        attempts=row["attempts"],
        last_restart_at=parse_timestamp_or_none(row["last_restart_at"]),
        next_allowed_at=parse_timestamp_or_none(row["next_allowed_at"]),
        gave_up=bool(row["gave_up"]),
        health=None if row["health"] is None else Health(row["health"]),
        healthy_since=parse_timestamp_or_none(row["healthy_since"]),
        awaiting_resolution=bool(row["awaiting_resolution"]),
    )


def _history_from_row(row: sqlite3.Row) -> HistoryRecord:
    return HistoryRecord(
        at=parse_timestamp(row["at"]),
        key=_key_from_row(row),
        job_id=row["job_id"],
        rule=row["rule"],
        trigger=Trigger(row["primary_trigger"]),
        triggers=tuple(Trigger(value) for value in json.loads(row["triggers"])),
        outcome=Outcome(row["outcome"]),
        status_code=row["status_code"],
        request_id=row["request_id"],
        message=row["message"],
        tries=row["tries"],
        attempt=row["attempt"],
        evidence=None if row["evidence"] is None else json.loads(row["evidence"]),
        recommendations=tuple(json.loads(row["recommendations"])),
    )


def _pending_from_row(row: sqlite3.Row) -> PendingRequest:
    request = RestartRequest(
        id=row["request_id"],
        key=_key_from_row(row),
        rule=row["rule"],
        trigger=Trigger(row["trigger_name"]),
        reason=row["reason"],
        requested_at=parse_timestamp(row["requested_at"]),
        dry_run=bool(row["dry_run"]),
        origin=row["origin"],
    )
    return PendingRequest(request=request, job_id=row["job_id"], phase=PendingPhase(row["phase"]))
