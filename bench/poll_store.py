"""Benchmark 6b: what one poll of a large cluster costs in round trips to a PostgreSQL 1 ms away.

The engine's real poll (`on_poll`) of 2,000 connectors in one cluster, 2% failing (not yet
confirmed: no restart, so that both paths write the same), its state in PostgreSQL (fsync on)
behind a TCP proxy that holds every packet to the server 1 ms. Two stores in the same run: the
store as it is (a slice's states read in one query, the status seen and the state written in one
statement), and the old path, the same store answering as it did before (per connector the status
seen, the state read and the state written, three statements). Wall time: the poll from start to
end (what decides whether a 15 s interval is kept); statements: those sent during the poll.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from watchdog.app import Daemon
from watchdog.engine import core
from watchdog.model import ConnectorKey, ConnectorState, ConnectorStatus, TaskStatus
from watchdog.state.postgres import PostgresStateStore

from . import delay_proxy, fixtures
from .postgres import PostgresServer, take_lease
from .report import emit, median, progress, table

READ_AHEAD = core.READ_AHEAD
CONNECTORS, FAILING_EVERY, DELAY, POLLS = int(os.environ.get("BENCH_CONNECTORS", 2000)), 50, 0.001, 3


class Counted(PostgresStateStore):
    """The store as it is, counting the statements it sends."""

    sent = 0

    def _connection(self) -> Any:
        conn = super()._connection()
        store = self

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(conn, name)

            def execute(self, *args: Any, **kwargs: Any) -> Any:
                store.sent += 1
                return conn.execute(*args, **kwargs)

            def cursor(self, *args: Any, **kwargs: Any) -> Any:
                store.sent += 1  # an executemany's pipeline: one round trip
                return conn.cursor(*args, **kwargs)

        return Counting()


class OneByOne(Counted):
    """The old path: each connector's state read alone, just before it is judged (the engine's
    read-ahead set to 1 meanwhile), its status and its state written apart."""

    def load_many(self, keys: Sequence[ConnectorKey]) -> dict[ConnectorKey, ConnectorState]:
        return {key: self.load(key) for key in keys}

    def observe_status(self, key: ConnectorKey, seen_state: str, seen_at: datetime,
                       state: ConnectorState | None = None) -> None:
        super().observe_status(key, seen_state, seen_at)
        if state is not None:
            self.save(key, state)


def statuses() -> dict[str, ConnectorStatus]:
    found = {}
    for i in range(CONNECTORS):
        name = f"conn-{i:05d}"
        state = "FAILED" if i % FAILING_EVERY == 0 else "RUNNING"
        found[name] = ConnectorStatus(name=name, state=state, tasks=(TaskStatus(0, state),))
    return found


def measure(server: PostgresServer, kind: type[Counted]) -> dict[str, float]:
    core.READ_AHEAD = 1 if kind is OneByOne else READ_AHEAD
    url = server.database()
    port, proxy = delay_proxy.start(server.port, DELAY)
    far = url.replace(f":{server.port}/", f":{port}/")
    rule = {"name": "heal", "select": {"include": ["*"]},
            "trigger": {"type": "status", "interval": 15, "confirm_polls": 20}}
    config = fixtures.config(1, [rule])
    listed = statuses()
    store = kind(far, password=server.password)
    with store:
        store.fence(take_lease(server, url, "benchmark"))
        daemon = Daemon(config, state=store)

        async def polls() -> tuple[list[float], int]:
            walls = []
            await daemon.engine.on_poll(fixtures.cluster_name(0), listed)  # the rows are made
            store.sent = 0
            for _ in range(POLLS):
                started = time.perf_counter()
                await daemon.engine.on_poll(fixtures.cluster_name(0), listed)
                walls.append(time.perf_counter() - started)
            await daemon.stop()
            return walls, store.sent // POLLS

        try:
            walls, sent = asyncio.run(polls())
        finally:
            proxy.terminate()
            proxy.wait()
    return {"wall": median(walls), "statements": sent}


def main() -> None:
    fixtures.quiet_logs()
    server = PostgresServer(fsync=True)
    server.start()
    try:
        progress("poll_store: the old path (three statements per connector)")
        old = measure(server, OneByOne)
        progress("poll_store: the store as it is")
        new = measure(server, Counted)
    finally:
        server.destroy()
    rows = [["old path: status, read, write apart", f"{old['statements']:,}", f"{old['wall']:.2f} s", "1.00"],
            ["as it is: reads per slice, one write", f"{new['statements']:,}", f"{new['wall']:.2f} s",
             f"{new['wall'] / old['wall']:.2f}"]]
    emit(table(f"One poll of {CONNECTORS:,} connectors, PostgreSQL {DELAY * 1000:g} ms away (fsync on)",
               ["path", "round trips per poll", "wall per poll", "wall against the old path"], rows,
               [f"median of {POLLS} polls after the first (which makes the rows); both paths in the same run, "
                f"on the same server; {100 // FAILING_EVERY}% failing, not yet confirmed (no restart)."]))


if __name__ == "__main__":
    main()
