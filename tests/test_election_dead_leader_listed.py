"""A Connect cluster electing a new leader while the dead leader is still listed in `urls:` (the
normal case: every worker is listed). The follower answers every restart 500 "IO Error trying to
forward REST request: java.net.ConnectException" and the dead leader refuses the connection: no
worker ran it. Found against real 4.3.1 workers (2026-12-06): once the follower became the worker
asked first, the dead leader was asked last and its refused connection ended each try a network
error "may have been made": the tries spent rate_limit.max_retries within 5 s of the kill, before
the new leader answered (10 s), and the restart by name asked again was refused
`recently_restarted`. Now such a try is between leaders and not run (queue/election.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.connect.kafka_connect import NONE_RAN, KafkaConnectBackend
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.queue.dispatch import NO_ANSWER_NOTE
from watchdog.simulator import Simulator, create_app

from .support import CLUSTER, SELF_MANAGED, daemon_config
from .test_kafka_connect_workers import FAST, HEAL, LEADER_REFUSED, PREFIX, simulator

FOLLOWER, DEAD = f"http://follower{PREFIX}", f"http://dead{PREFIX}"
# A forward that may have reached the leader before it broke: the leader may have run it.
FORWARD_TIMED_OUT = {"error_code": 500, "message": "IO Error trying to forward REST request: "
                                                   "java.util.concurrent.TimeoutException: Total timeout 90000 ms elapsed"}


class _DeadLeader(httpx.AsyncBaseTransport):
    """Host `dead` refuses every connection; the follower answers its first `times` restarts with
    `answer` (or raises it), then reaches the simulator (a new leader was elected)."""

    def __init__(self, sim: Simulator, answer: dict[str, Any] | Exception, times: int) -> None:
        self._app = httpx.ASGITransport(app=create_app(sim))
        self._answer, self.left = answer, times
        self.asked: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/restart"):
            self.asked.append(request.url.host)
        if request.url.host == "dead":
            raise httpx.ConnectError("All connection attempts failed", request=request)
        if request.url.path.endswith("/restart") and self.left:
            self.left -= 1
            if isinstance(self._answer, Exception):
                raise self._answer
            return httpx.Response(self._answer["error_code"], json=self._answer)
        return await self._app.handle_async_request(request)


def _daemon(transport: httpx.AsyncBaseTransport, urls: list[str]) -> Daemon:
    config = daemon_config([HEAL], backend=SELF_MANAGED, rate_limit={**FAST, "max_retries": 3},
                           clusters={CLUSTER: {"backend": SELF_MANAGED, "urls": urls}})
    return Daemon(config, transport=transport, rng=lambda: 0.5)


async def _manual(d: Daemon, name: str = "orders-source") -> Any:
    statuses = await d.pollers[CLUSTER].list()
    assert statuses is not None
    return d.engine.on_request(ConnectorKey(CLUSTER, name), statuses[name], trigger=Trigger.MANUAL,
                               rule=MANUAL_RULE, reason="test")


@pytest.mark.parametrize("urls", [[FOLLOWER, DEAD], [DEAD, FOLLOWER]], ids=["follower-first", "leader-first"])
async def test_a_restart_asked_while_the_listed_leader_is_dead_is_made_once_a_new_one_leads(urls: list[str]) -> None:
    # Six answers of the election (more than max_retries 3 could cover), then the new leader.
    sim = simulator()
    transport = _DeadLeader(sim, LEADER_REFUSED, times=6)
    d = _daemon(transport, urls)
    d.queue.start()
    with capture_logs() as logs:
        record = await _manual(d)
        await asyncio.wait_for(d.queue.join(), 20)
    await d.stop()

    job = record.job
    assert job is not None and (job.outcome, job.status_code) == (Outcome.ACCEPTED, 202), job and job.message
    assert job.failures == 0, "no try spent rate_limit.max_retries"
    assert len(sim.restarts(connector="orders-source")) == 1, "made once"
    retries = [e for e in logs if e["event"] == "restart_retry_scheduled"]
    assert [(e["outcome"], e["status_code"], e.get("between_leaders")) for e in retries] == [
        ("server_error", 500, True)] * 6


async def test_an_election_that_outlasts_the_bounds_ends_not_run_and_does_not_hold_the_next_restart_by_name() -> None:
    sim = simulator()
    transport = _DeadLeader(sim, LEADER_REFUSED, times=1000)
    d = _daemon(transport, [FOLLOWER, DEAD])
    d.queue.start()
    first = await _manual(d)
    await asyncio.wait_for(d.queue.join(), 30)
    job = first.job

    assert job is not None and (job.outcome, job.status_code) == (Outcome.SERVER_ERROR, 500), job and job.message
    assert NONE_RAN in job.message and "the cluster had no leader to run it for" in job.message
    assert "may have been made" not in job.message and NO_ANSWER_NOTE not in job.message
    # Nothing was made: the operator asking again is not refused `recently_restarted`.
    again = await _manual(d)
    await d.stop()
    assert (again.decision.value, again.detail) == ("restart", "")
    assert sim.restarts(connector="orders-source") == []


@pytest.mark.parametrize("answer", [
    httpx.ReadTimeout("timed out"),  # the request was sent, no answer came
    FORWARD_TIMED_OUT,  # the follower's forward may have reached the leader
], ids=["read-timeout", "forward-timed-out"])
async def test_a_worker_that_may_have_run_it_keeps_the_may_have_been_made_note(answer: Any) -> None:
    sim = simulator()
    http = httpx.AsyncClient(transport=_DeadLeader(sim, answer, times=1000), timeout=30)
    result = await KafkaConnectBackend(http, [FOLLOWER, DEAD]).restart("orders-source")

    assert (result.outcome, result.status_code) == (Outcome.NETWORK_ERROR, None), result
    assert not result.between_leaders and not result.not_run
