"""Play a fault case against the daemon in process, on virtual time.

The daemon's own objects do the work (pollers, engine, queue, rate limiter, HTTP client,
heartbeat, /healthz); the simulator answers through httpx.ASGITransport; both read the loop's
clock, so a two-hour Retry-After takes milliseconds and every second of it is still counted.
APScheduler reads the wall clock and cannot follow virtual time, so `PollDriver` stands in for
it and keeps its contract: one poll per cluster per interval, skipped while the previous one is
still running (max_instances=1, coalesce).
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone

import httpx
import structlog

from watchdog.app import Daemon, poll_intervals
from watchdog.engine import MANUAL_RULE, RequestRecord
from watchdog.model import ConnectorKey, Trigger
from watchdog.server import create_app as create_daemon_app
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as create_simulator_app

from . import world
from .bounds import max_tries
from .cases import POLLING_SECONDS, FaultCase
from .record import FaultRun, JobLedger

EPOCH = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


class PollDriver:
    def __init__(self, daemon: Daemon, until: float) -> None:
        self._daemon = daemon
        self._until = until
        self.started: dict[str, int] = {}
        self.times: dict[str, list[float]] = {}

    async def run(self) -> None:
        intervals = poll_intervals(self._daemon.config)
        await asyncio.gather(*(self._cluster(cluster, every) for cluster, every in intervals.items()))

    async def _cluster(self, cluster: str, every: float) -> None:
        loop = asyncio.get_running_loop()
        poller = self._daemon.pollers[cluster]
        self.started[cluster] = 0
        self.times[cluster] = []
        running: asyncio.Task[None] | None = None
        tick = 0
        while (at := tick * every) < self._until:
            await asyncio.sleep(max(0.0, at - loop.time()))
            if running is None or running.done():
                running = asyncio.create_task(poller.poll(), name=f"poll-{cluster}")
                self.started[cluster] += 1
                self.times[cluster].append(loop.time())
            tick += 1
        if running is not None:
            await running


class HealthProbe:
    """Asks the daemon's own /healthz (and /readyz) once a second, as a kubelet would."""

    def __init__(self, daemon: Daemon) -> None:
        app = create_daemon_app(daemon.metrics.registry, daemon.probes)
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
        self._daemon = daemon
        self.health: list[int] = []
        self.readiness: list[int] = []
        self.writable: list[float] = []  # watchdog_state_store_writable, read as a scrape reads it

    async def run(self) -> None:
        while True:
            self.health.append((await self._client.get("/healthz")).status_code)
            if all(poller.first_poll_done for poller in self._daemon.pollers.values()):
                self.readiness.append((await self._client.get("/readyz")).status_code)
            writable = self._daemon.metrics.registry.get_sample_value("watchdog_state_store_writable")
            if writable is not None:
                self.writable.append(writable)
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        await self._client.aclose()


def request_restart(daemon: Daemon, cluster: str, connector: str) -> RequestRecord:
    """A restart asked for by name, as the CLI or the restart API would, with what the daemon
    last saw of the connector (possibly stale: that is the point of some cases)."""
    key = ConnectorKey(cluster, connector)
    return daemon.engine.on_request(
        key, daemon.engine.statuses.get(key), trigger=Trigger.MANUAL, rule=MANUAL_RULE,
        reason="fault matrix", known_missing=False,
    )


def drain_limit(daemon: Daemon, case: FaultCase) -> float:
    """The longest a job may take once polls stop: every try paused as long as allowed."""
    settings = daemon.config.rate_limit
    return max_tries(settings, case.outcomes) * (settings.max_pause + settings.backoff.cap) + 60.0


async def play(case: FaultCase) -> FaultRun:
    with structlog.testing.capture_logs() as logs:
        run = await _play(case)
    run.logs = logs
    return run


async def _play(case: FaultCase) -> FaultRun:
    loop = asyncio.get_running_loop()
    simulator = Simulator(Scenario.model_validate(world.scenario(list(case.faults))), clock=loop.time)
    daemon = Daemon(
        world.config(**case.config),
        transport=httpx.ASGITransport(app=create_simulator_app(simulator)),
        clock=loop.time,
        now=lambda: EPOCH + timedelta(seconds=loop.time()),
        rng=random.Random(5).random,
    )
    ledger = JobLedger(daemon.queue)
    probe = HealthProbe(daemon)
    daemon.queue.start()
    daemon.probes.config_loaded = True
    background = [asyncio.create_task(daemon.heartbeat(), name="heartbeat"), asyncio.create_task(probe.run(), name="probe")]
    for change in case.changes:
        loop.call_at(change.at, change.apply, simulator)
    for daemon_change in case.daemon_changes:
        loop.call_at(daemon_change.at, daemon_change.apply, daemon)
    for at, cluster, connector in case.manual:
        loop.call_at(at, request_restart, daemon, cluster, connector)

    polls = PollDriver(daemon, POLLING_SECONDS)
    limit = drain_limit(daemon, case)
    try:
        async with asyncio.timeout(POLLING_SECONDS + limit):
            await polls.run()
            await daemon.queue.join()
    except TimeoutError:
        raise AssertionError(f"the daemon was still busy {limit:.0f}s after polls stopped: a request is stuck") from None
    # Still serving once the fault is over: a restart asked for now goes through.
    after = request_restart(daemon, world.PROD, world.HEALTHY[world.PROD][0])
    assert after.job is not None, f"a restart asked for after the fault was {after.decision.value}"
    await asyncio.wait_for(after.job.done.wait(), limit)
    unsent = await daemon.stop()

    for task in background:
        assert not task.done(), f"the {task.get_name()} task died: {task.exception()!r}"
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    await probe.close()
    present = {snapshot.name for snapshot in simulator.connectors()}
    return FaultRun(
        case=case.id,
        config=daemon.config,
        calls=simulator.calls,
        jobs=ledger.jobs,
        unsent=unsent,
        health=probe.health,
        readiness=probe.readiness,
        registry=daemon.metrics.registry,
        polling_seconds=POLLING_SECONDS,
        elapsed=simulator.now(),
        polls=polls.started,
        poll_times=polls.times,
        gone=frozenset(name for c in world.CLUSTER_IDS for name in world.FAILING[c] + world.HEALTHY[c]) - present,
        notes={"after_fault": after.job.outcome, "state_store_writable": probe.writable},
    )
