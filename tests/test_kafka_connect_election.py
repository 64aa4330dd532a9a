"""A self-managed Connect cluster electing a new leader: its followers answer every restart 500
"IO Error trying to forward REST request: java.net.ConnectException" (then maybe 409) until the
group has one, 12 s after kill -9 of the leader with Kafka's default session.timeout.ms (real
4.3.1 workers: tests/e2e/kafka). Such a restart is tried again for the election without spending
rate_limit.max_retries, within bounds (watchdog/queue/election.py)."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.queue import election
from watchdog.queue.election import ELECTION_TRIES
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, SELF_MANAGED, daemon_config, sim_scenario
from .test_kafka_connect_workers import FAST, HEAL, LEADER_REFUSED, PREFIX, _Answering, simulator

# 409s Kafka Connect's HerderRequestHandler answers while the group rebalances (nothing run).
NO_LEADER_URL = {"error_code": 409, "message": "Cannot complete request momentarily due to no known leader URL, "
                                               "likely because a rebalance was underway."}


class _Electing(httpx.AsyncBaseTransport):
    """Restarts get `answers` in turn, then reach the simulator (the new leader took over);
    `clock` (an offset to the real clock) moves `tick` seconds on at each of them."""

    def __init__(self, sim: Simulator, answers: list[dict[str, Any]], clock: list[float] | None = None,
                 tick: float = 0.0) -> None:
        self._app = httpx.ASGITransport(app=create_app(sim))
        self._answers, self._clock, self._tick = list(answers), clock, tick
        self.restarts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/restart"):
            self.restarts += 1
            if self._clock is not None:
                self._clock[0] += self._tick
            if self._answers:
                body = self._answers.pop(0)
                return httpx.Response(body["error_code"], json=body)
        return await self._app.handle_async_request(request)


def _daemon(transport: httpx.AsyncBaseTransport, clock: list[float] | None = None, jitter: float = 0.5,
            **rate_limit: Any) -> Daemon:
    config = daemon_config([HEAL], backend=SELF_MANAGED, rate_limit={**FAST, **rate_limit},
                           clusters={CLUSTER: {"backend": SELF_MANAGED, "urls": [f"http://sim{PREFIX}"]}})
    if clock is None:
        return Daemon(config, transport=transport, rng=lambda: jitter)
    # Real time goes on too: the pauses of the restart hold are waited out on the event loop.
    return Daemon(config, transport=transport, rng=lambda: jitter, clock=lambda: time.monotonic() + clock[0])


async def _restart_all(d: Daemon, *names: str, timeout: float = 20) -> list[Any]:
    """A manual restart (of every instance: not safe to repeat) of each of `names`, run to its end."""
    d.queue.start()
    statuses = await d.pollers[CLUSTER].list()
    assert statuses is not None
    records = [d.engine.on_request(ConnectorKey(CLUSTER, name), statuses[name], trigger=Trigger.MANUAL,
                                   rule=MANUAL_RULE, reason="test") for name in names]
    await asyncio.wait_for(d.queue.join(), timeout)
    await d.stop()
    return [record.job for record in records]


async def test_a_restart_asked_while_the_cluster_elects_a_leader_is_made_once_it_has_one() -> None:
    # Eight answers of a cluster between leaders, then the new leader: the restart spent its three
    # retries on the first four and ended server_error, "not run", never made.
    sim = simulator()
    transport = _Electing(sim, [LEADER_REFUSED] * 6 + [NO_LEADER_URL] * 2)
    with capture_logs() as logs:
        [job] = await _restart_all(_daemon(transport), "orders-source")

    assert job is not None and (job.outcome, job.status_code) == (Outcome.ACCEPTED, 202), job and job.message
    assert (job.tries, job.failures, transport.restarts) == (9, 0, 9)
    assert len(sim.restarts(connector="orders-source")) == 1, "made once"
    retries = [e for e in logs if e["event"] == "restart_retry_scheduled"]
    assert [(e["status_code"], e["between_leaders"]) for e in retries] == [(500, True)] * 6 + [(409, True)] * 2


async def test_a_cluster_that_elects_no_leader_ends_the_restart_after_a_bounded_number_of_calls() -> None:
    sim = simulator()
    transport = _Electing(sim, [LEADER_REFUSED] * 100)
    with capture_logs() as logs:
        [job] = await _restart_all(_daemon(transport, max_retries=3), "orders-source")

    assert job is not None and (job.outcome, job.status_code) == (Outcome.SERVER_ERROR, 500)
    # The first call, ELECTION_TRIES that spend nothing, then max_retries as any server error.
    assert transport.restarts == job.tries == 1 + ELECTION_TRIES + 3
    assert "it was not run" in job.message and "the cluster had no leader to run it for" in job.message
    assert f"({ELECTION_TRIES} tries while it was elected, then rate_limit.max_retries)" in job.message
    retries = [e for e in logs if e["event"] == "restart_retry_scheduled"]
    assert [e.get("between_leaders", False) for e in retries] == [True] * ELECTION_TRIES + [False] * 3
    [finished] = [e for e in logs if e["event"] == "restart_finished"]
    assert finished["message"] == job.message and finished["tries"] == 1 + ELECTION_TRIES + 3


async def test_the_tries_of_an_election_come_within_a_few_seconds_of_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    # On the backoff's own doubling, the sixth try of a real election came 31 s after the fifth,
    # and the restart was made 30 s after the new leader answered. Here the cap is 20 ms (8 s in
    # production), the backoff's 1 ms doubling: the eighth wait would be 128 ms.
    monkeypatch.setattr(election, "ELECTION_DELAY_CAP", 0.02)
    transport = _Electing(simulator(), [LEADER_REFUSED] * 8)
    with capture_logs() as logs:
        [job] = await _restart_all(_daemon(transport, jitter=1.0, backoff={"base": 0.001, "cap": 60}), "orders-source")

    assert job is not None and job.outcome is Outcome.ACCEPTED
    delays = [e["delay_seconds"] for e in logs if e["event"] == "restart_retry_scheduled"]
    assert delays == [0.001, 0.002, 0.004, 0.008, 0.016, 0.02, 0.02, 0.02], delays


async def test_an_election_longer_than_a_minute_is_taken_for_a_cluster_that_elects_none() -> None:
    # 15 s pass at each answer (the queue's clock): four answers within the first minute are tried
    # again without spending max_retries, the ones after it spend them.
    clock = [0.0]
    transport = _Electing(simulator(), [LEADER_REFUSED] * 100, clock, tick=15.0)
    [job] = await _restart_all(_daemon(transport, clock, max_retries=3), "orders-source")

    assert job is not None and job.outcome is Outcome.SERVER_ERROR
    assert (transport.restarts, job.failures) == (4 + 4, 4)
    assert "no leader to run it for 105 s (4 tries while it was elected" in job.message


async def test_restarts_queued_during_an_election_are_held_not_sent_in_a_storm() -> None:
    # 40 restarts of every instance queued while the cluster elects (its answers "not run" for
    # about a second): the cluster's restart hold (ratelimit/outage.py) lets one through at a time
    # once five calls in a row failed, so the election is asked far fewer times than there are
    # restarts, and each is made once after it.
    names = [f"c{i:02d}" for i in range(40)]
    sim = Simulator(Scenario.model_validate(sim_scenario(
        [{"name": name, "tasks": 1} for name in names], SELF_MANAGED)))
    transport = _Elapsing(sim, seconds=1.0)
    jobs = await _restart_all(_daemon(transport), *names, timeout=30)

    assert all(job is not None and job.outcome is Outcome.ACCEPTED for job in jobs), {
        job.key.connector: job.message for job in jobs if job is not None and job.outcome is not Outcome.ACCEPTED}
    assert sorted(c.connector for c in sim.restarts()) == names, "each made once"
    assert transport.refused < len(names), f"{transport.refused} calls into the election for {len(names)} restarts"


class _Elapsing(httpx.AsyncBaseTransport):
    """Restarts are answered LEADER_REFUSED for `seconds` from the first one, then reach the
    simulator."""

    def __init__(self, sim: Simulator, seconds: float) -> None:
        self._app = httpx.ASGITransport(app=create_app(sim))
        self._seconds = seconds
        self._until: float | None = None
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/restart"):
            now = asyncio.get_running_loop().time()
            self._until = now + self._seconds if self._until is None else self._until
            if now < self._until:
                self.refused += 1
                return httpx.Response(500, json=copy.deepcopy(LEADER_REFUSED))
        return await self._app.handle_async_request(request)


@pytest.mark.parametrize("answer", [LEADER_REFUSED, NO_LEADER_URL])
async def test_a_confluent_cloud_answer_so_worded_spends_max_retries_as_before(answer: dict[str, Any]) -> None:
    # Only Kafka Connect's client says a cluster is between leaders: Confluent Cloud's answers
    # are retried as they were, whatever their words.
    sim = Simulator(Scenario.model_validate(sim_scenario([{"name": "c1"}])))
    sim.set_faults([{"match": {"endpoint": "restart"},
                     "action": {"status": answer["error_code"], "body": answer["message"]}}])
    d = Daemon(daemon_config([], rate_limit={**FAST, "max_retries": 3}), transport=httpx.ASGITransport(app=create_app(sim)))
    [job] = await _restart_all(d, "c1")

    assert job is not None and job.leaderless is None
    assert job.tries == (4 if answer is LEADER_REFUSED else 1)
    assert len([c for c in sim.calls if c.endpoint == "restart"]) == job.tries



@pytest.mark.parametrize(("answer", "between"), [
    (httpx.Response(409, json=NO_LEADER_URL), True),
    (httpx.Response(500, json=LEADER_REFUSED), True),
    (httpx.Response(409, headers={"Content-Type": "text/html"}, content=b"<html><body>409 Conflict</body></html>"), False),
    (httpx.Response(500, json={"error_code": 500, "message": "Request timed out"}), False),
], ids=["connect-409", "forward-refused", "proxy-409", "timed-out"])
async def test_only_connects_own_answers_that_nothing_ran_say_the_cluster_is_between_leaders(
    answer: httpx.Response, between: bool
) -> None:
    sim = simulator()
    transport = _Answering(sim, answer, suffix="/restart")
    http = httpx.AsyncClient(transport=transport, timeout=30)
    result = await KafkaConnectBackend(http, [f"http://sim{PREFIX}"]).restart("orders-source")

    assert result.between_leaders is between and not result.ok
