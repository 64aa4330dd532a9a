"""A real PostgreSQL server for the tests and the benchmarks: Debian's `postgresql` package
(installed by scripts/install-test-tools.sh), a cluster made with initdb in a temporary directory,
listening on 127.0.0.1 only, on a free port, with password authentication (the daemon's password
travels as in production: WATCHDOG_STATE__PASSWORD). initdb and postgres refuse to run as root: as
root (CI), they run as the `postgres` user the package creates (or `nobody`), through util-linux's
setpriv.

`PostgresServer` can be stopped and started again on the same port and data (the database-restart
tests); `database()` makes a fresh, empty database per test; `take_lease` takes the leader's lease
as a replica does, for a store that must be fenced.

Used by the tests (the `postgres_server` fixture in tests/conftest.py, the state contract, HA and
fencing tests), by bench/ha.py, and by the benchmarks bench/failover.py, bench/store.py and
bench/scale.py. It lives in `bench` so that a benchmark need not import the test tree; a setup
failure is reported with `pytest.fail` (pytest comes with the `test` extra), as the tests need."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from watchdog.leadership import lease

from .processes import free_port

INSTALL_HINT = ("install Debian's postgresql package (scripts/install-test-tools.sh does, as root; or "
                "`apt-get install --no-install-recommends postgresql`)")
SUPERUSER = "watchdog"


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    pytest.fail(f"PostgreSQL's initdb was not found: {INSTALL_HINT}", pytrace=False)


class PostgresServer:
    def __init__(self, *, fsync: bool = False) -> None:
        self.bin = _binaries()
        self.port = free_port()
        self.password = SecretStr(secrets.token_urlsafe(18))
        self.root = Path(tempfile.mkdtemp(prefix="watchdog-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._fsync = fsync
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.fail("running as root, the tests need util-linux's setpriv to start PostgreSQL as "
                            "another user (initdb refuses root)", pytrace=False)
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                user = pwd.getpwnam("nobody")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]
        password_file = self.root / "password"
        password_file.write_text(self.password.get_secret_value())
        if self._as_user:
            os.chown(password_file, int(self._as_user[1].split("=")[1]), int(self._as_user[2].split("=")[1]))
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(password_file),
                   "--auth-host=scram-sha-256", "--auth-local=reject", "-E", "UTF8", "--locale=C", "--no-sync"])
        password_file.unlink()

    def _run(self, command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self._as_user, *command], capture_output=True, text=True, timeout=90,
                              env={**os.environ, "LC_ALL": "C"}, cwd=self.root)
        if check and done.returncode != 0:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            pytest.fail(f"{command[0]} failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}\n{log}",
                        pytrace=False)
        return done

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
                   f"-c fsync={'on' if self._fsync else 'off'} -c max_connections=100 -c shared_buffers=32MB")
        self._run([str(self.bin / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                   "-o", options])

    def stop(self, mode: str = "fast") -> None:
        self._run([str(self.bin / "pg_ctl"), "stop", "-w", "-t", "60", "-D", str(self.data), "-m", mode], check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), password=self.password.get_secret_value(), autocommit=True,
                               connect_timeout=5)

    def database(self) -> str:
        """A new, empty database; returns its URL (without the password)."""
        name = f"t_{secrets.token_hex(6)}"
        with self.connect() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with contextlib.suppress(psycopg.Error), self.connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def take_lease(server: PostgresServer, url: str, holder: str = "test-replica") -> int:
    """The lease, taken as a replica takes it (watchdog.leadership.lease); returns its epoch."""

    async def acquire() -> int:
        conn = await psycopg.AsyncConnection.connect(url, password=server.password.get_secret_value(), autocommit=True)
        async with conn:
            # Taken again by the same holder (a test's "the same replica leads again"): a holder
            # takes only an expired lease (lease.ACQUIRE), so its own is given back first.
            await conn.execute("UPDATE leader_lease SET expires_at = '-infinity' WHERE id = 1 AND holder = %s", (holder,))
            acquired = await lease.acquire(conn, holder, 60.0)
        assert acquired is not None, "the lease was held"
        return acquired.epoch

    return asyncio.run(acquire())
