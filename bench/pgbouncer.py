"""A real PgBouncer (Debian's `pgbouncer` package) in front of a `PostgresServer`, on loopback, for
the tests of a state store reached through a pooler, as many deployments reach their database.

`pool_mode` is PgBouncer's: `transaction` (the most common setting) hands each transaction to
whichever server connection is free, so nothing of a session (prepared statements, SET, advisory
locks) survives between two transactions of one client. `ignore_startup_parameters` is passed as
given: PgBouncer refuses a startup parameter it does not know (`options`) unless listed there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from .postgres import SUPERUSER, PostgresServer
from .processes import free_port

INSTALL_HINT = "install Debian's pgbouncer package (scripts/install-test-tools.sh does, as root)"


class PgBouncer:
    def __init__(self, server: PostgresServer, database_url: str, *, pool_mode: str = "transaction",
                 ignore_startup_parameters: str = "", pool_size: int = 2) -> None:
        binary = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
        if binary is None:
            pytest.fail(f"PgBouncer was not found: {INSTALL_HINT}", pytrace=False)
        self.server = server
        self.port = free_port()
        self.database = database_url.rsplit("/", 1)[1]
        self.root = server.root / f"pgbouncer-{self.port}"
        self.root.mkdir()
        users = self.root / "userlist.txt"
        users.write_text(f'"{SUPERUSER}" "{server.password.get_secret_value()}"\n')
        self.config = self.root / "pgbouncer.ini"
        self.config.write_text(
            "[databases]\n"
            f"{self.database} = host=127.0.0.1 port={server.port} dbname={self.database}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = scram-sha-256\nauth_file = {users}\n"
            f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\n"
            f"ignore_startup_parameters = {ignore_startup_parameters}\n"
            f"logfile = {self.root / 'pgbouncer.log'}\npidfile = {self.root / 'pgbouncer.pid'}\n"
        )
        for path in (self.root, users, self.config):  # PgBouncer refuses root: it runs as the server's user
            if server._as_user:
                os.chown(path, int(server._as_user[1].split("=")[1]), int(server._as_user[2].split("=")[1]))
        subprocess.run([*server._as_user, binary, "-d", str(self.config)], check=True, timeout=30,
                       capture_output=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(self.url, password=self.server.password.get_secret_value(), connect_timeout=2,
                                     autocommit=True, prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error:
                if time.monotonic() > deadline:
                    log = (self.root / "pgbouncer.log")
                    pytest.fail(f"PgBouncer did not answer: {log.read_text()[-2000:] if log.exists() else ''}",
                                pytrace=False)
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{self.database}"

    def stop(self) -> None:
        pid_file = self.root / "pgbouncer.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
