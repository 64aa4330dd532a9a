"""One list call per cluster: every connector's status at once.

A listing is also what makes a connector real to the daemon: alerts and API requests act only on
connectors a listing showed, and `ensure_listed` lists a cluster on demand (through its rate
limiter) when its last listing is too old for that; `list_again` lists it when a firing alert
names a connector its last listing lacked (one created since), at most every few seconds. A request waits for that listing a few
seconds at most, and not at all while the cluster's key is paused by a 429 for longer: a pause
lasts up to `rate_limit.max_pause` (15 minutes), and a caller kept that long times out while the
daemon acts on its request minutes later, unseen. It is told instead that the cluster could not
be listed (the webhook and the API answer 503, which Alertmanager retries); the listing goes on
and the request sent again finds it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from ..connect import ConnectBackend, Gateway
from ..engine import Engine
from ..engine.recorder import store_noun
from ..logs import get_logger
from ..metrics import Metrics
from ..model import ConnectorStatus, Outcome
from ..state import StateStoreError
from ..tasks import cancel_and_wait
from .emptied import EMPTIED, EmptiedListing
from .listing_wait import ListingCalls, ListingWait
from .streak import Attempt, FailureStreak

log = get_logger("watchdog.poller")

# Unusable entries named in one log line; the count and the metric cover the rest.
LOGGED_ENTRIES = 10

# An alert or an API request naming a connector of a cluster that no rule polls lists the
# cluster first when its last listing is older than this; a polled cluster, when its last
# listing is older than its poll interval plus LISTING_SLACK_SECONDS (a poll in progress).
ON_DEMAND_LISTING_MAX_AGE = 60.0
LISTING_SLACK_SECONDS = 10.0
# A firing alert naming a connector its cluster's last listing lacked lists the cluster again when
# that listing is older than this (list_again). Answered `unmatched` (a 200, which Alertmanager takes
# as delivered), the alert of a connector created since the last listing waited for its
# repeat_interval (1 h, 4 h by default). Bounded: one listing of a cluster at a time, none sooner
# than this after the last, and a failed one told for FAILED_LISTING_MEMORY_SECONDS: a flood of
# alerts for a connector that does not exist makes a listing every few seconds, not one each.
LIST_AGAIN_AFTER_SECONDS = 5.0
# After a failed on-demand listing, alerts and requests are told the same failure for this long
# instead of each sending another list call: a burst of webhooks costs one call, not one each.
FAILED_LISTING_MEMORY_SECONDS = 10.0
# How long an alert or a request waits for an on-demand listing before it is told the cluster
# could not be listed (the listing goes on). Well under a webhook client's timeout (Alertmanager's
# and most HTTP clients' are 10 s or more); a list call answers in well under a second.
LISTING_WAIT_SECONDS = 5.0
# Why a cluster was not listed when its listing was cancelled under a caller (a stop: close()).
STOPPING = "the daemon is stopping: its listing was cancelled"
# Listing failures that may pass by themselves (a 429, a 5xx, a network error, a Kafka Connect
# rebalance): a listing that a schedule run or a person waits for is asked for again after them,
# 1 s after the first, then twice as long each time up to 30 s (list_retrying).
LISTING_FAILURES_THAT_PASS = frozenset(
    {Outcome.RATE_LIMITED.value, Outcome.SERVER_ERROR.value, Outcome.NETWORK_ERROR.value, Outcome.CONFLICT.value,
     EMPTIED}
)
# A listing's outcomes that refuse the key (401, 403): what refused_hint asks about.
_REFUSED = frozenset({Outcome.UNAUTHORIZED.value, Outcome.FORBIDDEN.value})
LISTING_RETRY_FIRST_DELAY = 1.0
LISTING_RETRY_MAX_DELAY = 30.0
# How long `watchdog restart` (Daemon.restart_now) tries to list the cluster its restart needs:
# a person waits at the terminal, as for `check-config --discover` (30 s of waiting in all).
REQUEST_LISTING_SECONDS = 30.0
# What holds a cluster's polls when an answer spent the key's budget for long (Poller.paused).
BUDGET_SPENT_BY = "the key's budget: an answer said Remaining 0 until its Reset (rate_limit_budget_spent)"


class ClusterPoller:
    def __init__(
        self,
        cluster: str,
        backend: ConnectBackend,
        gateway: Gateway,
        engine: Engine,
        metrics: Metrics,
        now: Callable[[], datetime],
    ) -> None:
        self.cluster = cluster
        self._backend = backend
        self._gateway = gateway
        self._engine = engine
        self._metrics = metrics
        self._now = now
        # Ready means "we have tried", not "it worked": a cluster answering 403 must not keep the
        # pod out of its Service, or Prometheus would stop scraping exactly when it matters.
        self.first_poll_done = False
        # Whether readiness waits for that first poll: the clusters in service before the daemon
        # was first ready do; one a reload or discovery adds later does not (cluster_host.py).
        self.holds_readiness = True
        self.listed_at: datetime | None = None  # the last listing that worked
        self._failed_at: datetime | None = None
        self._failure = ""
        self.failed_with = ""  # the last failed listing's outcome (Outcome's value, or "unusable")
        self.failed_listings = 0  # listings that failed since the start (run --once: once.py)
        self.last_listing_failed = False  # the last listing failed (none worked after it)
        self._on_demand: asyncio.Task[Mapping[str, ConnectorStatus] | None] | None = None
        self._closed = False  # by close(): no listing starts after it (ensure_listed)
        self._last_unusable: frozenset[tuple[str, str]] = frozenset()
        self._calls = ListingCalls()  # its list calls waiting for budget, and out (a late listing's why)
        self._emptied = EmptiedListing()  # a listing of none, after some: believed once the next confirms it
        self._streak = FailureStreak(now)
        # What to ask of a poll refused 401 or 403 (cluster_host.py: a cluster listed by hand under
        # another key than discovery's, which lists it: config.another_keys_question), said on the
        # first poll_failed line that has one, not at every line saying the streak again.
        self.refused_hint: Callable[[], str] = lambda: ""
        self._hinted = False
        self._not_judged = FailureStreak(now)  # polls whose decisions the state store refused
        # The incarnation of the cluster this poller lists (EngineCore.cluster_generation): once a
        # reload or discovery removes or redefines the cluster, this poller is out of service, and
        # a listing it is still asked for (a schedule run holding it, waiting to try again) speaks
        # for a cluster gone: it is dropped, as one under way at the removal is.
        self._incarnation = engine.cluster_generation.get(cluster, 0)

    async def _fetch(self) -> Mapping[str, ConnectorStatus] | None:
        """The list call; None when it failed (counted, and logged as streak.py says)."""
        attempt = self._streak.attempt()
        current = self._engine.cluster_unchanged(self.cluster, self._incarnation)
        try:
            with self._calls.asked(self._backend.list_connectors) as list_connectors:
                result, _ = await self._gateway.call(self.cluster, list_connectors, attempt.failed)
        except Exception as exc:
            # A bug (an answer no reader expected) must not end the poll uncounted: raised past
            # here it left only the scheduler's "Job raised an exception", no poll_failed, and
            # /readyz at 503 for good, this cluster never having been polled. Counted as the
            # queue counts a crashed restart (restart_queue.py). Its traceback is said as the
            # failure is (streak.py): once at the start, then every few minutes, not every poll.
            said = attempt.failed(Outcome.NETWORK_ERROR.value)
            if said is None:
                log.debug("poll_crashed", cluster=self.cluster, error=f"{type(exc).__name__}: {exc}")
            else:
                log.exception("poll_crashed", cluster=self.cluster, **said)
            self.first_poll_done = True
            self._failed(attempt, Outcome.NETWORK_ERROR.value, f"internal error: {type(exc).__name__}: {exc}")
            return None
        self.first_poll_done = True
        if not current():
            # A reload or discovery removed or redefined the cluster while the call was out: what
            # it answered is of a cluster gone. Taken in, a listing (or its failure) for a request
            # or a schedule run made the removed cluster's connectors known and its series again,
            # for good, and a request for one of them was queued for a cluster no longer named.
            self._failure = "the cluster was removed or redefined (a reload or discovery) while it was listed"
            log.debug("poll_dropped", cluster=self.cluster, note=self._failure)
            return None
        if not result.ok or result.value is None:
            self._failed(attempt, result.outcome.value, result.message)
            return None
        statuses = result.value
        unusable = {name: s.unusable for name, s in statuses.items() if s.unusable is not None}
        self._report_unusable(unusable)
        if statuses and len(unusable) == len(statuses):
            # A map of nothing usable is not an empty cluster: a 200 carrying an error message
            # (`{"message": "Service temporarily unavailable"}`) reads that way. Believing it
            # would make every connector vanish; it is a failed poll. An empty map `{}` is a
            # cluster without connectors, which the API may legally answer.
            self._failed(attempt, "unusable", f"the answer held {len(unusable)} entries and none could be read")
            return None
        held = self._emptied.held(self._engine.listed(self.cluster), len(statuses))
        if held is not None:
            self._failed(attempt, EMPTIED, held)
            return None
        recovered = attempt.succeeded()
        if recovered is not None:
            log.info("poll_recovered", cluster=self.cluster, **recovered)
        return statuses

    def _failed(self, attempt: Attempt, result: str, message: str) -> None:
        self._failed_at, self._failure = self._now(), f"{result}: {message}"[:300]
        self.failed_with = result
        self.failed_listings += 1
        self.last_listing_failed = True
        self._engine.on_poll_failed(self.cluster, result)
        said = attempt.failed(result)
        if said is None:
            log.debug("poll_failed", cluster=self.cluster, outcome=result, message=message)
        else:
            log.warning("poll_failed", cluster=self.cluster, outcome=result, message=message, **said,
                        **self._hint(result))

    def _hint(self, result: str) -> dict[str, str]:
        """The `hint` of a poll refused 401 or 403, once (refused_hint): check-config --discover's
        question was the only place it was asked, and the daemon's line said a bare 403."""
        if self._hinted or result not in _REFUSED:
            return {}
        hint = self.refused_hint()
        if not hint:
            return {}  # discovery may not have listed the cluster yet: asked again at the next line
        self._hinted = True
        return {"hint": hint}

    def _report_unusable(self, unusable: Mapping[str, object]) -> None:
        """Count every unusable entry; log them when the set changes (at debug while it stays)."""
        for reason in unusable.values():
            self._metrics.unusable_entries.labels(self.cluster, str(reason)).inc()
        seen = frozenset((name, str(reason)) for name, reason in unusable.items())
        if not seen and not self._last_unusable:
            return
        entries = dict(sorted(seen)[:LOGGED_ENTRIES])
        if not seen:
            # Back to none: news, but no warning (a warning of `count: 0` announced nothing).
            log.info("unusable_entries", cluster=self.cluster, count=0, entries={}, note="every entry can be read again")
        elif seen != self._last_unusable:
            log.warning("unusable_entries", cluster=self.cluster, count=len(seen), entries=entries,
                        note="judged transient; their state is kept")
        else:
            log.debug("unusable_entries", cluster=self.cluster, count=len(seen), entries=entries)
        self._last_unusable = seen

    def _listed(self) -> None:
        now = self._now()
        self.listed_at = now
        self.last_listing_failed = False
        self._metrics.polls.labels(self.cluster, "ok").inc()
        self._metrics.last_poll.labels(self.cluster).set(now.timestamp())

    async def list(self) -> Mapping[str, ConnectorStatus] | None:
        """The cluster's connectors, or None when the call failed (already counted and logged)."""
        began = self._now()  # what the answer proves gone was asked for before this (gone_jobs.py)
        statuses = await self._fetch()
        if statuses is None:
            return None
        statuses = self._engine.on_listing(self.cluster, statuses, began=began)
        self._listed()
        return statuses

    async def poll(self) -> None:
        """The status trigger: list, then let the engine judge every watched connector. The poll
        counts as `ok` (and as the last successful poll) only once it has been judged: a daemon
        whose state file cannot record the decisions has not healed anything."""
        generation = self._engine.cluster_generation.get(self.cluster, 0)
        began = self._now()
        statuses = await self._fetch()
        if statuses is None:
            return
        attempt = self._not_judged.attempt()
        try:
            if not await self._engine.on_poll(self.cluster, statuses, generation=generation, began=began):
                # A reload or discovery removed or redefined the cluster meanwhile: this poll
                # speaks for a cluster that is gone (its series, its last poll time) no more.
                log.debug("poll_dropped", cluster=self.cluster, note="the cluster was removed or redefined meanwhile")
                return
        except StateStoreError as exc:
            self._metrics.polls.labels(self.cluster, "state_error").inc()
            # A full disk fails every poll until it has room: said as streak.py says a failing
            # listing (an error line per cluster every 5 s buried the rest).
            said = attempt.failed("state_error")
            (log.debug if said is None else log.error)(
                "poll_not_judged", cluster=self.cluster, error=str(exc),
                note="the state store cannot record decisions; nothing was restarted", **(said or {}))
            return
        ended = attempt.succeeded()
        if ended is not None:
            log.info("poll_not_judged_ended", cluster=self.cluster, **ended)
        self._listed()

    @property
    def failure(self) -> str:
        """Why the last listing that failed did (outcome: message), "" when none did."""
        return self._failure

    def failing(self) -> dict[str, object] | None:
        """The cluster's listings failing now, as `watchdog status --daemon` shows them (`polls_failing`
        of GET /v1/connectors): how the last one failed, since when, and when one last worked;
        None while the last listing worked."""
        since = self._streak.since
        if since is None:
            return None
        return {"cluster": self.cluster, "outcome": self.failed_with, "message": self._failure,
                "failing_since": since.isoformat(), "last_listed_at": None if self.listed_at is None else self.listed_at.isoformat()}

    def paused(self) -> dict[str, object] | None:
        """The cluster's polls held now by a pause of its API key (a 429's Retry-After, up to
        rate_limit.max_pause), as `watchdog status --daemon` shows them (`polls_paused` of GET
        /v1/connectors): for how long more, by what, and when a listing last worked. Its polls
        do not fail meanwhile, they wait: its rows showed the last poll's view, as of minutes
        ago, without a word. So does a long wait for the key's budget that a successful answer
        set (`Remaining: 0` with a `Reset` of a minute or more, rate_limit_budget_spent): it held
        the polls as long, and `polls_paused` said `[]`. None while nothing pauses the key."""
        seconds, budget = self.held_for()
        by = BUDGET_SPENT_BY if budget else self.paused_by()
        if seconds <= 0:
            return None
        return {"cluster": self.cluster, "paused_seconds": round(seconds, 1), "paused_by": by,
                "last_listed_at": None if self.listed_at is None else self.listed_at.isoformat()}

    def forget_listing(self) -> None:
        """This replica stood by and forgot what the listings showed (Engine.stand_by): a
        restart asked for once it leads again lists the cluster first, rather than being told
        its connector was not in a listing forgotten since (404)."""
        self.listed_at = None

    def stale(self, max_age: float) -> bool:
        """True when the last listing that worked is older than `max_age` seconds (or none did)."""
        return self.listed_at is None or not _within(self._now(), self.listed_at, max_age)

    def paused_for(self) -> float:
        """Seconds for which a 429 (or an outage) still holds every call of this cluster's key (0 if none does)."""
        return self._gateway.limiter.paused_for()

    def held_for(self) -> tuple[float, bool]:
        """Seconds for which every call of this cluster's key waits, and whether for its budget (a
        long wait an answer's `Remaining: 0` set) rather than a pause (a 429's, an outage's)."""
        return key_held_for(self._gateway)

    @property
    def first_poll_awaited(self) -> bool:
        """Whether readiness waits for this cluster's first poll (not made yet, and the cluster
        was in service before the daemon was first ready)."""
        return self.holds_readiness and not self.first_poll_done

    def paused_by(self) -> str:
        """What holds every call of the key now (`a 429`, or an outage's 5xx answers)."""
        return self._gateway.limiter.paused_by()

    async def ensure_listed(self, max_age: float, wait: float = LISTING_WAIT_SECONDS, *,
                            after_failure: bool = False) -> str | None:
        """List the cluster unless it was listed within `max_age` seconds, waiting at most `wait`
        seconds for it. None when the connectors are known; otherwise why they are not (the
        listing failed, or has not finished: it goes on, and a later call finds it done).
        `after_failure`: list even when a listing failed moments ago (FAILED_LISTING_MEMORY_SECONDS)."""
        if not self.stale(max_age):
            return None
        if self._closed:
            # The stop's drain (turn_listing) asks after the pollers closed: a listing started
            # now went out beside the drain's restarts, and nothing cancelled it.
            return STOPPING
        now = self._now()
        if self._on_demand is None or self._on_demand.done():
            recent_failure = (not after_failure and self._failed_at is not None
                              and _within(now, self._failed_at, FAILED_LISTING_MEMORY_SECONDS)
                              and (self.listed_at is None or self._failed_at > self.listed_at))
            if recent_failure:
                return self._failure
            # Started even while the key is paused: one call, sent when the pause ends, so that
            # the request sent again then finds the cluster listed.
            self._on_demand = asyncio.create_task(self.list(), name=f"list-{self.cluster}")
        paused = self.paused_for()
        if paused > wait:
            # No point waiting: the call cannot go before the pause ends.
            return (f"its API key ({self._gateway.credential}) is paused by {self.paused_by()} for "
                    f"{math.ceil(paused)} s more; "
                    "the listing goes out when the pause ends")
        store = self._engine.state
        held, began = store.held.seconds, time.monotonic()  # the clock HeldTime counts by
        listing = self._on_demand
        try:
            # Shielded: a caller that gives up (or hangs up) does not cancel a listing others
            # may be waiting for.
            statuses = await asyncio.wait_for(asyncio.shield(listing), wait)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not listing.cancelled() or (current is not None and current.cancelling()):
                raise  # the caller itself was cancelled: that is its own to end
            # The listing was cancelled, not its caller: the daemon stops (close()). Let through,
            # the cancellation reached every waiter as a CancelledError, and the server answered
            # each webhook and restart request a plain-text 500 with a traceback (probe_callers
            # F1): said instead, so that the routes answer 503 `shutting down` (refusals.may_act).
            return STOPPING
        except TimeoutError:
            return ListingWait(wait, time.monotonic() - began, self._gateway.credential,
                               for_budget=self._calls.for_budget > 0,
                               on_the_wire=self._calls.on_the_wire > 0, store_seconds=store.held.seconds - held,
                               store=store_noun(self._engine.config.state)).reason()
        return None if statuses is not None else self._failure

    async def close(self) -> None:
        self._closed = True
        if self._on_demand is not None:
            await cancel_and_wait([self._on_demand])


def key_held_for(gateway: Gateway) -> tuple[float, bool]:
    """Seconds for which every call through `gateway` (one API key's lane) waits, and whether for
    its budget (a long wait an answer's `Remaining: 0` set) rather than a pause (a 429's, an
    outage's). Read from the lane, not a poller: a restart queued for a cluster a reload removed
    has no poller any more and still waits in its lane (app.Daemon._lane_held_for)."""
    paused = gateway.limiter.paused_for()
    return (paused, False) if paused > 0 else (gateway.budget_spent_for(), True)


async def list_retrying(
    poller: ClusterPoller, deadline: float, keep_going: Callable[[], bool], on_retry: Callable[[float], None]
) -> Mapping[str, ConnectorStatus] | None:
    """The cluster's listing, asked for again after a failure that may pass (LISTING_FAILURES_THAT_PASS)
    while another try can begin before `deadline` (the event loop's time) and `keep_going()`;
    `on_retry(wait)` is told of each wait: the retry's delay, or the key's rate-limit pause
    when that is longer, as the next try waits out that pause as every call does (told the delay
    alone, `delay_seconds: 1.0` was said of a listing that then waited 120 s for a 429's
    Retry-After). None when no try got it (the poller says why)."""
    loop = asyncio.get_running_loop()  # the clock asyncio.sleep waits on
    delay = LISTING_RETRY_FIRST_DELAY
    while True:
        statuses = await poller.list()
        if (statuses is not None or poller.failed_with not in LISTING_FAILURES_THAT_PASS
                or loop.time() + delay > deadline or not keep_going()):
            return statuses
        on_retry(round(max(delay, poller.paused_for()), 1))
        await asyncio.sleep(delay)
        delay = min(2 * delay, LISTING_RETRY_MAX_DELAY)


async def list_for_request(
    poller: ClusterPoller, connector: str, stopping: Callable[[], bool]
) -> tuple[Mapping[str, ConnectorStatus] | None, str]:
    """The listing `watchdog restart` needs before its restart, tried again for up to
    REQUEST_LISTING_SECONDS after a failure that may pass (restart_listing_retried); else None
    and why. One 429 refused the restart at once before, "could not be listed (rate_limited)",
    though its Retry-After asked for a second or two. A wait that cannot end in time (a
    Retry-After of minutes) is not begun: the answer says how long the key is paused instead."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REQUEST_LISTING_SECONDS

    def keep_going() -> bool:
        return not stopping() and loop.time() + poller.paused_for() <= deadline

    def said(delay: float) -> None:
        log.warning("restart_listing_retried", cluster=poller.cluster, connector=connector, delay_seconds=delay,
                    reason=poller.failure)

    paused = poller.paused_for()
    if paused > REQUEST_LISTING_SECONDS:
        # The key is paused already (a 429 one of discovery's listings met): the first try would
        # wait out the whole pause, up to rate_limit.max_pause (15 minutes), with nothing said.
        return None, (f"cluster {poller.cluster} was not listed: its API key is paused by {poller.paused_by()} for "
                      f"{math.ceil(paused)} s more, longer than the {REQUEST_LISTING_SECONDS:g} s this command "
                      "waits: try again then")
    statuses = await list_retrying(poller, deadline, keep_going, said)
    if statuses is not None:
        return statuses, ""
    paused = poller.paused_for()
    later = f"; its API key is paused by {poller.paused_by()} for {math.ceil(paused)} s more: try again then" if paused > 0 else ""
    return None, f"cluster {poller.cluster} could not be listed ({poller.failure}){later}"


def _within(now: datetime, then: datetime, seconds: float) -> bool:
    """`then` lies at most `seconds` before `now`. A `then` after `now` is not recent but from
    before a backward step of the wall clock: taken as recent, a listing was trusted, and a failed
    one repeated to every alert and request without a new try, for the whole length of the step."""
    return 0 <= (now - then).total_seconds() <= seconds


def listing_max_age(intervals: Mapping[str, float], cluster: str) -> float:
    """How old a cluster's last listing may be before an alert or a request lists it again."""
    interval = intervals.get(cluster)
    return ON_DEMAND_LISTING_MAX_AGE if interval is None else interval + LISTING_SLACK_SECONDS


def stale_clusters(
    pollers: Mapping[str, ClusterPoller], intervals: Mapping[str, float], clusters: Iterable[str]
) -> set[str]:
    """The named clusters that `ensure_listed` would list (or report as not configured)."""
    return {c for c in clusters if c not in pollers or pollers[c].stale(listing_max_age(intervals, c))}


async def ensure_listed(
    pollers: Mapping[str, ClusterPoller], intervals: Mapping[str, float], clusters: Iterable[str],
    wait: float | None = None,
) -> dict[str, str]:
    """List, through their rate limiters, the clusters whose last listing is too old to say
    which connectors exist, waiting at most `wait` seconds (LISTING_WAIT_SECONDS); returns those
    that could not be listed, with why. Side by side: a cluster whose key is paused or slow
    never delays another's. A request that lists nothing does not yield to other tasks."""
    wait = LISTING_WAIT_SECONDS if wait is None else wait
    problems = {}
    stale = []
    for cluster in sorted(set(clusters)):
        poller = pollers.get(cluster)
        if poller is None:
            problems[cluster] = "not configured"
        elif poller.stale(listing_max_age(intervals, cluster)):
            stale.append(poller)
    if stale:
        reasons = await asyncio.gather(*(p.ensure_listed(listing_max_age(intervals, p.cluster), wait) for p in stale))
        problems.update({p.cluster: reason for p, reason in zip(stale, reasons, strict=True) if reason is not None})
    return problems


async def list_again(pollers: Mapping[str, ClusterPoller], clusters: Iterable[str], wait: float | None = None) -> dict[str, str | None]:
    """List again, through their rate limiters, the clusters whose last listing lacked a connector
    a firing alert names, where that listing is older than LIST_AGAIN_AFTER_SECONDS: for each
    cluster listed again (or whose listing was shared with another caller's), None, or why it could
    not be listed. Clusters listed more recently than that are left out: their last listing stands."""
    wait = LISTING_WAIT_SECONDS if wait is None else wait
    due = [pollers[c] for c in sorted(set(clusters)) if c in pollers and pollers[c].stale(LIST_AGAIN_AFTER_SECONDS)]
    if not due:
        return {}
    reasons = await asyncio.gather(*(p.ensure_listed(LIST_AGAIN_AFTER_SECONDS, wait) for p in due))
    return {p.cluster: reason for p, reason in zip(due, reasons, strict=True)}
