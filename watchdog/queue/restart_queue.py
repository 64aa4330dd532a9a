"""The restart queue: one lane per credential (its clusters served in turn: lane.py), deduplicated
per connector, retried within bounds.

Every job ends in exactly one terminal outcome (`finish` refuses a second one), reported to the
observer that counts and logs it. Retries live here, not in the HTTP client:

- 429: the limiter pauses every caller of the credential; the job goes again after the pause,
  up to `max_rate_limited_retries` times;
- 5xx, network errors, unreadable answers: capped exponential backoff with full jitter, up to
  `max_retries` times;
- 400, 401, 403, 404: final at once (asking again cannot help, and a revoked key must not loop).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import RateLimitSettings
from ..connect import ApiResult, ConnectBackend, Gateway
from ..connect.backend import describe_answer
from ..logs import get_logger
from ..model import ConnectorKey, ConnectorStatus, Outcome, RestartRequest
from ..tasks import cancel_and_wait
from .job import (
    Abandoned,
    JobNotRecorded,
    JobObserver,
    Phase,
    QueueClosed,
    QueueFull,
    RestartJob,
    new_job_id,
)
from .lane import FairLane, planned

log = get_logger("watchdog.queue")

# 409 comes from self-managed Kafka Connect during a rebalance: worth another try shortly.
_RETRYABLE = frozenset({Outcome.SERVER_ERROR, Outcome.NETWORK_ERROR, Outcome.CONFLICT})


class RestartQueue:
    def __init__(
        self,
        gateways: Mapping[str, Gateway],
        backends: Mapping[str, ConnectBackend],
        cluster_credentials: Mapping[str, str],
        settings: RateLimitSettings,
        observer: JobObserver,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        max_jobs_per_lane: int = 1000,
    ) -> None:
        self._gateways = dict(gateways)
        # Jobs are deduplicated per connector, so this bounds memory, the state file's pending
        # rows and the time to drain a lane, whatever names the API and alerts bring.
        self.max_jobs_per_lane = max_jobs_per_lane
        self._backends = dict(backends)
        self._credentials = dict(cluster_credentials)
        self._settings = settings
        self._observer = observer
        self._clock = clock
        self._rng = rng
        self._pending: dict[ConnectorKey, RestartJob] = {}
        self._depths: Counter[str] = Counter()  # pending jobs per lane, kept as jobs come and go
        self._per_cluster: Counter[str] = Counter()  # pending jobs per cluster (full_for)
        self._lanes: dict[str, FairLane] = {c: FairLane() for c in self._gateways}
        self._workers: list[_Worker] = []
        self._closed = False
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        # Set, and replaced, each time a job leaves the queue (ended, or left to the leader).
        self._job_left = asyncio.Event()
        self._started = False
        self._abandoning = False
        # Jobs waiting out a retry's backoff, off every worker (_retry_later): the timer that puts
        # each back in its lane.
        self._retries: dict[RestartJob, asyncio.TimerHandle] = {}
        # Asked right before every call goes out (retries included): why this replica may not
        # send now (it lost the leadership), or None. Set by the composition root.
        self.may_send: Callable[[], str | None] = lambda: None

    # -- public ----------------------------------------------------------------------------------

    def add_lane(self, lane: str, gateway: Gateway) -> None:
        """A new rate-limit lane (a self-managed cluster a reload added): its own workers."""
        self._gateways[lane] = gateway
        self._lanes[lane] = FairLane()
        if self._started:
            self._start_workers(lane, self._lanes[lane])

    def add_cluster(self, cluster: str, backend: ConnectBackend, lane: str) -> None:
        """Route a cluster's restarts (at construction, and when a reload adds a cluster).
        A cluster that a reload removes keeps its route: its queued restarts are still sent."""
        self._backends[cluster] = backend
        self._credentials[cluster] = lane

    async def remove_lane(self, lane: str) -> bool:
        """Drop a lane no cluster routes to any more (a self-managed cluster a reload removed,
        once `until_none_for` saw its restarts end): its workers stopped, its gateway (and rate
        limiter) and the routes through it let go. Kept, every such reload left them for the rest
        of the process. False, and nothing changed, while a job of the lane is still pending."""
        if self._depths[lane] or any(job.credential == lane for job in self._pending.values()):
            return False
        leaving = [worker for worker in self._workers if worker.lane == lane]
        self._workers = [worker for worker in self._workers if worker.lane != lane]
        for cluster in [c for c, routed in self._credentials.items() if routed == lane]:
            del self._credentials[cluster], self._backends[cluster]
        self._gateways.pop(lane, None)
        self._lanes.pop(lane, None)
        self._depths.pop(lane, None)
        await cancel_and_wait([worker.task for worker in leaving])
        return True

    async def until_none_for(self, cluster: str) -> None:
        """Returns once no restart of `cluster` is queued, waiting to retry or on the wire: a
        cluster a reload removed keeps its client until then, so that what was queued is sent."""
        while self._per_cluster[cluster] > 0:
            await self._job_left.wait()

    def _left(self) -> None:
        left, self._job_left = self._job_left, asyncio.Event()
        left.set()

    def start(self) -> None:
        self._started = True
        for lane, jobs in self._lanes.items():
            self._start_workers(lane, jobs)

    def _start_workers(self, lane: str, jobs: FairLane) -> None:
        slots = self._gateways[lane].restart_slots
        for index in range(self._settings.max_concurrent_requests if slots is None else slots):
            worker = _Worker(f"{lane}-{index}", lane)
            worker.task = asyncio.create_task(self._work(worker, jobs), name=f"restart-worker-{worker.name}")
            self._workers.append(worker)

    def is_pending(self, key: ConnectorKey) -> bool:
        return key in self._pending

    def pending_keys(self) -> list[ConnectorKey]:
        return list(self._pending)

    def pending_job(self, key: ConnectorKey) -> RestartJob | None:
        return self._pending.get(key)

    def depth(self, credential: str | None = None) -> int:
        return len(self._pending) if credential is None else self._depths[credential]

    @property
    def closed(self) -> bool:
        return self._closed

    def full_for(self, key: ConnectorKey) -> str | None:
        """Why a new restart of `key` cannot be queued because its lane is full (None if it can:
        a restart that joins a job already pending takes no room).

        A cluster with no job in the full lane still gets one in: the cap bounds memory, and
        must not let one cluster's backlog refuse every other cluster of the key (an alert on
        another cluster was answered `queue_full` until the backlog drained). The lane then
        holds at most the cap plus one job per cluster, and the turns (lane.py) send it soon."""
        if key in self._pending:
            return None
        lane = self._credentials.get(key.cluster)
        if lane is not None and self._depths[lane] >= self.max_jobs_per_lane and self._per_cluster[key.cluster]:
            return (f"lane {lane} already holds {self._depths[lane]} restart jobs "
                    f"({self._per_cluster[key.cluster]} of them for cluster {key.cluster}; "
                    f"queue.max_jobs_per_lane); try again once some are done")
        return None

    def submit(
        self, request: RestartRequest, *, recovered: bool = False, job_id: str | None = None
    ) -> tuple[RestartJob, bool]:
        """Queue a restart. Returns the job and whether the request joined one already pending.
        `recovered`: a request accepted before the daemon restarted, queued again whatever the
        lane holds (it was counted against the cap when first accepted). `job_id`: the id a new
        job gets (the caller recorded the request under it first)."""
        if self._closed:
            raise QueueClosed("shutting down; no new restarts are taken")
        existing = self._pending.get(request.key)
        if existing is not None:
            was_planned = planned(existing)
            existing.requests.append(request)
            if request.origin:
                existing.alerts.add(request.origin)
            if was_planned and existing.phase is Phase.QUEUED:
                self._lanes[existing.credential].promote(existing)
            return existing, True
        full = None if recovered else self.full_for(request.key)
        if full is not None:
            raise QueueFull(full)
        credential = self._credentials[request.key.cluster]
        job = RestartJob(
            id=job_id or new_job_id(),
            key=request.key,
            credential=credential,
            requests=[request],
            enqueued_at=self._clock(),
            alerts={request.origin} if request.origin else set(),
        )
        self._pending[request.key] = job
        self._depths[credential] += 1
        self._per_cluster[request.key.cluster] += 1
        self._idle.clear()
        self._lanes[credential].put_nowait(job)
        self._observer.depth_changed(credential, self.depth(credential))
        return job, False

    def withdraw(self, key: ConnectorKey, predicate: Callable[[RestartRequest], bool]) -> list[RestartRequest]:
        """Remove matching requests from a job with no call on the wire; cancel it if none remain.
        A job a worker holds while it waits for budget (a 429's pause, up to max_pause) or for
        its retry is withdrawn as a queued one is: its worker sees it ended and sends nothing.
        Before, only a job still in its lane was: an alert that resolved during a pause was
        answered `resolved`, and its restart went out when the pause ended."""
        job = self._pending.get(key)
        if job is None or job.phase not in (Phase.QUEUED, Phase.WAITING):
            return []
        removed = [r for r in job.requests if predicate(r)]
        if not removed:
            return []
        job.requests = [r for r in job.requests if not predicate(r)]
        if not job.requests:
            job.requests = removed  # the job is reported under the requests it was for
            self._finish(job, Outcome.CANCELLED, message=_after_tries(job, ""))
        return removed

    async def join(self) -> None:
        """Wait until nothing is queued or in flight."""
        await self._idle.wait()

    async def close(self, deadline: float, in_flight_grace: float = 10.0) -> list[RestartJob]:
        """Stop taking work, try what is queued for `deadline` seconds, then give up on the rest.

        A request already on the wire may still finish for `in_flight_grace` seconds (its own
        total timeout bounds it too); one still unanswered then ends `interrupted` (it may have
        reached the API). Jobs still waiting for budget or a retry end as `unsent`. Returns
        those unsent jobs.
        """
        self._closed = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=max(0.0, deadline))
        except TimeoutError:
            pass
        self._stopping = True
        self._cancel_retries()
        at_deadline = list(self._pending.values())
        on_the_wire = []
        for worker in self._workers:
            if worker.job is None or worker.job.phase is not Phase.SENDING:
                worker.task.cancel()
            else:
                on_the_wire.append(worker.task)
        if on_the_wire:
            _, late = await asyncio.wait(on_the_wire, timeout=max(0.0, in_flight_grace))
            for task in late:
                task.cancel()
        await cancel_and_wait([w.task for w in self._workers])
        for job in list(self._pending.values()):
            if job.outcome is None:
                self._finish_at_shutdown(job)
        return [job for job in at_deadline if job.outcome is Outcome.UNSENT]

    async def abandon(self, reason: str = "this replica stopped leading") -> int:
        """This replica stopped leading: stop every worker at once, send nothing more, and forget
        every job without an outcome. The shared state still holds their requests (queued, or
        sending if a call was on the wire), and the next leader recovers them exactly as after a
        crash, so each still ends once, there. Returns how many jobs were left. The queue can be
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
        self._depths.clear()
        self._per_cluster.clear()
        self._left()
        self._workers = []
        self._lanes = {lane: FairLane() for lane in self._lanes}
        self._started = False
        self._idle.set()
        for lane in self._lanes:
            self._observer.depth_changed(lane, 0)
        return len(left)

    # -- workers ---------------------------------------------------------------------------------

    async def _work(self, worker: _Worker, lane: FairLane) -> None:
        while not self._stopping:
            job = await lane.get()
            if job.outcome is not None:
                continue  # cancelled while it waited
            worker.job = job
            try:
                await self._dispatch(job)
            except asyncio.CancelledError:
                if self._abandoning:
                    raise  # left to the leader: no outcome here
                if job.outcome is None and job.phase is Phase.SENDING:
                    self._finish(job, Outcome.INTERRUPTED, message="the daemon stopped before the call on the wire "
                                 "was answered; it may or may not have reached the API")
                elif job.outcome is None:
                    self._finish_at_shutdown(job)
                raise
            except Abandoned as exc:
                self._leave(job, str(exc))
            except Exception as exc:  # a bug must not kill the worker or lose the job
                log.exception("restart_job_crashed", job=job.id, cluster=job.key.cluster, connector=job.key.connector)
                if job.outcome is None:
                    self._finish(job, Outcome.NETWORK_ERROR, message=f"internal error: {type(exc).__name__}: {exc}"[:300])
            finally:
                worker.job = None

    async def _dispatch(self, job: RestartJob) -> None:
        job.phase = Phase.WAITING
        self._check_leading()
        if job.tries == 0:
            if not await self._first_turn(job):
                return
        elif self._ended_by_gates(job):
            return  # a retry whose wait is over: held before it waits for budget again
        # The limiter of the key the backend sends with now: a reload that moved the cluster to
        # another credential while the job waited gave it that key's client, and the old lane's
        # limiter then paced (and paused, at its 429) calls made with another key.
        gateway = self._gateways[self._credentials[job.key.cluster]]

        async def send() -> ApiResult[Any]:
            if job.outcome is not None:
                raise _Ended  # withdrawn while it waited for budget (withdraw)
            self._check_leading()
            # The gates once more, after the wait for budget: a 429's pause holds the jobs the
            # workers took for up to max_pause, and a reload to dry-run, an exclude, a breaker
            # that opened or a blocking alert meanwhile must hold them too (every one went out).
            # Ended here, the permit counts as a call that got no answer: the limiter's safe side.
            held = self._held(job)
            if held is not None:
                raise _Held(*held)
            # Before every call, retries included: the store must hold the job as possibly sent
            # while a call is on the wire (a kill -9 then never sends it twice). May raise
            # JobNotRecorded (then nothing is sent), or Abandoned (the write was fenced: another
            # replica leads now). The attempt is counted at the first call only.
            self._observer.sending(job)
            job.maybe_sent = True
            if job.first_sent_at is None:
                job.first_sent_at = self._clock()
            # Checked again right before the call, with nothing in between that could wait: a
            # restart decided under an old leadership is never sent (the first check may have been
            # followed by a slow write).
            self._check_leading()
            job.phase = Phase.SENDING
            # Cancelled on the wire (shutdown), the job stays SENDING: it may have reached the API.
            # The cluster's backend as it is at this call, not at the job's first turn: a reload
            # that redefined the cluster (its workers, TLS or auth) meanwhile closes the old one's
            # client once its calls have ended (app.Daemon._install_cluster).
            backend = self._backends[job.key.cluster]
            result = await backend.restart(job.key.connector, only_failed=job.only_failed)
            job.phase = Phase.WAITING
            return result

        while True:
            try:
                result, _ = await gateway.call(
                    job.key.cluster, send, connector=job.key.connector, rule=job.primary.rule, job=job.id
                )
            except JobNotRecorded as exc:
                self._finish(job, Outcome.DROPPED, message=f"not sent: {exc}")
                return
            except _Held as held:
                self._finish(job, held.outcome, message=held.message)
                return
            except _Ended:
                return
            job.tries += 1
            retry = False
            if result.outcome is Outcome.RATE_LIMITED:
                # No sleep here: the limiter holds every caller of the credential until the
                # pause the 429 imposed is over.
                job.rate_limited += 1
                retry = job.rate_limited <= self._settings.max_rate_limited_retries
            elif result.outcome in _RETRYABLE:
                job.failures += 1
                retry = job.failures <= self._settings.max_retries
            if retry and result.status_code is not None and self._observer.answered(job):
                # An answer, whatever its status, proves the call is off the wire: until the next
                # try the job is as unsent as one never tried. (A network error proves nothing:
                # the call may have reached the API, so the store keeps it `sending`.)
                job.maybe_sent = False
            if retry and self._stopping and not job.maybe_sent:
                # Answered while the daemon stops (a call on the wire may finish): the retry it
                # was due is left to the next start, as for every job not yet sent.
                self._finish(job, Outcome.UNSENT, result, message=(
                    f"answered {result.status_code} while the daemon was stopping; not tried again before it stops"))
                return
            if not retry or self._stopping:
                self._finish(job, result.outcome, result)
                return
            if result.outcome in _RETRYABLE:
                delay, source = self._retry_delay(job.failures, result)
                log.info("restart_retry_scheduled", cluster=job.key.cluster, connector=job.key.connector, job=job.id,
                         status_code=result.status_code, outcome=result.outcome.value, tries=job.tries,
                         delay_seconds=round(delay, 3), source=source)
                self._retry_later(job, delay)
                return

    async def _first_turn(self, job: RestartJob) -> bool:
        """What a job's first turn does before its first call; False when it ended here."""
        if self._ended_by_gates(job):
            return False
        if job.wants_recommendations:
            await self._fetch_recommendations(job, self._backends[job.key.cluster],
                                              self._gateways[self._credentials[job.key.cluster]])
        return True

    def _held(self, job: RestartJob) -> tuple[Outcome, str] | None:
        """How the job ends if it must not be sent now (the config and the gates as they are at
        this moment), or None to send it. Asked at its turn and again right before each call."""
        reason = self._observer.drop_reason(job)
        if reason is not None:
            return Outcome.DROPPED, _after_tries(job, reason)
        if job.dry_run or self._observer.dry_run_now(job):
            return Outcome.DRY_RUN, _after_tries(job, "")
        return None

    def _ended_by_gates(self, job: RestartJob) -> bool:
        held = self._held(job)
        if held is not None:
            self._finish(job, held[0], message=held[1])
        return held is not None

    def _retry_later(self, job: RestartJob, delay: float) -> None:
        """Put the job back in its lane once `delay` has passed, and free the worker meanwhile.
        Slept on its worker, a retry's wait held the lane: four connectors answered 503 with
        Retry-After (up to max_pause, 15 minutes) took every worker of the key, and every other
        restart of every cluster on it waited them out, though nothing paused the key."""
        def due() -> None:
            del self._retries[job]
            if job.outcome is None:
                self._lanes[job.credential].put_nowait(job)

        self._retries[job] = asyncio.get_running_loop().call_later(delay, due)

    def _cancel_retries(self) -> None:
        """At a stop or a loss of the lead: no job waiting for its retry goes back to a lane (a
        stop ends it with the rest, unsent or interrupted; a new leader recovers it)."""
        for timer in self._retries.values():
            timer.cancel()
        self._retries.clear()

    def _finish_at_shutdown(self, job: RestartJob) -> None:
        """A job the shutdown ends before it could be sent (again)."""
        if job.maybe_sent:
            # Its last call got no answer (a network error) and it waited to try again: that call
            # may have reached the API, so it is not sent again at the next start either.
            self._finish(job, Outcome.INTERRUPTED, message="the daemon stopped while this restart waited for another "
                         "try after a call that got no answer; that call may or may not have reached the API")
        else:
            self._finish(job, Outcome.UNSENT, message="still queued or waiting when the shutdown deadline passed")

    def _check_leading(self) -> None:
        reason = self.may_send()
        if reason is not None:
            raise Abandoned(reason)

    def _leave(self, job: RestartJob, reason: str) -> None:
        """One job this replica may not send: forgotten here, left to the leader (see abandon)."""
        if self._pending.get(job.key) is job:
            del self._pending[job.key]
            self._depths[job.credential] -= 1
            self._per_cluster[job.key.cluster] -= 1
            self._left()
            self._observer.depth_changed(job.credential, self.depth(job.credential))
            if not self._pending:
                self._idle.set()
        log.warning("restart_left_to_leader", job=job.id, cluster=job.key.cluster, connector=job.key.connector,
                    reason=reason, requests=[r.id for r in job.requests],
                    note="not sent by this replica; the leader recovers it from the shared state")
        _handed_over(job, reason)

    async def _fetch_recommendations(self, job: RestartJob, backend: ConnectBackend, gateway: Gateway) -> None:
        """Confluent's advice exists only while the connector is failed: ask before the restart.
        One try, no retries: it is evidence, not the job."""
        result, _ = await gateway.call(
            job.key.cluster, lambda: backend.error_recommendations(job.key.connector),
            connector=job.key.connector, job=job.id,
        )
        if result.ok and result.value:
            job.recommendations = tuple(result.value)

    def _retry_delay(self, failures: int, result: ApiResult[Any]) -> tuple[float, str]:
        """How long before the next try after a 5xx, a 409 or a network error, and why."""
        backoff = self._settings.backoff
        ceiling = min(backoff.cap, backoff.base * 2 ** (failures - 1))
        delay = ceiling * self._rng()  # full jitter: retries of many jobs spread out
        # A 503 with Retry-After says when the server expects to be back (RFC 9110 10.2.3), as
        # a gateway in maintenance does: a try before then is a wasted call against a struggling
        # server, and spends one of the job's few retries for nothing (three quick 503s ended the
        # restart `server_error` while the server had said "in a minute"). Honoured on any answer
        # that is retried, capped like every pause a server asks for (rate_limit.max_pause).
        asked = result.headers.retry_after
        if asked is not None:
            asked = min(asked, self._settings.max_pause)
            if asked > delay:
                return asked, "retry_after"
        return delay, "backoff"

    def _finish(
        self, job: RestartJob, outcome: Outcome, result: ApiResult[Any] | None = None, message: str = ""
    ) -> None:
        if job.outcome is not None:
            raise RuntimeError(f"job {job.id} already ended as {job.outcome}")
        job.outcome = outcome
        job.phase = Phase.DONE
        job.finished_at = self._clock()
        if result is not None:
            job.status_code = result.status_code
            job.request_id = result.request_id
            job.message = result.message
            if isinstance(result.value, ConnectorStatus):
                job.answer = result.value
                job.message = job.message or describe_answer(result.status_code, result.value)
        if message:
            job.message = message
        if self._pending.get(job.key) is job:
            del self._pending[job.key]
            self._depths[job.credential] -= 1
            self._per_cluster[job.key.cluster] -= 1
            self._left()
        try:
            self._observer.finished(job)
        finally:
            job.done.set()
            self._observer.depth_changed(job.credential, self.depth(job.credential))
            if not self._pending:
                self._idle.set()


class _Held(Exception):
    """The gates, asked right before a call, hold the job: it ends with this outcome, unsent."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


def _handed_over(job: RestartJob, reason: str) -> None:
    """A job left to the leader ends nowhere here, but whoever waits on it (`watchdog restart`,
    which waited for good once its lease was lost) is woken and told why, outcome unknown."""
    job.message = (f"not sent by this process ({reason}); the request stays in the shared state and "
                   "the replica that leads sends it or reports it")
    job.done.set()


class _Ended(Exception):
    """The job ended (withdrawn) while its worker waited to send it: nothing more to do."""


def _after_tries(job: RestartJob, reason: str) -> str:
    """A held job's message; one already tried says so, since its earlier calls went out."""
    if not job.tries:
        return reason
    earlier = f"not tried again after {job.tries} earlier tr{'y' if job.tries == 1 else 'ies'}"
    if job.maybe_sent:
        earlier += " (the last got no answer: it may have reached the API)"
    return f"{reason}; {earlier}" if reason else earlier


@dataclass(eq=False)
class _Worker:
    name: str
    lane: str
    task: asyncio.Task[None] = field(init=False)
    job: RestartJob | None = None
