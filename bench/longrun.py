"""Benchmark 8: days of churn on virtual time, and what grows.

The daemon's own objects (poller, engine, queue, rate limiter, heartbeat with its hourly pruning
and sweep, the HTTP API, reloads) against the simulator in process, on the virtual-time loop: a
day takes about 25 s of CPU. One cluster of 40 connectors polled every 60 s; every hour two
connectors deleted and two made under new names, two failing (each healed by one restart), the
alerts of the last hour resolved and three fired under new fingerprints, two restarts asked for
through the API (new request ids); every two hours a reload that renames the one exact
connector a rule names; a schedule rule daily. Discovery (every 10 minutes) finds a new cluster
every two hours, each deleted ten hours later (two connectors, one failing until restarted), as in
a large organisation. `state.forget_vanished_after` is one day and `state.history.max_age` two, so
that a few days reach the steady state a month would.

Each row is one day's end. What must stay bounded once the retention periods have passed:
per-connector gauges, state rows, history rows, the state file, the engine's maps, the entries
kept per cluster (`cluster_entries`, against the clusters configured then), tasks and open files. The ratio row compares the last day with day 2 (the baseline, measured in the same
run); the benchmark fails when a bounded count grew by more than 10%.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import io
import json
import os
import random
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx

from watchdog.app import Daemon
from watchdog.config import Config, build_config
from watchdog.logs import configure_logging
from watchdog.server import create_app as daemon_app
from watchdog.simulator import Scenario, Simulator, create_app

from . import fixtures
from .report import emit, progress, table, verdict
from .virtualtime import run as virtual_run

DAYS = int(os.environ.get("BENCH_LONGRUN_DAYS", 5))
CONNECTORS, BASELINE_DAY = 40, 2
HOUR, DAY = 3600.0, 86400.0
TOKEN = "bench-longrun-token-0123456789"
# Bounded counts: the last day may exceed the baseline day by at most this share.
BOUNDED = ("gauges", "state_rows", "history_rows", "db_kib", "statuses", "cluster_entries", "tasks", "fds")
# Discovered clusters: one created every CHURN_EVERY seconds, each deleted CHURN_LIFE seconds later.
CHURN_EVERY, CHURN_LIFE, DISCOVERY_INTERVAL = 2 * HOUR, 10 * HOUR, 600
SLACK = 1.10


class LogLines(io.StringIO):
    """Counts the daemon's JSON log lines by level."""

    def __init__(self) -> None:
        super().__init__()
        self.levels: collections.Counter[str] = collections.Counter()

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.levels[json.loads(line).get("level", "?")] += 1
        return len(text)


def _rules(generation: int) -> list[dict[str, Any]]:
    backoff = {"base": 10, "cap": 600}
    return [
        {"name": "heal", "trigger": {"type": "status", "interval": 60, "confirm_polls": 1},
         "select": {"include": ["*"]}, "backoff": backoff},
        {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled"},
                                         "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
         "select": {"include": ["*"]}, "backoff": backoff},
        {"name": "nightly", "trigger": {"type": "schedule", "interval": 86400}, "select": {"include": ["conn-0000*"]}},
        # An exact name the cluster never lists, renamed by every reload (a typo fixed, a connector
        # renamed): its pre-initialised gauges must go with the name.
        {"name": "named", "trigger": {"type": "schedule", "interval": 86400},
         "select": {"connectors": [f"renamed-{generation}"]}},
    ]


def _config(state: Path, generation: int) -> Config:
    data = fixtures.config_data(1, _rules(generation), "http://sim", state=str(state), breaker=fixtures.NO_BREAKER,
                                rate_limit={"max_requests_per_second": 100}, discovery={"interval": DISCOVERY_INTERVAL})
    data["state"].update({"forget_vanished_after": 86400, "history": {"max_age": 2 * 86400}})
    return build_config(data, "benchmark config", secrets=fixtures.secrets(TOKEN))


def _alerts(names: list[str], first: int, status: str) -> dict[str, Any]:
    alerts = [{"status": status, "labels": {"alertname": "ConnectorStalled", "kafka_cluster_id": fixtures.cluster_id(0),
                                            "connector": name},
               "annotations": {}, "startsAt": "2026-03-01T12:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
               "generatorURL": "http://prometheus/graph", "fingerprint": f"fp{first + i:08x}"}
              for i, name in enumerate(names)]
    return {"version": "4", "groupKey": "{}:{alertname=\"ConnectorStalled\"}", "truncatedAlerts": 0, "status": status,
            "receiver": "watchdog", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "alerts": alerts}


def _churned(days: int) -> list[dict[str, Any]]:
    """The clusters discovery finds and drops over the run, on the simulator's clock."""
    return [{"id": f"lkc-churn{i:04d}", "display_name": f"churn-{i:04d}",
             "lifecycle": {"created_at": i * CHURN_EVERY, "deleted_at": i * CHURN_EVERY + CHURN_LIFE},
             "connectors": [{"name": "sink-0", "script": {"initial": "FAILED", "recover_after_restarts": 1}},
                            {"name": "sink-1"}]}
            for i in range(int(days * DAY / CHURN_EVERY) + 1)]


def _cluster_entries(daemon: Daemon) -> int:
    """Entries kept per cluster across the daemon's parts (queue routes and counts, backends,
    pollers, the engine's listings, generations and per-connector memory, the breaker): bounded by
    the clusters configured now, whatever discovery dropped."""
    engine, queue, breaker = daemon.engine, daemon.queue, daemon.breaker
    by_cluster: list[Any] = [queue._credentials, queue._backends, queue._per_cluster, queue._held_jobs, daemon.backends,
                             daemon.pollers, engine.cluster_generation, engine._listed, engine._watched,
                             breaker._failing, breaker._opened_at, breaker._probe, breaker._excused]
    clusters = sum(len(known) for known in by_cluster)
    # Connectors' memory, counted by cluster: one entry per cluster that holds any.
    keyed = [*engine.statuses, *engine.running_since, *engine.degraded_since, *engine.held, *engine.dry_states,
             *engine._last_decision, *engine._unjudged]
    return clusters + len({key.cluster for key in keyed}) + len({c for _, c in engine.named_missing_reported})


def _sample(daemon: Daemon, state: Path, logs: LogLines, made: int) -> dict[str, float]:
    gc.collect()
    samples = [s for metric in daemon.metrics.registry.collect() for s in metric.samples]
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT count(*) FROM connector_state").fetchone()[0]
        history = db.execute("SELECT count(*) FROM restart_history").fetchone()[0]
    wal = Path(f"{state}-wal")
    with open("/proc/self/status", encoding="utf-8") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return {
        "made": made, "series": len(samples),
        "gauges": sum(1 for s in samples if s.name == "watchdog_connector_gave_up"),
        "state_rows": rows, "history_rows": history,
        "db_kib": state.stat().st_size // 1024, "wal_kib": (wal.stat().st_size if wal.exists() else 0) // 1024,
        "statuses": len(daemon.engine.statuses), "requests": len(daemon.engine.requests),
        "clusters": len(daemon.config.clusters), "cluster_entries": _cluster_entries(daemon),
        "tasks": len(asyncio.all_tasks()), "fds": len(os.listdir("/proc/self/fd")), "threads": threading.active_count(),
        "rss_mib": rss / 1024, "log_info": logs.levels["info"], "log_warning": logs.levels["warning"],
    }


async def soak(days: int, state: Path) -> list[dict[str, float]]:
    loop = asyncio.get_running_loop()
    rng = random.Random(7)
    logs = LogLines()
    configure_logging("INFO", "json", stream=logs)
    data = fixtures.scenario_data([[{"name": f"conn-{i:05d}"} for i in range(CONNECTORS)]])
    data["environments"][0]["clusters"] += _churned(days)
    simulator = Simulator(Scenario.model_validate(data), clock=loop.time)
    generation = [0]
    daemon = Daemon(_config(state, 0), transport=httpx.ASGITransport(app=create_app(simulator)), clock=loop.time,
                    now=fixtures.wall_clock(loop), rng=random.Random(1).random,
                    reload_config=lambda: _config(state, generation[0]))
    await daemon._lead(None)  # a SQLite file: it leads at once (pruning, recovery, the queue)
    if daemon._scheduler is not None:  # APScheduler reads the wall clock: the triggers are driven here
        daemon._scheduler.shutdown(wait=False)
        daemon._scheduler = None
    heartbeat = asyncio.create_task(daemon.heartbeat(), name="heartbeat")
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=daemon_app(daemon.metrics.registry, daemon.probes,
                                                                          daemon.api_context())),
                            base_url="http://daemon", headers={"Authorization": f"Bearer {TOKEN}"})
    cluster, sim_cluster = fixtures.cluster_name(0), fixtures.cluster_id(0)
    made, fingerprints = CONNECTORS, 0
    firing: list[str] = []
    rows: list[dict[str, float]] = []
    polling: dict[str, asyncio.Task[None]] = {}
    for hour in range(1, days * 24 + 1):
        for _ in range(60):  # a poll a minute, skipped while the last one runs (max_instances=1)
            for name, poller in list(daemon.pollers.items()):  # the discovered ones' too
                if polling.get(name) is None or polling[name].done():
                    polling[name] = asyncio.create_task(poller.poll())
            polling = {name: task for name, task in polling.items() if name in daemon.pollers or not task.done()}
            await asyncio.sleep(60)
        for name in rng.sample([c.name for c in simulator.connectors() if c.cluster == sim_cluster], 2):
            simulator.delete_connector(sim_cluster, name)
        for _ in range(2):
            simulator.add_connector(sim_cluster, {"name": f"conn-{made:05d}"})
            made += 1
        live = [c.name for c in simulator.connectors() if c.cluster == sim_cluster]
        for name in rng.sample(live, 2):
            simulator.set_script(sim_cluster, name, {"initial": "FAILED", "recover_after_restarts": 1})
        if firing:
            await api.post("/v1/alertmanager", json=_alerts(firing, fingerprints - len(firing), "resolved"))
        firing = rng.sample(live, 3)
        await api.post("/v1/alertmanager", json=_alerts(firing, fingerprints, "firing"))
        fingerprints += len(firing)
        for name in rng.sample(live, 2):
            await api.post("/v1/restarts", json={"cluster": cluster, "connector": name, "reason": "bench"})
        await api.get("/metrics")
        if hour % 2 == 0:
            generation[0] += 1
            await daemon.reload("bench")
        if hour % 24 == 0:
            await daemon.run_schedule_rule("nightly")
            rows.append(_sample(daemon, state, logs, made))
            progress(f"longrun: day {hour // 24} of {days}")
    heartbeat.cancel()
    await api.aclose()
    await daemon.stop()
    return rows


COLUMNS = ("made", "series", "gauges", "state_rows", "history_rows", "db_kib", "wal_kib", "statuses", "requests",
           "clusters", "cluster_entries", "tasks", "fds", "threads", "rss_mib", "log_info", "log_warning")


def main() -> int:
    progress(f"longrun: {DAYS} days of churn on virtual time")
    with tempfile.TemporaryDirectory() as tmp:
        rows = virtual_run(soak(DAYS, Path(tmp) / "state.db"))
    per_day = [dict(row) for row in rows]
    for earlier, row in zip([None, *rows], per_day):  # log lines per day, not cumulated
        for level in ("log_info", "log_warning"):
            row[level] = row[level] - (earlier[level] if earlier else 0)
    base, last = per_day[BASELINE_DAY - 1], per_day[-1]
    missed = [f"{name} {base[name]:.0f} -> {last[name]:.0f}" for name in BOUNDED if last[name] > base[name] * SLACK + 1]
    body: list[list[object]] = [[day, *(row[c] for c in COLUMNS)] for day, row in enumerate(per_day, start=1)]
    body.append(["last / day 2", *(last[c] / base[c] if base[c] else float("nan") for c in COLUMNS)])
    emit(table(
        f"Days of churn, one cluster of {CONNECTORS} connectors and discovered clusters coming and going (virtual time)",
        ["day", *COLUMNS], body,
        [f"Bounded ({', '.join(BOUNDED)}): at most {SLACK:.0%} of day {BASELINE_DAY}'s: {verdict(missed)}. "
         "`made`: connectors ever made; `gauges`: watchdog_connector_gave_up series; `requests`: request ids the "
         "API remembers (at most 10,000 per trigger); `clusters`: configured at the day's end (one static, the "
         "discovered ones alive); `cluster_entries`: entries kept per cluster across the daemon's parts; RSS holds "
         "the simulator too."],
    ))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
