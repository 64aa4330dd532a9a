"""A restart a Kafka Connect worker (or leader) before 3.0 did only in part, finished task by task:
the connector's status is read and each FAILED task (every task, for `only_failed=False`) is
restarted with `POST /connectors/{name}/tasks/{id}/restart` (kafka_connect.py says when).

A task restart is never sent again after an answer that may mean it ran (Kafka's
DistributedHerder.restartTask restarts the task whatever its state, so a repeat restarts it
twice): such an answer ends the restart `unconfirmed`, the tasks after it not asked. But an answer
that proves nothing ran (every worker answered Connect's 409 while the group rebalanced, or 500
"IO Error trying to forward ... ConnectException" while it elected a leader, or its proxy's 502
with no worker behind it: ApiResult.not_run) is no such answer. It ended the whole restart
`unconfirmed`, "not sent again", and the FAILED tasks after it were never asked (probe s73,
findings 2 and 3, real 2.8.2 and 4.3.1 workers): such a task is asked again after a pause, for as
long as a rebalance or an election takes (TASK_PAUSES), then the others are asked all the same.
A task the worker no longer has (Connect's 404: `tasks.max` lowered meanwhile) has nothing to
restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..model import ConnectorStatus, Outcome
from .answers import WORKER_NOT_SENT_AGAIN, not_sent_again
from .backend import MAX_MESSAGE_CHARS, ApiResult, Endpoint

# The pauses before asking again a task restart that ran nothing: 15 s in all, past an election
# after a leader's kill -9 (6 s measured with a 6 s session.timeout.ms, 12 s with Kafka's
# default) and the few seconds of a rebalance.
TASK_PAUSES = (1.0, 2.0, 4.0, 8.0)
# What comes next for a task restart that may have run: said last, never cut off.
MAY_HAVE_RUN_NEXT = "not sent again, nor the tasks after it: the worker may still run it later (its log says when)"
# And for tasks that still ran nothing once the pauses were spent.
NOT_RUN_NEXT = ("not sent again: a status rule restarts them at its next attempt if still FAILED; else restart "
                "them by id")


async def restart_tasks_one_by_one(
    status: ApiResult[ConnectorStatus],
    restart_task: Callable[[int], Awaitable[ApiResult[Any]]],
    *,
    only_failed: bool,
    first: ApiResult[Any],
    note: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ApiResult[Any]:
    """Restart the tasks by id after `first` (the connector's restart) and `status` (its read):
    `note` begins the message. Every call made is kept in the result (ApiResult.made)."""
    started = time.perf_counter() - first.elapsed
    calls = [*first.calls, *status.calls]
    if not status.ok or status.value is None:
        return _ended(Outcome.UNCONFIRMED, status, f"{note}; reading the task states failed: {status.message}; "
                      "the connector instance was restarted, its tasks were not", started, calls)
    tasks = [task.id for task in status.value.tasks if not only_failed or task.state.upper() == "FAILED"]
    restarted: list[int] = []
    gone: list[str] = []
    not_run: list[tuple[int, ApiResult[Any]]] = []
    for task in tasks:
        answer = await restart_task(task)
        calls += answer.calls
        # Once one task was asked through every pause in vain, the cluster has no leader for now:
        # the tasks after it are asked once each, not 15 s each.
        for pause in TASK_PAUSES if not not_run else ():
            if not answer.not_run:
                break
            await sleep(pause)
            answer = await restart_task(task)
            calls += answer.calls
        if answer.ok:
            restarted.append(task)
        elif answer.outcome is Outcome.NOT_FOUND:
            gone.append(f"task {task}: {answer.message} (gone: nothing to restart)")
        elif answer.not_run:
            not_run.append((task, answer))
        else:
            # It may have run: the connector instance was restarted already, maybe some tasks too,
            # and the queue must not send it all again (it did: the connector restart, the status
            # read and every task restart twice after one 409).
            done = "".join(f"; {said}" for said in [*_restarted(restarted), *gone])
            why = answer.message.removesuffix(f"; {WORKER_NOT_SENT_AGAIN}")  # said shorter, last
            return _ended(Outcome.UNCONFIRMED, answer, not_sent_again(
                f"{note}{done}; task {task}: {why}", MAY_HAVE_RUN_NEXT), started, calls)
    said = [*_restarted(restarted, " one by one"), *gone]
    if not_run:
        ids = ", ".join(str(task) for task, _ in not_run)
        last = not_run[-1][1]
        what = "; ".join([note, *said, f"tasks {ids} not run (the first asked {1 + len(TASK_PAUSES)} times over "
                                       f"{sum(TASK_PAUSES):.0f} s, every worker said so: {last.message})"])
        return _ended(Outcome.UNCONFIRMED, last, not_sent_again(what, NOT_RUN_NEXT), started, calls, first=first)
    what = "; ".join([note, *said]) if said else f"{note}; no task to restart"
    return _ended(Outcome.ACCEPTED, first, what, started, calls, first=first)


def _restarted(ids: list[int], how: str = "") -> list[str]:
    return [f"restarted tasks {', '.join(str(i) for i in ids)}{how}"] if ids else []


def _ended(outcome: Outcome, result: ApiResult[Any], message: str, started: float,
           calls: list[tuple[Endpoint, int | None]], *, first: ApiResult[Any] | None = None) -> ApiResult[Any]:
    """The restart's result: `result`'s status and ids, every call it made (`calls`); `first`'s
    passed-over workers when it ended past the connector's restart."""
    return ApiResult(Endpoint.RESTART, outcome, status_code=result.status_code, request_id=result.request_id,
                     headers=result.headers, message=message[:MAX_MESSAGE_CHARS],
                     elapsed=time.perf_counter() - started, made=tuple(calls),
                     passed_over=first.passed_over if first is not None else ())

