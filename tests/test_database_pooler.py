"""A state.url that points at PgBouncer in transaction pooling mode, the most common pooler setting
in front of a shared database: each transaction of a client may run on another server connection,
so nothing of a session survives between two of them.

psycopg prepares a statement on the server after its fifth run on a connection (`_pg3_0`, ...):
through the pooler that prepared statement stayed on one server connection, and the next run went
to another ("prepared statement "_pg3_0" does not exist") or a second replica prepared the same name
on it ("... already exists"), so reads, writes and lease renewals failed one time in a few."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from structlog.testing import capture_logs

from bench.pgbouncer import PgBouncer
from bench.postgres import PostgresServer, take_lease
from watchdog.leadership import lease
from watchdog.model import ConnectorKey, ConnectorState
from watchdog.state.errors import StateStoreError
from watchdog.state.postgres import PostgresStateStore
from watchdog.state.postgres_connection import connection_parameters


@pytest.fixture
def pooler(postgres_server: PostgresServer, postgres_url: str) -> Iterator[PgBouncer]:
    # One server connection for all: every client's transactions share it, as a busy pool's do.
    bouncer = PgBouncer(postgres_server, postgres_url, pool_mode="transaction",
                        ignore_startup_parameters="options", pool_size=1)
    try:
        yield bouncer
    finally:
        bouncer.stop()


def test_two_stores_behind_a_transaction_pooler_read_and_write_without_error(
    postgres_server: PostgresServer, pooler: PgBouncer,
) -> None:
    key = ConnectorKey("prod", "orders-sink")
    with PostgresStateStore(pooler.url, password=postgres_server.password) as a, \
            PostgresStateStore(pooler.url, password=postgres_server.password, read_only=True) as b:
        a.fence(take_lease(postgres_server, pooler.url, "replica-a"), "replica-a")  # a leads, b reads
        for round_ in range(12):  # past psycopg's prepare threshold (5) on each connection
            a.observe_status(key, "RUNNING", datetime.now(timezone.utc), ConnectorState(attempts=round_))
            for store in (a, b):
                assert store.pending() == []
                assert store.load(key).attempts == round_
        assert a.problem is None and b.problem is None


async def test_a_lease_renewed_behind_a_transaction_pooler_stays_renewed(
    postgres_server: PostgresServer, postgres_url: str, pooler: PgBouncer,
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, made directly
    parameters = connection_parameters(pooler.url, postgres_server.password, role="lease")
    leader = await lease.AnsweringAsyncConnection.connect(autocommit=True, **parameters)
    standby = await lease.AnsweringAsyncConnection.connect(autocommit=True, **parameters)
    try:
        acquired = await lease.acquire(leader, "replica-a", 15.0)
        assert acquired is not None
        for _ in range(12):  # a leader renews every retry period; a standby tries to take it over
            assert await lease.renew(leader, "replica-a", acquired.epoch, 15.0)
            assert await lease.acquire(standby, "replica-b", 15.0) is None
            await asyncio.sleep(0)
    finally:
        await leader.close()
        await standby.close()


def test_a_pooler_that_refuses_the_options_parameter_is_named_with_what_to_set(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # PgBouncer as installed: it refuses the startup parameter `options` (the daemon's session
    # settings) unless told to ignore it. Before, the refusal said to check that the database is
    # reachable, that the user may create tables, and the password: none of which was wrong.
    bouncer = PgBouncer(postgres_server, postgres_url, pool_mode="transaction")
    try:
        with pytest.raises(StateStoreError) as refused:
            PostgresStateStore(bouncer.url, password=postgres_server.password)
    finally:
        bouncer.stop()
    message = str(refused.value)
    assert "unsupported startup parameter: options" in message
    assert "ignore_startup_parameters = options" in message
    assert "statement_timeout" in message and "idle_in_transaction_session_timeout" in message
    assert "SET search_path" in message  # a schema chosen by the URL's options would be dropped too
    assert "create tables" not in message and "password" not in message


def test_session_settings_a_pooler_drops_are_said_at_the_start(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # PgBouncer told to ignore `options` (as the refusal above advises, and many setups have it
    # for other clients) drops the daemon's statement_timeout and idle_in_transaction_session_timeout,
    # and a schema the URL chose: before, nothing said so, and a URL's
    # options=-csearch_path=NAME put the tables in public without a word.
    bouncer = PgBouncer(postgres_server, postgres_url, pool_mode="transaction", ignore_startup_parameters="options")
    try:
        with capture_logs() as logs, PostgresStateStore(f"{bouncer.url}?options=-csearch_path%3Dwatchdog",
                                                        password=postgres_server.password):
            pass
        with capture_logs() as direct, PostgresStateStore(postgres_url, password=postgres_server.password):
            pass
    finally:
        bouncer.stop()
    dropped = [line for line in logs if line["event"] == "state_session_settings_dropped"]
    assert len(dropped) == 1 and dropped[0]["log_level"] == "warning"
    assert dropped[0]["statement_timeout"] == "0" and dropped[0]["schema"] == "public"
    assert "ignore_startup_parameters" in dropped[0]["note"] and "ALTER ROLE" in dropped[0]["note"]
    assert not [line for line in direct if line["event"] == "state_session_settings_dropped"]
