"""The restart queue: a lane of jobs per rate-limit lane (an API key, or a self-managed cluster:
config.Config.lane_for; its clusters served in turn: lane.py), deduplicated per connector,
retried within bounds (sending one job, its retries included: dispatch.py), stopped at a shutdown
or a loss of the lead (stopping.py).

Every job ends in exactly one terminal outcome (`finish` refuses a second one), reported to the
observer that counts and logs it. Retries live here, not in the HTTP client:

- 429: the limiter pauses every caller of the credential; the job goes again after the pause,
  up to `max_rate_limited_retries` times;
- 5xx, network errors, unreadable answers: capped exponential backoff with full jitter, up to
  `max_retries` times;
- 400, 401, 403, 404: final at once (asking again cannot help, and a revoked key must not loop);
- a cluster whose API answers only server errors without a hint: its restarts wait, queued, one
  tried after each pause (ratelimit/outage.py RestartHold; holding.py parks them).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..config import RateLimitSettings
from ..connect import ApiResult, ConnectBackend, Gateway
from ..connect.refusal import refused_note
from ..connect.statuses import describe_answer
from ..logs import get_logger, without_known_secrets
from ..model import ConnectorKey, ConnectorStatus, Outcome, RestartRequest
from ..tasks import cancel_and_wait
from .deferral import DeferredJobs
from .dispatch import RETRY_WAIT_PREFIX, JobDispatch, after_tries
from .holding import WAITING_MESSAGES
from .job import (
    Abandoned,
    JobObserver,
    Phase,
    QueueClosed,
    QueueFull,
    RestartJob,
    new_job_id,
)
from .lane import FairLane, planned
from .stopping import QueueStopping

log = get_logger("watchdog.queue")


class RestartQueue(JobDispatch, QueueStopping, DeferredJobs):
    def __init__(
        self,
        gateways: Mapping[str, Gateway],
        backends: Mapping[str, ConnectBackend],
        cluster_credentials: Mapping[str, str],
        settings: RateLimitSettings,
        observer: JobObserver,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
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
        # The wall clock, for what people read (since when a call is on the wire: RestartJob.on_the_wire).
        self._wall = wall
        self._rng = rng
        self._pending: dict[ConnectorKey, RestartJob] = {}
        self._depths: Counter[str] = Counter()  # pending jobs per lane, kept as jobs come and go
        self._per_cluster: Counter[str] = Counter()  # pending jobs per cluster (full_for); none: no entry
        # Clusters a reload or discovery removed whose restarts are still pending: their routes
        # go when the last of those ends (remove_cluster).
        self._retiring: set[str] = set()
        self._lanes: dict[str, FairLane] = {c: FairLane() for c in self._gateways}
        self._workers: list[_Worker] = []
        self._closed = False
        self._stopping = False
        self._hurried = asyncio.Event()  # a second SIGTERM: close() waits no longer
        self._idle = asyncio.Event()
        self._idle.set()
        # Set, and replaced, each time a job leaves the queue (ended, or left to the leader).
        self._job_left = asyncio.Event()
        self._started = False
        self._abandoning = False
        self._left_one_by_one = 0
        self.paused_past_deadline: dict[str, tuple[float, str]] = {}  # stopping.py's _drain
        self.drain_ended_early = ""
        self._stop_deadline = 0.0
        # Jobs waiting out a retry's backoff, off every worker (_retry_later): the timer that puts
        # each back in its lane.
        self._retries: dict[RestartJob, asyncio.TimerHandle] = {}
        self._init_deferred()
        self._held_jobs: dict[str, dict[RestartJob, None]] = {}
        self._release_timers: dict[str, asyncio.TimerHandle] = {}
        self._recommendations_quiet: dict[str, tuple[ConnectBackend, float]] = {}
        for gateway in self._gateways.values():
            gateway.on_hold_change(self._release_held)
        # Asked right before every call goes out (retries included): why this replica may not
        # send now (it lost the leadership), or None. Set by the composition root.
        self.may_send: Callable[[], str | None] = lambda: None
        # Set by the composition root: lists the cluster of a restart (any trigger's) again, once a
        # pause of its key that ended so many seconds ago held it (triggers/turn_listing.py); the
        # gates at its next try judge it on that listing. Unset (tests of the queue alone): sent.
        self.recheck_listing: Callable[[ConnectorKey, float], Awaitable[None]] | None = None

    # -- public ----------------------------------------------------------------------------------

    def add_lane(self, lane: str, gateway: Gateway) -> None:
        """A new rate-limit lane (a self-managed cluster a reload added): its own workers."""
        self._gateways[lane] = gateway
        gateway.on_hold_change(self._release_held)
        self._lanes[lane] = FairLane()
        if self._started:
            self._start_workers(lane, self._lanes[lane])

    def add_cluster(self, cluster: str, backend: ConnectBackend, lane: str) -> None:
        """Route a cluster's restarts (at construction, and when a reload or discovery adds or
        redefines a cluster)."""
        self._backends[cluster] = backend
        self._credentials[cluster] = lane
        self._retiring.discard(cluster)
        if cluster in self._held_jobs:
            self._release_held(cluster)  # its new key may not be refused (connect/refusal.py): looked at now

    def remove_cluster(self, cluster: str) -> None:
        """A cluster a reload or discovery removed: its route goes once no restart of it is
        pending (at once if none is), and its queued restarts are still sent meanwhile. Kept for
        good, every cluster discovery ever dropped left its route here (a few hundred bytes
        each, a dozen a day in a large organisation). A restart for it is not submitted after
        this: the engine queues nothing for a cluster the config does not name (Decisions._cluster_gone)."""
        if self._per_cluster[cluster]:
            self._retiring.add(cluster)
        else:
            self._drop_route(cluster)

    def _drop_route(self, cluster: str) -> None:
        self._retiring.discard(cluster)
        lane = self._credentials.pop(cluster, None)
        gateway = self._gateways.get(lane) if lane is not None else None
        if gateway is not None:
            # Its restarts' hold (ratelimit/outage.py) goes with its route: nothing of it is
            # left to hold, and a cluster removed while its API failed kept its streak for good.
            gateway.limiter.restart_hold.forget(cluster)
        self._backends.pop(cluster, None)
        self._per_cluster.pop(cluster, None)
        self._held_jobs.pop(cluster, None)  # only ended jobs can be left there now
        self._recommendations_quiet.pop(cluster, None)
        timer = self._release_timers.pop(cluster, None)
        if timer is not None:
            timer.cancel()

    def _one_less(self, job: RestartJob) -> None:
        """A pending job left the queue (ended, or left to the leader): the counts per lane and
        per cluster, and the route of a removed cluster whose last restart this was."""
        del self._pending[job.key]
        self._depths[job.credential] -= 1
        cluster = job.key.cluster
        self._per_cluster[cluster] -= 1
        if self._per_cluster[cluster] <= 0:
            del self._per_cluster[cluster]
            if cluster in self._retiring:
                self._drop_route(cluster)
        self._left()

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
            self._drop_route(cluster)
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
        self._left_one_by_one = 0
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

    def pending_jobs(self) -> Iterable[RestartJob]:  # a view: not to be kept across an await
        return self._pending.values()

    def pending_job(self, key: ConnectorKey) -> RestartJob | None:
        return self._pending.get(key)

    def may_go_now(self) -> Callable[[RestartJob], bool]:
        """A read-only test of pending jobs as things stand now: whether one may be sent as soon as
        its turn comes, not held where it is (the fleet breaker counts in its room only those that
        may: Gates._failures_queued). A job may not go now while it is parked (its cluster's API
        answers only server errors, a call of it hangs, its key or its cluster is refused:
        holding.py), while its cluster's restarts are held (ratelimit/outage.py; it is parked at
        its turn), while its lane's limiter is paused (a 429's Retry-After, an outage's pause:
        no call of the key goes before it ends), or while a restart of its lane, last answered
        429, waits on a worker to be tried again: the rate limit refuses the lane's restarts, and
        those behind cannot go before they are admitted again. That last one as well as the
        pause: a probe's key answered every restart 429 with Retry-After 1 while its listings
        passed, so its lane was paused a second at a time and free in between, and its backlog
        still held every other key's restarts. Any pause, however short, and any 429: a
        threshold would guess at Retry-After values Confluent does not publish, and where it
        guessed long, held other keys' restarts as before. The cost of leaving out a lane that
        goes again a moment later: decisions made meanwhile (other keys', and the lane's own
        where its listings still pass) may queue a few restarts more than the window has room
        for; those are held at their turn (`dropped`, breaker_open) and decided again by a
        later poll. Nothing more is sent. Counted, one key's stuck
        backlog took the whole fleet's room for as long as it stayed stuck, and held every other
        key's failure restarts `breaker_open` (a scale probe, 2026-12-07). Left out, nothing is
        lost: the gates at each job's turn still hold what the window has no room for.
        Nor a job on a key (or proxy) known refused, on its lane or its cluster alone: parked at
        its turn anyway, it is left out from its queueing, not only once its turn came. Counted
        until then, an alert group queued onto a key refused seconds before opened the fleet
        breaker at error naming that key, closed it within a second as the jobs were parked, and
        the real opening after was said at warning, "said at error then" (probe_breaker F3). A
        refusal found only by a call still to come is not known: such a lane counts until then."""
        stuck = {lane for lane, gateway in self._gateways.items()
                 if gateway.limiter.paused_for() > 0 or _refused(gateway)}
        # A job answered 429 stays on its worker until admitted (dispatch.py, _count_try): at most
        # max_concurrent_requests a lane to look at. Its status_code is None while on the wire.
        stuck.update(worker.lane for worker in self._workers if worker.job is not None
                     and worker.job.outcome is None and worker.job.status_code == 429)

        def may_go(job: RestartJob) -> bool:
            cluster = job.key.cluster
            if job in self._held_jobs.get(cluster, ()):
                return False
            lane = self._credentials.get(cluster, job.credential)
            if lane in stuck:
                return False
            gateway = self._gateways.get(lane)
            return gateway is None or not (gateway.limiter.restart_hold.held(cluster)
                                           or gateway.refusal.holds_cluster(cluster, gateway.limiter.now()))

        return may_go

    def lane_of(self, cluster: str) -> str | None:
        """The rate-limit lane a cluster's restarts go through; kept for a cluster a reload or
        discovery removed until its last pending restart ends (remove_cluster), None after."""
        return self._credentials.get(cluster)

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
        if key in self._pending or self.room_for(key.cluster) != 0:
            return None
        lane = self._credentials[key.cluster]
        return (f"lane {lane} already holds {self._depths[lane]} restart jobs "
                f"({self._per_cluster[key.cluster]} of them for cluster {key.cluster}; "
                f"queue.max_jobs_per_lane); try again once some are done")

    def room_for(self, cluster: str) -> int | None:
        """How many new restart jobs of `cluster` its lane takes now (the rule full_for refuses by), or None
        where the cluster has no lane (nothing bounds it here)."""
        lane = self._credentials.get(cluster)
        if lane is None:
            return None
        room = self.max_jobs_per_lane - self._depths[lane]
        return max(room, 0 if self._per_cluster[cluster] else 1)

    def submit(
        self, request: RestartRequest, *, recovered: bool = False, job_id: str | None = None,
        defer: float = 0.0, defer_note: str = "",
    ) -> tuple[RestartJob, bool]:
        """Queue a restart. Returns the job and whether the request joined one already pending.
        `recovered`: a request accepted before the daemon restarted, queued again whatever the
        lane holds (it was counted against the cap when first accepted). `job_id`: the id a new
        job gets (the caller recorded the request under it first). `defer`: seconds a new job
        waits before its first turn, `defer_note` saying why (deferral.py); a request joining a
        job already pending does not defer it."""
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
            self._joined(existing, request.trigger)
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
        if defer > 0:
            self._defer(job, defer, defer_note)
        else:
            self._lanes[credential].put_nowait(job)
        self._observer.depth_changed(credential, self.depth(credential))
        return job, False

    def hasten(self, key: ConnectorKey) -> None:
        """A failure of the connector was seen while a schedule's restart of it waits: it goes with
        the failures' restarts now (a poll's `duplicate` left it behind the whole nightly run)."""
        job = self._pending.get(key)
        if job is None or not planned(job):
            return
        job.failing = True
        if job.phase is Phase.QUEUED:
            self._lanes[job.credential].promote(job)

    def withdraw(self, key: ConnectorKey, predicate: Callable[[RestartRequest], bool],
                 message: str = "", outcome: Outcome = Outcome.CANCELLED) -> list[RestartRequest]:
        """Remove matching requests from a job with no call on the wire; cancel it if none remain.
        A job a worker holds while it waits for budget (a 429's pause, up to max_pause) or for
        its retry is withdrawn as a queued one is: its worker sees it ended and sends nothing.
        Before, only a job still in its lane was: an alert that resolved during a pause was
        answered `resolved`, and its restart went out when the pause ended. `message`: why, for
        a job that ends `outcome` (`cancelled`; `dropped` for one a listing showed pointless)."""
        job = self._pending.get(key)
        if job is None or job.phase not in (Phase.QUEUED, Phase.WAITING):
            return []
        removed = [r for r in job.requests if predicate(r)]
        if not removed:
            return []
        job.requests = [r for r in job.requests if not predicate(r)]
        if not job.requests:
            job.requests = removed  # the job is reported under the requests it was for
            self._finish(job, outcome, message=after_tries(job, message))
        return removed

    async def join(self) -> None:
        """Wait until nothing is queued or in flight."""
        await self._idle.wait()

    # -- workers ---------------------------------------------------------------------------------

    async def _work(self, worker: _Worker, lane: FairLane) -> None:
        while not self._stopping:
            # One job per turn of the event loop: a job the gates end at its turn (the fleet
            # breaker opened over a poll's queue) awaits nothing but writes its end, and a lane
            # that holds jobs hands the next one over without waiting. The 280 of an outage, their
            # database 2 ms away, held a leader's loop 3.2 s past renew_deadline: it stepped down.
            await asyncio.sleep(0)
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
                    # The call on the wire is a try (counted at its answer, which never comes):
                    # `tries: 0` beside "may have reached the API" read as nothing sent.
                    job.tries += 1
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
                    job.status_code = None  # the last answer proves nothing of a call the crash cut: unanswered
                    self._finish(job, Outcome.NETWORK_ERROR, message=without_known_secrets(f"internal error: {type(exc).__name__}: {exc}")[:300])
            finally:
                worker.job = None

    def _retry_later(self, job: RestartJob, delay: float) -> None:
        """Put the job back in its lane once `delay` has passed, and free the worker meanwhile.
        Slept on its worker, a retry's wait held the lane: four connectors answered 503 with
        Retry-After (up to max_pause, 15 minutes) took every worker of the key, and every other
        restart of every cluster on it waited them out, though nothing paused the key."""
        def due() -> None:
            del self._retries[job]
            job.retry_due = None
            if job.message.startswith(RETRY_WAIT_PREFIX):
                job.message = ""  # its wait is over
            if job.outcome is None:
                self._lanes[job.credential].put_nowait(job)

        job.retry_due = self._clock() + delay
        self._retries[job] = asyncio.get_running_loop().call_later(delay, due)

    def retry_in(self, job: RestartJob) -> float:
        """Seconds before the job's next try, while it waits for one (0 otherwise)."""
        return 0.0 if job.retry_due is None else max(0.0, job.retry_due - self._clock())

    def _finish(
        self, job: RestartJob, outcome: Outcome, result: ApiResult[Any] | None = None, message: str = ""
    ) -> None:
        if job.outcome is not None:
            raise RuntimeError(f"job {job.id} already ended as {job.outcome}")
        job.outcome = outcome
        job.phase = Phase.DONE
        self._forget_deferral(job)
        if job.message in WAITING_MESSAGES or refused_note(job.message):
            job.message = ""  # it no longer waits (a withdrawn one would still say so)
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
            self._one_less(job)
        try:
            self._observer.finished(job)
        finally:
            job.done.set()
            self._observer.depth_changed(job.credential, self.depth(job.credential))
            if not self._pending:
                self._idle.set()


@dataclass(eq=False)
class _Worker:
    name: str
    lane: str
    task: asyncio.Task[None] = field(init=False)
    job: RestartJob | None = None


def _refused(gateway: Gateway) -> bool:
    """Whether the lane's key, or its egress proxy, is known refused now: its restarts are parked
    at their turn (dispatch.py asks Gateway.refused_note). Read as the refusal's own `holds`,
    which ends one a rotated pair made stale (said by the next refused_note, as before)."""
    now = gateway.limiter.now()
    return gateway.refusal.holds(now) or gateway.proxy_refusal.holds(now)
