"""The schema of the state file and its migrations. The version is `PRAGMA user_version`;
`MIGRATIONS[n - 1]` takes a file from version n - 1 to n."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..logs import get_logger
from ..model import Health, Outcome, PendingPhase, Trigger
from .errors import StateStoreError, recovery_advice
from .running import ADDED_COLUMNS, SQLITE_TABLES, TABLE_NAMES

log = get_logger("watchdog.state")


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


# When the daemon was last known alive: one row, written at start, every ALIVE_BEATS of the
# heartbeat and at a clean stop. Recovery compares it with now to tell a rollout (down for
# seconds) from a night with no daemon (a schedule's restart kept since 03:00 is not sent at 09:00).
# Not a migration: a release without it opens a file with one more table (its business), so
# rolling back after an upgrade still works. A file an older release wrote gets the table empty:
# that release recorded no sign of life, and its newest record (once copied here) says when it last
# wrote, not when it stopped (SqliteStateStore.last_alive: not known).
ALIVE_TABLE = "CREATE TABLE daemon_alive (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL)"


def ensure_alive_table(db: sqlite3.Connection) -> None:
    """Make the `daemon_alive` table if the file has none (one the daemon opens to write)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'daemon_alive'").fetchone():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'daemon_alive'").fetchone():
            db.execute(ALIVE_TABLE)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


# Who asked for each finished restart, and why (HistoryRecord.reason and .origin: the request's
# `reason` and `origin` as pending_request keeps them). Not a migration, as daemon_alive is not:
# a new schema version makes every older release refuse the file ("newer than the 1 this watchdog
# knows"), so no rollback. Two nullable columns instead: an older release opens the file, reads its
# records (it reads columns by name) and writes its own (its INSERT names its columns: these are
# NULL, "not known", as in every record from before they were added).
HISTORY_ASKED_COLUMNS = ("reason", "origin")


def ensure_history_asked(db: sqlite3.Connection) -> None:
    """Add the history's `reason` and `origin` columns if the file has none (one the daemon opens
    to write)."""
    def missing() -> list[str]:
        present = {row[0] for row in db.execute("SELECT name FROM pragma_table_info('restart_history')")}
        return [column for column in HISTORY_ASKED_COLUMNS if column not in present]

    if not missing():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for column in missing():  # another process may have added them meanwhile
            db.execute(f"ALTER TABLE restart_history ADD COLUMN {column} TEXT")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def ensure_running_tables(db: sqlite3.Connection) -> None:
    """Make the tables of what the polls saw running (running.py: side tables, not a migration, as
    `daemon_alive`) if the file has none (one the daemon opens to write)."""
    def missing() -> bool:
        found = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return not set(TABLE_NAMES) <= found

    def columns_missing() -> list[tuple[str, str, str]]:
        # Tables an older release made (running.ADDED_COLUMNS): their new columns added, nullable.
        return [(table, column, kind) for table, column, kind, _ in ADDED_COLUMNS
                if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}]

    if not missing() and not columns_missing():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in SQLITE_TABLES:  # IF NOT EXISTS: another process may have made them meanwhile
            db.execute(statement)
        for table, column, kind in columns_missing():  # another process may have added them meanwhile
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def latest_schema_version() -> int:
    return len(MIGRATIONS)



def check_version(db: sqlite3.Connection, path: str | Path) -> int:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    latest = latest_schema_version()
    if version > latest and (missing := _missing_tables(db, expected_tables(latest))):
        # Not a newer release's file: every release keeps the tables of version 1. Another
        # application's database counting its own migrations in `user_version` (7) was called
        # "a newer release wrote it. Run that release", a release that does not exist.
        raise StateStoreError(
            f"State file {path} has schema version {version} but not the watchdog's tables (missing: "
            f"{', '.join(missing)}): it is another application's database (which counts its own versions where "
            "the watchdog keeps its schema version), or was changed by hand. Point the state path at another "
            "file. The file was not changed."
        )
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
    # `user_version` is any application's to set, and many count their own migrations in it: a
    # database of another application at version 1 passed as a state file, was switched to WAL
    # (a change to someone else's file), and the daemon then died on "no such table".
    missing = _missing_columns(db, expected_tables(version))
    if not missing:
        unknown = unknown_values(lambda query: db.execute(query).fetchall())
        if unknown:
            raise unknown_values_refusal(f"State file {path}", unknown, "move the file aside to start fresh with a new one")
        if found := unreadable_numbers(lambda query: db.execute(query).fetchall()):
            raise unreadable_numbers_refusal(f"State file {path}", found, recovery_advice(Path(path)))
    if missing:
        raise StateStoreError(
            f"State file {path} has schema version {version} but not the watchdog's tables and columns of that "
            f"version (missing: {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): it is another "
            "application's database, or was changed by hand. Point the state path at another file, or restore "
            "the watchdog's file from a backup. The file was not changed."
        )
    return version


# The values of each enumeration the store keeps, as this release reads them (where; the query in
# SQLite; in PostgreSQL; the enumeration). A release adds a trigger or an outcome without a new
# schema version (as `stalled`, `conflict` and `unconfirmed` were): the release before it, rolled
# back to, died at its start on a Python traceback ("'unconfirmed' is not a valid Outcome"), and
# so did `watchdog history`.
ENUMERATIONS: tuple[tuple[str, str, str, type[StrEnum]], ...] = (
    ("outcome in the restart history", "SELECT DISTINCT outcome FROM restart_history",
     "SELECT DISTINCT outcome FROM restart_history", Outcome),
    ("trigger in the restart history",
     "SELECT primary_trigger FROM restart_history UNION SELECT value FROM restart_history, json_each(restart_history.triggers)",
     "SELECT primary_trigger FROM restart_history UNION SELECT json_array_elements_text(triggers) FROM restart_history",
     Trigger),
    ("trigger of a kept restart", "SELECT DISTINCT trigger_name FROM pending_request",
     "SELECT DISTINCT trigger_name FROM pending_request", Trigger),
    ("connector health", "SELECT DISTINCT health FROM connector_state WHERE health IS NOT NULL",
     "SELECT DISTINCT health FROM connector_state WHERE health IS NOT NULL", Health),
    # SQLite's CHECK refuses another phase, but a PostgreSQL table a DBA made may have none: a
    # `parked` request (a later release's phase) made every start of leading fail on "'parked' is
    # not a valid PendingPhase", once a second, and `watchdog status` die on it.
    ("phase of a kept restart", "SELECT DISTINCT phase FROM pending_request",
     "SELECT DISTINCT phase FROM pending_request", PendingPhase),
)


def unknown_values(rows_of: Callable[[str], Iterable[Sequence[Any]]], *, postgres: bool = False) -> list[str]:
    """What the store holds of the enumerations that this release does not know, by where.
    `rows_of`: runs a query, returns its rows."""
    found = []
    for where, in_sqlite, in_postgres, kind in ENUMERATIONS:
        known = {member.value for member in kind}
        found += [f"{where}: {row[0]!r}" for row in rows_of(in_postgres if postgres else in_sqlite)
                  if row[0] not in known]
    return found


# The whole-number columns of each table, and the least value a watchdog writes there (None: any).
# SQLite keeps whatever a column is given ('x' in an INTEGER column: a hand edit, a byte changed on
# disk, and integrity_check passes): read as is, a connector's `attempts` of 'x' passed the
# start, and every poll of its cluster then died on a TypeError ("'<=' not supported between
# instances of 'str' and 'int'") while /readyz said ready; a history record's `tries` of 'one'
# killed the start on a traceback. PostgreSQL's integer columns hold numbers only, but a negative
# count by hand ("-5 restart attempt(s) so far"). Checked at the start (unreadable_numbers)
# and by every read (whole).
WHOLE_COLUMNS: dict[str, tuple[tuple[str, bool, int | None], ...]] = {  # table: (column, nullable, minimum)
    "connector_state": (("consecutive_failures", False, 0), ("attempts", False, 0)),
    "restart_history": (("tries", False, 0), ("attempt", True, 0), ("status_code", True, None)),
}


def whole(row: Any, table: str, column: str) -> Any:
    """`row[column]` as the whole number it must be (None where the column may be empty), or
    ValueError naming the column and the value: a record this watchdog cannot read."""
    nullable, minimum = next((n, m) for c, n, m in WHOLE_COLUMNS[table] if c == column)
    value = row[column]
    if value is None and nullable:
        return None
    # bool is an int, but no driver hands one back for these columns: a sign of another column's value.
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        least = "" if minimum is None else f" of at least {minimum}"
        raise ValueError(f"{table}.{column} is {value!r}, not a whole number{least}")
    return value


def unreadable_numbers(rows_of: Callable[[str], Iterable[Sequence[Any]]], *, postgres: bool = False) -> str | None:
    """Why the first record found whose whole-number column holds something else (WHOLE_COLUMNS)
    cannot be read, or None. `rows_of`: runs a query, returns its rows. One scan per table, at
    the start (beside unknown_values); in PostgreSQL, whose columns hold integers only, the range."""
    for table, columns in WHOLE_COLUMNS.items():
        conditions = []
        for column, nullable, minimum in columns:
            if not postgres:
                kinds = "'integer', 'null'" if nullable else "'integer'"
                conditions.append(f"typeof({column}) NOT IN ({kinds})")
            if minimum is not None:
                conditions.append(f"{column} < {minimum}")
        names = ("cluster", "connector", *(column for column, _, _ in columns))
        query = f"SELECT {', '.join(names)} FROM {table} WHERE {' OR '.join(conditions)} LIMIT 1"
        for found in rows_of(query):
            row = dict(zip(names, found))
            try:
                for column, _, _ in columns:
                    whole(row, table, column)
            except ValueError as error:
                return f"{error}, in a record of {row['cluster']}/{row['connector']}"
    return None


def unreadable_numbers_refusal(where: str, found: str, recovery: str) -> StateStoreError:
    return StateStoreError(f"{where} holds a record this watchdog cannot read ({found}): it was changed by hand, or "
                           f"damaged (a disk error inside a record, which the database's own checks do not see). "
                           f"{recovery} Nothing was changed.")


def unknown_values_refusal(where: str, unknown: list[str], fresh: str) -> StateStoreError:
    return StateStoreError(
        f"{where} holds records this watchdog does not know ({'; '.join(unknown[:3])}): a newer release wrote "
        f"them. Run that release (or a later one), or {fresh}. Nothing was changed."
    )


def expected_tables(version: int) -> dict[str, list[str]]:
    """Each table and its columns as `MIGRATIONS[:version]` make them: run in a scratch database
    in memory, so that what is expected never drifts from the migrations."""
    with closing(sqlite3.connect(":memory:")) as scratch:
        for migration in MIGRATIONS[:version]:
            for statement in migration.statements:
                scratch.execute(statement)
        return _columns(scratch)


def _columns(db: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )]
    return {table: [row[0] for row in db.execute("SELECT name FROM pragma_table_info(?)", (table,))]
            for table in tables}


def _missing_tables(db: sqlite3.Connection, expected: dict[str, list[str]]) -> list[str]:
    found = _columns(db)
    return [f"table {table}" for table in expected if table not in found]


def _missing_columns(db: sqlite3.Connection, expected: dict[str, list[str]]) -> list[str]:
    """What the file lacks of `expected` (a table, or a table's column); what it has besides is
    its own business."""
    return missing_columns(_columns(db), expected)


def missing_columns(found: dict[str, list[str]], expected: dict[str, list[str]]) -> list[str]:
    """What `found` (each table and its columns) lacks of `expected`, as `table T` or `column T.C`
    (both stores)."""
    missing = []
    for table, columns in expected.items():
        if table not in found:
            missing.append(f"table {table}")
        else:
            missing += [f"column {table}.{column}" for column in columns if column not in found[table]]
    return missing


def require_current(version: int, path: str | Path) -> None:
    latest = latest_schema_version()
    if version == 0:
        # No watchdog ever wrote it (its first start makes version 1): "start the daemon once to
        # upgrade it" began an empty store on a copy of a state file made without its -wal, whose
        # commits are all in that log (the re-verification of an upgrade probe).
        raise StateStoreError(
            f"State file {path} is a SQLite database with no watchdog state in it (no tables): a copy made "
            "without its -wal file (which holds what was not checkpointed yet), or a restore that failed? Put "
            "the state file back together with its -wal before starting the daemon: started on this file, it "
            "begins a new, empty state store. The file was not changed."
        )
    if version != latest:
        raise StateStoreError(
            f"State file {path} has schema version {version}; this watchdog reads version {latest}. "
            "Start the daemon once to upgrade it (a read-only reader never changes the file)."
        )


def migrate(db: sqlite3.Connection, path: str | Path, found: int) -> None:
    """Take the file from its version to the latest, all in one transaction: a failure, or a
    crash, leaves it at the version it had."""
    latest = latest_schema_version()
    if found == latest:
        return
    db.execute("BEGIN IMMEDIATE")
    start = found  # what the file had, should the first read below fail
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
            f"({error}); the file was left at version {start}. {recovery_advice(Path(path))}"
        ) from error
    if start < latest:
        log.info("state_schema_migrated", path=str(path), from_version=start, to_version=latest)
