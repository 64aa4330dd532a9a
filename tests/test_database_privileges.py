"""A state.url whose role may not create tables (PostgreSQL 15 and later give PUBLIC no CREATE on
the schema public; a DBA's role for applications often has none): the start's refusal quoted
psycopg's error over three lines (`LINE 1: CREATE TABLE schema_version ...` and a caret) and said
nothing of what to do. Tables a DBA made beforehand, with the role granted reads and writes, work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from pydantic import SecretStr

from bench.postgres import PostgresServer
from watchdog.state.errors import StateStoreError
from watchdog.state.postgres import PostgresStateStore

PASSWORD = "app-password"


@contextmanager
def app_role(server: PostgresServer, url: str, prefix: str, attributes: str = "") -> Iterator[tuple[str, str]]:
    """A login role of the database at `url` (its name, its URL), dropped with the database after."""
    database = url.rsplit("/", 1)[1]
    role = f"{prefix}_{database}"
    with server.connect(database) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}' {attributes}")
    try:
        yield role, url.replace("watchdog@", f"{role}@")
    finally:
        with server.connect(database) as admin:
            admin.execute(f"DROP OWNED BY {role}")
        server.drop(url)
        with server.connect() as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_role_that_may_not_create_tables_is_refused_in_one_line_with_what_to_grant(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    with app_role(postgres_server, postgres_url, "app") as (role, url):
        with postgres_server.connect(database) as admin:
            admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        with pytest.raises(StateStoreError) as refused:
            PostgresStateStore(url, password=SecretStr(PASSWORD))
        message = str(refused.value)
        assert "\n" not in message
        assert "permission denied for schema public" in message
        assert "GRANT CREATE ON SCHEMA" in message and "left at version 0" in message
        # The DBA makes the tables (a start as their owner) and grants the role their use: it starts.
        PostgresStateStore(postgres_url, password=postgres_server.password).close()
        with postgres_server.connect(database) as admin:
            admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        with PostgresStateStore(url, password=SecretStr(PASSWORD)) as store:
            assert store.schema_version == 1


def test_a_connection_limit_reached_is_named_with_what_to_raise(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # A managed database's role limit (or the server's max_connections) reached: before, the
    # refusal said to check reachability, the right to create tables and the password.
    with app_role(postgres_server, postgres_url, "lim", "CONNECTION LIMIT 1") as (_, url), \
            psycopg.connect(url, password=PASSWORD, autocommit=True):  # the one connection it may have
        with pytest.raises(StateStoreError) as refused:
            PostgresStateStore(url, password=SecretStr(PASSWORD))
    message = str(refused.value)
    assert "too many connections" in message and "CONNECTION LIMIT" in message and "max_connections" in message
    assert "create tables" not in message
