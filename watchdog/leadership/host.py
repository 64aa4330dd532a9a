"""Leading and standing by inside the daemon: what starts when this replica takes the lead, and
what stops when it loses it.

`LeadershipHost` is mixed into `app.Daemon`; the lease itself is elector.py's (PostgreSQL) or
sole.py's (a SQLite file: this daemon leads from the start).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..engine.recovery import Absence
from ..logs import get_logger
from ..state import StateStoreError
from ..tasks import cancel_and_wait
from ..triggers.scheduler import SCHEDULE_MISFIRE_GRACE_SECONDS, build_scheduler
from .elector import Elector

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from ..breaker import Breaker
    from ..config import Config
    from ..engine import Engine
    from ..engine.recorder import JobRecorder
    from ..metrics import Metrics
    from ..model import ConnectorKey
    from ..queue import RestartQueue
    from ..state import StateStore
    from ..triggers.poller import ClusterPoller
    from .build import Leadership

log = get_logger("watchdog.app")


class LeadershipHost:
    # The daemon's parts this uses (app.Daemon sets them).
    state: StateStore
    leadership: Leadership
    engine: Engine
    recorder: JobRecorder
    queue: RestartQueue
    pollers: dict[str, ClusterPoller]
    metrics: Metrics
    breaker: Breaker
    _scheduler: AsyncIOScheduler | None
    _job_tasks: set[asyncio.Task[Any]]
    _now: Callable[[], datetime]

    if TYPE_CHECKING:
        def _prune_history(self) -> None: ...
        def _sync_jobs(self, previous: Config | None, changed_clusters: set[str]) -> None: ...
        def _start_discovery(self) -> None: ...
        async def _stop_discovery(self) -> None: ...
        def _stand_by_discovery(self) -> None: ...
        def _stand_by_stall_checks(self) -> None: ...
        def may_be_discovered(self, cluster: str) -> bool: ...

    async def _lead(self, epoch: int | None) -> None:
        """This replica leads (from the start with a SQLite file; once elected with PostgreSQL):
        fence the store's writes with the epoch, recover what the last leader left pending
        exactly as after a crash, and start the queue and the triggers."""
        self.state.fence(epoch, self._holder())
        if isinstance(self.leadership, Elector):
            self.leadership.on_rolled_back = self._rewrite_lost
        # In slices beside the start (a full disk: `history_not_pruned`, and the start goes on).
        self._prune_history()
        # Requests kept for a cluster discovery may find wait for its first refresh (leader only:
        # a standby lists nothing, so that two replicas never spend the key's budget twice).
        self._recover_as_leader()
        self.mark_alive()
        if isinstance(self.leadership, Elector):
            await self.leadership.renew_if_late()  # a long recovery: before the queue's first send
        self.queue.start()
        self._scheduler = build_scheduler(self.metrics)
        self._sync_jobs(previous=None, changed_clusters=set())
        self._scheduler.start()
        self._start_discovery()

    def _recover_as_leader(self) -> tuple[int, int]:
        """Recover what the last leader left pending, with the outcomes this replica knew and
        could not write before it last stood by (JobRecorder.take_left_behind): those of its
        restarts whose calls went out are recorded as they ended, if no other leader recovered
        them meanwhile, not ended `interrupted`."""
        return self.engine.recover(hold=self.may_be_discovered, absence=self._absence(),
                                   known=self.recorder.take_left_behind())

    def _absence(self) -> Absence | None:
        """How long no daemon ran before this one began to lead: since the last lease renewal
        (PostgreSQL, the database's clock), or since the state file's last sign of life (the
        daemon's clock). None when the store never recorded one."""
        if isinstance(self.leadership, Elector):
            seconds, sign = self.leadership.absent_for, "last lease renewal"
        else:
            last = self.state.last_alive(self._now())
            seconds = None if last is None else (self._now() - last).total_seconds()
            sign = f"last sign of life in the state file ({last.isoformat() if last else ''})"
        return None if seconds is None else Absence(seconds, SCHEDULE_MISFIRE_GRACE_SECONDS, sign)

    def mark_alive(self) -> None:
        """Record in the store that this daemon is alive (a no-op with PostgreSQL: the lease
        renewal does); a failure is left to the next beat, and said (and counted by the store)
        only when no other failure of the store is being reported: a full disk is said once,
        not every 30 s."""
        reported = self.state.problem is not None
        try:
            self.state.mark_alive(self._now())
        except StateStoreError as exc:
            (log.debug if reported else log.warning)("alive_not_recorded", error=str(exc))

    def _holder(self) -> str | None:
        """The lease holder this replica is elected as (None with one daemon per SQLite file)."""
        return self.leadership.identity if isinstance(self.leadership, Elector) else None

    def _rewrite_lost(self, epoch: int) -> None:
        """The leader's database lost its last commits (a failover to an asynchronous standby;
        Elector logged `state_database_rolled_back`): write again what it knows of the restarts'
        requests (JobRecorder.rewrite_lost), fenced with `epoch`, the one it leads under now (a new
        one when it took the lease back). Left as the database had them, the requests of the
        restarts it had finished meanwhile were pending again, and the next leader sent each of
        them a second time."""
        if not self.leadership.leading:
            return
        self.state.fence(epoch, self._holder())
        try:
            again, added = self.recorder.rewrite_lost(self.queue.pending_jobs())
        except StateStoreError as exc:  # fenced too: another replica leads, its recovery decides
            log.error("state_database_not_rewritten", error=str(exc),
                      note="the requests of restarts finished since the lost commits may be sent again by the next "
                           "leader: see docs/runbook.md, \"After a failover of the state database\"")
            return
        log.warning("state_database_rewritten", finished_again=again, added_again=added,
                    note="requests of restarts this leader finished since the lost commits were finished again, and "
                         "those it still has queued added again; history records of restarts finished in those "
                         "seconds whose requests were gone too stay lost")

    async def _follow(self, reason: str) -> None:
        """This replica stopped leading: no write, no trigger, no call from here on. Jobs not
        sent stay in the shared state for the next leader (possibly this replica again)."""
        self.state.fence(None)
        await self._stop_discovery()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        await cancel_and_wait(list(self._job_tasks))
        left = await self.queue.abandon(reason)
        outcomes_left = self.recorder.stand_by()  # their requests are still pending: the next leader decides
        # What this replica knew of the connectors is the leader's now: its gauges would show
        # that moment for ever (docs/metrics.md, "What a standby reports").
        self.engine.stand_by()
        for poller in self.pollers.values():
            poller.forget_listing()
        self.breaker.stand_by()
        self.metrics.stand_by()
        self._stand_by_discovery()
        self._stand_by_stall_checks()
        log.warning("standing_by", reason=reason, restarts_left_to_leader=left, outcomes_left_to_leader=outcomes_left)

    async def _lead_once(self, keys: Collection[ConnectorKey] | None = None) -> bool:
        """For one-shot commands: lead (recover, start the queue) without triggers, after winning
        the lease when replicas share the store. False when another replica leads. `keys`: recover
        the kept requests of these connectors alone (Recovery.recover), the others left kept."""
        if not isinstance(self.leadership, Elector):
            self.engine.recover(absence=self._absence(), keys=keys)
            self.queue.start()
            return True
        elected, elector = asyncio.Event(), self.leadership

        async def lead(epoch: int) -> None:
            self.state.fence(epoch, self._holder())
            self.engine.recover(absence=self._absence(), keys=keys)
            await elector.renew_if_late()
            self.queue.start()
            elected.set()

        self.leadership.start(lead, self._follow)
        try:
            await asyncio.wait_for(elected.wait(), self.leadership.timing.renew_interval * 2)
        except TimeoutError:
            log.error("not_the_leader", note="another replica holds the lease (or the database cannot be "
                      "reached); ask the running daemon instead: --daemon URL")
            return False
        return True
