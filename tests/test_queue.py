"""The restart queue against the simulator: dedupe, retries, pauses and terminal outcomes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog

from watchdog.model import ConnectorKey, Health, Outcome, RestartRequest, Trigger
from watchdog.queue import Phase
from watchdog.simulator import Scenario, Simulator

from .support import CLUSTER, World, daemon_config, in_process, served, sim_scenario, until

CONNECTORS = [{"name": f"c{i}"} for i in range(6)] + [
    {"name": "paused", "script": {"initial": "PAUSED"}},
]
FAST_RETRIES = {"max_retries": 2, "backoff": {"base": 0.01, "cap": 0.02}, "max_requests_per_second": 1000}


def world(scenario: dict[str, Any] | None = None, **rate_limit: Any) -> World:
    config = daemon_config([], rate_limit={**FAST_RETRIES, **rate_limit})
    return in_process(scenario or sim_scenario(CONNECTORS), config)


def request(connector: str, trigger: Trigger = Trigger.MANUAL, *, dry_run: bool = False, rid: str = "r") -> RestartRequest:
    from datetime import datetime, timezone

    return RestartRequest(
        id=f"{rid}-{connector}", key=ConnectorKey(CLUSTER, connector), rule="manual", trigger=trigger,
        reason="test", requested_at=datetime.now(timezone.utc), dry_run=dry_run,
    )


async def run_jobs(w: World, *requests: RestartRequest) -> list[Any]:
    jobs = [w.daemon.queue.submit(r)[0] for r in requests]
    w.daemon.queue.start()
    await asyncio.wait_for(w.daemon.queue.join(), 10)
    await w.daemon.queue.close(0)
    return jobs


async def test_a_second_request_for_a_queued_connector_joins_it() -> None:
    w = world()
    first, merged_first = w.daemon.queue.submit(request("c1", Trigger.STATUS, rid="a"))
    second, merged_second = w.daemon.queue.submit(request("c1", Trigger.MANUAL, rid="b"))
    assert second is first and (merged_first, merged_second) == (False, True)
    await run_jobs(w)
    assert first.outcome is Outcome.ACCEPTED
    assert [r.trigger for r in first.requests] == [Trigger.STATUS, Trigger.MANUAL]
    assert len(w.simulator.restarts(connector="c1")) == 1
    assert w.total("watchdog_restarts_total", connector="c1") == 1


async def test_a_status_restart_is_dropped_if_the_connector_recovered_before_its_turn() -> None:
    w = world()
    from watchdog.model import ConnectorState

    w.daemon.state.save(ConnectorKey(CLUSTER, "c2"), ConnectorState(health=Health.HEALTHY))
    (job,) = await run_jobs(w, request("c2", Trigger.STATUS))
    assert job.outcome is Outcome.DROPPED
    assert w.simulator.restarts(connector="c2") == []


async def test_a_manual_restart_is_not_dropped_for_health() -> None:
    w = world()
    from watchdog.model import ConnectorState

    w.daemon.state.save(ConnectorKey(CLUSTER, "c2"), ConnectorState(health=Health.HEALTHY))
    (job,) = await run_jobs(w, request("c2", Trigger.MANUAL))
    assert job.outcome is Outcome.ACCEPTED


async def test_server_errors_are_retried_a_bounded_number_of_times() -> None:
    w = world(sim_scenario(CONNECTORS, faults=[{"match": {"endpoint": "restart"}, "action": {"status": 503}}]))
    (job,) = await run_jobs(w, request("c1"))
    assert job.outcome is Outcome.SERVER_ERROR and job.tries == 3
    assert len([c for c in w.simulator.calls if c.endpoint == "restart"]) == 3


@pytest.mark.parametrize("status", [500, 408])
async def test_a_transient_5xx_then_success_is_accepted(status: int) -> None:
    # 408: the request did not arrive whole, nothing was done with it (RFC 9110 15.5.9): it
    # ended `rejected` for good before, the restart lost.
    w = world(sim_scenario(CONNECTORS, faults=[{"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"status": status}}]))
    (job,) = await run_jobs(w, request("c1"))
    assert (job.outcome, job.tries) == (Outcome.ACCEPTED, 2)


async def test_a_503_that_says_retry_after_is_tried_again_no_sooner() -> None:
    """A gateway in maintenance: 503 and Retry-After: 1. Our own backoff (10 to 20 ms here) would
    spend the job's two retries within 50 ms and end it `server_error`; the server said a second."""
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 2}, "action": {"status": 503, "headers": {"Retry-After": "1"}}}]
    w = world(sim_scenario(CONNECTORS, faults=faults))
    with structlog.testing.capture_logs() as logs:
        (job,) = await run_jobs(w, request("c1"))
    assert (job.outcome, job.tries) == (Outcome.ACCEPTED, 3)
    times = [c.t for c in w.simulator.calls if c.endpoint == "restart"]
    assert len(times) == 3 and all(b - a >= 0.95 for a, b in zip(times, times[1:])), times
    scheduled = [e for e in logs if e["event"] == "restart_retry_scheduled"]
    assert [(e["status_code"], e["source"], e["delay_seconds"]) for e in scheduled] == [(503, "retry_after", 1.0)] * 2


async def test_connectors_waiting_to_retry_do_not_hold_the_other_restarts_of_their_key() -> None:
    """Four connectors whose restarts are answered 503 with Retry-After: 30 (as many as the key
    has workers, max_concurrent_requests) waited their retries out on the workers, and the
    restart of a fifth, healthy one waited with them (up to 15 minutes at max_pause, three
    times), though nothing paused the key. It goes at once; the four are still tried again."""
    faults = [{"match": {"endpoint": "restart", "connector": f"c{i}"}, "action": {"status": 503, "headers": {"Retry-After": "30"}}}
              for i in range(4)]
    w = world(sim_scenario(CONNECTORS, faults=faults), max_concurrent_requests=4)
    waiting = [w.daemon.queue.submit(request(f"c{i}"))[0] for i in range(4)]
    healthy, _ = w.daemon.queue.submit(request("c4"))
    w.daemon.queue.start()
    await asyncio.wait_for(healthy.done.wait(), 5)
    assert healthy.outcome is Outcome.ACCEPTED
    assert all(job.tries == 1 and job.outcome is None for job in waiting), "each waits for its retry"
    assert await w.daemon.queue.close(0) == waiting, "answered, not yet tried again: unsent, kept"


async def test_a_retry_after_longer_than_max_pause_is_capped_there() -> None:
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"status": 503, "headers": {"Retry-After": "3600"}}}]
    w = world(sim_scenario(CONNECTORS, faults=faults), max_pause=1)
    with structlog.testing.capture_logs() as logs:
        (job,) = await run_jobs(w, request("c1"))
    assert (job.outcome, job.tries) == (Outcome.ACCEPTED, 2)
    (scheduled,) = [e for e in logs if e["event"] == "restart_retry_scheduled"]
    assert (scheduled["source"], scheduled["delay_seconds"]) == ("retry_after", 1.0)


async def test_a_5xx_without_retry_after_backs_off_on_our_own_schedule() -> None:
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"status": 500}}]
    w = world(sim_scenario(CONNECTORS, faults=faults))
    with structlog.testing.capture_logs() as logs:
        await run_jobs(w, request("c1"))
    (scheduled,) = [e for e in logs if e["event"] == "restart_retry_scheduled"]
    assert scheduled["source"] == "backoff" and scheduled["delay_seconds"] <= 0.01  # base 0.01, first retry


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(400, Outcome.REJECTED), (401, Outcome.UNAUTHORIZED), (403, Outcome.FORBIDDEN), (404, Outcome.NOT_FOUND)],
)
async def test_client_errors_are_never_retried(status: int, outcome: Outcome) -> None:
    w = world(sim_scenario(CONNECTORS, faults=[{"match": {"endpoint": "restart"}, "action": {"status": status}}]))
    (job,) = await run_jobs(w, request("c1"))
    assert (job.outcome, job.tries) == (outcome, 1)


async def test_restart_of_a_paused_connector_is_rejected_once() -> None:
    w = world()
    (job,) = await run_jobs(w, request("paused"))
    assert (job.outcome, job.status_code, job.tries) == (Outcome.REJECTED, 400, 1)


async def test_dry_run_decides_without_calling() -> None:
    w = world()
    (job,) = await run_jobs(w, request("c1", dry_run=True))
    assert job.outcome is Outcome.DRY_RUN
    assert w.simulator.calls == []


async def test_a_live_request_makes_a_merged_dry_run_job_live() -> None:
    w = world()
    job, _ = w.daemon.queue.submit(request("c1", dry_run=True, rid="a"))
    w.daemon.queue.submit(request("c1", dry_run=False, rid="b"))
    await run_jobs(w)
    assert job.outcome is Outcome.ACCEPTED


async def test_withdrawing_every_request_cancels_the_job() -> None:
    w = world()
    job, _ = w.daemon.queue.submit(request("c1", Trigger.ALERT))
    removed = w.daemon.queue.withdraw(job.key, lambda r: r.trigger is Trigger.ALERT)
    assert len(removed) == 1 and job.outcome is Outcome.CANCELLED
    assert not w.daemon.queue.is_pending(job.key)
    assert w.total("watchdog_restarts_total", connector="c1", outcome="cancelled") == 1


async def test_a_429_pauses_every_queued_request() -> None:
    scenario = sim_scenario(CONNECTORS, rate_limit={"limit": 3, "window_seconds": 1})
    w = world(scenario)
    jobs = await run_jobs(w, *(request(f"c{i}") for i in range(6)))
    assert all(job.outcome is Outcome.ACCEPTED for job in jobs)
    calls = w.simulator.calls
    refused = [c for c in calls if c.status_code == 429]
    # A restart a pause held is judged on a listing made after it (restarts by name too, since
    # tests/test_alert_after_pause.py): that one list call takes a unit of the 3-per-second window
    # the three restarts left go in, so the last of them may meet the limit once more. Before,
    # no listing, and a single 429.
    lists = [c for c in calls if c.endpoint == "list"]
    assert len(refused) <= 1 + len(lists) and len(lists) <= len(refused), (refused, lists)
    # The simulator's window is aligned whole seconds, so its Retry-After (whole seconds, rounded
    # up) is at least 1: each pause ends no earlier than 1 s after its 429 arrived.
    for each in refused:
        after = [c for c in calls if c.t > each.t]
        assert after and all(c.t >= each.t + 1.0 for c in after), "nobody went before the pause ended"


async def test_shutdown_deadline_leaves_the_rest_unsent_and_counted() -> None:
    scenario = sim_scenario(CONNECTORS, faults=[{"match": {"endpoint": "restart"}, "action": {"status": 429, "headers": {"Retry-After": "30"}}}])
    w = world(scenario)
    jobs = [w.daemon.queue.submit(request(f"c{i}"))[0] for i in range(4)]
    w.daemon.queue.start()
    await until(lambda: any(c.status_code == 429 for c in w.simulator.calls), "the first try answered 429", step=0.005)
    unsent = await w.daemon.queue.close(deadline=0.1)
    assert {job.outcome for job in jobs} == {Outcome.UNSENT}
    assert len(unsent) == 4
    assert w.total("watchdog_restarts_total", outcome="unsent") == 4
    assert all(job.phase is Phase.DONE for job in jobs)


async def test_a_hurried_close_ends_the_wait_for_the_deadline_at_once() -> None:
    # A second SIGTERM or Ctrl-C (Daemon.hurry): queued restarts waiting out a 429's pause end
    # `unsent` now, kept for the next start, rather than at a deadline a minute away.
    scenario = sim_scenario(CONNECTORS, faults=[{"match": {"endpoint": "restart"}, "action": {"status": 429, "headers": {"Retry-After": "30"}}}])
    w = world(scenario)
    jobs = [w.daemon.queue.submit(request(f"c{i}"))[0] for i in range(2)]
    w.daemon.queue.start()
    await until(lambda: any(c.status_code == 429 for c in w.simulator.calls), "the first try answered 429", step=0.005)
    closing = asyncio.create_task(w.daemon.queue.close(deadline=60))
    await asyncio.sleep(0.05)
    assert not closing.done(), "the drain waits for the deadline"
    w.daemon.queue.hurry()
    unsent = await asyncio.wait_for(closing, timeout=5)
    assert {job.outcome for job in jobs} == {Outcome.UNSENT} and len(unsent) == 2


async def test_a_job_ends_exactly_once() -> None:
    w = world()
    # Ended before its turn: the worker that takes it from the lane later sends nothing.
    cancelled, _ = w.daemon.queue.submit(request("c1", Trigger.ALERT))
    assert len(w.daemon.queue.withdraw(cancelled.key, lambda r: True)) == 1
    (accepted,) = await run_jobs(w, request("c2"))  # also closes the queue: nothing ends twice
    assert w.daemon.queue.withdraw(accepted.key, lambda r: True) == [], "an ended job cannot be cancelled"
    assert (cancelled.outcome, accepted.outcome) == (Outcome.CANCELLED, Outcome.ACCEPTED)
    assert w.simulator.restarts(connector="c1") == [] and len(w.simulator.restarts(connector="c2")) == 1
    assert w.total("watchdog_restarts_total", connector="c1") == 1
    assert w.total("watchdog_restarts_total", connector="c2") == 1
    assert [job.outcome for job in w.daemon.recorder.finished_jobs] == [Outcome.CANCELLED, Outcome.ACCEPTED]


async def test_an_answer_while_stopping_leaves_the_retry_to_the_next_start() -> None:
    """A 503 that arrives after the shutdown began: the job is not ended `server_error` (its retry
    is due), but `unsent`, and its request stays queued in the state store for the next start."""
    scenario = sim_scenario(CONNECTORS, faults=[{"match": {"endpoint": "restart"}, "when": {"count": 1},
                                                 "action": {"status": 503, "delay_seconds": 0.5}}])
    w = world(scenario)
    job, _ = w.daemon.queue.submit(request("c1"))
    w.daemon.state.add_pending(job.primary, job.id)
    w.daemon.queue.start()
    await until(lambda: job.phase is Phase.SENDING, "the call is on the wire", step=0.005)
    unsent = await w.daemon.queue.close(deadline=0, in_flight_grace=30)
    assert unsent == [job] and job.outcome is Outcome.UNSENT and job.status_code == 503
    (pending,) = w.daemon.state.pending()
    assert pending.phase.value == "queued"


async def test_an_answered_job_waiting_for_its_retry_is_unsent_and_queued_at_shutdown() -> None:
    scenario = sim_scenario(CONNECTORS, faults=[{"match": {"endpoint": "restart"}, "when": {"count": 1},
                                                 "action": {"status": 503}}])
    w = world(scenario, backoff={"base": 600, "cap": 600})  # the retry is far away: the shutdown comes first
    job, _ = w.daemon.queue.submit(request("c1"))
    w.daemon.state.add_pending(job.primary, job.id)
    w.daemon.queue.start()
    await until(lambda: job.tries == 1, "the first try was answered", step=0.005)
    (pending,) = w.daemon.state.pending()
    assert pending.phase.value == "queued", "answered: off the wire, sent at the next start"
    assert await w.daemon.queue.close(deadline=0) == [job] and job.outcome is Outcome.UNSENT


async def test_closed_queue_refuses_new_work() -> None:
    from watchdog.queue import QueueClosed

    w = world()
    await w.daemon.queue.close(0)
    with pytest.raises(QueueClosed):
        w.daemon.queue.submit(request("c1"))


async def test_a_replica_that_loses_the_lead_as_an_answer_arrives_still_stands_by() -> None:
    # The workers wait for the key's budget (a 429 paused it) inside asyncio.wait_for, which in
    # Python 3.11 swallows a cancellation that comes as what it awaits completes: an answer that
    # wakes the limiter in the same step as the loss of the lead. Cancelled once, a worker went
    # on, and abandon() waited for it for good (the replica never stood by nor campaigned again).
    faults = [{"match": {"endpoint": "restart", "connector": "c0"}, "when": {"count": 1},
               "action": {"status": 429, "headers": {"Retry-After": "2"}}}]
    w = world(sim_scenario(CONNECTORS, faults=faults), max_concurrent_requests=2)
    jobs = [w.daemon.queue.submit(request(f"c{i}"))[0] for i in range(3)]
    w.daemon.queue.start()
    await until(lambda: jobs[0].rate_limited == 1, "the key paused by a 429")
    await until(lambda: all(job.phase is Phase.WAITING for job in jobs[:2]), "two workers wait for budget")

    w.daemon.queue.may_send = lambda: "this replica is not the leader"
    w.daemon.gateways["main"].limiter._answered.set()  # an answer wakes the limiter in this very step
    left = await asyncio.wait_for(w.daemon.queue.abandon("lost the lead"), 5)

    assert left == 3
    assert [c for c in w.simulator.calls if c.endpoint == "restart" and c.connector != "c0"] == []


async def test_standing_by_counts_the_restarts_left_one_by_one_before_it() -> None:
    # A worker whose job the lease refused (the renew deadline passed, a write was fenced) leaves
    # that job to the leader at once, before the replica stands by. `standing_by` said
    # restarts_left_to_leader=0 after three had been left so: it counted only those still
    # pending when abandon() ran.
    w = world()
    jobs = [w.daemon.queue.submit(request(f"c{i}"))[0] for i in range(3)]
    w.daemon.queue.may_send = lambda: "the lease was not renewed in time"
    w.daemon.queue.start()
    await until(lambda: all(job.done.is_set() for job in jobs), "each job left to the leader")
    assert w.daemon.queue.depth() == 0

    assert await asyncio.wait_for(w.daemon.queue.abandon("lost the lead"), 5) == 3
    assert [c for c in w.simulator.calls if c.endpoint == "restart"] == []

    # Counted per term: leading again and standing by again with nothing left says 0.
    w.daemon.queue.may_send = lambda: None
    w.daemon.queue.start()
    assert await asyncio.wait_for(w.daemon.queue.abandon("lost the lead"), 5) == 0


async def test_an_error_recommendations_endpoint_that_hangs_costs_the_restarts_one_short_wait() -> None:
    # fetch_recommendations asks before each failure restart, on the key's lane. An endpoint that
    # answered 8 s late (or never: up to api.timeouts.total, 30 s) cost each restart that wait, one
    # after another (calls go one at a time until a limit is known): 5 asks of 8 s before the 5
    # restarts, and the polls of every cluster on the key waited behind them. Now one ask of at most 5 s, then the cluster's
    # restarts go without asking (recommendations_paused) for 10 minutes.
    connectors = [{"name": f"failed-{i}", "script": {"initial": "FAILED", "recover_after_restarts": 1}} for i in range(5)]
    connectors += [{"name": f"fine-{i}"} for i in range(20)]  # below the fleet breaker's share
    faults = [{"match": {"endpoint": "error_recommendations"}, "action": {"delay_seconds": 8}}]
    simulator = Simulator(Scenario.model_validate(sim_scenario(connectors, faults=faults)))
    rule = {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
            "select": {"include": ["*"]}, "fetch_recommendations": True}
    async with served(simulator) as url:
        from watchdog.app import Daemon

        daemon = Daemon(daemon_config([rule], base_url=url))
        daemon.queue.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with structlog.testing.capture_logs() as logs:
            await daemon.pollers[CLUSTER].poll()
            await asyncio.wait_for(daemon.queue.join(), 60)
        took = loop.time() - started
        await daemon.stop()

    asked = [c for c in simulator.calls if c.endpoint == "error_recommendations"]
    assert len(asked) == 1, f"{len(asked)} asks"
    assert len(simulator.restarts()) == 5 and took < 7.5, f"the restarts went out {took:.1f} s after the poll"
    assert [e["event"] for e in logs if e["event"] == "recommendations_paused"] == ["recommendations_paused"]
