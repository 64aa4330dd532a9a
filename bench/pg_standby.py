"""A streaming standby of a real PostgreSQL (bench/postgres.py), for database failover drills:
pg_basebackup of the primary (asynchronous streaming replication, as a failover tool's replica),
started on a port of its own, promoted when the primary is stopped. Used by
tests/test_database_failover.py.

`cut_off` stops the standby's WAL receiver, so that the primary's next commits never reach it: the
commits an asynchronous standby lacks when it is promoted."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .postgres import SUPERUSER, PostgresServer
from .processes import free_port


class StreamingStandby(PostgresServer):
    """A standby of `primary`: the same binaries, password and superuser, its own data and port."""

    def __init__(self, primary: PostgresServer) -> None:  # initdb is not run: the data is the primary's copy
        self.bin = primary.bin
        self.port = free_port()
        self.password = primary.password
        self.root = Path(tempfile.mkdtemp(prefix="watchdog-pg-standby-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._fsync = False
        self._as_user = primary._as_user
        if self._as_user:
            os.chown(self.root, int(self._as_user[1].split("=")[1]), int(self._as_user[2].split("=")[1]))
        try:
            done = subprocess.run(
                [*self._as_user, str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U",
                 SUPERUSER, "-D", str(self.data), "--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast",
                 "--no-sync"],
                capture_output=True, text=True, timeout=90, cwd=self.root,
                env={**os.environ, "LC_ALL": "C", "PGPASSWORD": self.password.get_secret_value()})
        except subprocess.TimeoutExpired:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        if done.returncode != 0:
            shutil.rmtree(self.root, ignore_errors=True)
            pytest.fail(f"pg_basebackup failed ({done.returncode}): {done.stderr[-2000:]}", pytrace=False)
        # The WAL receiver's connection needs the password (pg_basebackup writes the rest).
        auto = self.data / "postgresql.auto.conf"
        auto.write_text(auto.read_text().replace(f"user={SUPERUSER}",
                                                 f"user={SUPERUSER} password={self.password.get_secret_value()}"))

    def in_recovery(self) -> bool:
        with self.connect() as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])

    def caught_up(self, primary: PostgresServer) -> bool:
        """Whether this standby has replayed everything the primary has written so far."""
        with primary.connect() as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        with self.connect() as conn:
            replayed = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)).fetchone()
        return bool(replayed and replayed[0])

    def cut_off(self) -> None:
        """Stop receiving the primary's WAL (its WAL receiver stopped for good): what the primary
        commits from now on is not on this standby when it is promoted."""
        with self.connect() as conn:
            conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
            conn.execute("SELECT pg_reload_conf()")

    def promote(self) -> None:
        self._run([str(self.bin / "pg_ctl"), "promote", "-w", "-t", "60", "-D", str(self.data)])
