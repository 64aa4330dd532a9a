"""`LeaseRenewal`, mixed into `Elector` (elector.py): renewing the lease while this replica
leads. A renewal late with nothing refused meanwhile still holds (no one else led); one that finds
the row no longer its own takes it back if the database lost its acquisition, else steps down; one
that finds an older renewal than it wrote says the database rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import psycopg

from ..config.leadership import LeaseTiming
from ..logs import get_logger
from . import lease
from .metrics import LeadershipMetrics

log = get_logger("watchdog.leadership")

ROLLED_BACK_NOTE = (
    "the lease row holds an older renewal than the last this leader wrote: the database lost its last commits (an "
    "asynchronous standby promoted by a failover, or a restore), and with them what the daemon recorded in those "
    "lost_seconds: restarts in the history, attempt counts and backoff, gave-up flags, requests asked for, and the "
    "end of restarts sent. This leader leads on with what it holds in memory, and writes again the requests it knows "
    "of (state_database_rewritten). Compare `watchdog history` with this replica's restart_finished lines since "
    "found_renewed_at (docs/runbook.md); prefer synchronous replication for the state database"
)


class LeaseRenewal:
    if TYPE_CHECKING:  # the Elector's parts this uses (elector.py sets them)
        timing: LeaseTiming
        identity: str
        leading: bool
        epoch: int | None
        on_rolled_back: Callable[[int], None] | None
        _metrics: LeadershipMetrics
        _clock: Callable[[], float]
        _database: str
        _deadline: float
        _lapsed: bool
        _unanswered: bool
        _written: datetime | None

        def may_send(self) -> str | None: ...
        def _short(self, exc: BaseException) -> str: ...
        def _seen(self, holder: str | None) -> None: ...
        async def _step_down(self, reason: str, *, release: bool = False) -> None: ...
        async def _connection(self, within: float | None = None) -> lease.AnsweringAsyncConnection: ...
        async def _failed(self, what: str, exc: BaseException) -> None: ...
        def _recovered(self) -> None: ...

    async def _renew(self) -> None:
        started = self._clock()
        # Past the deadline with nothing refused meanwhile (the loop held by this replica's own
        # work, taking the lead's recovery of a large backlog above all, or the process starved):
        # nothing was sent since, so one more try is safe. The renewal names this epoch: it holds
        # only if no replica took the lease in between. Stepping down at once instead, a replica
        # whose recovery outlasted renew_deadline took the lead again and recovered again, for ever.
        late = started >= self._deadline
        if late and self._lapsed:
            await self._step_down(self.may_send() or "renew deadline passed")
            return
        try:
            held = await self._renew_once(self.timing.renew_interval if late
                                          else max(0.05, min(self.timing.renew_interval, self._deadline - started)))
        except (psycopg.Error, OSError, TimeoutError) as exc:
            await self._failed("renewal", exc)
            if self._clock() >= self._deadline:
                await self._step_down(f"could not renew the lease within renew_deadline "
                                      f"({self.timing.renew_deadline:g}s): {self._short(exc)}")
            return
        self._recovered()
        if held and self._lapsed:
            # Answered after the deadline (the process starved or its loop held meanwhile), with a
            # restart refused in between: led on, that restart stayed in the shared state for good.
            await self._step_down(f"the lease was renewed only after renew_deadline ({self.timing.renew_deadline:g}s) "
                                  "had passed and restarts were refused meanwhile; leading again under a new epoch "
                                  "recovers them")
        elif held:
            self._renewed(started, late)
        else:
            await self._step_down("another replica took the lease over (its epoch is newer)")

    async def renew_if_late(self) -> None:
        """Taking the lead (the recovery of what the last leader left) held the event loop past
        renew_deadline: renew now, before the queue starts, so that its first send is not refused
        and left "to the leader" (which would make this replica step down and recover again). A
        failure or a lease taken over is left to the election loop, which steps down."""
        if not self.leading or self._lapsed or self._clock() < self._deadline:
            return
        started = self._clock()
        try:
            held = await self._renew_once(self.timing.renew_interval)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            await self._failed("renewal", exc)
            return
        self._recovered()
        if held and not self._lapsed:
            self._renewed(started, late=True)

    async def _renew_once(self, timeout: float) -> bool:
        """One renewal, its statement answered within `timeout`. A new connection it needs is made
        before the lease could expire (half the margin before: the lease's expiry is at least
        lease_duration after the last renewal's start): made within the connect timeout alone
        (3 s), it took a leader whose database stopped answering past its lease's expiry before it
        stood by. Not shorter: a renewal that has to connect anew (the last one failed) also needs
        the time to connect to a database some way off, or to pass a first host of several that
        does not answer."""
        assert self.epoch is not None
        lease_ends = self._deadline - self.timing.renew_deadline + self.timing.lease_duration - self.timing.margin / 2
        conn = await self._connection(within=max(0.05, lease_ends - self._clock()))
        if self._unanswered:
            # The last renewal got no answer (it may have committed): no further one is sent into a
            # link that does not answer, lengthening the lease past this leader's step-down unseen.
            started = self._clock()
            await lease.within(conn, lease.read(conn), timeout)
            self._unanswered = False
            timeout = max(0.05, timeout - (self._clock() - started))
        renewed = await lease.within(conn, lease.renew(conn, self.identity, self.epoch, self.timing.lease_duration), timeout)
        if renewed is None:
            return await self._reclaim(conn, timeout)
        self._check_rollback(renewed)
        return True

    async def _reclaim(self, conn: lease.AnsweringAsyncConnection, timeout: float) -> bool:
        """The renewal found the row no longer ours: take it back if it holds an older epoch than
        ours (lease.RECLAIM: the database lost our acquisition), and say the database rolled back;
        False when another replica holds it under an epoch at least ours (a takeover)."""
        assert self.epoch is not None
        taken = await lease.within(conn, lease.reclaim(conn, self.identity, self.epoch, self.timing.lease_duration), timeout)
        if taken is None:
            return False
        held, self.epoch, self._written = self.epoch, taken.epoch, taken.written
        self._metrics.show(leading=True, epoch=taken.epoch)
        log.error("state_database_rolled_back", replica=self.identity, epoch=taken.epoch, held_epoch=held,
                  found_holder=taken.found_holder, found_epoch=taken.found_epoch, database=self._database,
                  note="the lease row names an older epoch than this leader's: the database lost the commits that "
                       "made this replica the holder (a failover to an asynchronous standby that missed a handover), "
                       "and what the daemon recorded since. This replica, the last holder, took the lease back under a "
                       "new epoch (the one the row names was superseded before the loss) and writes again the "
                       "requests it knows of (state_database_rewritten); prefer synchronous replication")
        if self.on_rolled_back is not None:
            self.on_rolled_back(taken.epoch)
        return True

    def _check_rollback(self, renewed: lease.Renewed) -> None:
        """Say so when the lease row holds an older renewal than the last this leader wrote: its
        database lost its last commits (an asynchronous standby promoted by a failover, a restore
        from a backup), and what the store wrote meanwhile with them. The lease survived under the
        same holder and epoch, so the leader leads on, and nothing else said a word: a drill with
        the standby 8 s behind lost 31 of 46 history records, and left the requests of 8 restarts
        sent and finished pending, which the next leader (a rollout) sends again."""
        written, self._written = self._written, renewed.written
        if written is None or renewed.previous is None or renewed.previous >= written:
            return
        log.error("state_database_rolled_back", replica=self.identity, epoch=self.epoch,
                  lost_seconds=round((written - renewed.previous).total_seconds(), 3),
                  found_renewed_at=renewed.previous.isoformat(), last_renewed_at=written.isoformat(),
                  database=self._database, note=ROLLED_BACK_NOTE)
        if self.on_rolled_back is not None and self.epoch is not None:
            self.on_rolled_back(self.epoch)

    def _renewed(self, started: float, late: bool) -> None:
        if late:
            log.warning("leader_lease_renewed_late", replica=self.identity, epoch=self.epoch,
                        renew_deadline=self.timing.renew_deadline,
                        note="renewed after renew_deadline (this replica's event loop was held); nothing was "
                             "sent meanwhile and no other replica took the lease: leading on")
        self._deadline = self.timing.send_deadline(started)
        self._seen(self.identity)  # the last time this replica knew it held the lease
