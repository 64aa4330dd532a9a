"""How the daemon connects to PostgreSQL: the URL and the password (kept apart: the password comes
from the environment or the secrets directory, never the URL), bounded waits everywhere, UTC.

Every wait is bounded because the daemon calls the store from its event loop (see
`PostgresStateStore`): a database that stops answering must cost seconds, not a hung daemon.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import SecretStr

from ..logs import get_logger, scrub_of, scrubbed
from .errors import StateStoreError

log = get_logger("watchdog.state")

# Seconds for a new connection (libpq's minimum is 2).
CONNECT_TIMEOUT = 3
# Server-side bound on one statement, lock waits included (the fence takes a share lock on the
# lease row; a replica taking the lease over waits for it).
STATEMENT_TIMEOUT_MS = 5000
# Linux: how long sent data may stay unacknowledged before the connection is dropped (a database
# whose host vanished without closing its connections), and keepalives for idle ones.
TCP_USER_TIMEOUT_MS = 5000
# Seconds the store waits for the answer to whatever it sent (a statement, a pipeline's results, a
# COMMIT): the statement timeout, then a round trip. Neither bound above ends a wait on a peer that
# acknowledges what it is sent and never answers: a pooler or a proxy in front of the database
# (PgBouncer, a sidecar, a cloud SQL proxy) whose way to it a firewall cut, or a server stuck on its
# disk. The store waits on the event loop, so such a wait held the whole daemon for good: no
# /healthz, no lease renewal, not a line logged (postgres_rows.AnsweringConnection).
ANSWER_TIMEOUT = STATEMENT_TIMEOUT_MS / 1000 + 2


# Query parameters that say which data the URL reaches, not how it connects: a schema chosen in
# `options` (-csearch_path=NAME), a host or database given as a parameter. Left out, two replicas
# on one database but different schemas printed the same `state:` line and `started` line, and
# WatchdogSeveralLeaders' check showed no difference where the runbook names that cause first (a
# runbook probe, 2026-12-06). The URL holds no secret (config/leadership.py refuses them); the
# other parameters (sslmode, connect_timeout, ...) do not change which data it reaches.
_WHICH_DATA = ("host", "hostaddr", "port", "dbname", "service", "options")


def describe(url: str) -> str:
    """The database for messages: scheme, user, host, port and database, then the query's
    parameters that choose other data (a schema in `options`), decoded: `postgresql://wd@db:5432/
    watchdog (options=-csearch_path=team_b)`."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    which = [f"{name}={value}" for name, value in parse_qsl(parts.query, keep_blank_values=True) if name in _WHICH_DATA]
    return f"{base} ({', '.join(which)})" if which else base


# Where a reader of a URL libpq refuses finds the parameters it knows.
LIBPQ_PARAMETERS = "check the URL's parameters against libpq's (postgresql.org/docs/current/libpq-connect.html)"


def unreadable_url(url: str) -> str | None:
    """Why libpq cannot read a database URL, in its own first line (`invalid URI query parameter:
    "sslmod"`: a parameter it does not know), or None. It reads the URL without connecting, so the
    command line's config check asks it too (cli/common.load): the config check is pure and imports
    no driver, and `?sslmod=require` passed check-config, then stopped `run` at once, exit 1."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except psycopg.Error as error:
        text = str(error).strip() or type(error).__name__
        return text.splitlines()[0]
    return None


def refuse_unreadable(url: str, description: str) -> None:
    """StateStoreError when libpq cannot read the URL: such a URL ended `run` in psycopg's
    traceback; libpq's message names the parameter, never the password."""
    unreadable = unreadable_url(url)
    if unreadable is not None:
        raise StateStoreError(f"{description} cannot be used ({unreadable}): {LIBPQ_PARAMETERS}")


def connection_parameters(url: str, password: SecretStr | None, *, role: str) -> dict[str, Any]:
    """Keyword arguments for psycopg's `connect`. `role` ends up in `application_name`, so that
    `pg_stat_activity` shows which replica holds which connection."""
    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(url)
    options = " ".join(filter(None, [
        str(given.get("options") or ""),
        "-c TimeZone=UTC",
        f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        f"-c idle_in_transaction_session_timeout={STATEMENT_TIMEOUT_MS * 2}",
    ]))
    parameters: dict[str, Any] = {
        "conninfo": url,
        # A number: conninfo gives the URL's as text, and the elector bounds its own wait by it plus
        # a second ('10' + 1 ended its election loop without a word: the replica never led).
        # state.url's check (config/leadership.py) lets only whole seconds through.
        "connect_timeout": int(given.get("connect_timeout") or CONNECT_TIMEOUT),
        "application_name": f"connect-watchdog {role} {replica_identity()}"[:63],
        "options": options,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 3,
        "keepalives_count": 3,
        "tcp_user_timeout": given.get("tcp_user_timeout", TCP_USER_TIMEOUT_MS),
        # No statement prepared on the server (psycopg prepares one after its fifth run on a
        # connection). A pooler in transaction mode (PgBouncer's most common setting) runs each
        # transaction on whichever server connection is free: the prepared statement stayed on one,
        # and the store's reads and writes and the lease's renewals failed one time in a few
        # ('prepared statement "_pg3_0" does not exist', or '... already exists' where another
        # replica had prepared the same name), the leader stepping down for it. Every statement
        # still goes in one round trip (the unnamed statement); parsing it each time costs the
        # server microseconds.
        "prepare_threshold": None,
    }
    if password is not None:
        parameters["password"] = password.get_secret_value()
    return parameters


def error_text(error: BaseException, parameters: dict[str, Any]) -> str:
    """The first line of a database error, with the password of `parameters` (a connection's, from
    connection_parameters) starred out. libpq sends the password as it is to a server that asks for
    it in clear text (the `password` authentication method, or whatever answers at the database's
    address), and the server's error message is its own words: one that repeated the password had
    it printed by `run`, `status` and `history` and answered by /readyz, which asks no token (the log
    stars it out, as every secret of the config). Starred before the cut to the first line: a
    password holding a line break str.splitlines knows (U+2028, U+2029) was cut there, no longer
    whole, and its first part was printed (`failed: got 'PGPASS-CANARY-3`)."""
    text = str(error).strip()
    password = parameters.get("password")
    if password:
        text = scrubbed(text, scrub_of([password]))
    lines = text.splitlines()
    return lines[0] if lines else type(error).__name__


# What a refusal of the startup parameter `options` means, and what to do. PgBouncer as installed
# refuses any startup parameter it does not know ("unsupported startup parameter: options") unless
# its ignore_startup_parameters lists it, and `options` carries the daemon's session settings
# (connection_parameters). The start said to check the database's reachability, the user's right
# to create tables and the password: none was wrong, and nothing named the pooler's setting.
POOLER_REFUSES_OPTIONS = (
    "A connection pooler in front of the database (PgBouncer) refuses the startup parameter `options`, which "
    "sets the session's statement_timeout, idle_in_transaction_session_timeout and TimeZone. Add "
    "`ignore_startup_parameters = options` to pgbouncer.ini (transaction and session pooling both work), and give "
    "the role the bounds the pooler drops: ALTER ROLE <user> SET statement_timeout = '5s'; ALTER ROLE <user> SET "
    "idle_in_transaction_session_timeout = '10s' (and ALTER ROLE <user> SET search_path = NAME if the URL's options "
    "chose a schema: the pooler drops that too). Or point state.url at the database itself."
)

# The server's words when its connections, or the role's or the database's, are used up (a managed
# database's small limits): the refusal said to check reachability, the right to create tables and
# the password, none of which was wrong.
CONNECTIONS_USED_UP = ("too many connections for", "too many clients already", "remaining connection slots are reserved")
TOO_MANY_CONNECTIONS = (
    "The database's connections are used up: each replica holds its own (the state store's and the lease's), and "
    "`watchdog status` or `history` one while it runs. Raise the limit reached (ALTER ROLE <user> CONNECTION LIMIT n, "
    "ALTER DATABASE <name> CONNECTION LIMIT n, or the server's max_connections), or close what else holds them "
    "(pg_stat_activity's application_name names the watchdog's)."
)


# libpq's and the server's words when the connection never reached the login: nothing refused the
# user, its rights or its password. The start said to check those too (an HA probe, 2026-12-07: a
# database pod restarting with the fleet, "Connection refused", and the line named the password).
NOT_REACHED = ("Connection refused", "timeout expired", "Connection timed out", "No route to host",
               "Network is unreachable", "could not translate host name", "failed to resolve host",
               "the database system is starting up",
               "the database system is in recovery mode", "the database system is shutting down",
               "the database system is not yet accepting connections", "no answer from the database")
NOT_REACHED_ADVICE = (
    "The server did not take the connection (not running, still starting, or not reachable from here: its host "
    "and port in state.url, a NetworkPolicy or firewall between); nothing about the user, its rights or its "
    "password was checked yet. A database that is starting takes connections within moments: try again then "
    "(`watchdog run` waits for it by itself)."
)


# Whether a refusal at the start is one to wait out (`watchdog run` serves /healthz and retries,
# state_wait.py) or to stop on (exit 1). Transient: the server could not be reached or said it is not
# taking connections yet (starting, shutting down, in crash recovery: SQLSTATE 57P01-57P03), or its
# host name does not resolve yet (a Service or DNS record made with the fleet). A name with a typo
# reads the same and is waited on too: the wait says the error's text once at warning and in
# /readyz, so it stays visible. Everything else is permanent, and so is whatever this list does not
# know: a refused start is seen at once, a silent wait is not. Permanent refusals include the
# password (28P01), the rights (42501), connections used up (53300), a database that does not
# exist (3D000), pg_hba.conf, TLS, a read-only database, a newer schema and the migration lock's
# timeout (these last three are raised by the store itself, with no psycopg error under them).
# Assumption: psycopg 3 gives a failed connection no SQLSTATE (libpq's text alone, as checked with
# 3.3: "connection failed: connection to server at ... failed: Connection refused"), while an error
# during the store's statements carries the server's SQLSTATE.
TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})  # admin_shutdown, crash_shutdown, cannot_connect_now
TRANSIENT_AT_START = (
    "Connection refused", "timeout expired", "Connection timed out", "No route to host", "Network is unreachable",
    "could not translate host name", "failed to resolve host", "the database system is starting up",
    "the database system is in recovery mode", "the database system is shutting down",
    "the database system is not yet accepting connections", "terminating connection due to administrator command",
)
# Words that make a refusal permanent wherever they appear (a URL naming several hosts: one
# refused the connection, another the password).
PERMANENT_AT_START = (
    "password authentication failed", "authentication failed", "no password supplied", "pg_hba.conf",
    "does not exist", "permission denied", "too many connections for", "too many clients already",
    "remaining connection slots are reserved", "SSL", "certificate", "unsupported startup parameter",
)


def transient_refusal(sqlstate: str | None, text: str) -> bool:
    """Whether a database error met while opening the store at the start is one to wait out: see
    TRANSIENT_AT_START. Pure: `sqlstate` is the server's code (None for libpq's own failures),
    `text` the error's whole text (every host's line)."""
    if any(words in text for words in PERMANENT_AT_START):
        return False
    if sqlstate is not None:
        return sqlstate in TRANSIENT_SQLSTATES
    return any(words in text for words in TRANSIENT_AT_START)


def transient_at_start(error: BaseException) -> bool:
    """Whether a StateStoreError raised while opening a PostgreSQL store comes from a transient
    database error (transient_refusal); False for every refusal of the store's own (read-only,
    newer schema, migration lock) and for any other kind of error."""
    import psycopg

    cause = error.__cause__
    if not isinstance(cause, psycopg.OperationalError):
        return False
    return transient_refusal(cause.sqlstate, str(cause))


def what_to_check(error_line: str) -> str:
    """The advice that goes with a failed connection's first line (error_text)."""
    if "unsupported startup parameter: options" in error_line:
        return POOLER_REFUSES_OPTIONS
    if any(words in error_line for words in CONNECTIONS_USED_UP):
        return TOO_MANY_CONNECTIONS
    if any(words in error_line for words in NOT_REACHED):
        return NOT_REACHED_ADVICE
    return ("Check that it is reachable, that the user may connect and create tables, and the password "
            "(WATCHDOG_STATE__PASSWORD or a secret file of that name).")


def refuse_read_only(conn: Any, description: str) -> None:
    """StateStoreError when the database takes no writes: a hot standby, or a database or role with
    default_transaction_read_only = on. The store's start only reads a current schema, so such a
    database passed it: the daemon ran, no replica could ever take the lease (`cannot execute
    UPDATE in a read-only transaction` at every try) and /readyz said the database could not be
    reached, for good. `conn`: a psycopg connection in autocommit, rows as dicts."""
    row = conn.execute("SELECT current_setting('transaction_read_only') = 'on' AS read_only, "
                       "pg_is_in_recovery() AS standby").fetchone()
    if not row["read_only"]:
        return
    what = ("is a hot standby (in recovery)" if row["standby"] else
            "is set read-only (default_transaction_read_only = on, for the database or the role)")
    raise StateStoreError(
        f"{description} takes no writes: it {what}, and the watchdog keeps its state and its leader lease "
        "there. Point state.url at the primary (a URL naming several hosts: add ?target_session_attrs=read-write), "
        "or give the role writes: ALTER ROLE <user> SET default_transaction_read_only = off. Nothing was changed."
    )


def say_dropped_settings(conn: Any, description: str) -> None:
    """A warning when the session settings sent in `options` did not reach the server: a pooler told to
    ignore the parameter (PgBouncer's ignore_startup_parameters = options, as POOLER_REFUSES_OPTIONS
    advises and many setups have for other clients) drops them, and the URL's own with them (a
    schema chosen with options=-csearch_path=NAME: the tables went to the role's default schema).
    Nothing said so. The daemon still runs: every wait stays bounded on its side (ANSWER_TIMEOUT).
    Whatever sets statement_timeout to the daemon's value (the role, as advised) counts as received.
    `conn`: a psycopg connection in autocommit, rows as dicts."""
    row = conn.execute("SELECT current_setting('statement_timeout') AS statement_timeout, "
                       "current_schema() AS schema").fetchone()
    if row["statement_timeout"] == f"{STATEMENT_TIMEOUT_MS // 1000}s":
        return
    log.warning("state_session_settings_dropped", database=description, statement_timeout=row["statement_timeout"],
                schema=row["schema"],
                note="the session settings the daemon sends in the startup parameter options (statement_timeout, "
                     "idle_in_transaction_session_timeout, TimeZone, and the URL's own, such as search_path) did not "
                     "reach the database: a pooler in front ignores them (PgBouncer's ignore_startup_parameters). "
                     "Set them on the role: ALTER ROLE <user> SET statement_timeout = '5s'; ALTER ROLE <user> SET "
                     "idle_in_transaction_session_timeout = '10s' (and search_path = NAME for a schema of its own)")


# Drawn once per process. Host and process id alone are not unique: two containers on one host's
# network (or hosts named alike) share a HOSTNAME, and each runs the watchdog as PID 1. The lease
# then let its holder take it again at once, so two replicas of one name took it from each other at
# every try and both led between tries (and each would give back the other's lease now: GIVE_BACK).
_PROCESS_TOKEN = secrets.token_hex(4)


def replica_identity() -> str:
    """Who this process is, in the lease and in pg_stat_activity: the host (the pod's name on
    Kubernetes), the process id and a token of this process alone."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}/{os.getpid()}/{_PROCESS_TOKEN}"
