"""Waiting for another replica's migration of the PostgreSQL schema, bounded and said.

Replicas that start together migrate once: each takes an advisory lock for its migration's
transaction. The lock is the database's, so a replica on another schema of it waits too. Taken
with `pg_advisory_xact_lock`, the wait ran under the session's statement_timeout (5 s): a new
replica whose peer held the lock longer exited 1 with "canceling statement due to statement
timeout", which sent the reader after a slow database. Now the lock is tried every
`MIGRATION_LOCK_POLL` seconds (each try answers at once, so no bound of the session's ends the
wait), for up to `MIGRATION_WAIT` seconds, said once when the wait begins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from ..logs import get_logger
from .errors import StateStoreError

log = get_logger("watchdog.state")

# A migration takes seconds (a few statements on empty or small tables), and a start that waits
# longer for one is better stopped, saying why, than waiting for good. Under a minute: nothing
# answers /healthz meanwhile, and the Deployment's startupProbe (deploy/kubernetes) gives a start
# 60 s before the kubelet kills it, with no word of why.
MIGRATION_WAIT = 45.0
MIGRATION_LOCK_POLL = 0.25


def take_migration_lock(
    conn: psycopg.Connection[Any], where: str, lock: int, *, wait: float | None = None,
    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Take the advisory lock `lock` for the transaction `conn` is in, waiting for another
    session's (another replica's migration) up to `wait` seconds (MIGRATION_WAIT). StateStoreError
    if it is still held then."""
    wait = MIGRATION_WAIT if wait is None else wait
    cursor = conn.cursor(row_factory=tuple_row)

    def taken() -> bool:
        row = cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", (lock,)).fetchone()
        return bool(row and row[0])

    if taken():
        return
    log.warning("state_migration_waiting", database=where, wait_seconds=wait,
                note="another replica using this database (whatever its schema) is upgrading the schema and holds "
                     "the migration lock: this one waits for it to finish, then starts")
    deadline = clock() + wait
    while clock() < deadline:
        sleep(MIGRATION_LOCK_POLL)
        if taken():
            return
    raise StateStoreError(
        f"{where}: waited {wait:g}s for another replica's migration of the schema (it holds the migration lock, "
        f"advisory lock {lock}, for the whole database) and gave up; nothing was changed. Another replica's start may "
        "be stuck in it: see SELECT pid, application_name, state, xact_start FROM pg_locks JOIN pg_stat_activity "
        f"USING (pid) WHERE locktype = 'advisory' AND objid = {lock}; start this one again once it is gone.")
