"""A restart call that got no answer: whether it may have reached the API decides what follows.

Confluent Cloud restarts the connector and every task (no onlyFailed), so a restart that may
have been made and got no answer (a read timeout, a reset after the request went) is not sent
again: it ends `unconfirmed` and the next poll judges. One the API cannot have run (no
connection made) is a network error, retried within rate_limit.max_retries. A self-managed
restart of the failed instances only is safe to repeat, and is retried either way."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import httpx

from watchdog.app import Daemon
from watchdog.engine.recorder import may_have_restarted
from watchdog.model import ConnectorKey, Outcome, RestartRequest, Trigger
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, SELF_MANAGED, daemon_config, served, sim_scenario, until
from .test_kafka_connect_workers import FAST, HEAL, PREFIX
from .test_kafka_connect_workers import simulator as self_managed_simulator

CONNECTORS = [{"name": f"c{i}", "tasks": 1} for i in range(3)]
FAST_RETRIES = {"max_retries": 2, "backoff": {"base": 0.01, "cap": 0.02}, "max_requests_per_second": 1000}


def request(connector: str, trigger: Trigger = Trigger.MANUAL) -> RestartRequest:
    """A restart by name, or (Trigger.STATUS) one the status rule HEAL asks for."""
    rule = HEAL["name"] if trigger is Trigger.STATUS else "manual"
    return RestartRequest(id=f"r-{connector}", key=ConnectorKey(CLUSTER, connector), rule=rule, trigger=trigger,
                          reason="test", requested_at=datetime.now(timezone.utc))


class _FailingRestarts(httpx.AsyncBaseTransport):
    """Restart calls raise `errors` in turn, then reach the simulator; every other call does."""

    def __init__(self, sim: Simulator, *errors: type[httpx.TransportError]) -> None:
        self._app = httpx.ASGITransport(app=create_app(sim))
        self._errors = list(errors)
        self.restarts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/restart"):
            self.restarts += 1
            if self._errors:
                raise self._errors.pop(0)("no answer", request=request)
        return await self._app.handle_async_request(request)


async def _run(daemon: Daemon, *requests: RestartRequest) -> list[Any]:
    jobs = [daemon.queue.submit(r)[0] for r in requests]
    daemon.queue.start()
    await asyncio.wait_for(daemon.queue.join(), 10)
    await daemon.stop()
    return jobs


async def test_a_cloud_restart_reset_after_it_went_is_unconfirmed_and_sent_once() -> None:
    # The simulator restarts the connector, then resets the connection instead of answering.
    # Retried as a network error, it restarted the connector at every try.
    simulator = Simulator(Scenario.model_validate(sim_scenario(CONNECTORS, faults=[
        {"match": {"endpoint": "restart"}, "action": {"reset": True}}])))
    async with served(simulator) as url:
        (job,) = await _run(Daemon(daemon_config([], base_url=url, rate_limit=FAST_RETRIES)), request("c1"))
    assert (job.outcome, job.tries) == (Outcome.UNCONFIRMED, 1)
    assert "may have reached the API; not sent again" in job.message, job.message
    assert len([c for c in simulator.calls if c.endpoint == "restart"]) == 1
    assert may_have_restarted(job)


async def test_a_cloud_restart_that_could_not_connect_is_retried_then_reported_as_not_made() -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario(CONNECTORS)))
    transport = _FailingRestarts(simulator, *[httpx.ConnectError] * 3)
    (job,) = await _run(Daemon(daemon_config([], rate_limit=FAST_RETRIES), transport=transport), request("c1"))
    assert (job.outcome, job.tries, transport.restarts) == (Outcome.NETWORK_ERROR, 3, 3)
    assert job.message == "ConnectError: no answer" and not may_have_restarted(job), job.message


async def test_a_cloud_restart_that_could_not_connect_once_is_made_on_its_retry() -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario(CONNECTORS)))
    transport = _FailingRestarts(simulator, httpx.ConnectTimeout)
    (job,) = await _run(Daemon(daemon_config([], rate_limit=FAST_RETRIES), transport=transport), request("c1"))
    assert (job.outcome, job.tries, len(simulator.restarts())) == (Outcome.ACCEPTED, 2, 1)


def _self_managed(transport: httpx.AsyncBaseTransport, **rate_limit: Any) -> Daemon:
    config = daemon_config([HEAL], backend=SELF_MANAGED, rate_limit={**FAST, **rate_limit},
                           clusters={CLUSTER: {"backend": SELF_MANAGED, "urls": [f"http://sim{PREFIX}"]}})
    return Daemon(config, transport=transport, rng=lambda: 0.5)


async def test_a_self_managed_restart_of_the_failed_instances_that_got_no_answer_is_retried_and_says_so() -> None:
    # onlyFailed selects only what is still FAILED: a repeat restarts nothing twice. Ended with no
    # answer, it says it may have been made (and holds as one that was: recorder.may_have_restarted).
    transport = _FailingRestarts(self_managed_simulator(), *[httpx.ReadError] * 4)
    (job,) = await _run(_self_managed(transport), request("billing-sink", Trigger.STATUS))
    assert (job.outcome, job.tries, transport.restarts) == (Outcome.NETWORK_ERROR, 4, 4)
    assert job.message.endswith("the last call got no answer: it may have reached the API, and the restart been made")
    assert may_have_restarted(job)


async def test_a_job_waiting_to_retry_a_call_that_got_no_answer_ends_interrupted_at_shutdown() -> None:
    """A network error proves nothing about whether the restart reached the API: stopped before
    its retry, the job ends `interrupted` now (not `unsent`, which the next start would send)."""
    transport = _FailingRestarts(self_managed_simulator(), httpx.ReadError)
    daemon = _self_managed(transport, backoff={"base": 600, "cap": 600})
    job, _ = daemon.queue.submit(request("billing-sink", Trigger.STATUS))
    daemon.state.add_pending(job.primary, job.id)
    daemon.queue.start()
    await until(lambda: job.tries == 1, "the first try failed", step=0.005)
    (pending,) = daemon.state.pending()
    assert pending.phase.value == "sending", "no answer: it may have reached the API"
    assert await daemon.queue.close(deadline=0) == []
    assert job.outcome is Outcome.INTERRUPTED
    assert daemon.state.pending() == [], "ended now, not left for the next start"
    await daemon.stop()


async def test_a_job_whose_call_could_not_connect_ends_unsent_at_shutdown() -> None:
    """No connection made proves the call never left: stopped before its retry, the job is kept
    for the next start (`unsent`), as one never tried."""
    simulator = Simulator(Scenario.model_validate(sim_scenario(CONNECTORS)))
    transport = _FailingRestarts(simulator, httpx.ConnectError)
    daemon = Daemon(daemon_config([], rate_limit={**FAST_RETRIES, "backoff": {"base": 600, "cap": 600}}),
                    transport=transport)
    job, _ = daemon.queue.submit(request("c1"))
    daemon.state.add_pending(job.primary, job.id)
    daemon.queue.start()
    await until(lambda: job.tries == 1, "the first try failed", step=0.005)
    (pending,) = daemon.state.pending()
    assert pending.phase.value == "queued", "the call never left"
    await daemon.queue.close(deadline=0)
    assert job.outcome is Outcome.UNSENT
    await daemon.stop()
