"""The jobs waiting in one rate-limit lane, taken in turn per cluster, a failure's before a plan's.

Confluent limits calls per API key, so every Cloud cluster of one credential shares one lane.
Taken first in, first out, a backlog of one cluster (a schedule rule restarting its 1,000
connectors, a poll after an outage) held every restart of the other clusters behind it: an
alert's restart on another cluster waited the whole backlog out (200 queued on a key of 20 per
second: 19 s; a thousand on a key of one per second: 17 minutes). The lane serves its clusters
round-robin instead, as a fair queue shares a link between flows: a cluster with one restart
waits for at most one restart of each other cluster.

Within a cluster, restarts asked for because a connector is down (a poll, an alert, a stall) or
by a person go before the ones a schedule planned, each kind in arrival order (a retry whose wait
is over first): a nightly restart of every connector is maintenance that can wait, and an outage
behind it could not.

It is an asyncio.Queue whose storage hooks (`_init`, `_put`, `_get`) keep the jobs so, as the
standard library's own LifoQueue and PriorityQueue change theirs: waiting, wake-ups and
cancellation stay asyncio's.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..model import Trigger
from .job import RestartJob


def planned(job: RestartJob) -> bool:
    """Only a schedule asked for it, and no failure of its connector was seen since: it can wait
    for the restarts a failure or a person asked for."""
    return not job.failing and all(request.trigger is Trigger.SCHEDULE for request in job.requests)


class _Cluster:
    def __init__(self) -> None:
        self.urgent: deque[RestartJob] = deque()
        self.planned: deque[RestartJob] = deque()

    def __bool__(self) -> bool:
        return bool(self.urgent or self.planned)


class FairLane(asyncio.Queue[RestartJob]):
    """Round-robin across clusters; within each, urgent first, first in first out."""

    def _init(self, maxsize: int) -> None:
        # Cluster -> its waiting jobs, in turn order: the cluster served last goes to the end.
        # Only clusters with a job waiting are kept.
        self._clusters: dict[str, _Cluster] = {}
        self._count = 0

    def _put(self, item: RestartJob) -> None:
        jobs = self._clusters.setdefault(item.key.cluster, _Cluster())
        kind = jobs.planned if planned(item) else jobs.urgent
        if item.tries:
            # A retry whose wait is over (RestartQueue._retry_later) had its turn already: it goes
            # first, when the log said it would, not behind every restart queued since (a 1 s
            # Retry-After went 2 s later behind 20 restarts, and later still behind more).
            kind.appendleft(item)
        else:
            kind.append(item)
        self._count += 1

    def _get(self) -> RestartJob:
        cluster = next(iter(self._clusters))
        jobs = self._clusters.pop(cluster)
        job = jobs.urgent.popleft() if jobs.urgent else jobs.planned.popleft()
        if jobs:
            self._clusters[cluster] = jobs  # back at the end of the turn
        self._count -= 1
        return job

    def qsize(self) -> int:
        return self._count

    def empty(self) -> bool:
        return self._count == 0

    def promote(self, job: RestartJob) -> None:
        """A request that cannot wait joined a planned job still waiting here: it goes with the
        urgent ones now (after those already waiting). Called only for a job that was planned
        until then, which is rare: a scan of the cluster's plan is cheap enough."""
        jobs = self._clusters.get(job.key.cluster)
        if jobs is None or planned(job) or job not in jobs.planned:
            return
        jobs.planned.remove(job)
        jobs.urgent.append(job)
