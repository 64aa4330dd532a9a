"""A Confluent Cloud API in maintenance or out: every restart answered 503 with Retry-After, or
a server error without one, for ten minutes, on virtual time against the simulator, through the
real queue and limiter."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from bench import fixtures, virtualtime
from bench.ratelab import backlog_connectors
from watchdog.app import Daemon
from watchdog.model import Outcome
from watchdog.simulator import Simulator, create_app


async def _backlog_through_maintenance(retry_after: str | None, status: int = 503) -> tuple[int, Counter[Outcome]]:
    fixtures.quiet_logs()
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    scenario = fixtures.scenario(
        [backlog_connectors(200)], latency_seconds=[0.05, 0.15],
        faults=[{"match": {"endpoint": "restart"}, "when": {"until": 600},
                 "action": {"status": status, "headers": headers}}])
    simulator = Simulator(scenario, clock=asyncio.get_running_loop().time)
    rule = {"name": "backlog", "trigger": {"type": "schedule", "interval": "1d"}, "select": {"include": ["*"]}}
    daemon = fixtures.virtual_daemon(fixtures.config(1, [rule], breaker=fixtures.NO_BREAKER), simulator)
    await daemon.run_once()
    unavailable = sum(1 for call in simulator.calls if call.endpoint == "restart" and call.status_code == status)
    return unavailable, Counter(job.outcome for job in daemon.recorder.finished_jobs if job.outcome is not None)


def test_a_503_with_retry_after_holds_every_restart_of_the_key_until_then() -> None:
    """Only the refused restart waited for the Retry-After: the other 199 went out at the local
    ceiling, each was answered 503 in turn, and every one spent its retries (800 calls in 200 s
    to a server that had asked for a minute) and ended server_error."""
    unavailable, outcomes = virtualtime.run(_backlog_through_maintenance("60"))
    assert unavailable <= 16  # five in a row, then about one a minute for the ten minutes
    assert outcomes == Counter({Outcome.ACCEPTED: 200})


def test_a_short_retry_after_on_every_call_is_a_floor_and_the_pause_grows_above_it() -> None:
    """Ten minutes of 503 with Retry-After: 5 on every call: held for 5 s each time, the key was
    asked 118 times and 29 restarts spent their retries and ended server_error. From the fifth in
    a row the pause grows as after 429s in a row, the hint a floor."""
    unavailable, outcomes = virtualtime.run(_backlog_through_maintenance("5"))
    assert unavailable <= 30
    assert outcomes[Outcome.ACCEPTED] >= 190


class _RefusedDuringOutage(httpx.AsyncBaseTransport):
    """Every restart's connection refused for the first ten minutes; the rest reach the simulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Callable[[], float], refuse: bool) -> None:
        self._inner = inner
        self._clock = clock
        self._refuse = refuse
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._refuse and request.url.path.endswith("/restart") and self._clock() < 600:
            self.refused += 1
            raise httpx.ConnectError("connection refused", request=request)
        return await self._inner.handle_async_request(request)


async def _backlog_through_outage(fault: str, clusters: int = 1) -> tuple[int, Counter[Outcome], float]:
    """200 restarts queued into ten minutes of restarts failing without a hint: 503, 500, 502,
    504 without Retry-After (`fault` the status) or a refused connection (`fault` "refused").
    Returns the failed restart calls, the outcomes and when the last restart ended."""
    fixtures.quiet_logs()
    loop = asyncio.get_running_loop()
    status = 0 if fault == "refused" else int(fault)
    faults = [] if not status else [
        {"match": {"endpoint": "restart"}, "when": {"until": 600}, "action": {"status": status}}]
    scenario = fixtures.scenario([backlog_connectors(200 // clusters) for _ in range(clusters)],
                                 latency_seconds=[0.05, 0.15], faults=faults)
    simulator = Simulator(scenario, clock=loop.time)
    transport = _RefusedDuringOutage(httpx.ASGITransport(app=create_app(simulator)), loop.time, not status)
    rule = {"name": "backlog", "trigger": {"type": "schedule", "interval": "1d"}, "select": {"include": ["*"]}}
    daemon = Daemon(fixtures.config(clusters, [rule], breaker=fixtures.NO_BREAKER), transport=transport,
                    clock=loop.time, now=fixtures.wall_clock(loop), rng=random.Random(1).random)
    began = loop.time()
    await daemon.run_once()
    failed = transport.refused + sum(
        1 for call in simulator.calls if call.endpoint == "restart" and call.status_code == status)
    finished = daemon.recorder.finished_jobs
    return (failed, Counter(job.outcome for job in finished if job.outcome is not None),
            max(job.finished_at or began for job in finished) - began)


@pytest.mark.parametrize("fault", ["503", "500", "502", "504", "refused"])
def test_server_errors_without_a_hint_hold_the_restarts_until_one_is_answered(fault: str) -> None:
    """Ten minutes of every restart answered 503 (500, 502, 504) without Retry-After, or its
    connection refused, with 200 restarts queued: 800 calls in 85 s, a storm into the outage, and
    every restart ended server_error (network_error). From the fifth failure in a row the
    cluster's restarts wait, queued, one tried after each pause, which doubles up to a minute."""
    failed, outcomes, drained = virtualtime.run(_backlog_through_outage(fault))
    assert failed <= 30  # five in a row, then 1, 2, 4 ... 60 s apart over the ten minutes
    assert outcomes == Counter({Outcome.ACCEPTED: 200})
    assert drained < 600 + 60 + 30  # at most a capped pause after it is back, then 200 at 10/s


def test_an_outage_of_every_cluster_on_a_key_is_held_as_one() -> None:
    """The same outage on ten clusters of one key (20 restarts each): each cluster paid its own
    five failures and its own tries after each pause, 229 calls into the outage, and one restart
    spent its retries on them and ended server_error."""
    failed, outcomes, _ = virtualtime.run(_backlog_through_outage("503", clusters=10))
    assert failed <= 30
    assert outcomes == Counter({Outcome.ACCEPTED: 200})
