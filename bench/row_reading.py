"""Benchmark: what one GET /v1/connectors reading holds of the event loop, the old way (every row
read, judged, noted and selected in one go: `Daemon.connector_answer`) against the new
(`Daemon.connector_reading`: a page of rows at a time, the loop let go between: api/row_reading.py).

A store of N connector rows (1,000, 5,000, 20,000) as name churn leaves it: 10 watched clusters,
300 connectors that exist (seen by their cluster's newest poll), every tenth row of a cluster no
longer in the config, the rest deleted (seen once, each earlier than the last); one row in 7
FAILED with 2 attempts (the attempts notes read the history of the 200 restarted last). SQLite: a
file on local disk. PostgreSQL 15 on loopback (bench/postgres.py). A coroutine that only yields
runs beside the reading: the longest gap between two of its turns is the longest hold of the loop
(what /healthz, a webhook or the lease's renewal waits at worst); total is the reading's wall
time. Both ways' answers are compared (they must be the same JSON). Target: the new way holds the
loop at most 0.1 s at 20,000 rows on both stores.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from watchdog.app import Daemon
from watchdog.config import build_config
from watchdog.model import ConnectorKey, ConnectorState, Health
from watchdog.report import RowQuery

from .fixtures import EPOCH, cluster_name, config_data, quiet_logs, secrets
from .postgres import PostgresServer, take_lease
from .report import emit, median, progress, table, verdict

SIZES = (1_000, 5_000, 20_000)
RUNS = 5
CLUSTERS, LIVE = 10, 300
TARGET_HOLD = 0.1


def fill(store: Any, rows: int) -> None:
    """`rows` connector rows as name churn leaves them (the module's docstring)."""
    with store.batch():
        for n in range(rows):
            cluster = "removed-cluster" if n % 10 == 9 else cluster_name(n % CLUSTERS)
            failing = n % 7 == 0
            seen = EPOCH if n < LIVE else EPOCH - timedelta(seconds=rows - n)
            store.observe_status(ConnectorKey(cluster, f"auto-deploy-{n:06d}"), "FAILED" if failing else "RUNNING", seen,
                                 ConnectorState(health=Health.FAILED if failing else Health.HEALTHY,
                                                attempts=2 if failing else 0, consecutive_failures=3 if failing else 0,
                                                last_restart_at=EPOCH - timedelta(seconds=n) if failing else None))


async def held(reading: Callable[[], Awaitable[dict[str, Any]]]) -> tuple[float, float, dict[str, Any]]:
    """The longest hold of the loop while `reading` runs, its wall time, and its answer."""
    gaps: list[float] = []
    done = False

    async def beside() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.ensure_future(beside())
    await asyncio.sleep(0)
    started = time.perf_counter()
    answer = await reading()
    total = time.perf_counter() - started
    done = True
    await ticker
    return max(gaps), total, answer


async def measure(state: str, rows: int) -> dict[str, tuple[float, float]]:
    data = config_data(CLUSTERS, [{"name": "heal", "trigger": {"type": "status", "interval": 30},
                                   "select": {"include": ["*"]}}], "http://sim", state=state)
    daemon = Daemon(build_config(data, "benchmark config", secrets=secrets()))
    try:
        query = RowQuery()

        async def old() -> dict[str, Any]:
            return daemon.connector_answer(query)

        results: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        answers = {}
        for _ in range(RUNS):
            for way, reading in (("old", old), ("new", lambda: daemon.connector_reading(query))):
                hold, total, answers[way] = await held(reading)
                results[way].append((hold, total))
        if json.dumps(answers["old"]) != json.dumps(answers["new"]):
            raise AssertionError(f"{state}, {rows} rows: the two ways answered differently")
        return {way: (median([r[0] for r in runs]), median([r[1] for r in runs])) for way, runs in results.items()}
    finally:
        daemon.state.close()


def main() -> bool:
    """True when a target was missed."""
    from watchdog.state import SqliteStateStore
    from watchdog.state.postgres import PostgresStateStore

    quiet_logs()
    found: dict[tuple[str, int], dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rows in SIZES:
            progress(f"row_reading: SQLite, {rows:,} rows")
            path = Path(tmp) / f"state-{rows}.db"
            with SqliteStateStore(path) as sqlite:
                fill(sqlite, rows)
            found["SQLite file", rows] = asyncio.run(measure(str(path), rows))
    server = PostgresServer()
    server.start()
    try:
        os.environ["WATCHDOG_STATE__PASSWORD"] = server.password.get_secret_value()
        for rows in SIZES:
            progress(f"row_reading: PostgreSQL, {rows:,} rows")
            url = server.database()
            with PostgresStateStore(url, password=server.password) as postgres:
                postgres.fence(take_lease(server, url, "benchmark"))
                fill(postgres, rows)
            found["PostgreSQL (loopback)", rows] = asyncio.run(measure(url, rows))
    finally:
        os.environ.pop("WATCHDOG_STATE__PASSWORD", None)
        server.destroy()
    lines, missed = [], []
    for (store, rows), ways in found.items():
        (old_hold, old_total), (new_hold, new_total) = ways["old"], ways["new"]
        lines.append([store, f"{rows:,}", f"{old_hold * 1000:.0f} ms", f"{new_hold * 1000:.0f} ms",
                      f"{old_hold / new_hold:.0f}x", f"{old_total * 1000:.0f} ms", f"{new_total * 1000:.0f} ms",
                      f"{new_total / old_total:.2f}"])
        if rows == SIZES[-1] and new_hold > TARGET_HOLD:
            missed.append(f"{store}: the loop held {new_hold * 1000:.0f} ms at {rows:,} rows (target {TARGET_HOLD * 1000:.0f} ms)")
    emit(table("One GET /v1/connectors reading: the longest hold of the event loop, and its total time",
               ["store", "rows", "hold, old", "hold, new", "old / new", "total, old", "total, new", "new / old"], lines,
               [f"median of {RUNS} runs each; the two ways' answers compared equal in every case.",
                f"Target: the new way holds the loop at most {TARGET_HOLD * 1000:.0f} ms at {SIZES[-1]:,} rows: "
                + verdict(missed)]))
    return bool(missed)


if __name__ == "__main__":
    main()
