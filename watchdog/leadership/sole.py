"""`SoleLeader`: the leadership of a daemon with a SQLite state file. The file's exclusive lock
already makes it the only writer, so it leads from start to stop (watchdog_leader 1, no epoch):
nothing to elect, so unlike `Elector` it has no `start` (the daemon leads at once, app.py)."""

from __future__ import annotations

from .metrics import LeadershipMetrics


class SoleLeader:
    leading = True
    epoch: int | None = None
    retry_after = 30
    holder: str | None = None  # no lease, no holder's name
    unreachable: str | None = None  # the state file's own problems are the store's (`problem`)

    def __init__(self, metrics: LeadershipMetrics) -> None:
        metrics.show(leading=True, epoch=None)

    def no_leader_note(self) -> str:
        return ""  # it always leads

    def may_send(self) -> str | None:
        return None

    def renewal_late(self) -> str | None:
        return None

    def retire(self) -> None:
        return None

    async def stop(self, *, release: bool = True) -> None:
        return None
