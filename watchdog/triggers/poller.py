"""One list call per cluster: every connector's status at once.

A listing is also what makes a connector real to the daemon: alerts and API requests act only on
connectors a listing showed, and `ensure_listed` lists a cluster on demand (through its rate
limiter) when its last listing is too old for that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from ..connect import ConnectBackend, Gateway
from ..engine import Engine
from ..logs import get_logger
from ..metrics import Metrics
from ..model import ConnectorStatus, Outcome
from ..state import StateStoreError

log = get_logger("watchdog.poller")

# Unusable entries named in one log line; the count and the metric cover the rest.
LOGGED_ENTRIES = 10

# An alert or an API request naming a connector of a cluster that no rule polls lists the
# cluster first when its last listing is older than this; a polled cluster, when its last
# listing is older than its poll interval plus LISTING_SLACK_SECONDS (a poll in progress).
ON_DEMAND_LISTING_MAX_AGE = 60.0
LISTING_SLACK_SECONDS = 10.0
# After a failed on-demand listing, alerts and requests are told the same failure for this long
# instead of each sending another list call: a burst of webhooks costs one call, not one each.
FAILED_LISTING_MEMORY_SECONDS = 10.0


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
        self.listed_at: datetime | None = None  # the last listing that worked
        self._failed_at: datetime | None = None
        self._failure = ""
        self._on_demand: asyncio.Task[Mapping[str, ConnectorStatus] | None] | None = None
        self._last_unusable: frozenset[tuple[str, str]] = frozenset()

    async def _fetch(self) -> Mapping[str, ConnectorStatus] | None:
        """The list call; None when it failed (counted and logged)."""
        try:
            result, _ = await self._gateway.call(self.cluster, self._backend.list_connectors)
        except Exception as exc:
            # A bug (an answer no reader expected) must not end the poll uncounted: raised past
            # here it left only the scheduler's "Job raised an exception", no poll_failed, and
            # /readyz at 503 for good, this cluster never having been polled. Counted as the
            # queue counts a crashed restart (restart_queue.py).
            log.exception("poll_crashed", cluster=self.cluster)
            self.first_poll_done = True
            self._failed(Outcome.NETWORK_ERROR.value, f"internal error: {type(exc).__name__}: {exc}")
            return None
        self.first_poll_done = True
        if not result.ok or result.value is None:
            self._failed(result.outcome.value, result.message)
            return None
        statuses = result.value
        unusable = {name: s.unusable for name, s in statuses.items() if s.unusable is not None}
        self._report_unusable(unusable)
        if statuses and len(unusable) == len(statuses):
            # A map of nothing usable is not an empty cluster: a 200 carrying an error message
            # (`{"message": "Service temporarily unavailable"}`) reads that way. Believing it
            # would make every connector vanish; it is a failed poll. An empty map `{}` is a
            # cluster without connectors, which the API may legally answer.
            self._failed("unusable", f"the answer held {len(unusable)} entries and none could be read")
            return None
        return statuses

    def _failed(self, result: str, message: str) -> None:
        self._failed_at, self._failure = self._now(), f"{result}: {message}"[:300]
        self._engine.on_poll_failed(self.cluster, result, message)

    def _report_unusable(self, unusable: Mapping[str, object]) -> None:
        """Count every unusable entry; log them when the set changes (at debug while it stays)."""
        for reason in unusable.values():
            self._metrics.unusable_entries.labels(self.cluster, str(reason)).inc()
        seen = frozenset((name, str(reason)) for name, reason in unusable.items())
        if not seen and not self._last_unusable:
            return
        entries = dict(sorted(seen)[:LOGGED_ENTRIES])
        if seen != self._last_unusable:
            log.warning("unusable_entries", cluster=self.cluster, count=len(seen), entries=entries,
                        note="judged transient; their state is kept")
        else:
            log.debug("unusable_entries", cluster=self.cluster, count=len(seen), entries=entries)
        self._last_unusable = seen

    def _listed(self) -> None:
        now = self._now()
        self.listed_at = now
        self._metrics.polls.labels(self.cluster, "ok").inc()
        self._metrics.last_poll.labels(self.cluster).set(now.timestamp())

    async def list(self) -> Mapping[str, ConnectorStatus] | None:
        """The cluster's connectors, or None when the call failed (already counted and logged)."""
        statuses = await self._fetch()
        if statuses is None:
            return None
        statuses = self._engine.on_listing(self.cluster, statuses)
        self._listed()
        return statuses

    async def poll(self) -> None:
        """The status trigger: list, then let the engine judge every watched connector. The poll
        counts as `ok` (and as the last successful poll) only once it has been judged: a daemon
        whose state file cannot record the decisions has not healed anything."""
        statuses = await self._fetch()
        if statuses is None:
            return
        try:
            self._engine.on_poll(self.cluster, statuses)
        except StateStoreError as exc:
            self._metrics.polls.labels(self.cluster, "state_error").inc()
            log.error("poll_not_judged", cluster=self.cluster, error=str(exc),
                      note="the state file cannot record decisions; nothing was restarted")
            return
        self._listed()

    async def ensure_listed(self, max_age: float) -> str | None:
        """List the cluster unless it was listed within `max_age` seconds. None when the
        connectors are known; otherwise why they are not (the listing failed)."""
        now = self._now()
        if self.listed_at is not None and (now - self.listed_at).total_seconds() <= max_age:
            return None
        if self._on_demand is None or self._on_demand.done():
            recent_failure = (self._failed_at is not None
                              and (now - self._failed_at).total_seconds() < FAILED_LISTING_MEMORY_SECONDS
                              and (self.listed_at is None or self._failed_at > self.listed_at))
            if recent_failure:
                return self._failure
            self._on_demand = asyncio.create_task(self.list(), name=f"list-{self.cluster}")
        # Shielded: a client that hangs up does not cancel a listing others may be waiting for.
        statuses = await asyncio.shield(self._on_demand)
        return None if statuses is not None else self._failure

    async def close(self) -> None:
        if self._on_demand is not None and not self._on_demand.done():
            self._on_demand.cancel()
            await asyncio.gather(self._on_demand, return_exceptions=True)


async def ensure_listed(
    pollers: Mapping[str, ClusterPoller], intervals: Mapping[str, float], clusters: Iterable[str]
) -> dict[str, str]:
    """List, through their rate limiters, the clusters whose last listing is too old to say
    which connectors exist; returns those that could not be listed, with why. One after the
    other: almost always one cluster, and a fresh listing needs no await that suspends (so a
    request that lists nothing does not yield to other tasks)."""
    problems = {}
    for cluster in sorted(set(clusters)):
        poller = pollers.get(cluster)
        if poller is None:
            problems[cluster] = "not configured"
            continue
        interval = intervals.get(cluster)
        max_age = ON_DEMAND_LISTING_MAX_AGE if interval is None else interval + LISTING_SLACK_SECONDS
        reason = await poller.ensure_listed(max_age)
        if reason is not None:
            problems[cluster] = reason
    return problems
