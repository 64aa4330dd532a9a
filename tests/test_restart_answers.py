"""What a restart's answer says, as the user reads it in `watchdog history`, `restart_finished`
and `watchdog_restarts_total`, for answers a server we did not write may give.

Found by probing the daemon with a fake Connect API of our own on loopback (2026-12-02).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.model import ConnectorKey
from watchdog.simulator import Scenario, Simulator

from .support import (
    CLOUD,
    CLUSTER,
    SELF_MANAGED,
    HeldCalls,
    daemon_config,
    served,
    sim_scenario,
    until,
)
from .test_daemon import restart_times, run_polls, status_rule, world
from .test_hostile_answers import BROKEN, faulty_world

PROBLEM_JSON = {"Content-Type": "application/problem+json"}


@pytest.mark.parametrize(
    ("problem", "said"),
    [
        ({"type": "about:blank", "title": "Bad Request", "status": 400,
          "detail": "connector orders is PROVISIONING; retry when it is RUNNING"},
         "connector orders is PROVISIONING; retry when it is RUNNING"),
        ({"type": "https://example.com/probs/state", "title": "Connector is provisioning", "status": 400},
         "Connector is provisioning"),
    ],
    ids=["detail", "title-only"],
)
async def test_a_refusal_in_rfc_7807_problem_json_is_recorded_with_the_servers_words(
    problem: dict[str, object], said: str
) -> None:
    # A gateway answering in RFC 7807's application/problem+json (top-level `title` and `detail`)
    # was recorded with only its reason phrase: `rejected 400 Bad Request` in the history, the
    # server's `detail` read by no one.
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1},
                       "action": {"status": 400, "headers": PROBLEM_JSON, "body": json.dumps(problem)}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert (ended["outcome"], ended["status_code"], ended["message"]) == ("rejected", 400, said), ended
    [record] = [r for r in w.daemon.state.history(limit=10) if r.status_code == 400]
    assert record.message == said


OOPS = {"error": {"code": 500, "message": "Oops, something went wrong"}}


@pytest.mark.parametrize("backend", [CLOUD, SELF_MANAGED])
@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (202, OOPS, "Oops, something went wrong"),  # connect/v1's error shape
        (200, {"error_code": 500, "message": "Request timed out"}, "Request timed out"),  # Kafka Connect's
        (200, {"errors": [{"status": "500", "code": "internal", "detail": "restart failed"}]}, "restart failed"),
        (202, {"error": {"code": 500}}, '{"error": {"code": 500}}'),  # no words: the body itself
    ],
    ids=["error", "error_code", "errors", "no-words"],
)
async def test_a_restart_answered_2xx_with_an_error_body_is_unconfirmed_and_says_the_servers_words(
    backend: str, status: int, body: dict[str, object], said: str
) -> None:
    # A gateway (or a service) that answers a restart 2xx with an error in its body contradicts
    # itself. Taken for an acceptance, the restart was `accepted` in the history and the metrics
    # with not a word of the server's error; on Kafka Connect a 200 whose body was no status was
    # taken for a worker before 3.0 that had ignored the flags, and each task was then restarted
    # by id as well. It is `unconfirmed` now, as a 2xx carrying an HTML page is: counted as an
    # error, not sent again (it may have been made), the next poll judges, the words kept.
    w = world(BROKEN, [status_rule()], backend=backend, scenario=sim_scenario(BROKEN, backend, faults=[
        {"match": {"endpoint": "restart"}, "when": {"count": 1},
         "action": {"status": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}}]))

    with capture_logs() as logs:
        await run_polls(w, 3)

    restarts = [e for e in logs if e["event"] == "restart_finished"]
    assert [(e["outcome"], e["status_code"]) for e in restarts] == [("unconfirmed", status)], restarts
    # The server's words first, where `watchdog history`'s column (about 100 characters) shows them.
    assert restarts[0]["message"].startswith(f"answered {status} with an error in its body ({said})"), restarts[0]
    assert "not sent again" in restarts[0]["message"], restarts[0]
    assert len([c for c in w.simulator.calls if c.endpoint == "restart"]) == 1, "sent again, or its tasks restarted"
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="broken", rule="heal", trigger="status",
                    outcome="unconfirmed") == 1


@pytest.mark.parametrize("backend", [CLOUD, SELF_MANAGED])
@pytest.mark.parametrize("body", ['{"error": null}', '{}', '{"status": "accepted"}'], ids=["error-null", "empty-object", "other"])
async def test_a_restart_answered_2xx_with_a_body_that_is_no_error_is_accepted(backend: str, body: str) -> None:
    # `{"error": null}` is Confluent's own body of a 200 that did what was asked (DELETE connector).
    w = world(BROKEN, [status_rule()], backend=backend, scenario=sim_scenario(BROKEN, backend, faults=[
        {"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"status": 202, "body": body}}]))

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [e["outcome"] for e in logs if e["event"] == "restart_finished"] == ["accepted"]


async def test_a_restart_whose_answer_never_came_is_sent_once_and_says_which_timeout_ran_out() -> None:
    # The simulator restarts the connector, then answers late. Retried as a network error, one
    # decision made 1 + max_retries restarts (4 by default). And httpx's ReadTimeout has no words
    # of its own: the history and log lines said `ReadTimeout: `, nothing of what was waited for.
    simulator = Simulator(Scenario.model_validate(sim_scenario(BROKEN, faults=[
        {"match": {"endpoint": "restart"}, "action": {"delay_seconds": 2}}])))
    async with served(simulator) as url:
        config = daemon_config([status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 1})], base_url=url,
                               api={"base_url": url, "timeouts": {"total": 5, "connect": 1, "read": 0.3}},
                               rate_limit={"max_requests_per_second": 1000})
        daemon = Daemon(config)
        daemon.queue.start()
        try:
            with capture_logs() as logs:
                await daemon.pollers[CLUSTER].poll()
                await daemon.queue.join()
        finally:
            await daemon.stop()
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    said = ("no answer (ReadTimeout: nothing read within the read timeout (0.3s)) after the request may have "
            "reached the API; not sent again; it may still run later (a hung server runs it once it resumes). A poll "
            "cannot show a restart of a RUNNING connector: `watchdog status` shows its state now")
    assert (ended["outcome"], ended["message"], ended["tries"]) == ("unconfirmed", said, 1), ended
    assert len([c for c in simulator.calls if c.endpoint == "restart"]) == 1


STUCK = [{"name": "stuck", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]


@pytest.mark.parametrize(("status", "headers"), [(429, {"Retry-After": "1"}), (503, {"Retry-After": "1"})],
                         ids=["429", "503"])
async def test_a_restart_made_after_a_pause_longer_than_its_gap_is_not_followed_by_another_at_once(
    status: int, headers: dict[str, str]
) -> None:
    # The backoff gap after a failure restart counted from its first call. A 429's pause (or a
    # 503's Retry-After, or an outage's hold) that outlasted the gap had used it up before the
    # restart was made, and the poll right after the accepted retry restarted the connector again:
    # two restarts 8 ms apart (two probes, 2026-12-06). The gap now counts from the call made.
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"status": status, "headers": headers}}]
    w = world(STUCK, [status_rule(backoff={"base": 10, "cap": 600, "jitter": 0.1})],
              scenario=sim_scenario(STUCK, restart={"delay_seconds": 2}, faults=faults))
    poller = w.daemon.pollers[CLUSTER]
    for _ in range(2):  # confirm_polls: 2
        await poller.poll()
        w.clock.advance(1)
    await until(lambda: any(c.endpoint == "restart" for c in w.simulator.calls), "the first call answered")
    assert w.simulator.restarts() == []
    w.clock.advance(60)  # the pause outlasts the first gap (20 s and its jitter)
    await asyncio.wait_for(w.daemon.queue.join(), 10)
    [made] = restart_times(w, "stuck")

    await run_polls(w, 30)

    times = restart_times(w, "stuck")
    assert times[0] == made and all(later - earlier >= 20 for earlier, later in zip(times, times[1:])), (
        f"restarts at {[round(t - made, 1) for t in times]} s after the one made after the pause")
    [state] = [w.daemon.state.load(ConnectorKey(CLUSTER, "stuck"))]
    assert state.attempts == len(times), "the retry is the same attempt, not another"


async def test_a_restart_answered_long_after_it_was_sent_is_not_followed_by_another_before_its_gap() -> None:
    # A Kafka Connect worker answered a restart 95 s after it was sent (a broker frozen; its 90 s
    # "Request timed out" handed to the next worker). The gap, 20 s, counted from the send: the
    # next poll, 5 s after the restart was made, restarted the connector again (a probe against
    # real workers, 2026-12-06). The gap now counts from the end of the call.
    w = world(STUCK, [status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 1},
                                  backoff={"base": 10, "cap": 600, "jitter": 0})])
    held = HeldCalls(w, "/restart")
    await w.daemon.pollers[CLUSTER].poll()
    await asyncio.wait_for(held.reached.wait(), 10)
    w.clock.advance(60)  # the answer comes 60 s after the call went out; the first gap is 20 s
    held.release()
    await asyncio.wait_for(w.daemon.queue.join(), 10)
    [made] = restart_times(w, "stuck")

    await run_polls(w, 30)

    times = restart_times(w, "stuck")
    assert times[0] == made and len(times) >= 2, times
    assert times[1] - made >= 20, f"restarted again {times[1] - made:.0f} s after the restart the slow answer made"
