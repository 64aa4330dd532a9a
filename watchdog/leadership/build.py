"""The leadership a config asks for: an election among replicas sharing a PostgreSQL store, or a
sole leader for a SQLite file."""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry

from ..config import StateSettings
from .metrics import LeadershipMetrics
from .sole import SoleLeader


class Leadership(Protocol):
    leading: bool
    epoch: int | None
    @property
    def holder(self) -> str | None: ...  # who leads as far as known (None: not known, or no lease at all)

    def no_leader_note(self) -> str: ...  # why `holder` is None, in words (known_leader.py)

    @property
    def unreachable(self) -> str | None: ...

    def may_send(self) -> str | None: ...  # the queue's, right before a call (a refusal counts)

    def renewal_late(self) -> str | None: ...  # asks only: the API's and /readyz's

    def retire(self) -> None: ...  # the daemon is stopping: lead on while draining, campaign no more

    @property
    def retry_after(self) -> int: ...

    async def stop(self, *, release: bool = True) -> None: ...


def build_leadership(settings: StateSettings, registry: CollectorRegistry) -> Leadership:
    metrics = LeadershipMetrics(registry)
    if settings.url is None:
        return SoleLeader(metrics)
    from .elector import Elector

    return Elector(settings.url, settings.password, settings.leader_election.timing(), metrics)
