"""`SoleLeader`: the leadership of a daemon with a SQLite state file. The file's exclusive lock
already makes it the only writer, so it leads from start to stop (watchdog_leader 1, no epoch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .metrics import LeadershipMetrics

if TYPE_CHECKING:
    from .elector import Elected, Lost


class SoleLeader:
    leading = True
    epoch: int | None = None
    retry_after = 30

    def __init__(self, metrics: LeadershipMetrics) -> None:
        metrics.show(leading=True, epoch=None)

    def may_send(self) -> str | None:
        return None

    def start(self, on_elected: Elected, on_lost: Lost) -> None:
        raise NotImplementedError("the daemon starts leading itself: there is nothing to elect")

    async def stop(self, *, release: bool = True) -> None:
        return None
