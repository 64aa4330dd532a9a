"""A cluster whose API answers only server errors without a hint: its restarts wait, queued
(ratelimit/outage.py RestartHold, queue/dispatch.py), its polls go on, and the first answer that
shows the API back lets them go."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from watchdog.config import RateLimitSettings
from watchdog.model import Outcome
from watchdog.ratelimit.outage import SERVER_ERRORS_IN_A_ROW, RestartHold

from .support import CLUSTER, sim_scenario, until
from .test_queue import CONNECTORS, request, world

# Long pauses: what ends a hold in these tests is an answer, never the pause running out.
SLOW_HOLD = {"max_retries": 3, "backoff": {"base": 30, "cap": 60}, "max_requests_per_second": 1000}


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _hold() -> tuple[RestartHold, _Clock]:
    clock = _Clock()
    return RestartHold(RateLimitSettings.model_validate({"backoff": {"base": 1, "cap": 8}}), clock, lambda: 1.0), clock


def _fail(hold: RestartHold, times: int, *, restart: bool = True) -> list[Any]:
    """Failed calls of cluster "c": what each did to the cluster's hold."""
    return [dict(hold.on_call("c", restart=restart, failed=True)).get("c") for _ in range(times)]


def _answered(hold: RestartHold, cluster: str = "c", *, restart: bool) -> Any:
    return dict(hold.on_call(cluster, restart=restart, failed=False)).get(cluster)


def test_restarts_are_held_from_the_fifth_failure_in_a_row_and_the_pause_doubles_to_its_cap() -> None:
    hold, clock = _hold()
    assert _fail(hold, SERVER_ERRORS_IN_A_ROW - 1) == [None] * (SERVER_ERRORS_IN_A_ROW - 1)
    assert hold.wait("c") == 0.0, "four failures are a few connectors' own trouble"
    pauses = []
    for _ in range(6):
        (change,) = _fail(hold, 1)
        pauses.append(change.pause)
        assert hold.wait("c", caller="other") == change.pause, "held: nothing goes before the pause ends"
        clock.now += change.pause
    assert pauses == [1, 2, 4, 8, 8, 8]


def test_a_failure_during_a_pause_neither_lengthens_nor_doubles_it() -> None:
    """Polls failing every 5 s during the pause held restarts for good otherwise."""
    hold, clock = _hold()
    _fail(hold, SERVER_ERRORS_IN_A_ROW)
    clock.now += 0.5
    assert _fail(hold, 3, restart=False) == [None] * 3
    assert hold.wait("c") == 0.5


def test_after_a_pause_one_restart_goes_and_the_others_wait_for_its_answer() -> None:
    hold, clock = _hold()
    _fail(hold, SERVER_ERRORS_IN_A_ROW)
    clock.now += 1
    assert hold.wait("c", caller="probe") == 0.0
    assert hold.wait("c", caller="probe") == 0.0, "the probe itself goes (asked again right before its call)"
    assert hold.wait("c", caller="next") > 0.0
    (change,) = _fail(hold, 1)
    assert change.kind == "held" and hold.wait("c", caller="next") == 2.0


def test_a_poll_answered_ends_the_hold_only_if_polls_failed_in_it_too() -> None:
    """A restart endpoint failing behind a list that works: a poll every 5 s ending the hold let
    five more restarts into the outage each time. When polls failed too, the API is back."""
    hold, _ = _hold()
    _fail(hold, SERVER_ERRORS_IN_A_ROW)
    assert _answered(hold, restart=False) is None
    assert hold.held("c")
    ended = _answered(hold, restart=True)
    assert ended is not None and ended.kind == "ended" and not hold.held("c")

    _fail(hold, 2)
    _fail(hold, SERVER_ERRORS_IN_A_ROW - 2, restart=False)
    ended = _answered(hold, restart=False)
    assert ended is not None and ended.kind == "ended" and hold.wait("c", caller="any") == 0.0


def test_a_cluster_failing_while_the_others_answer_is_held_alone() -> None:
    """One region's outage: the key's other clusters answer, and neither end its hold nor
    are held with it."""
    hold, _ = _hold()
    for _ in range(SERVER_ERRORS_IN_A_ROW):
        _fail(hold, 1)
        _answered(hold, "other", restart=True)
    assert hold.wait("c") > 0 and hold.wait("other") == 0.0


def test_failures_in_a_row_across_the_key_hold_every_cluster_of_it() -> None:
    """Confluent Cloud out: ten clusters on one key each paid their own five failures and their
    own tries (229 calls where one cluster made 23). Five in a row across the key hold them all."""
    hold, clock = _hold()
    for index in range(SERVER_ERRORS_IN_A_ROW):
        hold.on_call(f"c{index}", restart=True, failed=True)
    assert all(hold.wait(f"c{index}") > 0 for index in range(10))
    clock.now += 1
    assert hold.wait("c7", caller="probe") == 0.0 and hold.wait("c1", caller="next") > 0, "one try for the key"
    assert _answered(hold, "c7", restart=True) is None, "c7 was never held on its own"
    assert all(hold.wait(f"c{index}", caller="any") == 0 for index in range(10))


async def test_the_first_poll_answered_after_an_outage_sends_the_held_restarts_at_once() -> None:
    """The whole API out (lists and restarts answered 503 without Retry-After): after five failed
    restarts the others wait, queued, and polls go on; the first poll answered lets them all go,
    without waiting out the pause (30 to 60 s here)."""
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": SERVER_ERRORS_IN_A_ROW}, "action": {"status": 503}},
              {"match": {"endpoint": "list"}, "when": {"count": 2}, "action": {"status": 503}}]
    w = world(sim_scenario(CONNECTORS, faults=faults), **SLOW_HOLD, max_concurrent_requests=1)
    gateway = w.daemon.gateways["main"]
    backend = w.daemon.backends[CLUSTER]
    jobs = [w.daemon.queue.submit(request(f"c{i}"))[0] for i in range(6)]
    with structlog.testing.capture_logs() as logs:
        w.daemon.queue.start()
        await until(lambda: gateway.limiter.restart_hold.held(CLUSTER), "restarts held")
        await asyncio.sleep(0.2)
        restarts = len(w.simulator.restarts(accepted_only=False))
        held_jobs = [job for job in jobs if not job.tries]
        # What GET /v1/restarts/{id} and `watchdog restart --daemon` show meanwhile.
        said_while_held = [job.message for job in held_jobs]
        polls = [await gateway.call(CLUSTER, backend.list_connectors) for _ in range(3)]
        await asyncio.wait_for(asyncio.gather(*(job.done.wait() for job in held_jobs)), 5)
    await w.daemon.queue.close(0)
    assert restarts == SERVER_ERRORS_IN_A_ROW, "held: nothing more went while the API was out"
    assert [result.status_code for result, _ in polls] == [503, 503, 200], "polls were not held"
    # The five that failed wait out their own retry's backoff (up to 30 s here), as before.
    assert held_jobs and all(job.outcome is Outcome.ACCEPTED for job in held_jobs)
    assert all(said.startswith("held: the cluster's Connect API answers only server errors") for said in said_while_held)
    assert all("held" not in job.message for job in held_jobs), "no longer once it went"
    held = [e for e in logs if e["event"] == "restarts_held" and e["log_level"] == "warning"]
    assert len(held) == 1 and held[0]["cluster"] == CLUSTER and 30 <= held[0]["next_try_in_seconds"] <= 60
    assert held[0]["note"].startswith("restarts of it stay queued, those queued now and any asked for meanwhile")
    resumed = [e for e in logs if e["event"] == "restarts_resumed" and e["log_level"] == "info"]
    assert [e["answered_by"] for e in resumed] == ["list"]


async def test_restarts_still_held_at_the_shutdown_deadline_end_unsent_and_say_why() -> None:
    faults = [{"match": {"endpoint": "restart"}, "action": {"status": 502}}]
    w = world(sim_scenario(CONNECTORS, faults=faults), **SLOW_HOLD, max_concurrent_requests=1)
    jobs = [w.daemon.queue.submit(request(f"c{i}"))[0] for i in range(6)]
    w.daemon.queue.start()
    await until(lambda: w.daemon.gateways["main"].limiter.restart_hold.held(CLUSTER), "restarts held")
    unsent = await w.daemon.queue.close(0.2)
    assert len(w.simulator.restarts(accepted_only=False)) == SERVER_ERRORS_IN_A_ROW
    assert all(job.outcome is not None for job in jobs), "every restart ends, none lost without a word"
    never_sent = [job for job in jobs if job.tries == 0]
    assert never_sent and set(never_sent) <= set(unsent)
    assert all("still held" in job.message and "server errors" in job.message for job in never_sent)


async def test_a_held_restart_withdrawn_does_not_say_it_is_held() -> None:
    faults = [{"match": {"endpoint": "restart"}, "action": {"status": 500}}]
    w = world(sim_scenario(CONNECTORS, faults=faults), **SLOW_HOLD, max_concurrent_requests=1)
    jobs = [w.daemon.queue.submit(request(f"c{i}"))[0] for i in range(6)]
    w.daemon.queue.start()
    await until(lambda: jobs[5].message.startswith("held:"), "the sixth held")
    w.daemon.queue.withdraw(jobs[5].key, lambda _: True)
    await w.daemon.queue.close(0)
    assert jobs[5].outcome is Outcome.CANCELLED and "held" not in jobs[5].message


def test_one_connectors_retries_count_once_towards_the_hold() -> None:
    """Two connectors whose own restarts are answered 500 (four tries each, back to back) held
    every restart of the key for up to a minute: eight failures in a row. They are two."""
    hold, _ = _hold()
    for _ in range(4):
        for connector in ("bad-0", "bad-1"):
            assert hold.on_call("c", restart=True, failed=True, connector=connector) == []
    assert hold.wait("c", caller="late") == 0.0 and not hold.key_held()
    for index in range(2, SERVER_ERRORS_IN_A_ROW):
        changes = hold.on_call("c", restart=True, failed=True, connector=f"bad-{index}")
    assert [change.kind for _, change in changes] == ["held", "held"], "five connectors failing: the API is out"


def test_the_answer_of_the_restart_let_through_ends_its_turn_at_once() -> None:
    """The try after a pause failed while another cluster answered: counted for its cluster
    alone, the key's turn stayed with it and every restart of the key waited 60 s for nothing."""
    hold, clock = _hold()
    for index in range(SERVER_ERRORS_IN_A_ROW):
        hold.on_call("c", restart=True, failed=True, connector=f"x{index}")
    assert hold.key_held()
    clock.now += 10
    assert hold.wait("c", caller="probe") == 0.0
    hold.on_call("d", restart=False, failed=False)  # the other cluster's poll is answered
    hold.on_call("c", restart=True, failed=True, connector="x0", caller="probe")
    assert hold.wait("d", caller="next") == 0.0, "the key's turn ended with the probe's answer"
    assert 0 < hold.wait("c", caller="next") <= 2.0, "its own cluster pauses again, no longer than the doubled pause"


async def test_two_connectors_whose_restarts_fail_hold_no_other_restart() -> None:
    """The daemon's queue and gateway: two connectors' restarts answered 500 on every try, the
    others' accepted. Before, restarts_held was said ("answers only server errors") and the
    others waited, held; now they go at once."""
    faults = [{"match": {"endpoint": "restart", "connector": name}, "action": {"status": 500}} for name in ("c0", "c1")]
    w = world(sim_scenario(CONNECTORS, faults=faults), max_retries=3, backoff={"base": 0.05, "cap": 0.1},
              max_concurrent_requests=1)
    with structlog.testing.capture_logs() as logs:
        bad = [w.daemon.queue.submit(request(name))[0] for name in ("c0", "c1")]
        w.daemon.queue.start()
        await asyncio.wait_for(asyncio.gather(*(job.done.wait() for job in bad)), 5)
        others = [w.daemon.queue.submit(request(f"c{i}"))[0] for i in range(2, 6)]
        said = set()
        for _ in range(40):
            said |= {job.message for job in others if job.message.startswith("held")}
            await asyncio.sleep(0.01)
        await asyncio.wait_for(asyncio.gather(*(job.done.wait() for job in others)), 3)
    await w.daemon.queue.close(0)
    assert [job.outcome for job in bad] == [Outcome.SERVER_ERROR] * 2 and all(job.tries == 4 for job in bad)
    assert [job.outcome for job in others] == [Outcome.ACCEPTED] * 4
    assert not said, "no restart said it was held"
    assert not [e for e in logs if e["event"] == "restarts_held"]
