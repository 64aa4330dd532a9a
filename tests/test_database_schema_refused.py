"""A PostgreSQL state database that does not hold what its schema version makes (a column dropped
by a DBA's hand, a partial restore), or holds a kept restart of a phase this release does not
know (a later release's, its table without the CHECK), is refused at the start, as a SQLite file
is, naming what is wrong. Before, the store opened: the replica took the lease, failed to start
leading on `KeyError: 'seen_at'` (or `ValueError: 'parked' is not a valid PendingPhase`), gave the
lease back and did so again about once a second for ever; `watchdog status` died on a traceback."""

from __future__ import annotations

import re

import pytest

from bench.postgres import PostgresServer
from watchdog.state import StateStoreError
from watchdog.state.postgres import PostgresStateStore


def _made(postgres_server: PostgresServer, postgres_url: str, *statements: str) -> None:
    PostgresStateStore(postgres_url, password=postgres_server.password).close()
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as db:
        for statement in statements:
            db.execute(statement)


@pytest.mark.parametrize("read_only", [False, True], ids=["run", "status"])
def test_a_column_dropped_by_hand_is_refused_at_the_start_by_name(
    postgres_server: PostgresServer, postgres_url: str, read_only: bool
) -> None:
    _made(postgres_server, postgres_url, "ALTER TABLE connector_state DROP COLUMN seen_at",
          "ALTER TABLE leader_lease DROP COLUMN renewed_at")
    with pytest.raises(StateStoreError) as refused:
        PostgresStateStore(postgres_url, password=postgres_server.password, read_only=read_only)
    assert re.fullmatch(
        r"PostgreSQL database \S+ has schema version 1 but not the watchdog's tables and columns of that version "
        r"\(missing: column connector_state.seen_at, column leader_lease.renewed_at\): it was changed by hand, or "
        r"restored in part. Restore it from a backup, or give the watchdog a database \(or a schema, with "
        r"options=-csearch_path=NAME in the URL\) of its own. Nothing was changed.", str(refused.value)), refused.value


@pytest.mark.parametrize("read_only", [False, True], ids=["run", "status"])
def test_a_kept_restart_of_an_unknown_phase_is_refused_at_the_start_by_name(
    postgres_server: PostgresServer, postgres_url: str, read_only: bool
) -> None:
    _made(postgres_server, postgres_url, "ALTER TABLE pending_request DROP CONSTRAINT pending_request_phase_check",
          """INSERT INTO pending_request (request_id, job_id, phase, cluster, connector, rule, trigger_name, reason,
             origin, requested_at, dry_run)
             VALUES ('r1', 'j1', 'parked', 'prod', 'orders', 'heal', 'manual', 'asked', 'api', now(), false)""")
    with pytest.raises(StateStoreError, match=re.escape(
            "holds records this watchdog does not know (phase of a kept restart: 'parked'): a newer release wrote them")):
        PostgresStateStore(postgres_url, password=postgres_server.password, read_only=read_only)


def test_extra_columns_and_tables_are_the_database_s_own_business(postgres_server: PostgresServer, postgres_url: str) -> None:
    _made(postgres_server, postgres_url, "ALTER TABLE connector_state ADD COLUMN note text",
          "CREATE TABLE audit (id int)")
    PostgresStateStore(postgres_url, password=postgres_server.password).close()
