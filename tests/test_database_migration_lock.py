"""A new replica starting while another holds the migration lock (its migration under way).

It took the lock under the session's 5 s statement_timeout: a peer holding it longer had the new
replica exit 1 with "upgrading the schema from version 0 to 1 failed (canceling statement due to
statement timeout)", which sent the reader after a slow database. It now waits for it, bounded,
saying so once, and if it gives up says that it waited for another replica's migration."""

from __future__ import annotations

import threading
import time

import pytest
import structlog

from bench.postgres import PostgresServer
from watchdog.state import StateStoreError
from watchdog.state.postgres import PostgresStateStore
from watchdog.state.postgres_schema import MIGRATION_LOCK


def _hold_lock(server: PostgresServer, url: str, seconds: float) -> threading.Thread:
    """Another replica's migration: the lock held in a transaction for `seconds`."""
    holder = server.connect(url.rsplit("/", 1)[1])
    holder.execute("BEGIN")
    holder.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

    def end() -> None:
        time.sleep(seconds)
        holder.execute("COMMIT")
        holder.close()

    thread = threading.Thread(target=end, daemon=True)
    thread.start()
    return thread


def test_a_replica_starting_during_anothers_longer_migration_waits_for_it_and_starts(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    held = _hold_lock(postgres_server, postgres_url, 7.0)  # past the session's 5 s statement_timeout
    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        store = PostgresStateStore(postgres_url, password=postgres_server.password)
    held.join()
    with store:
        assert store.schema_version >= 1
    assert time.monotonic() - started >= 6.5
    waiting = [entry for entry in logs if entry["event"] == "state_migration_waiting"]
    assert len(waiting) == 1, logs
    assert "another replica" in waiting[0]["note"] and waiting[0]["wait_seconds"] == 45


def test_a_replica_that_gives_up_waiting_says_it_waited_for_another_replicas_migration(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("watchdog.state.postgres_migration_lock.MIGRATION_WAIT", 1.0)
    held = _hold_lock(postgres_server, postgres_url, 3.0)
    with pytest.raises(StateStoreError) as refused:
        PostgresStateStore(postgres_url, password=postgres_server.password)
    held.join()
    said = str(refused.value)
    assert "waited 1s for another replica's migration" in said and "gave up" in said, said
    assert "statement timeout" not in said
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:  # a start after it: fine
        assert store.schema_version >= 1
