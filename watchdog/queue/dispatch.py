"""Sending one job: its turn in a worker, from the gates asked before each call through the calls
themselves (paced by the lane's rate limiter) to the retry it is due or the outcome it ends with.

`JobDispatch` is mixed into `RestartQueue` (restart_queue.py), which keeps the lanes, the workers
and the bookkeeping of every pending job; a job whose cluster is held waits parked (holding.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config import RateLimitSettings
from ..connect import ApiResult, ConnectBackend, Gateway
from ..logs import get_logger
from ..model import ConnectorKey, Outcome
from . import election
from .election import Leaderless, free_retry, not_elected
from .holding import SLOW_MESSAGE, JobHolding
from .job import Abandoned, JobNotRecorded, JobObserver, Phase, RestartJob

log = get_logger("watchdog.queue")

# What a restart says while it waits for the state store (JobDispatch._store_wait), before its reason.
STORE_WAIT_MESSAGE = "waiting: the state store cannot record it now; it stays queued and goes once it can"

# What a restart ended `network_error` says when its last call got no answer: the call may have
# reached the API, and the restart been made (JobRecorder holds queue.manual_restart_gap after it).
NO_ANSWER_NOTE = "; the last call got no answer: it may have reached the API, and the restart been made"
# 409 comes from self-managed Kafka Connect during a rebalance: worth another try shortly.
_RETRYABLE = frozenset({Outcome.SERVER_ERROR, Outcome.NETWORK_ERROR, Outcome.CONFLICT})
# How long a restart whose turn finds the shared state database (state.url) unable to read or
# record it waits for the database, queued, tried again every STORE_RETRY_SECONDS, before it ends `dropped` (JobDispatch.
# _store_wait). A database failover (Patroni, CloudNativePG, a switchover: a few seconds) met at a
# restart's turn ended the restart `dropped` at once, and every restart queued behind it too, each
# turn failing in microseconds: one 0.5 s failover ended 34 restarts asked for through the API
# (answered 202) `dropped`, unsent, within 0.2 s. A leader that cannot renew its lease meanwhile
# stands by before this bound, leaving the waiting restarts to the next leader, as every unsent one.
STORE_WAIT_SECONDS = 60.0
STORE_RETRY_SECONDS = 1.0
# How long a cluster's restarts go without asking for error recommendations once an ask got no
# answer or a server error (JobDispatch._fetch_recommendations).
RECOMMENDATIONS_QUIET_SECONDS = 600.0


class JobDispatch(JobHolding):
    # The queue's parts this uses besides JobHolding's (RestartQueue sets them).
    _settings: RateLimitSettings
    _observer: JobObserver
    _clock: Callable[[], float]
    _wall: Callable[[], datetime]
    _rng: Callable[[], float]
    # Clusters whose restarts go without error recommendations: (their backend then, until when).
    _recommendations_quiet: dict[str, tuple[ConnectBackend, float]]
    may_send: Callable[[], str | None]
    recheck_listing: Callable[[ConnectorKey, float], Awaitable[None]] | None
    store_wait_seconds: float = STORE_WAIT_SECONDS

    if TYPE_CHECKING:
        def _finish(
            self, job: RestartJob, outcome: Outcome, result: ApiResult[Any] | None = None, message: str = ""
        ) -> None: ...
        def _retry_later(self, job: RestartJob, delay: float) -> None: ...

    async def _dispatch(self, job: RestartJob) -> None:
        job.phase = Phase.WAITING
        self._check_leading()
        if job.tries == 0:
            if not await self._first_turn(job):
                return
        elif self._store_wait(job) or self._ended_by_gates(job) or self._parked(job):
            return  # a retry whose wait is over: held before it waits for budget again
        # The limiter of the key the backend sends with now: a reload that moved the cluster to
        # another credential while the job waited gave it that key's client, and the old lane's
        # limiter then paced (and paused, at its 429) calls made with another key.
        gateway = self._gateways[self._credentials[job.key.cluster]]
        while True:
            job.asked_at = self._clock()
            try:
                result, _ = await gateway.call(
                    job.key.cluster, functools.partial(self._send, job, gateway),
                    connector=job.key.connector, rule=job.primary.rule, job=job.id,
                )
            except JobNotRecorded as exc:
                if not self._store_wait(job):  # the store refused its `sending` just now
                    self._finish(job, Outcome.UNSENT if self._observer.kept_unwritten(job) else Outcome.DROPPED,
                                 message=f"not sent: {exc}")
                return
            except _Held as held:
                self._finish(job, held.outcome, message=held.message)
                return
            except _Parked as parked:
                self._park(job, *parked.args)
                return
            except _Ended:
                return
            except _PausedSince as paused:
                # Decided on a listing from before a pause of the key: its cluster is listed again
                # first (one listing, shared by every restart of the cluster that waited), and the
                # gates at the next try judge the job on it (JobRecorder.drop_reason).
                assert self.recheck_listing is not None
                await self.recheck_listing(job.key, paused.ended_ago)
                continue
            retry, free = self._count_try(job, result)
            if retry and (result.status_code is not None or result.not_run) and self._observer.answered(job):
                # An answer, whatever its status, proves the call is off the wire, as a call that
                # never left does (ApiResult.not_run): until the next try the job is as unsent as
                # one never tried. (Any other network error proves nothing: the call may have
                # reached the API, so the store keeps it `sending`.)
                job.maybe_sent = False
            if retry and self._stopping and not job.maybe_sent:
                # Answered while the daemon stops (a call on the wire may finish): the retry it
                # was due is left to the next start, as for every job not yet sent.
                self._finish(job, Outcome.UNSENT, result, message=(
                    f"answered {result.status_code} while the daemon was stopping; not tried again before it stops"))
                return
            if not retry or self._stopping:
                note = "" if retry else not_elected(job.leaderless, result, self._clock())
                if result.status_code is None and result.outcome is Outcome.NETWORK_ERROR and not result.not_run:
                    note += NO_ANSWER_NOTE
                self._finish(job, result.outcome, result, message=f"{result.message}{note}" if note else "")
                return
            if result.outcome in _RETRYABLE:
                # Each kind of try on a backoff of its own: an election's first retries go soon
                # after it, and the ones spending max_retries afterwards start again from the base.
                delay, source = (self._retry_delay(job.failures, result) if free is None
                                 else self._retry_delay(free.tries, result, cap=election.ELECTION_DELAY_CAP))
                leaderless: dict[str, object] = {} if free is None else {
                    "between_leaders": True, "leaderless_seconds": round(self._clock() - free.since, 3)}
                log.info("restart_retry_scheduled", cluster=job.key.cluster, connector=job.key.connector, job=job.id,
                         status_code=result.status_code, outcome=result.outcome.value, tries=job.tries,
                         delay_seconds=round(delay, 3), source=source, **leaderless)
                # Said where a person waiting on it looks (status, GET /v1/restarts/{id}): a 503's
                # Retry-After of 15 minutes showed as a plain "queued", the API's words dropped.
                job.message = retry_note(result, delay, source)
                self._retry_later(job, delay)
                return

    async def _send(self, job: RestartJob, gateway: Gateway) -> ApiResult[Any]:
        """One call of the job, once the lane's limiter gave it budget: the gates asked again,
        the job marked as possibly sent, then the restart."""
        if job.outcome is not None:
            raise _Ended  # withdrawn while it waited for budget (withdraw)
        self._check_leading()
        # The gates once more, after the wait for budget: a 429's pause holds the jobs the
        # workers took for up to max_pause, and a reload to dry-run, an exclude, a breaker
        # that opened or a blocking alert meanwhile must hold them too (every one went out).
        # Ended here, the permit counts as a call that got no answer: the limiter's safe side.
        if self._store_wait(job):
            raise _Ended  # back in its lane once the store may answer again
        held = self._held(job)
        if held is not None:
            raise _Held(*held)
        ended_ago = self._paused_while_waiting(job, gateway)
        if ended_ago is not None:
            raise _PausedSince(ended_ago)
        if self._slow(job.key.cluster):
            raise _Parked(SLOW_MESSAGE)
        if (refused := gateway.refused_note(job.key.cluster)) is not None:
            raise _Parked(refused)  # its key was refused (401) while it waited, here or on its cluster: a sure 401
        # Its cluster's restarts may have been held (outage.py) while this waited for budget:
        # every worker of the key took one then, and each went into the outage.
        wait = gateway.limiter.restart_hold.wait(job.key.cluster, caller=job.id)
        if wait > 0:
            raise _Parked
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
        # followed by a slow write). Refused here, this replica knows the call never went out,
        # though the store holds it as possibly sent: it says so while its lease still holds
        # (JobObserver.not_sent), so that the next leader does not end it `interrupted`.
        try:
            self._check_leading()
        except Abandoned:
            self._observer.not_sent(job)
            raise
        job.phase, job.sending_since = Phase.SENDING, self._wall()
        # Cancelled on the wire (shutdown), the job stays SENDING: it may have reached the API.
        # The cluster's backend as it is at this call, not at the job's first turn: a reload
        # that redefined the cluster (its workers, TLS or auth) meanwhile closes the old one's
        # client once its calls have ended (cluster_host.ClusterHost._install_cluster).
        backend = self._backends[job.key.cluster]
        # The job keeps the last answer's status, as _finish does with a result: a try answered
        # 429, then left unsent at a stop (which passes none), said `status_code: null`, read as
        # never answered. None while a call is on the wire: one that never returns is unanswered.
        job.status_code = None
        result = await backend.restart(job.key.connector, only_failed=job.only_failed)
        job.status_code, job.last_call_not_run = result.status_code, result.not_run
        job.phase, job.sending_since = Phase.WAITING, None
        return result

    def _paused_while_waiting(self, job: RestartJob, gateway: Gateway) -> float | None:
        """How long ago a pause of the key that held the restart ended (None: no pause held it).
        A 429's Retry-After (up to rate_limit.max_pause) holds the polls too, and the restarts
        queued before it went as it ended, on the listing from before it: a connector deleted and
        created again healthy meanwhile (a new lcc- id) was restarted, as was one that had
        recovered (a probe, 2026-12-06). Every restart, not only a poll's: the gates judge each
        on the listing (its owner's PAUSED or STOPPED, a failure's lcc- id replaced), and an
        alert's restart went to the new connector created under its name, and restarts by alert
        and by name into connectors paused meanwhile (a probe, 2026-12-06). Asked after the wait,
        so the permit it holds is spent (at most max_concurrent_requests a pause: the workers that
        waited through it), and the listing is one per cluster (ClusterPoller.ensure_listed).
        Not a schedule's alone: a planned backlog of hundreds meets a 429 now and then, and each
        pause then cost a listing and the permits of every worker that waited through it (a burst
        of 200 without rate headers took 1.24 x the ideal where 1.11: tests/test_burst.py)."""
        if self.recheck_listing is None or job.schedules_only:
            return None
        paused_until = gateway.limiter.state.paused_until
        if paused_until <= job.asked_at:
            return None
        return max(0.0, self._clock() - paused_until)

    def _count_try(self, job: RestartJob, result: ApiResult[Any]) -> tuple[bool, Leaderless | None]:
        """The try counted against the bound its answer spends; whether the job earns another try,
        and the free one (not spending max_retries) a cluster between leaders gives it."""
        job.tries += 1
        if result.outcome is Outcome.RATE_LIMITED:
            # No sleep here: the limiter holds every caller of the credential until the
            # pause the 429 imposed is over.
            job.rate_limited += 1
            return job.rate_limited <= self._settings.max_rate_limited_retries, None
        if result.outcome in _RETRYABLE:
            # A self-managed cluster between leaders ran nothing: tried again while it elects
            # one, without spending max_retries, within bounds (election.py).
            free = free_retry(job.leaderless, result, self._clock())
            if free is not None:
                job.leaderless = free
                return True, free
            job.failures += 1
            return job.failures <= self._settings.max_retries, None
        return False, None

    async def _first_turn(self, job: RestartJob) -> bool:
        """What a job's first turn does before its first call; False when it ended here."""
        if self._store_wait(job) or self._ended_by_gates(job) or self._parked(job):
            return False
        if job.wants_recommendations:
            await self._fetch_recommendations(job, self._backends[job.key.cluster],
                                              self._gateways[self._credentials[job.key.cluster]])
        return True

    def _store_wait(self, job: RestartJob) -> bool:
        """Whether the job waits, queued, for the state store (STORE_WAIT_SECONDS): tried again
        in STORE_RETRY_SECONDS, off its worker. Past the bound its turn goes on, and drop_reason
        ends it `dropped` as before. Its requests stay pending in the store meanwhile, so a stop
        or a step-down leaves it to the next start or leader, as any restart not sent."""
        reason = self._observer.store_unavailable(job)
        if reason is None:
            job.store_waiting_since = None
            if job.message.startswith(STORE_WAIT_MESSAGE):
                job.message = ""
            return False
        now = self._clock()
        since = job.store_waiting_since
        first = since is None
        if since is None:
            since = job.store_waiting_since = now
        if now - since >= self.store_wait_seconds:
            return False
        if first:
            log.info("restart_waiting_for_state", cluster=job.key.cluster, connector=job.key.connector, job=job.id,
                     error=reason, wait_seconds=self.store_wait_seconds,
                     note="the restart stays queued and goes once the state store can record it; it ends dropped "
                          "if the store cannot within wait_seconds")
        # Said where a person waiting on it looks (GET /v1/restarts/{id}, `watchdog restart --daemon`).
        job.message = f"{STORE_WAIT_MESSAGE} ({reason})"
        self._retry_later(job, STORE_RETRY_SECONDS)
        return True

    def _held(self, job: RestartJob) -> tuple[Outcome, str] | None:
        """How the job ends if it must not be sent now (the config and the gates as they are at
        this moment), or None to send it. Asked at its turn and again right before each call."""
        reason = self._observer.drop_reason(job)
        if reason is not None and self._observer.kept_unwritten(job):
            return Outcome.UNSENT, after_tries(job, f"not sent: {reason}")
        if reason is not None:
            return Outcome.DROPPED, after_tries(job, reason)
        if job.dry_run or self._observer.dry_run_now(job):
            return Outcome.DRY_RUN, after_tries(job, "")
        return None

    def _ended_by_gates(self, job: RestartJob) -> bool:
        held = self._held(job)
        if held is not None:
            self._finish(job, held[0], message=held[1])
        return held is not None

    def _check_leading(self) -> None:
        reason = self.may_send()
        if reason is not None:
            raise Abandoned(reason)

    async def _fetch_recommendations(self, job: RestartJob, backend: ConnectBackend, gateway: Gateway) -> None:
        """Confluent's advice exists only while the connector is failed: ask before the restart.
        One try, no retries: it is evidence, not the job. Once an ask got no answer or a server
        error, the cluster's restarts go without asking for RECOMMENDATIONS_QUIET_SECONDS: an
        endpoint that hangs cost every restart of an incident its deadline, one after another on
        the key's lane, with the polls behind them."""
        cluster = job.key.cluster

        def quiet() -> bool:
            paused = self._recommendations_quiet.get(cluster)
            return paused is not None and paused[0] is backend and self._clock() < paused[1]

        async def ask() -> ApiResult[list[str]]:
            if quiet():  # paused while this waited for the lane (the calls ahead of it failed)
                raise _Ended
            return await backend.error_recommendations(job.key.connector)

        if quiet():
            return
        try:
            result, _ = await gateway.call(cluster, ask, connector=job.key.connector, job=job.id)
        except _Ended:
            return
        if result.ok and result.value:
            job.recommendations = tuple(result.value)
        elif result.outcome in (Outcome.NETWORK_ERROR, Outcome.SERVER_ERROR) and not quiet():
            self._recommendations_quiet[cluster] = (backend, self._clock() + RECOMMENDATIONS_QUIET_SECONDS)
            log.info("recommendations_paused", cluster=cluster, outcome=result.outcome.value,
                     status_code=result.status_code, seconds=RECOMMENDATIONS_QUIET_SECONDS,
                     note="restarts of this cluster go without asking for error recommendations meanwhile")

    def _retry_delay(self, failures: int, result: ApiResult[Any], cap: float | None = None) -> tuple[float, str]:
        """How long before the next try after a 5xx, a 409 or a network error, and why; `cap`: a
        shorter cap than the backoff's, if any."""
        backoff = self._settings.backoff
        limit = backoff.cap if cap is None else min(cap, backoff.cap)
        ceiling = min(limit, backoff.base * 2 ** (failures - 1))
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


class _Held(Exception):
    """The gates, asked right before a call, hold the job: it ends with this outcome, unsent."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


class _PausedSince(Exception):
    """A pause of the key held the job while it waited for budget; the pause ended `ended_ago`
    seconds ago."""

    def __init__(self, ended_ago: float) -> None:
        super().__init__(ended_ago)
        self.ended_ago = ended_ago


class _Parked(Exception):
    """Its cluster's restarts are held, found right before the call: the job waits, queued."""


class _Ended(Exception):
    """The job ended (withdrawn), or went back to wait for the state store, while its worker waited to
    send it: nothing more to do on this turn."""


# What a job waiting for its next try after a 5xx, a 409 or a network error says, before why.
RETRY_WAIT_PREFIX = "waiting for its next try"


def retry_note(result: ApiResult[Any], delay: float, source: str) -> str:
    """What a job scheduled to be tried again after `result` says while it waits."""
    got = f"was answered HTTP {result.status_code}" if result.status_code is not None else "got no answer"
    words = f" ({result.message[:200]})" if result.message else ""
    why = "its Retry-After, capped at rate_limit.max_pause" if source == "retry_after" else "the queue's backoff"
    return f"{RETRY_WAIT_PREFIX}, {math.ceil(delay)} s after the last one {got}{words} ({why})"


def after_tries(job: RestartJob, reason: str) -> str:
    """A held job's message; one already tried says so, since its earlier calls went out."""
    if not job.tries:
        return reason
    earlier = f"not tried again after {job.tries} earlier tr{'y' if job.tries == 1 else 'ies'}"
    if job.maybe_sent:
        earlier += " (the last got no answer: it may have reached the API)"
    return f"{reason}; {earlier}" if reason else earlier
