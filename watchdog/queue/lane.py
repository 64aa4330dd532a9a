"""The jobs waiting in one rate-limit lane, taken in turn per cluster.

Confluent limits calls per API key, so every Cloud cluster of one credential shares one lane.
Taken first in, first out, a backlog of one cluster (a schedule rule restarting its 1,000
connectors, a poll after an outage) held every restart of the other clusters behind it: an
alert's restart on another cluster waited the whole backlog out (200 queued on a key of 20 per
second: 19 s; a thousand on a key of one per second: 17 minutes). The lane serves its clusters
round-robin instead, each in its own arrival order, as a fair queue shares a link between flows:
a cluster with one restart waits for at most one restart of each other cluster.

It is an asyncio.Queue whose storage hooks (`_init`, `_put`, `_get`) keep one FIFO per cluster,
as the standard library's own LifoQueue and PriorityQueue change theirs: waiting, wake-ups and
cancellation stay asyncio's.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .job import RestartJob


class FairLane(asyncio.Queue[RestartJob]):
    """Round-robin across clusters, first in first out within each."""

    def _init(self, maxsize: int) -> None:
        # Cluster -> its waiting jobs, in turn order: the cluster served last goes to the end.
        # Only clusters with a job waiting are kept.
        self._clusters: dict[str, deque[RestartJob]] = {}
        self._count = 0

    def _put(self, item: RestartJob) -> None:
        self._clusters.setdefault(item.key.cluster, deque()).append(item)
        self._count += 1

    def _get(self) -> RestartJob:
        cluster = next(iter(self._clusters))
        jobs = self._clusters.pop(cluster)
        job = jobs.popleft()
        if jobs:
            self._clusters[cluster] = jobs  # back at the end of the turn
        self._count -= 1
        return job

    def qsize(self) -> int:
        return self._count

    def empty(self) -> bool:
        return self._count == 0
