"""Play a fault case against the real daemon over loopback sockets, in real time.

Resets, truncated bodies and read timeouts need a real connection, so these cases run the
daemon as it runs in production, `Daemon.start()`: APScheduler polls, the HTTP server on a
port, /healthz asked over TCP ten times a second while the fault lasts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.simulator import Scenario, Simulator

from ..support import served
from . import world
from .cases import LOOPBACK_SECONDS, LOOPBACK_TIMEOUTS, FaultCase
from .record import FaultRun, JobLedger
from .virtual import drain_limit, request_restart

# Polls every 5 s (the shortest allowed) and a restart at the first sighting, so that a run of a
# few seconds sees polls and restarts; fast retries (the timeouts: cases.LOOPBACK_TIMEOUTS).
POLL_SECONDS = 5.0
RULE = {**world.STATUS_RULE, "trigger": {"type": "status", "interval": POLL_SECONDS, "confirm_polls": 1}}
RETRIES = {"max_retries": 2, "backoff": {"base": 0.05, "cap": 0.2}}


class PollCounter:
    """Counts the polls APScheduler starts, at the poller itself, so that the checks compare
    them with the list calls the simulator saw (one each) rather than taking one for the other,
    and notes when each started (`clock`: the simulator's), so that a failed count shows them."""

    def __init__(self, daemon: Daemon, clock: Callable[[], float]) -> None:
        self.started: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {cluster: [] for cluster in daemon.pollers}
        for cluster, poller in daemon.pollers.items():
            poll = poller.poll

            async def counted(cluster: str = cluster, poll: Callable[[], Awaitable[None]] = poll) -> None:
                self.started[cluster] += 1
                self.times[cluster].append(clock())
                await poll()
                self.finished[cluster] += 1

            poller.poll = counted  # type: ignore[method-assign]


class HttpHealthProbe:
    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon
        self._client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.bound_port}", timeout=2.0)
        self.health: list[int] = []
        self.readiness: list[int] = []

    async def run(self) -> None:
        while True:
            self.health.append(await self._status("/healthz"))
            if all(poller.first_poll_done for poller in self._daemon.pollers.values()):
                self.readiness.append(await self._status("/readyz"))
            await asyncio.sleep(0.1)

    async def _status(self, path: str) -> int:
        try:
            return (await self._client.get(path)).status_code
        except httpx.HTTPError:
            return 0  # no answer at all: as bad as it gets

    async def close(self) -> None:
        await self._client.aclose()


# Called once the daemon has started, with it: what a test does to the run besides the fault.
Meddle = Callable[[Daemon], Coroutine[Any, Any, None]]


async def play_loopback(case: FaultCase, meddle: Meddle | None = None) -> FaultRun:
    with structlog.testing.capture_logs() as logs:
        run = await _play_loopback(case, meddle)
    run.logs = logs
    return run


async def _play_loopback(case: FaultCase, meddle: Meddle | None) -> FaultRun:
    loop = asyncio.get_running_loop()
    simulator = Simulator(Scenario.model_validate(world.scenario(list(case.faults))))
    async with served(simulator) as url:
        sections = {"api": {"timeouts": LOOPBACK_TIMEOUTS}, "rate_limit": RETRIES}
        for section, values in case.config.items():
            sections[section] = {**sections.get(section, {}), **values}
        daemon = Daemon(world.config(url, rule=RULE, **sections))
        ledger = JobLedger(daemon.queue)
        polls = PollCounter(daemon, simulator.now)
        await daemon.start()
        probe = HttpHealthProbe(daemon)
        probing = asyncio.create_task(probe.run(), name="probe")
        meddling: asyncio.Task[None] | None = None
        if meddle is not None:
            meddling = asyncio.create_task(meddle(daemon), name="meddle")
        for at, cluster, connector in case.manual:
            loop.call_later(max(0.0, at - simulator.now()), request_restart, daemon, cluster, connector)
        await asyncio.sleep(max(0.0, LOOPBACK_SECONDS - simulator.now()))
        polling_seconds = simulator.now()
        await asyncio.wait_for(daemon.queue.join(), drain_limit(daemon, case))
        after = request_restart(daemon, world.PROD, world.HEALTHY[world.PROD][0])
        assert after.job is not None, f"a restart asked for after the fault was {after.decision.value}"
        await asyncio.wait_for(after.job.done.wait(), drain_limit(daemon, case))
        assert not probing.done(), f"the probe died: {probing.exception()!r}"
        if meddling is not None:
            await meddling  # its failure is the test's
        probing.cancel()
        await asyncio.gather(probing, return_exceptions=True)
        await probe.close()
        unsent = await daemon.stop()
        elapsed = simulator.now()
    return FaultRun(
        case=case.id,
        config=daemon.config,
        calls=simulator.calls,
        jobs=ledger.jobs,
        unsent=unsent,
        health=probe.health,
        readiness=probe.readiness,
        registry=daemon.metrics.registry,
        polling_seconds=polling_seconds,
        elapsed=elapsed,
        # Polls are APScheduler's here, counted as they start; the checks hold them against the
        # list calls the simulator saw and against the time the run took.
        polls={name: polls.started[name] for name in world.CLUSTER_IDS},
        # A poll stop() cancelled may or may not have made its list call.
        polls_cut_short={name: polls.started[name] - polls.finished[name] for name in world.CLUSTER_IDS},
        poll_times={name: polls.times.get(name, []) for name in world.CLUSTER_IDS},
        notes={"after_fault": after.job.outcome},
    )
