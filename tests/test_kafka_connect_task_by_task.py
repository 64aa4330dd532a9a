"""A restart a Kafka Connect leader before 3.0 did only in part, finished task by task
(connect/task_restarts.py): an answer that proves the task restart ran nothing (Connect's 409
from every worker while the group rebalances, its 500 "IO Error trying to forward ...
ConnectException" while it elects a leader, a proxy's 502 with no worker behind it) ended the
whole restart `unconfirmed`, and the FAILED tasks after it were never asked (probe s73, findings 2
and 3, real 2.8.2 and 4.3.1 workers)."""

from __future__ import annotations

import httpx
import pytest

from watchdog.connect import task_restarts
from watchdog.connect.backend import MAX_MESSAGE_CHARS
from watchdog.connect.task_restarts import MAY_HAVE_RUN_NEXT, NOT_RUN_NEXT
from watchdog.model import Outcome

from .test_kafka_connect_proxy_502 import FORWARD_REFUSED, NGINX_502
from .test_kafka_connect_workers import PREFIX, _Answering, backend, simulator

NO_LEADER_URL = {"error_code": 409, "message": "Cannot complete request momentarily due to no known leader URL, "
                                               "likely because a rebalance was underway."}
REQUEST_TIMED_OUT = {"error_code": 500, "message": "Request timed out"}


@pytest.fixture(autouse=True)
def _no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pauses between the tries of a task restart that ran nothing, made instant (as many)."""
    monkeypatch.setattr(task_restarts, "TASK_PAUSES", (0.0,) * len(task_restarts.TASK_PAUSES))


def _paths(transport: _Answering) -> list[str]:
    return [asked.split()[1].removeprefix("/connectors/") for asked in transport.asked]


async def test_a_task_restart_answered_409_while_the_group_rebalances_is_asked_again_then_made() -> None:
    sim = simulator(ignores_restart_flags=True)
    transport = _Answering(sim, httpx.Response(409, json=NO_LEADER_URL), suffix="/tasks/1/restart", times=2)

    result = await backend(sim, transport).restart("orders-source", only_failed=False)

    # Before: unconfirmed "restarted tasks 0; task 1: Cannot complete request momentarily ...; not
    # sent", after task 1's first 409, and task 1 never restarted.
    assert result.outcome is Outcome.ACCEPTED, result.message
    assert result.message.endswith("restarted tasks 0, 1 one by one"), result.message
    assert _paths(transport) == ["orders-source/restart", "orders-source/status", "orders-source/tasks/0/restart",
                                 "orders-source/tasks/1/restart", "orders-source/tasks/1/restart",
                                 "orders-source/tasks/1/restart"], "the connector and task 0 not sent again"


async def test_a_task_no_worker_runs_leaves_the_next_failed_tasks_restarted_and_says_what_comes_next() -> None:
    sim = simulator(ignores_restart_flags=True)
    transport = _Answering(sim, httpx.Response(409, json=NO_LEADER_URL), suffix="/tasks/0/restart")

    result = await backend(sim, transport).restart("billing-sink")  # both its tasks FAILED

    tries = 1 + len(task_restarts.TASK_PAUSES)
    assert _paths(transport) == ["billing-sink/restart", "billing-sink/status",
                                 *["billing-sink/tasks/0/restart"] * tries, "billing-sink/tasks/1/restart"]
    assert result.outcome is Outcome.UNCONFIRMED
    assert f"restarted tasks 1 one by one; tasks 0 not run (the first asked {tries} times over 0 s, every worker " \
        "said so: " in result.message, result.message
    # Cut to 300 characters in the middle: what happens next is kept whole (it was cut inside
    # "not sent again").
    assert len(result.message) <= MAX_MESSAGE_CHARS and result.message.endswith(NOT_RUN_NEXT), result.message


async def test_a_followers_forward_refused_and_the_dead_leaders_proxy_502_on_a_task_is_asked_again() -> None:
    # Finding 2: the 2.8.2 leader killed at the first task restart. A follower answered each task
    # restart 500 "IO Error trying to forward ... ConnectException", the dead leader's proxy its 502
    # page; the restart ended unconfirmed "task 2: 502 ...; the worker may have run it".
    sim = simulator(ignores_restart_flags=True)

    class _LeaderDied(_Answering):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.host == "leader":
                self.asked.append(f"leader {request.url.path.removeprefix(PREFIX)}")
                return httpx.Response(502, text=NGINX_502, headers={"content-type": "text/html"})
            return await super().handle_async_request(request)

    transport = _LeaderDied(sim, httpx.Response(500, json=FORWARD_REFUSED), host="follower", suffix="/tasks/2/restart",
                            times=2)
    client = backend(sim, transport, [f"http://follower{PREFIX}", f"http://leader{PREFIX}"])

    result = await client.restart("search-sink", only_failed=False)

    assert result.outcome is Outcome.ACCEPTED, result.message
    assert result.message.endswith("restarted tasks 0, 1, 2 one by one"), result.message
    task_2 = [asked for asked in transport.asked if asked.endswith("/tasks/2/restart")]
    assert task_2 == ["follower /connectors/search-sink/tasks/2/restart", "leader /connectors/search-sink/tasks/2/restart",
                      "follower /connectors/search-sink/tasks/2/restart", "leader /connectors/search-sink/tasks/2/restart",
                      "follower /connectors/search-sink/tasks/2/restart"]


async def test_a_task_restart_that_may_have_run_still_ends_the_restart_unconfirmed_and_is_not_sent_again() -> None:
    """The guard: Connect's 500 "Request timed out" (its herder still runs it) may have restarted
    the task: not sent again, nor the tasks after it."""
    sim = simulator(ignores_restart_flags=True)
    transport = _Answering(sim, httpx.Response(500, json=REQUEST_TIMED_OUT), suffix="/tasks/0/restart")

    result = await backend(sim, transport).restart("orders-source", only_failed=False)

    assert result.outcome is Outcome.UNCONFIRMED
    # Cut to 300 characters, it ended inside the worker's own "not sent again; ..." clause.
    assert result.message.endswith("task 0: 500 from http://sim/kafka-connect/connect-prod: Request timed out; the "
                                   f"worker may have run it; {MAY_HAVE_RUN_NEXT}"), result.message
    assert _paths(transport) == ["orders-source/restart", "orders-source/status", "orders-source/tasks/0/restart"]


async def test_tasks_after_one_that_ran_nothing_through_every_pause_are_asked_once_each() -> None:
    """A cluster with no leader for longer than the pauses: the first task spends them, the others
    are asked once each (not 15 s each), and all are said not run."""
    sim = simulator(ignores_restart_flags=True)

    class _NoLeaderForTasks(_Answering):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.asked.append(f"{request.url.host} {request.url.path.removeprefix(PREFIX)}")
            if "/tasks/" in request.url.path:
                return httpx.Response(409, json=NO_LEADER_URL)
            return await self._app.handle_async_request(request)

    transport = _NoLeaderForTasks(sim, httpx.Response(409))

    result = await backend(sim, transport).restart("search-sink", only_failed=False)  # 3 tasks

    tries = 1 + len(task_restarts.TASK_PAUSES)
    assert _paths(transport) == ["search-sink/restart", "search-sink/status", *["search-sink/tasks/0/restart"] * tries,
                                 "search-sink/tasks/1/restart", "search-sink/tasks/2/restart"]
    assert result.outcome is Outcome.UNCONFIRMED and "tasks 0, 1, 2 not run (the first asked " in result.message
