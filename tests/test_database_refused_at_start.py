"""A replica started while its PostgreSQL refuses connections (the database pod restarting with
the rest of the fleet) exits 1 with a line saying what to check. Before, that line said "Check that
it is reachable, that the user may connect and create tables, and the password (...)": a refused
TCP connection never reached the user, its rights or its password, and an operator at 3 a.m. was
sent to rotate a password that was right (an HA probe, 2026-12-07). Now the line says the server
did not take the connection and that nothing about the user was checked."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from watchdog.state.errors import StateStoreError
from watchdog.state.postgres import PostgresStateStore


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_at_start_does_not_blame_the_password_or_the_rights() -> None:
    url = f"postgresql://watchdog@127.0.0.1:{_closed_port()}/watchdog?connect_timeout=2"
    with pytest.raises(StateStoreError) as refused:
        PostgresStateStore(url, password=SecretStr("pw-right-all-along"))
    said = str(refused.value)
    assert "Connection refused" in said, said
    advice = said.split(").", 1)[1]
    # Sent to check no password (the variable or secret file that holds it) nor the right to create tables.
    assert "WATCHDOG_STATE__PASSWORD" not in advice and "create tables" not in advice, said
    assert "not running" in advice and "nothing about the user" in advice, said
    assert "pw-right-all-along" not in said
