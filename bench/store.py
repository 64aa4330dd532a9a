"""Benchmark 6: what the PostgreSQL state store costs against SQLite at the scale of benchmark 3
(10,000 connectors in 100 clusters, one poll cycle = one poll of each cluster).

The store's share of a cycle, with the engine's write pattern as it was before a poll's reads and
writes were batched (bench/poll_store.py measures that change, with the database 1 ms away): per
connector, the status a poll saw (`observe_status`), the state read and written back (`load`, `save`), one `batch()` per
cluster's poll, and 2% of the connectors restarted (a request remembered, marked sending, finished).
SQLite: a file on local disk (WAL, synchronous=NORMAL, as the daemon uses it). PostgreSQL 15 on
loopback, fsync on (a commit waits for its WAL flush), started in a temporary directory as the tests
do. CPU is the daemon process's (the database server's own CPU is not in it); wall is what the event
loop is held.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from watchdog.config import Backoff
from watchdog.model import (
    ConnectorKey,
    ConnectorState,
    Health,
    HistoryRecord,
    Outcome,
    RestartRequest,
    Trigger,
)
from watchdog.policy import observe

from .postgres import PostgresServer, take_lease
from .report import emit, median, progress, table

CLUSTERS, PER_CLUSTER, FAILING_PER_CLUSTER, CYCLES = 100, 100, 2, 3


def cycle(store: Any, start: datetime, number: int) -> tuple[float, float, int]:
    cpu, wall = time.process_time(), time.perf_counter()
    writes = 0
    now = start + timedelta(minutes=number)
    for c in range(CLUSTERS):
        with store.batch():
            for i in range(PER_CLUSTER):
                key = ConnectorKey(f"cluster-{c:03d}", f"conn-{c:03d}-{i:03d}")
                failing = i < FAILING_PER_CLUSTER
                store.observe_status(key, "FAILED" if failing else "RUNNING", now)
                state = observe(store.load(key), Health.FAILED if failing else Health.HEALTHY, now, Backoff())
                store.save(key, state)
                writes += 2
                if failing:
                    job = f"job-{number}-{c}-{i}"
                    request = RestartRequest(id=job, key=key, rule="heal", trigger=Trigger.STATUS,
                                             reason="failed", requested_at=now)
                    store.add_pending(request, job)
                    store.mark_sending(job, key, ConnectorState(attempts=state.attempts + 1, last_restart_at=now))
                    store.finish(job, key, None, HistoryRecord(at=now, key=key, job_id=job, rule="heal",
                                                               trigger=Trigger.STATUS, triggers=(Trigger.STATUS,),
                                                               outcome=Outcome.ACCEPTED, status_code=202, tries=1))
                    writes += 3
    return time.process_time() - cpu, time.perf_counter() - wall, writes


def measure(store: Any) -> dict[str, float]:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    results = [cycle(store, start, n) for n in range(CYCLES + 1)][1:]  # the first creates the rows
    return {"cpu": median([r[0] for r in results]), "wall": median([r[1] for r in results]), "writes": results[0][2]}


def main() -> None:
    from watchdog.state import SqliteStateStore
    from watchdog.state.postgres import PostgresStateStore

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        progress("store: SQLite")
        with SqliteStateStore(Path(tmp) / "state.db") as sqlite:
            result = measure(sqlite)
        rows.append(["SQLite file", result["writes"], f"{CLUSTERS * PER_CLUSTER * 2 + CLUSTERS * PER_CLUSTER // 50 * 3:,}",
                     f"{result['cpu']:.2f} s", f"{result['wall']:.2f} s"])
    server = PostgresServer(fsync=True)
    server.start()
    try:
        progress("store: PostgreSQL")
        url = server.database()
        with PostgresStateStore(url, password=server.password) as postgres:
            postgres.fence(take_lease(server, url, "benchmark"))
            result = measure(postgres)
        rows.append(["PostgreSQL (loopback, fsync on)", result["writes"],
                     f"{CLUSTERS + CLUSTERS * PER_CLUSTER // 50 * 3:,}", f"{result['cpu']:.2f} s", f"{result['wall']:.2f} s"])
    finally:
        server.destroy()
    emit(table(f"The state store's share of a poll cycle: {CLUSTERS * PER_CLUSTER:,} connectors, {CLUSTERS} clusters, 2% failing",
               ["store", "writes per cycle", "commits per cycle", "CPU per cycle (daemon)", "wall per cycle"], rows,
               [f"median of {CYCLES} cycles after the first; writes: statements that change rows."]))


if __name__ == "__main__":
    main()
