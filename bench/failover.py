"""Benchmark 5: failover time. Two replicas of `watchdog run` share a real PostgreSQL (started in a
temporary directory, as the tests do: bench/postgres.py) and work through a backlog of requested
restarts against the simulator; the leader is killed with SIGKILL. Measured on the simulator's clock:
from the kill to the first restart the new leader sends. 10 runs per lease setting.

Bound: lease_duration + renew_interval (the standby's next try after the lease expired), plus the
new leader's start: recovering the backlog, the first call through its limiter.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from . import ha
from .postgres import PostgresServer
from .report import emit, median, progress, table

RUNS = 10
BACKLOG = 200
SETTINGS: list[dict[str, float]] = [
    {"lease_duration": 3, "renew_deadline": 2, "renew_interval": 0.5},
    {"lease_duration": 15, "renew_deadline": 10, "renew_interval": 2},  # the defaults
]


def one_run(server: Any, lease: dict[str, float]) -> float:
    ha.LEASE.clear()
    ha.LEASE.update(lease)
    requested = [f"requested-{i:03d}" for i in range(BACKLOG)]
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 60}, "select": {"include": ["requested-*"]}}]
    with tempfile.TemporaryDirectory() as tmp:
        url = server.database()
        world = ha.HaWorld(Path(tmp), server, url, rules,
                           settings={"rate_limit": {"max_requests_per_second": 20, "max_concurrent_requests": 1},
                                     "queue": {"shutdown_deadline": 1}})
        try:
            world.start_simulator(ha.scenario([{"name": n} for n in requested]))
            world.start("a")
            leader = world.leader(timeout=lease["lease_duration"] * 3)
            world.start("b")
            standby = world.other(leader)
            ha.wait_until(lambda: leader.ready() == 200, 30, "the leader is ready")
            with httpx.Client(timeout=10) as client:
                for name in requested:
                    world.request_restart(leader, name, client)
            ha.wait_until(lambda: len(world.restarts()) >= 20, 30, "restarts under way")
            killed = world.sim_time()
            assert leader.process is not None
            leader.process.send_signal(signal.SIGKILL)
            leader.process.wait(timeout=10)

            def taken_over() -> bool:
                return any(c["api_key"] == standby.key for c in world.restarts())

            ha.wait_until(taken_over, lease["lease_duration"] * 3 + 10, "the standby sends", every=0.02)
            return min(c["t"] for c in world.restarts() if c["api_key"] == standby.key) - killed
        finally:
            world.stop()
            server.drop(url)


def main(settings: list[dict[str, float]] | None = None) -> None:
    server = PostgresServer()
    server.start()
    rows = []
    try:
        for lease in settings or SETTINGS:
            times = []
            for run in range(RUNS):
                progress(f"failover: lease {lease['lease_duration']}s, run {run + 1}/{RUNS}")
                times.append(one_run(server, lease))
            bound = lease["lease_duration"] + lease["renew_interval"]
            rows.append([f"{lease['lease_duration']:g} s", f"{lease['renew_deadline']:g} s", f"{lease['renew_interval']:g} s",
                         f"{median(times):.2f} s", f"{max(times):.2f} s", f"{min(times):.2f} s", f"{bound:g} s"])
    finally:
        server.destroy()
    emit(table("Failover: leader killed (SIGKILL) to the first restart sent by the new leader",
               ["lease", "renew deadline", "renew interval", "median", "max", "min", "lease + interval"], rows,
               [f"{RUNS} runs each; {BACKLOG} requested restarts queued, paced at 20/s; simulator's clock."]))


if __name__ == "__main__":
    # `python -m bench.failover short`: the 3 s lease only (about 2 minutes).
    main(SETTINGS[:1] if sys.argv[1:] == ["short"] else None)
