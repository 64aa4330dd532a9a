"""The schema of the PostgreSQL state store and its migrations: the same records, in the same
versions, as the SQLite file's (`schema.MIGRATIONS[n - 1]` and `MIGRATIONS[n - 1]` here both take
a store from version n - 1 to n), in PostgreSQL's own types (timestamptz, boolean, json: not jsonb, which refuses the
\u0000 escape a failure trace may hold), plus
the leader lease, which only a shared store needs. The version is the one row of
`schema_version`; migrations are forward-only and a database newer than this code is refused."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import tuple_row

from ..logs import get_logger
from .errors import StateStoreError
from .postgres_connection import error_text
from .postgres_migration_lock import take_migration_lock
from .running import ADDED_COLUMNS, POSTGRES_TABLES, TABLE_NAMES
from .schema import (
    HISTORY_ASKED_COLUMNS,
    Migration,
    expected_tables,
    missing_columns,
    unknown_values,
    unknown_values_refusal,
    unreadable_numbers,
    unreadable_numbers_refusal,
)

log = get_logger("watchdog.state")

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "connector state, restart history, pending requests",
        (
            """
            CREATE TABLE connector_state (
                cluster              text NOT NULL,
                connector            text NOT NULL,
                consecutive_failures integer NOT NULL DEFAULT 0,
                attempts             integer NOT NULL DEFAULT 0,
                last_restart_at      timestamptz,
                next_allowed_at      timestamptz,
                gave_up              boolean NOT NULL DEFAULT false,
                health               text,
                healthy_since        timestamptz,
                awaiting_resolution  boolean NOT NULL DEFAULT false,
                seen_state           text,
                seen_at              timestamptz,
                PRIMARY KEY (cluster, connector)
            )
            """,
            """
            CREATE TABLE restart_history (
                id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                at              timestamptz NOT NULL,
                cluster         text NOT NULL,
                connector       text NOT NULL,
                job_id          text NOT NULL,
                rule            text NOT NULL,
                primary_trigger text NOT NULL,
                triggers        json NOT NULL,
                outcome         text NOT NULL,
                status_code     integer,
                request_id      text,
                message         text NOT NULL,
                tries           integer NOT NULL,
                attempt         integer,
                evidence        json,
                recommendations json NOT NULL
            )
            """,
            "CREATE INDEX restart_history_by_connector ON restart_history (cluster, connector, at)",
            "CREATE INDEX restart_history_by_time ON restart_history (at)",
            """
            CREATE TABLE pending_request (
                seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                request_id   text NOT NULL UNIQUE,
                job_id       text NOT NULL,
                phase        text NOT NULL CHECK (phase IN ('queued', 'sending')),
                cluster      text NOT NULL,
                connector    text NOT NULL,
                rule         text NOT NULL,
                trigger_name text NOT NULL,
                reason       text NOT NULL,
                origin       text NOT NULL,
                requested_at timestamptz NOT NULL,
                dry_run      boolean NOT NULL
            )
            """,
            "CREATE INDEX pending_request_by_job ON pending_request (job_id)",
            # The leader lease: one row. `epoch` rises with every change of holder and fences every
            # write (see postgres.py); `expires_at` is on the database's clock only, so the
            # replicas' own clocks never have to agree.
            """
            CREATE TABLE leader_lease (
                id          smallint PRIMARY KEY CHECK (id = 1),
                holder      text,
                epoch       bigint NOT NULL,
                expires_at  timestamptz NOT NULL,
                acquired_at timestamptz,
                renewed_at  timestamptz
            )
            """,
            "INSERT INTO leader_lease (id, holder, epoch, expires_at) VALUES (1, NULL, 0, '-infinity')",
        ),
    ),
)

OUR_TABLES = ("connector_state", "restart_history", "pending_request", "leader_lease")
# The lease's columns (version 1), checked at the start with the records' (_missing_columns).
LEASE_COLUMNS = ("id", "holder", "epoch", "expires_at", "acquired_at", "renewed_at")
# Serialises the migration of replicas that start together (any constant; "cwd1" in ASCII).
MIGRATION_LOCK = 0x63776431
# How long adding the history's columns waits for the table (ensure_history_asked).
ALTER_LOCK_TIMEOUT_MS = 1000


def latest_schema_version() -> int:
    return len(MIGRATIONS)


def read_version(conn: psycopg.Connection[Any], where: str) -> int:
    """The database's schema version (0: no watchdog schema yet). Refuses a database that holds
    tables of our names without our version table (someone else's), or a newer version."""
    cursor = conn.cursor(row_factory=tuple_row)  # whatever rows the connection makes by default
    tables = {row[0] for row in cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchall()}
    if "schema_version" not in tables:
        clash = sorted(tables & set(OUR_TABLES))
        if clash:
            raise StateStoreError(
                f"{where} has the tables {', '.join(clash)} but no watchdog schema version: they are "
                "not the watchdog's. Give the watchdog a database (or a schema, with "
                "options=-csearch_path=NAME in the URL) of its own. Nothing was changed."
            )
        return 0
    # `schema_version` is a common name (Flyway's table before version 5, with a text `version`):
    # another tool's crashed the daemon on int('2.1'), or passed for the watchdog's at version 1,
    # and then every read failed and no replica could ever take the lease (no leader_lease table).
    version_type = cursor.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'schema_version' AND column_name = 'version'"
    ).fetchone()
    if version_type is None or version_type[0] not in ("integer", "bigint", "smallint"):
        raise StateStoreError(
            f"{where} has a schema_version table that is not the watchdog's (its version column is "
            f"{'missing' if version_type is None else version_type[0]}): another application or migration tool "
            "keeps its own there. Give the watchdog a database (or a schema, with options=-csearch_path=NAME in "
            "the URL) of its own. Nothing was changed."
        )
    row = cursor.execute("SELECT max(version) FROM schema_version").fetchone()
    version = int(row[0]) if row and row[0] is not None else 0
    latest = latest_schema_version()
    # Our tables first (all made by version 1, kept by every later one): another application's
    # integer schema_version at 5 was called "a newer release wrote it. Run that release".
    missing = sorted(set(OUR_TABLES) - tables) if version >= 1 else []
    if missing:
        raise StateStoreError(
            f"{where} has schema version {version} but not the watchdog's tables {', '.join(missing)}: its "
            "schema_version table is another application's, or they were dropped by hand. Give the watchdog a "
            "database (or a schema, with options=-csearch_path=NAME in the URL) of its own, or restore it from a "
            "backup. Nothing was changed."
        )
    if version > latest:
        raise StateStoreError(
            f"{where} has schema version {version}, newer than the {latest} this watchdog knows: a "
            "newer release wrote it. Run that release (or a later one). Nothing was changed."
        )
    # A column dropped by hand, or a partial restore: refused as SQLite refuses it (schema.py,
    # check_version). Before, the store opened, and every start of leading failed on a KeyError
    # ('seen_at') about once a second for ever, and `watchdog status` on a traceback.
    if 1 <= version <= latest and (lacking := _missing_columns(cursor, version)):
        raise StateStoreError(
            f"{where} has schema version {version} but not the watchdog's tables and columns of that version "
            f"(missing: {', '.join(lacking[:5])}{', ...' if len(lacking) > 5 else ''}): it was changed by hand, or "
            "restored in part. Restore it from a backup, or give the watchdog a database (or a schema, with "
            "options=-csearch_path=NAME in the URL) of its own. Nothing was changed."
        )
    if version >= 1:
        unknown = unknown_values(lambda query: cursor.execute(query).fetchall(), postgres=True)
        if unknown:
            raise unknown_values_refusal(where, unknown, "give this one an empty database (or schema) to start fresh")
        if found := unreadable_numbers(lambda query: cursor.execute(query).fetchall(), postgres=True):
            raise unreadable_numbers_refusal(where, found, "Correct or delete that row (the watchdog never writes such a "
                                             "value), or restore the database from a backup.")
    return version


def _missing_columns(cursor: psycopg.Cursor[Any], version: int) -> list[str]:
    """What the database lacks of the tables and columns `version` makes: those the SQLite file
    has at that version (the same records, schema.expected_tables) and the lease's."""
    found: dict[str, list[str]] = {}
    for table, column in cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    ).fetchall():
        found.setdefault(table, []).append(column)
    return missing_columns(found, {**expected_tables(version), "leader_lease": list(LEASE_COLUMNS)})


def require_current(version: int, where: str) -> None:
    latest = latest_schema_version()
    if version != latest:
        raise StateStoreError(
            f"{where} has schema version {version}; this watchdog reads version {latest}. Start the "
            "daemon once to upgrade it (a read-only reader never changes the database)."
        )


def migrate(conn: psycopg.Connection[Any], where: str, parameters: dict[str, Any] | None = None) -> None:
    """Bring the schema up to date in one transaction, under an advisory lock so that two replicas
    starting together migrate once: a failure, or a crash, leaves the version it had. `parameters`:
    the connection's (connection_parameters), whose password a failure's text is starred of."""
    start = 0
    try:
        with conn.transaction():
            take_migration_lock(conn, where, MIGRATION_LOCK)  # waits for another replica's, bounded
            start = read_version(conn, where)  # another replica may have migrated meanwhile
            latest = latest_schema_version()
            if start == latest:
                return
            if start == 0:
                conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            for version in range(start + 1, latest + 1):
                for statement in MIGRATIONS[version - 1].statements:
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = %s", (latest,))
    except psycopg.Error as error:
        # The first line only: psycopg's error goes on with the statement and a caret (`LINE 1:
        # CREATE TABLE ...`), three lines where the daemon's refusals are one. The password
        # starred first (error_text): cut first, one holding a line break was left in part.
        first = error_text(error, parameters or {})
        advice = ""
        if isinstance(error, psycopg.errors.InsufficientPrivilege):
            # PostgreSQL 15 and later give PUBLIC no CREATE on the schema public, and a DBA's role
            # for applications often has none: the refusal said nothing of what to do.
            advice = (" The role may not create the watchdog's tables: GRANT CREATE ON SCHEMA <schema> TO <user>, "
                      "or have the tables made once by a role that may (start the daemon once as it), then "
                      "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA <schema> TO <user>.")
        raise StateStoreError(
            f"{where}: upgrading the schema from version {start} to {latest_schema_version()} failed "
            f"({first}); the database was left at version {start}.{advice}"
        ) from error
    log.info("state_schema_migrated", database=where, from_version=start, to_version=latest_schema_version())


def ensure_history_asked(conn: psycopg.Connection[Any], where: str, parameters: dict[str, Any] | None = None) -> bool:
    """Add the history's `reason` and `origin` columns (schema.HISTORY_ASKED_COLUMNS: nullable, no
    new schema version, so that an older release rolled back to still uses the database) if the
    table has none; whether it has them now. A role that may not alter the table (one a DBA made
    it for, granted only reads and writes) keeps the history as before, without them, and says so
    once: refused, the daemon would not start where the release before it did."""
    def missing() -> list[str]:
        present = {row[0] for row in conn.cursor(row_factory=tuple_row).execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'restart_history'").fetchall()}
        return [column for column in HISTORY_ASKED_COLUMNS if column not in present]

    if not missing():  # looked up first: ALTER TABLE waits for every reader of the table
        return True
    try:
        with conn.transaction():
            take_migration_lock(conn, where, MIGRATION_LOCK)
            # ALTER TABLE waits for every transaction that reads the table (a pg_dump, which takes
            # minutes), and every read and write of it queues behind it meanwhile: it waits 1 s at
            # most, and the daemon starts without the columns, trying again at its next start.
            conn.execute(f"SET LOCAL lock_timeout = '{ALTER_LOCK_TIMEOUT_MS}ms'")
            for column in missing():  # another replica may have added them meanwhile
                conn.execute(f"ALTER TABLE restart_history ADD COLUMN {column} text")
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.LockNotAvailable) as error:
        busy = isinstance(error, psycopg.errors.LockNotAvailable)
        until = ("another session held the table (a pg_dump, a long transaction); the next start adds them" if busy
                 else "the table's owner adds them: ALTER TABLE restart_history ADD COLUMN reason text, "
                      "ADD COLUMN origin text (or starts the daemon once as that role)")
        log.warning("history_reason_not_kept", database=where, error=error_text(error, parameters or {}),
                    note=f"the history keeps its records without who asked and why (reason, origin) until {until}")
        return False
    return True


def ensure_running_tables(conn: psycopg.Connection[Any], where: str, parameters: dict[str, Any] | None = None) -> str:
    """Make the tables of what the polls saw running (running.py: side tables, not a migration, so
    that an older release rolled back to still uses the database) if the database has none, and
    add the columns a later release keeps there (running.ADDED_COLUMNS) to those an older one
    made; "" when the role may use them now, else why not (what a new leader's first listing
    says, `stall_checks_judge_from`). A role that may not create them, read and write them, or
    add their columns, or a start that found them held by a long reader, keeps nothing of it, and
    says so once with what to do: a new leader's stalled rules then judge a connector only after
    seeing it RUNNING themselves; refused, the daemon would not start where the release before
    it did."""
    present = _running_tables(conn)
    if set(TABLE_NAMES) - present.keys():
        try:
            with conn.transaction():
                take_migration_lock(conn, where, MIGRATION_LOCK)
                for statement in POSTGRES_TABLES:  # IF NOT EXISTS: another replica may have made them meanwhile
                    conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege as error:
            log.warning("running_since_not_kept", database=where, error=error_text(error, parameters or {}),
                        note="the role may not create tables: a new leader's stalled rules judge a connector only once "
                             "they have seen it RUNNING themselves, until the tables connector_running, cluster_listed and "
                             "stall_judged are made (start the daemon once as a role that may, then grant this one reads and "
                             "writes)")
            return ("the state store keeps no times of connectors: the tables connector_running, cluster_listed and "
                    "stall_judged are not made and the role may not create them (running_since_not_kept at the start)")
        present = _running_tables(conn)
    unusable = sorted(name for name, usable in present.items() if not usable)
    if unusable:
        return _not_usable(conn, where, unusable)
    return _add_columns(conn, where, parameters)


def _not_usable(conn: psycopg.Connection[Any], where: str, unusable: list[str]) -> str:
    refused = " and ".join(filter(None, (", ".join(unusable[:-1]), unusable[-1])))
    # Made by another role (the DBA's, the owner's), the privileges granted on the core tables
    # only (the release before needed no more): before, information_schema, which lists only the
    # tables a role has some privilege on, hid them, and the warning asked to make tables that were there.
    role, schema = conn.cursor(row_factory=tuple_row).execute(
        "SELECT quote_ident(current_user), quote_ident(current_schema())").fetchone() or ("<role>", "<schema>")
    grant = (f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(f'{schema}.{name}' for name in TABLE_NAMES)} "
             f"TO {role}")
    log.warning("running_since_not_kept", database=where, tables=unusable,
                note=f"the role may not read and write the tables {refused} (they are there, made by another "
                     "role): a new leader's stalled rules judge a connector only once they have seen it RUNNING "
                     f"themselves, until their owner grants it and the daemon is started again: {grant}")
    return (f"the state store keeps no times of connectors: the role may not read and write the tables "
            f"{refused} (running_since_not_kept at the start says what to grant)")


def _add_columns(conn: psycopg.Connection[Any], where: str, parameters: dict[str, Any] | None) -> str:
    """The columns running.ADDED_COLUMNS to tables an older release made (nullable); "" once
    they are there. Looked up first (the role may read the tables by now): ALTER TABLE waits."""
    present = {(row[0], row[1]) for row in conn.cursor(row_factory=tuple_row).execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()").fetchall()}
    if {(table, column) for table, column, _, _ in ADDED_COLUMNS} <= present:
        return ""
    try:
        with conn.transaction():
            take_migration_lock(conn, where, MIGRATION_LOCK)
            # As for restart_history's columns: ALTER TABLE waits for every transaction that read
            # the table (a pg_dump), and every read and write of it (an older leader's) queues
            # behind it; 1 s at most, then this start goes without the tables.
            conn.execute(f"SET LOCAL lock_timeout = '{ALTER_LOCK_TIMEOUT_MS}ms'")
            for table, column, _, kind in ADDED_COLUMNS:  # IF NOT EXISTS: another replica may have added them
                conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
    except psycopg.errors.LockNotAvailable as error:
        log.warning("running_since_not_kept", database=where, error=error_text(error, parameters or {}),
                    note="another session held the tables (a pg_dump, a long transaction) while this start added "
                         "their new columns: a new leader's stalled rules judge a connector only once they have seen "
                         "it RUNNING themselves, until the next start adds them")
        return ("the state store keeps no times of connectors this start: another session held the side tables while "
                "it added their new columns (running_since_not_kept at the start); the next start adds them")
    except psycopg.errors.InsufficientPrivilege as error:
        statements = "; ".join(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
                               for table, column, _, kind in ADDED_COLUMNS)
        log.warning("running_since_not_kept", database=where, error=error_text(error, parameters or {}),
                    note="the role may not add the columns this release keeps in the tables an older release made: a "
                         "new leader's stalled rules judge a connector only once they have seen it RUNNING themselves, "
                         f"until the tables' owner adds them: {statements}")
        return ("the state store keeps no times of connectors: the role may not add the columns this release keeps in "
                "the side tables (running_since_not_kept at the start gives the ALTER TABLE statements)")
    return ""

def _running_tables(conn: psycopg.Connection[Any]) -> dict[str, bool]:
    """The side tables in the current schema, whether or not the role may use them (pg_class, not
    information_schema, which leaves out tables the role has no privilege on), each with whether it
    may read and write it (has_table_privilege with several privileges is true if any is held:
    each asked on its own)."""
    rows = conn.cursor(row_factory=tuple_row).execute(
        "SELECT c.relname, has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT') "
        "AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE') "
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = ANY(%s)", (list(TABLE_NAMES),)).fetchall()
    return {name: bool(usable) for name, usable in rows}
