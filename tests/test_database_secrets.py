"""The database password in what a PostgreSQL server says back.

libpq sends the password as it is to a server that asks for it in clear text (the `password`
authentication method, or whatever answers at the database's address), and the server's error is
its own words. One that repeats the password had it printed by `run`, `status` and `history`, and
answered by /readyz (of a standby, or of a leader whose database failed), which asks no token."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from .test_process import free_port

PASSWORD = "db-Pa55word-Echoed-7Qx"


@contextlib.contextmanager
def echoing_postgres() -> Iterator[int]:
    """A server on 127.0.0.1 that speaks PostgreSQL's protocol as far as asking for the password
    in clear text, then refuses it quoting it (FATAL 28P01); its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def receive(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def answer(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError, ConnectionError, struct.error):
            while True:  # SSLRequest and GSSENCRequest are declined, then the startup message
                size = struct.unpack("!i", receive(conn, 4))[0]
                body = receive(conn, size - 4)
                if struct.unpack("!i", body[:4])[0] not in (80877103, 80877104):
                    break
                conn.sendall(b"N")
            conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            receive(conn, 1)
            size = struct.unpack("!i", receive(conn, 4))[0]
            password = receive(conn, size - 4).rstrip(b"\0")
            fields = b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed: " + password + b" is not it\0\0"
            conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield port
    finally:
        listener.close()


@pytest.mark.process
def test_a_database_that_repeats_the_password_does_not_get_it_printed(tmp_path: Path) -> None:
    config = {"credentials": {"main": {}}, "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}},
              "server": {"host": "127.0.0.1", "port": free_port()}}
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": "KEY0123456789", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET":
           "secret-0123456789", "WATCHDOG_STATE__PASSWORD": PASSWORD}
    with echoing_postgres() as port:
        config["state"] = {"url": f"postgresql://watchdog@127.0.0.1:{port}/watchdog"}
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        for command in (["run"], ["status"], ["history"]):
            result = subprocess.run([sys.executable, "-m", "watchdog", *command, "--config", str(tmp_path / "config.yaml")],
                                    capture_output=True, env=env, timeout=60)
            assert result.returncode == 1, (command, result.stderr[-800:])
            assert b"password authentication failed: *** is not it" in result.stderr, (command, result.stderr[-800:])
            assert PASSWORD.encode() not in result.stdout + result.stderr, command


async def test_what_readyz_says_of_a_database_that_repeats_the_password_holds_none_of_it() -> None:
    from prometheus_client import CollectorRegistry

    from watchdog.config.leadership import LeaseTiming
    from watchdog.leadership.elector import Elector
    from watchdog.leadership.metrics import LeadershipMetrics
    from watchdog.state import StateStoreError
    from watchdog.state.postgres import PostgresStateStore

    async def nothing(*args: Any) -> None:
        pass

    with echoing_postgres() as port:
        url = f"postgresql://watchdog@127.0.0.1:{port}/watchdog"
        # A standby's /readyz (state_store) says why it cannot reach the lease.
        elector = Elector(url, SecretStr(PASSWORD), LeaseTiming(lease_duration=10.0, renew_deadline=6.0, renew_interval=0.2),
                          LeadershipMetrics(CollectorRegistry()), identity="replica-a/1/k")
        elector.start(nothing, nothing)
        try:
            async with asyncio.timeout(10):
                while elector.unreachable == "the database has not been reached yet":
                    await asyncio.sleep(0.05)
        finally:
            await elector.stop()
        assert elector.unreachable is not None and "password authentication failed: ***" in elector.unreachable
        assert PASSWORD not in elector.unreachable
        # A store's failure: its message, and the leader's /readyz (the store's problem).
        with pytest.raises(StateStoreError) as caught:
            await asyncio.to_thread(PostgresStateStore, url, password=SecretStr(PASSWORD))
        assert "password authentication failed: ***" in str(caught.value) and PASSWORD not in str(caught.value)


# U+2028 and U+2029 (line and paragraph separators) are line breaks to str.splitlines.
@pytest.mark.parametrize("separator", ["\u2028", "\u2029"], ids=["U+2028", "U+2029"])
async def test_a_password_holding_a_line_separator_repeated_by_the_database_is_starred_whole(separator: str) -> None:
    # The error's first line was taken, then the password starred out: cut at the separator inside
    # it, the password was no longer there whole, and its first part (`failed: db-Pa55`) was
    # printed by `run`, `status` and `history`, kept in the history and answered by /readyz.
    from watchdog.state import StateStoreError
    from watchdog.state.postgres import PostgresStateStore

    password = f"db-Pa55{separator}word-Echoed-7Qx"
    with echoing_postgres() as port, pytest.raises(StateStoreError) as caught:
        await asyncio.to_thread(PostgresStateStore, f"postgresql://watchdog@127.0.0.1:{port}/watchdog",
                                password=SecretStr(password))
    said = str(caught.value)
    assert "password authentication failed: *** is not it" in said, said
    assert "db-Pa55" not in said and "word-Echoed" not in said, said
