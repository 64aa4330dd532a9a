"""A state.url whose database takes no writes: a hot standby, or a database (or role) with
default_transaction_read_only = on, as a DBA sets for a reporting user. The store's start read
the schema, found it current and changed nothing, so the daemon ran: its elector's every try
failed (`cannot execute UPDATE in a read-only transaction`), no replica ever led, and /readyz said
"the database cannot be reached", for good. The start now refuses it in one line saying so."""

from __future__ import annotations

import pytest

from bench.postgres import PostgresServer
from watchdog.state.errors import StateStoreError
from watchdog.state.postgres import PostgresStateStore


def _database(server: PostgresServer, url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_read_only_database_is_refused_at_the_start_with_what_to_set(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    PostgresStateStore(postgres_url, password=postgres_server.password).close()  # the schema, current
    with postgres_server.connect() as admin:
        admin.execute(f'ALTER DATABASE "{_database(postgres_server, postgres_url)}" SET default_transaction_read_only = on')
    with pytest.raises(StateStoreError) as refused:
        PostgresStateStore(postgres_url, password=postgres_server.password)
    message = str(refused.value)
    assert "takes no writes" in message and "default_transaction_read_only" in message
    assert "target_session_attrs=read-write" in message
    # A reader (watchdog status, history) writes nothing: it still reads it.
    with PostgresStateStore(postgres_url, password=postgres_server.password, read_only=True) as reader:
        assert reader.pending() == []
