"""Stopping a queue: at a shutdown (`close`: what is queued is tried until a deadline, then ends
`unsent` or `interrupted`), and when this replica stops leading (`abandon`, and `_leave` for one
job a fenced write or the lease refused: forgotten here, left to the leader, which recovers it
from the shared state).

`QueueStopping` is mixed into `RestartQueue` (restart_queue.py), as `JobDispatch` (dispatch.py) is.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from ..connect import ApiResult, Gateway
from ..connect.refusal import refused_note
from ..logs import get_logger
from ..model import ConnectorKey, Outcome
from ..tasks import cancel_and_wait
from .holding import SLOW_MESSAGE
from .job import JobObserver, Phase, RestartJob
from .lane import FairLane

if TYPE_CHECKING:
    from .restart_queue import _Worker

log = get_logger("watchdog.queue")

# How often the drain at a stop looks whether every job left waits for a pause past its deadline
# (besides each time a job leaves): a 429 answered meanwhile pauses the key without a job leaving.
DRAIN_LOOK = 0.25


# Why every call of a key waits, as the stop's words say it: the limiter's pause, or the
# server's budget spent until its Reset (Gateway.budget_waits_for).
PAUSED = "a 429's Retry-After, or an outage's pause"
BUDGET_SPENT = "the server's X-RateLimit-Remaining: 0 until its X-RateLimit-Reset, at most rate_limit.max_pause"


def paused_past(
    jobs: list[RestartJob], waits_for: Callable[[str], tuple[float, str]], left: float
) -> dict[str, tuple[float, str]]:
    """The lanes (API keys) whose wait outlasts the `left` seconds of the shutdown deadline, with
    the seconds each waits and why, when every job in `jobs` waits in such a lane: no call of
    theirs can go out before the deadline. Empty when any job may still be sent, or is on the
    wire (its answer may come within the deadline and must be recorded)."""
    paused: dict[str, tuple[float, str]] = {}
    for job in jobs:
        if job.phase is Phase.SENDING:
            return {}
        if job.credential not in paused:
            seconds, why = waits_for(job.credential)
            if seconds <= left:
                return {}
            paused[job.credential] = (seconds, why)
    return paused


def _said_paused(paused: dict[str, tuple[float, str]], deadline: float) -> str:
    keys = ", ".join(f"API key {lane!r} waits {math.ceil(seconds)} s more ({why})"
                     for lane, (seconds, why) in sorted(paused.items()))
    return (f"every call of {keys}, past the shutdown deadline ({deadline:g} s): no queued restart could be sent "
            "before it, so the stop did not wait; they ended unsent, kept")


class QueueStopping:
    # The queue's parts this uses (RestartQueue sets them).
    _observer: JobObserver
    _pending: dict[ConnectorKey, RestartJob]
    _depths: Counter[str]
    _per_cluster: Counter[str]
    _retiring: set[str]
    _lanes: dict[str, FairLane]
    _workers: list[_Worker]
    _closed: bool
    _stopping: bool
    _started: bool
    _abandoning: bool
    _hurried: asyncio.Event
    _idle: asyncio.Event
    _retries: dict[RestartJob, asyncio.TimerHandle]
    _held_jobs: dict[str, dict[RestartJob, None]]
    _release_timers: dict[str, asyncio.TimerHandle]
    _gateways: dict[str, Gateway]
    _job_left: asyncio.Event
    # Set by close() when it ended the drain before its deadline because every job left waits for
    # its key's pause past it (_drain): seconds left of each such lane's pause, and the words the
    # `stopped` line says it with. Empty while it has not.
    paused_past_deadline: dict[str, tuple[float, str]]
    drain_ended_early: str
    _stop_deadline: float
    # Jobs left to the leader one by one (`_leave`) since the queue last started: `abandon` counts
    # them with those it leaves, for `standing_by`'s restarts_left_to_leader.
    _left_one_by_one: int

    if TYPE_CHECKING:
        def _finish(
            self, job: RestartJob, outcome: Outcome, result: ApiResult[Any] | None = None, message: str = ""
        ) -> None: ...
        def _one_less(self, job: RestartJob) -> None: ...
        def _drop_route(self, cluster: str) -> None: ...
        def _left(self) -> None: ...
        def depth(self, credential: str | None = None) -> int: ...
        def _take_deferred(self) -> Iterable[RestartJob]: ...

    async def close(self, deadline: float, in_flight_grace: float = 10.0) -> list[RestartJob]:
        """Stop taking work, try what is queued for `deadline` seconds, then give up on the rest.

        A request already on the wire may still finish for `in_flight_grace` seconds (its own
        total timeout bounds it too); one still unanswered then ends `interrupted` (it may have
        reached the API). Jobs still waiting for budget or a retry end as `unsent`. Returns
        those unsent jobs.
        """
        self._closed = True
        deferred = list(self._take_deferred())
        for job in deferred:
            # Waiting for a restart made moments before (deferral.py), it would hold the shutdown
            # for its whole deadline and end unsent all the same: kept for the next start now.
            self._finish(job, Outcome.UNSENT, message=f"still deferred when the daemon stopped ({job.deferred_note}); "
                         "kept for the next start")
        self._stop_deadline = deadline
        await self._unless_hurried(self._drain(deadline), deadline)
        self._stopping = True
        self._cancel_retries()
        at_deadline = deferred + list(self._pending.values())
        on_the_wire = []
        for worker in self._workers:
            if worker.job is None or worker.job.phase is not Phase.SENDING:
                worker.task.cancel()
            else:
                on_the_wire.append(worker.task)
        if on_the_wire:
            await self._unless_hurried(asyncio.wait(on_the_wire), in_flight_grace)
            for task in on_the_wire:
                if not task.done():
                    task.cancel()
        await cancel_and_wait([w.task for w in self._workers])
        for job in list(self._pending.values()):
            if job.outcome is None:
                self._finish_at_shutdown(job)
        return [job for job in at_deadline if job.outcome is Outcome.UNSENT]

    async def _drain(self, deadline: float) -> None:
        """Until the queue is idle, or no call can go out before the deadline: every job left waits
        for its key's pause (a 429's Retry-After, an outage's) that ends after it. Such a stop
        waited out its whole deadline (20 s by default; with replicas, the lease held meanwhile)
        to end the same jobs `unsent` (probe_restart F6). Looked at again each time a job leaves
        and at least every DRAIN_LOOK seconds: a 429 answered during the drain pauses the key too.
        A pause is the limiter's word of when the key may call again; should the server accept
        calls sooner, nothing is lost either way: the jobs end unsent, kept for the next start."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + deadline
        while not self._idle.is_set():
            left = ends - loop.time()
            if left <= 0:
                return
            paused = paused_past(list(self._pending.values()), self._lane_waits_for, left)
            if paused:
                self.paused_past_deadline = paused
                self.drain_ended_early = _said_paused(paused, deadline)
                return
            idle, left_one = asyncio.ensure_future(self._idle.wait()), asyncio.ensure_future(self._job_left.wait())
            try:
                await asyncio.wait([idle, left_one], timeout=min(left, DRAIN_LOOK), return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait([idle, left_one])

    def _lane_waits_for(self, lane: str) -> tuple[float, str]:
        """Seconds for which no call of the lane's key goes out, and why: the limiter's pause, or
        the server's budget spent until its Reset (a successful answer's `Remaining: 0`), which
        the limiter honours as surely. Asked of the pause alone, a stop with the budget spent
        for 300 s waited out its whole deadline all the same."""
        gateway = self._gateways.get(lane)
        if gateway is None:
            return 0.0, PAUSED
        paused, spent = gateway.limiter.paused_for(), gateway.budget_waits_for()
        return (spent, BUDGET_SPENT) if spent > paused else (paused, PAUSED)

    def hurry(self) -> None:
        """Cut close() short (a second SIGTERM or Ctrl-C): what is queued ends `unsent` now, a call
        on the wire `interrupted`, as at the deadline and the grace."""
        self._hurried.set()

    async def _unless_hurried(self, waited: Coroutine[Any, Any, object], seconds: float) -> None:
        """Wait for `waited` at most `seconds`, and no longer once hurried (it is not cancelled
        then: asyncio.wait's tasks go on until close() cancels them)."""
        work = asyncio.ensure_future(waited)
        hurried = asyncio.ensure_future(self._hurried.wait())
        try:
            await asyncio.wait([work, hurried], timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait([work, hurried])

    async def abandon(self, reason: str = "this replica stopped leading") -> int:
        """This replica stopped leading: stop every worker at once, send nothing more, and forget
        every job without an outcome. The shared state still holds their requests (queued, or
        sending if a call was on the wire), and the next leader recovers them exactly as after a
        crash, so each still ends once, there. Returns how many jobs were left since the queue
        started: these, and those its workers left one by one before (a write the lease refused). The queue can be
        started again (`start`) when this replica leads again."""
        self._abandoning = True
        self._cancel_retries()
        try:
            # Cancelled again until each has ended (tasks.py): one that went on held this for good.
            await cancel_and_wait([worker.task for worker in self._workers])
        finally:
            self._abandoning = False
        left = list(self._pending.values())
        for job in left:
            log.warning("restart_left_to_leader", job=job.id, cluster=job.key.cluster, connector=job.key.connector,
                        phase=job.phase.value, requests=[r.id for r in job.requests],
                        note="this replica stopped leading; the leader recovers it from the shared state")
            _handed_over(job, reason)
        self._pending.clear()
        self._held_jobs.clear()
        self._depths.clear()
        self._per_cluster.clear()
        for cluster in list(self._retiring):  # removed, and none of their restarts is pending here now
            self._drop_route(cluster)
        self._left()
        self._workers = []
        self._lanes = {lane: FairLane() for lane in self._lanes}
        self._started = False
        self._idle.set()
        for lane in self._lanes:
            self._observer.depth_changed(lane, 0)
        left_before, self._left_one_by_one = self._left_one_by_one, 0
        return left_before + len(left)

    def _cancel_retries(self) -> None:
        """At a stop or a loss of the lead: no job waiting for its retry, or deferred (deferral.py),
        goes back to a lane (a stop ends it with the rest, unsent or interrupted; a new leader
        recovers it)."""
        for timer in [*self._retries.values(), *self._release_timers.values()]:
            timer.cancel()
        self._take_deferred()
        self._retries.clear()
        self._release_timers.clear()

    def _finish_at_shutdown(self, job: RestartJob) -> None:
        """A job the shutdown ends before it could be sent (again)."""
        if job.maybe_sent:
            # Its last call got no answer (a network error) and it waited to try again: that call
            # may have reached the API, so it is not sent again at the next start either.
            self._finish(job, Outcome.INTERRUPTED, message="the daemon stopped while this restart waited for another "
                         "try after a call that got no answer; that call may or may not have reached the API")
        elif job in self._held_jobs.get(job.key.cluster, {}) and job.message == SLOW_MESSAGE:
            self._finish(job, Outcome.UNSENT, message="still waiting when the shutdown deadline passed for a call to "
                         "its cluster's Connect API that had no answer")
        elif job in self._held_jobs.get(job.key.cluster, {}) and refused_note(job.message):
            # Kept for the next start, which sends it once a call with the key has succeeded.
            self._finish(job, Outcome.UNSENT, message=f"still held when the shutdown deadline passed ({job.message})")
        elif job in self._held_jobs.get(job.key.cluster, {}):
            self._finish(job, Outcome.UNSENT, message="still held when the shutdown deadline passed: its cluster's "
                         "API had answered only server errors (restarts_held)")
        elif job.credential in self.paused_past_deadline:
            seconds, why = self.paused_past_deadline[job.credential]
            self._finish(job, Outcome.UNSENT, message=(
                f"not sent: every call of its API key waited {math.ceil(seconds)} s more ({why}), past the "
                f"shutdown deadline ({self._stop_deadline:g} s), so the stop did not wait for it"))
        else:
            self._finish(job, Outcome.UNSENT, message="still queued or waiting when the shutdown deadline passed")

    def _leave(self, job: RestartJob, reason: str) -> None:
        """One job this replica may not send: forgotten here, left to the leader (see abandon)."""
        if self._pending.get(job.key) is job:
            self._left_one_by_one += 1
            self._one_less(job)
            self._observer.depth_changed(job.credential, self.depth(job.credential))
            if not self._pending:
                self._idle.set()
        log.warning("restart_left_to_leader", job=job.id, cluster=job.key.cluster, connector=job.key.connector,
                    reason=reason, requests=[r.id for r in job.requests],
                    note="not sent by this replica; the leader recovers it from the shared state")
        _handed_over(job, reason)


def _handed_over(job: RestartJob, reason: str) -> None:
    """A job left to the leader ends nowhere here, but whoever waits on it (`watchdog restart`,
    which waited for good once its lease was lost) is woken and told why, outcome unknown."""
    job.message = (f"not sent by this process ({reason}); the request stays in the shared state and "
                   "the replica that leads sends it or reports it")
    job.done.set()
