"""The daemon side of the scale benchmark, in a process of its own so that its CPU time and
memory are its own: `python -m bench.scale_worker URL MODE CYCLES` prints one JSON object.

MODE `list` is the daemon as it is: one expanded list call per cluster and poll. MODE
`discovered` is the same daemon with no cluster listed in its config: discovery finds the 100
clusters (GET /org/v2/environments, GET /cmk/v2/clusters) before the first poll; its calls are
counted apart from the polls', and one more refresh (finding nothing new) is measured on its own
after the cycles. MODE `per-connector` is the baseline: the same daemon, but each cluster's poll lists the connector
names and then asks for every connector's status one by one (sequentially per cluster, every
cluster at once, through the same HTTP client).

The first cycle is the one the real scheduler fires when the daemon starts; the next ones are
fired back to back, as the scheduler would every interval (waiting out the interval would only
add idle time, which is measured separately).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import generate_latest

from watchdog.app import Daemon
from watchdog.config import CloudCluster
from watchdog.connect import ApiResult, ConfluentCloudBackend, Endpoint
from watchdog.model import ConnectorStatus, Outcome

from . import fixtures

CLUSTERS = 100
POLL_INTERVAL = 60.0
IDLE_SECONDS = 10.0


def per_connector_list(
    daemon: Daemon, cluster: str, backend: ConfluentCloudBackend
) -> Callable[[], Coroutine[Any, Any, ApiResult[dict[str, ConnectorStatus]]]]:
    settings = daemon.config.clusters[cluster]
    assert isinstance(settings, CloudCluster)
    path = f"/connect/v1/environments/{settings.environment_id}/clusters/{settings.kafka_cluster_id}/connectors"
    http = daemon.http[daemon.config.lane_for(cluster)]

    async def list_connectors() -> ApiResult[dict[str, ConnectorStatus]]:
        names = (await http.get(path)).json()
        statuses = {}
        for name in names:
            result = await backend.connector_status(name)
            if result.ok and result.value is not None:
                statuses[name] = result.value
        return ApiResult(Endpoint.LIST, Outcome.ACCEPTED, status_code=200, value=statuses)

    return list_connectors


class CallCounter:
    """Every HTTP request the daemon's clients send, by the operation its path names."""

    def __init__(self, daemon: Daemon) -> None:
        self.counts: Counter[str] = Counter()
        for client in daemon.http.values():
            client.event_hooks["request"].append(self._count)

    async def _count(self, request: httpx.Request) -> None:
        path = request.url.path
        if path.startswith(("/org/v2/", "/cmk/v2/")):
            self.counts["discovery"] += 1
        elif path.endswith("/restart"):
            self.counts["restart"] += 1
        elif path.endswith("/status"):
            self.counts["status"] += 1
        elif path.endswith("/connectors"):
            self.counts["list"] += 1
        else:
            self.counts["other"] += 1


async def measure(url: str, mode: str, cycles: int, state: str) -> dict[str, Any]:
    rule = {"name": "heal", "trigger": {"type": "status", "interval": POLL_INTERVAL, "confirm_polls": 2},
            "select": {"include": ["*"]}}
    # The local ceiling is raised so that a cycle's wall time shows the work, not the pacing
    # (at the default 10 per second a cycle needs calls / 10 seconds; the table says so).
    rate_limit = {"max_requests_per_second": 10_000}
    if mode == "discovered":
        config = fixtures.discovered_config([rule], base_url=url, state=state, rate_limit=rate_limit)
    else:
        config = fixtures.config(CLUSTERS, [rule], base_url=url, state=state, rate_limit=rate_limit)
    daemon = Daemon(config)
    if mode == "per-connector":
        for name, backend in daemon.backends.items():
            assert isinstance(backend, ConfluentCloudBackend)
            backend.list_connectors = per_connector_list(daemon, name, backend)  # type: ignore[method-assign]
    deciding = [0.0]
    on_poll = daemon.engine.on_poll

    async def timed_on_poll(*args: Any, **kwargs: Any) -> Any:
        # The time the poll holds the event loop: its slices, not the other tasks run between them.
        return await _OnLoop(on_poll(*args, **kwargs), deciding)

    daemon.engine.on_poll = timed_on_poll  # type: ignore[method-assign]
    calls = CallCounter(daemon)
    rss_before = _rss_kib()
    results = []
    meter = CycleMeter(daemon, calls, deciding)
    await daemon.start()  # the scheduler polls every cluster now (after discovery, if discovered): cycle 1
    while daemon.discovery_pending() or not all(p.first_poll_done for p in daemon.pollers.values()):
        await asyncio.sleep(0.01)
    await daemon.queue.join()
    results.append(meter.done())
    for _ in range(cycles - 1):
        meter = CycleMeter(daemon, calls, deciding)
        await asyncio.gather(*(poller.poll() for poller in daemon.pollers.values()))
        await daemon.queue.join()
        results.append(meter.done())
    refresh = None
    if mode == "discovered":
        # One more refresh, as the loop makes every discovery.interval: it finds what it knew.
        before, cpu, wall = Counter(calls.counts), time.process_time(), time.perf_counter()
        await daemon.refresh_discovery()
        refresh = {"cpu_seconds": time.process_time() - cpu, "wall_seconds": time.perf_counter() - wall,
                   "calls": dict(calls.counts - before)}
    idle_cpu = time.process_time()
    await asyncio.sleep(IDLE_SECONDS)  # heartbeat, HTTP server and scheduler, nothing due
    idle = (time.process_time() - idle_cpu) / IDLE_SECONDS
    peak_unscraped = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # One Prometheus scrape: the registry rendered as /metrics renders it.
    scrape_started = time.process_time()
    exposition = generate_latest(daemon.metrics.registry)
    scrape_cpu = time.process_time() - scrape_started
    await daemon.stop()
    return {
        "mode": mode,
        "cycles": results,
        "idle_cpu_per_second": idle,
        "rss_before_kib": rss_before,
        "peak_rss_kib": peak_unscraped,
        "peak_rss_scraped_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "scrape_cpu_seconds": scrape_cpu,
        "scrape_bytes": len(exposition),
        "connectors": len(daemon.engine.statuses),
        "clusters": len(daemon.pollers),
        "discovery_refresh": refresh,
    }


def decisions(daemon: Daemon) -> Counter[str]:
    counts: Counter[str] = Counter()
    for metric in daemon.metrics.decisions.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["decision"]] += int(sample.value)
    return counts


class _OnLoop:
    """Awaits `coro`, adding to `spent[0]` the time it ran on the event loop (each step from one
    suspension to the next), not the time it was suspended."""

    def __init__(self, coro: Any, spent: list[float]) -> None:
        self._coro, self._spent = coro, spent

    def __await__(self) -> Any:
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            started = time.perf_counter()
            try:
                yielded = self._coro.send(sent) if thrown is None else self._coro.throw(thrown)
            except StopIteration as stop:
                return stop.value
            finally:
                self._spent[0] += time.perf_counter() - started
            try:
                sent, thrown = (yield yielded), None
            except BaseException as exc:  # noqa: BLE001 - handed on to the coroutine, as await does
                sent, thrown = None, exc


class CycleMeter:
    """CPU, wall time, time spent deciding, API calls and decisions of one poll cycle."""

    def __init__(self, daemon: Daemon, calls: CallCounter, deciding: list[float]) -> None:
        self._daemon, self._calls, self._deciding = daemon, calls, deciding
        deciding[0] = 0.0
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        self._before_calls = Counter(calls.counts)
        self._before_decisions = decisions(daemon)

    def done(self) -> dict[str, Any]:
        cpu, wall = time.process_time() - self._cpu, time.perf_counter() - self._wall
        return {
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "decide_seconds": self._deciding[0],
            "calls": dict(self._calls.counts - self._before_calls),
            "decisions": dict(decisions(self._daemon) - self._before_decisions),
        }


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="utf-8") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmRSS:")))


def main() -> None:
    url, mode, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fixtures.quiet_logs()
    if mode == "postgres":
        # The shared store of the HA setup (its URL and password from bench/scale.py): the same
        # polls, the state in PostgreSQL, leadership by lease (this one replica wins at once).
        result = asyncio.run(measure(url, mode, cycles, os.environ["BENCH_SCALE_STATE_URL"]))
        print(json.dumps(result), flush=True)
        return
    # A state file, as deployed: every decision's bookkeeping is part of the cost.
    with tempfile.TemporaryDirectory(prefix="watchdog-scale-") as folder:
        result = asyncio.run(measure(url, mode, cycles, str(Path(folder) / "watchdog.db")))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
