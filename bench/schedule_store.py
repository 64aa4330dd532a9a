"""Benchmark 6c: what a schedule run restarting many connectors costs in round trips to a PostgreSQL
some milliseconds away: each restart is remembered (a commit) before it is queued.

The engine's real schedule run (`on_schedule`) of a rule selecting 2,000 connectors, its state in
PostgreSQL (fsync on) behind bench/delay_proxy.py, 1 ms. Two stores in the same run: the store as
it is (a commit point's statements and its COMMIT in one pipeline, a transaction's BEGIN with its
fence), and the old path, the same store waiting for each statement's answer (four round trips per
restart: the statement, COMMIT, then the next transaction's BEGIN and fence). Round trips are
counted from libpq's trace of the store's connection (`Traced`: Sync, a simple Query, a Flush not
right after a Sync), so that a pipeline counts once.

A second table sends a run's restarts (`BENCH_SENT`, 500, to the simulator in process, no rate
limit) and counts the round trips from each job's turn to its outcome recorded: the recorder as it
is (the connector's state read once per job while nothing writes it: the store's write marks)
against the same recorder reading it each time it is asked (four reads per restart sent, the
daemon before 2026-12-02 15:30 UTC), in the same run.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg

from watchdog.app import Daemon
from watchdog.model import ConnectorKey, ConnectorStatus, TaskStatus
from watchdog.simulator import Simulator, create_app
from watchdog.state.errors import Fenced
from watchdog.state.marks import WriteMarks
from watchdog.state.postgres import PostgresStateStore
from watchdog.state.postgres_rows import rollback

from . import delay_proxy, fixtures
from .postgres import PostgresServer, take_lease
from .report import emit, progress, table

CONNECTORS, DELAY = int(os.environ.get("BENCH_CONNECTORS", 2000)), 0.001
SENT = int(os.environ.get("BENCH_SENT", 500))
NIGHTLY = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}


class Traced(PostgresStateStore):
    """The PostgreSQL store, its connection traced by libpq: `round_trips()` counts the messages
    after which the client waits for the server (Sync, Flush, a simple Query), whatever psycopg
    sends in a pipeline between them. Used by the tests too (tests/test_ha_recovery.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._trace = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the store)
        self._traced: Any = None
        super().__init__(*args, **kwargs)

    def _connection(self) -> Any:
        conn = super()._connection()
        if conn is not self._traced:
            conn.pgconn.trace(self._trace.fileno())
            conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
            self._traced = conn
        return conn

    def restart_count(self) -> None:
        self._trace.seek(0)
        self._trace.truncate()

    def round_trips(self) -> int:
        self._trace.seek(0)
        waits, previous = 0, ""
        for line in self._trace.read().decode(errors="replace").splitlines():
            fields = line.split("\t")
            if len(fields) > 2 and fields[0] == "F":
                message = fields[2].strip()
                # A pipeline's end sends a Flush after its Sync: the answers it waits for are the Sync's.
                waits += message in ("Sync", "Query") or (message == "Flush" and previous != "Sync")
                previous = message
        self._trace.seek(0, 2)
        return waits

    def close(self) -> None:  # also called before each new connection is made
        if self._traced is not None and not self._traced.closed:
            self._traced.pgconn.untrace()
        super().close()

    def __exit__(self, *exc_info: object) -> None:
        super().__exit__(*exc_info)
        self._trace.close()


class OneAtATime(Traced):
    """The old path: every statement of a write waits for its answer (the store before 2026-12-02)."""

    @contextmanager
    def _write(self, what: str, *, commit: bool = False, quiet_while_failing: bool = False) -> Iterator[Any]:
        if self._batch is None:
            conn = self._begin(what)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
            return
        self._send_seen()
        conn = self._batch
        if not self._batch_open:
            self._fence_check(conn)
            self._batch_open = True
        yield conn
        if commit and not self._batch_whole:
            conn.execute("COMMIT")
            self._batch_open = False

    def _fence_check(self, conn: Any) -> None:
        conn.execute("BEGIN")
        row = conn.execute("SELECT epoch, holder FROM leader_lease WHERE id = 1 FOR SHARE").fetchone()
        if row is None or row["epoch"] != self._epoch:
            rollback(conn)
            raise Fenced("write refused")


class _Unknown(WriteMarks):
    def unchanged_since(self, key: ConnectorKey, mark: int) -> bool:
        return False


class ReadEachTime(Traced):
    """The recorder before 2026-12-02 15:30 UTC: its write marks never say a state is unchanged, so
    the connector's state is read each time the recorder is asked (four times per restart sent)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marks = _Unknown()


@contextmanager
def far_store(server: PostgresServer, kind: type[Traced]) -> Iterator[Traced]:
    """A store of `kind` on a new database of `server`, reached through the delay proxy (DELAY
    away), holding the lease: what each measurement runs against."""
    url = server.database()
    port, proxy = delay_proxy.start(server.port, DELAY)
    store = kind(url.replace(f":{server.port}/", f":{port}/"), password=server.password)
    try:
        with store:
            store.fence(take_lease(server, url, "benchmark"), "benchmark")
            yield store
    finally:
        proxy.terminate()
        proxy.wait()
        if proxy.stdout is not None:
            proxy.stdout.close()


def measure_sent(server: PostgresServer, kind: type[Traced]) -> dict[str, float]:
    """A schedule run's SENT restarts sent, from their turn to their outcome recorded."""
    names = [f"conn-{i:05d}" for i in range(SENT)]
    statuses = {n: ConnectorStatus(name=n, state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),)) for n in names}
    config = fixtures.config(1, [NIGHTLY], queue={"max_jobs_per_lane": SENT + 1, "shutdown_deadline": 0},
                             rate_limit={"max_requests_per_second": 1000})
    simulator = Simulator(fixtures.scenario([[{"name": n} for n in names]]))
    with far_store(server, kind) as store:
        daemon = Daemon(config, state=store, transport=httpx.ASGITransport(app=create_app(simulator)))

        async def run() -> tuple[float, int, int]:
            await daemon.engine.on_schedule(daemon.config.rules[0], fixtures.cluster_name(0), statuses)
            store.restart_count()
            started = time.perf_counter()
            daemon.queue.start()
            await daemon.queue.join()
            wall, trips, ended = time.perf_counter() - started, store.round_trips(), len(store.history(limit=SENT + 1))
            await daemon.stop()
            return wall, trips, ended

        wall, trips, ended = asyncio.run(run())
    assert ended == SENT and len(simulator.restarts()) == SENT, f"{ended} of {SENT} restarts ended"
    return {"wall": wall, "trips": trips}


def measure(server: PostgresServer, kind: type[Traced]) -> dict[str, float]:
    names = [f"conn-{i:05d}" for i in range(CONNECTORS)]
    statuses = {n: ConnectorStatus(name=n, state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),)) for n in names}
    config = fixtures.config(1, [NIGHTLY], queue={"max_jobs_per_lane": CONNECTORS + 1, "shutdown_deadline": 0})
    with far_store(server, kind) as store:
        daemon = Daemon(config, state=store)

        async def run() -> tuple[float, int, int]:
            store.restart_count()
            started = time.perf_counter()
            await daemon.engine.on_schedule(daemon.config.rules[0], fixtures.cluster_name(0), statuses)
            wall, trips, kept = time.perf_counter() - started, store.round_trips(), len(store.pending())
            await daemon.queue.abandon("the benchmark is over")  # nothing sent, nothing ended
            await daemon.stop()
            return wall, trips, kept

        wall, trips, kept = asyncio.run(run())
    assert kept == CONNECTORS, f"{kept} of {CONNECTORS} restarts remembered"
    return {"wall": wall, "trips": trips}


def main() -> None:
    fixtures.quiet_logs()
    server = PostgresServer(fsync=True)
    server.start()
    try:
        progress("schedule_store: the old path (each statement waits for its answer)")
        old = measure(server, OneAtATime)
        progress("schedule_store: the store as it is")
        new = measure(server, Traced)
        progress("schedule_store: sending, the state read each time")
        each = measure_sent(server, ReadEachTime)
        progress("schedule_store: sending, the state read once per job")
        once = measure_sent(server, Traced)
    finally:
        server.destroy()
    rows = [["old path: each statement waits", f"{old['trips']:,}", f"{old['wall']:.2f} s", "1.00"],
            ["as it is: a commit point in one pipeline", f"{new['trips']:,}", f"{new['wall']:.2f} s",
             f"{new['wall'] / old['wall']:.2f}"]]
    emit(table(f"One schedule run restarting {CONNECTORS:,} connectors, PostgreSQL {DELAY * 1000:g} ms away (fsync on)",
               ["path", "round trips per run", "wall per run", "wall against the old path"], rows,
               ["both paths in the same run, on the same server; every restart remembered (a commit) before it is "
                "queued; nothing sent."]))
    rows = [["read each time it is asked", f"{each['trips']:,}", f"{each['trips'] / SENT:.1f}", f"{each['wall']:.2f} s",
             "1.00", "1.00"],
            ["read once per job (write marks)", f"{once['trips']:,}", f"{once['trips'] / SENT:.1f}",
             f"{once['wall']:.2f} s", f"{once['trips'] / each['trips']:.2f}", f"{once['wall'] / each['wall']:.2f}"]]
    emit(table(f"Sending {SENT:,} restarts, from each job's turn to its outcome recorded, PostgreSQL {DELAY * 1000:g} ms "
               "away (fsync on)",
               ["connector's state", "round trips", "per restart", "wall", "round trips against reading each time",
                "wall against reading each time"], rows,
               ["both in the same run, on the same server; the simulator in process, no rate limit; every restart "
                "accepted; two writes per restart (its attempt, its outcome), two round trips each."]))


if __name__ == "__main__":
    main()
