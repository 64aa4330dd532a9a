"""`Elector`: this replica's part in the leader election. It campaigns for the lease while it
is a standby, renews it while it leads, steps down when it cannot renew in time or finds the
lease taken (a renewal late with nothing refused meanwhile still holds: no one else led), and says at every moment whether this replica may send (`may_send`).

It runs on the event loop with its own asynchronous connection, apart from the store's: a
renewal never waits behind a poll's writes, and a loop stuck for longer than the renew deadline
(a frozen process) cannot renew at all, so a standby takes over, as it should. `may_send` reads
only the monotonic clock, so the queue asks it right before every call to the Connect API.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from .. import release
from ..config.leadership import LeaseTiming
from ..logs import get_logger
from ..state.postgres_connection import (
    connection_parameters,
    describe,
    error_text,
    replica_identity,
)
from ..tasks import cancel_and_wait
from . import lease
from .known_leader import leader_now, no_leader_note
from .metrics import LeadershipMetrics
from .renewal import LeaseRenewal

log = get_logger("watchdog.leadership")

# How long a replica whose start of leading failed leaves a free lease alone before it tries again:
# renew_interval after the first failure, doubled after each next one, at most this. A start that
# fails for a cause that does not heal (a database a DBA changed, records it cannot read) took the
# lease, failed on a traceback and gave it back once a renew_interval for ever; one that fails for
# a passing cause (the database restarting) is tried again within this. Not a stop of the daemon:
# StateStoreError covers both kinds, and a replica stopped for a passing one is one fewer to lead.
# Meanwhile a free lease is left to the other replicas, which may start where this one cannot.
START_RETRY_MAX = 60.0
Elected = Callable[[int], Awaitable[None]]
Lost = Callable[[str], Awaitable[None]]


class Elector(LeaseRenewal):
    def __init__(
        self,
        url: str,
        password: SecretStr | None,
        timing: LeaseTiming,
        metrics: LeadershipMetrics,
        *,
        identity: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timing = timing
        self.identity = identity or replica_identity()
        self._database = describe(url)
        self.parameters = connection_parameters(url, password, role="lease")  # a reload rotates its password (state/postgres_password.py)
        self._metrics = metrics
        self._clock = clock
        self.leading = False
        self.epoch: int | None = None
        # Seconds between the previous leader's last lease renewal and this replica taking the
        # lease (the database's clock; None: never held): what recovery weighs a schedule's kept
        # restart against.
        self.absent_for: float | None = None
        self._deadline = 0.0  # monotonic: no send after this without a renewal
        # may_send refused for the deadline while this replica still led: whatever asked was left
        # to "the leader" (the queue forgets it, the shared state keeps it). Only taking the lead
        # again recovers it, so a renewal that still succeeds afterwards must not let this replica
        # go on as if nothing had been refused.
        self._lapsed = False
        # The daemon is stopping (`retire`): it leads on while its queue drains, but campaigns no
        # more once it stops leading.
        self._retiring = False
        self._conn: lease.AnsweringAsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._on_elected: Elected | None = None
        self._on_lost: Lost | None = None
        self._last_error: str | None = None
        # Why this replica's last start of leading failed (None: it has not failed since the last
        # one that succeeded). The lease itself was reached, so `_last_error` says nothing: a
        # replica whose store session refused every write (read-only) won the lease, failed to
        # start, stepped down, every renew_interval for ever, while its /readyz said ready.
        self._start_failed: str | None = None
        self._start_failures = 0  # failed starts of leading in a row (START_RETRY_MAX)
        self._start_retry_at = 0.0  # monotonic: a free lease is not taken before this after one
        self._reached = False  # whether a campaign or renewal has reached the database yet
        # The last statement on the lease got no answer in time (or failed): it may have committed
        # all the same. Until a read is answered, nothing is written: a link that answers too late
        # (a slow or lossy path, a pooler whose upstream is slow) otherwise carried each campaign's
        # ACQUIRE and each renewal to the database, and the lease was taken or lengthened by a
        # replica that never learnt it (see lease.ACQUIRE).
        self._unanswered = False
        # The renewal time this replica last wrote on the lease row while it leads (the database's
        # clock): what its next renewal must find there, unless the database lost commits.
        self._written: datetime | None = None
        # Called (by the daemon) once this leader found that its database lost commits: it writes
        # again what it knows of the restarts' requests (LeadershipHost._rewrite_lost).
        # Called with the epoch this replica now leads under (a new one when it took the lease back).
        self.on_rolled_back: Callable[[int], None] | None = None
        # The lease's holder as last read (this replica while it leads), None when no valid lease
        # was seen, and when (monotonic): `holder` names it while it is known (known_leader.py).
        # A valid lease of another replica found with its renewal ahead of the database's clock:
        # (epoch, renewed_at) as first read, and when (monotonic); see _lease_ahead.
        self._ahead: tuple[tuple[int, datetime], float] | None = None
        self._holder: str | None = None
        self._holder_read_at: float | None = None
        self._last_holder: str | None = None  # the last one seen, kept when it is no longer known
        self._last_holder_at: float | None = None  # and when it was last seen (monotonic)
        metrics.show(leading=False, epoch=None)

    # -- what the rest of the daemon asks -------------------------------------------------------

    def may_send(self) -> str | None:
        """None while this replica leads and its lease is surely its own; else why not. The
        queue's question, right before a call: a refusal while this replica leads is remembered,
        since whatever asked is left to "the leader" (see `_lapsed`). Nothing else asks it."""
        if not self.leading:
            return "this replica is not the leader"
        if self.renewal_late() is not None:
            self._lapsed = True
            return (f"the lease was not renewed within renew_deadline ({self.timing.renew_deadline:g}s); "
                    "stepping down before it can expire")
        return None

    def renewal_late(self) -> str | None:
        """Why this leader may not send now though it still leads (renew_deadline passed: its
        event loop was held, and the renewal is on its way); None while it may send, or when it
        does not lead. Only asks: the HTTP API and /readyz answer from it, and an answer leaves
        nothing to "the leader". Read through `may_send`, a /readyz probe or a webhook that came
        in while the loop was held made the replica step down and recover its backlog again."""
        if self.leading and self._clock() >= self._deadline:
            return (f"its lease was not renewed within renew_deadline ({self.timing.renew_deadline:g}s): "
                    "sending waits for the renewal under way")
        return None

    def _short(self, exc: BaseException) -> str:
        """`Type: first line` of a database error, its password starred out before the cut
        (postgres_connection.error_text): it goes into /readyz too."""
        return f"{type(exc).__name__}: {error_text(exc, self.parameters)}"[:300]

    @property
    def unreachable(self) -> str | None:
        """None while the last campaign or renewal reached the database and this replica is not
        backing off a failed start of leading; else why not (/readyz's lease problem). A standby
        writes nothing, so this (not the store's last write) says whether it could lead."""
        problem = self._lease_unread()
        if problem is not None:
            return problem
        if self._start_failed is not None and not self.leading:
            return self._start_failed_note()
        return None

    def _lease_unread(self) -> str | None:
        """Why the lease cannot be read now (the database not reached, or refusing its writes);
        None while it is read: what whom-leads-now is judged on (known_leader.py)."""
        if self._last_error is not None and self._last_error.startswith("ReadOnlySqlTransaction"):
            # Reached, and it answers: it refuses the lease's writes (a hot standby, a read-only
            # role or database). "Cannot be reached" sent the reader after the network.
            return f"the database takes no writes ({self._last_error})"
        if self._last_error is not None:
            return f"the database cannot be reached ({self._last_error})"
        if not self._reached:
            return "the database has not been reached yet"
        return None

    def _start_failed_note(self) -> str:
        wait = max(0.0, self._start_retry_at - self._clock())
        return (f"this replica won the lease but could not start leading ({self._start_failed}, "
                f"{self._start_failures} time(s) in a row); it tries again once the lease is free "
                f"{f'in {wait:.0f}s or later' if wait >= 1 else 'from now on'}, and is ready once a start succeeds")

    @property
    def holder(self) -> str | None:
        """Who leads, as far as this replica knows (itself while it leads), None when it does not
        know: what a standby's /readyz and its 503 name, so that a human knows whom to ask."""
        return self.identity if self.leading else leader_now(self._holder, self._read_ago(), self.timing.lease_duration,
                                                              self._lease_unread())

    def no_leader_note(self) -> str:
        """Why `holder` is None, in words (known_leader.no_leader_note)."""
        # Its age is since that holder was last seen, not since the last read: a read that found the
        # lease free (or expired) since must not make an old holder sound fresh.
        # A failed start of leading is no unread lease: the lease is read, and free for the other
        # replicas while this one backs off (said "the lease cannot be read ... no replica can take
        # it", false on all three counts, for up to a minute of backoff).
        note = no_leader_note(self._last_holder, self._ago(self._last_holder_at), self.timing.lease_duration,
                              self._lease_unread(), self.identity)
        if self._start_failed is not None and not self.leading and self._lease_unread() is None:
            return f"{self._start_failed_note()}; {note}"
        return note

    def _read_ago(self) -> float | None:
        return self._ago(self._holder_read_at)

    def _ago(self, at: float | None) -> float | None:
        return None if at is None else self._clock() - at

    def _seen(self, holder: str | None) -> None:
        self._holder, self._holder_read_at = holder, self._clock()
        if holder is not None:
            self._last_holder, self._last_holder_at = holder, self._holder_read_at

    @property
    def retry_after(self) -> int:
        """What a standby tells clients: by then some replica leads, unless none can."""
        return int(self.timing.lease_duration + self.timing.renew_interval + 0.999)

    # -- running ----------------------------------------------------------------------------------

    def start(self, on_elected: Elected, on_lost: Lost) -> None:
        self._on_elected, self._on_lost = on_elected, on_lost
        self._task = asyncio.create_task(self._run(), name="leader-election")
        log.info("leader_election_started", replica=self.identity, revision=release.build().revision,
                 database=self._database,
                 lease_duration=self.timing.lease_duration, renew_deadline=self.timing.renew_deadline,
                 renew_interval=self.timing.renew_interval)

    def retire(self) -> None:
        """The daemon is stopping: renewals go on while its queue drains, but once this replica
        stops leading (the database out of reach past renew_deadline) it campaigns no more, and
        the restarts it left are a standby's to recover. Before, it took the lead straight back
        (its own name on the lease), recovered them into the queue being closed and started its
        polls and schedules again, in the middle of its own stop, and kept a standby (the pod
        replacing it) from leading until that stop was over."""
        self._retiring = True

    async def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; a leader gives the lease back (a standby takes over at its next try)."""
        if self._task is not None:
            # Again until it ends (tasks.py): the campaign's statements run inside wait_for, and
            # a loop that went on kept the daemon's stop waiting for good.
            await cancel_and_wait([self._task])
            self._task = None
        if release and self.leading and self.epoch is not None:
            try:
                conn = await self._connection()
                await lease.within(conn, lease.release(conn, self.identity, self.epoch), self.timing.renew_interval)
                log.info("leader_lease_released", replica=self.identity, epoch=self.epoch)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("leader_lease_not_released", replica=self.identity, error=self._short(exc),
                            note="a standby takes over once the lease expires")
        self.leading, self.epoch, self._holder = False, None, None
        self._metrics.show(leading=False, epoch=None)
        await self._close()

    async def _run(self) -> None:
        while True:
            if self.leading:
                await self._renew()
            elif self._retiring:
                log.info("leader_election_ended", replica=self.identity,
                         note="this replica is stopping and does not campaign again; a standby takes the lead")
                return
            else:
                await self._campaign()
            wait = self.timing.renew_interval
            if self.leading:
                wait = min(wait, max(0.0, self._deadline - self._clock()))
            await asyncio.sleep(wait)

    async def _campaign(self) -> None:
        """Read the lease, then take it if it is free. Read first: a database that does not answer
        a read in time gets no write from this replica (a write whose answer is late may commit
        unseen, lease.ACQUIRE), and a lease found naming this replica, which does not lead, is
        given back (_give_back) rather than kept or taken again.

        Fencing is untouched: `leading` (and with it may_send) is set only here, once an ACQUIRE's
        answer came, and every ACQUIRE raises the epoch; the store's writes are fenced by epoch
        and holder. A lease this replica holds without knowing it is one under which nothing is
        sent; what this bounds is how long it keeps the others out: an ACQUIRE committed unseen
        takes only a lease that was free, and is given back at the next try the database answers,
        or expires within lease_duration."""
        started = self._clock()
        try:
            conn = await self._connection()
            view = await lease.within(conn, lease.read(conn), self.timing.renew_interval)
            self._unanswered = False
            if view is not None and view.valid and view.holder == self.identity:
                await self._give_back(conn, view)
                return
            if (view is None or not view.valid) and self._clock() < self._start_retry_at:
                # Free, but this replica's last start of leading failed: left to another replica
                # until the retry time (START_RETRY_MAX), as if held.
                self._metrics.show(leading=False, epoch=None if view is None else view.epoch)
                self._seen(None)
                self._recovered()
                return
            acquired: lease.Acquired | None = None
            if view is None:
                await self._restore_lease(conn)
            if view is None or not view.valid:
                self._ahead = None
                acquired = await lease.within(conn, lease.acquire(conn, self.identity, self.timing.lease_duration),
                                         self.timing.renew_interval)
            elif self._lease_ahead(view) and view.renewed_at is not None:
                acquired = await lease.within(conn, lease.acquire_ahead(conn, self.identity, self.timing.lease_duration,
                                                                   view.epoch, view.renewed_at),
                                         self.timing.renew_interval)
            if acquired is None:
                # Held by another replica (read as such, or taken between the read and the ACQUIRE).
                self._metrics.show(leading=False, epoch=None if view is None else view.epoch)
                # A lease ahead of the clock names a holder that is not renewing it: not named as
                # the leader (/readyz, 503s) while it is watched.
                self._seen(view.holder if view is not None and view.valid and self._ahead is None else None)
                self._recovered()
                return
        except (psycopg.Error, OSError, TimeoutError) as exc:
            await self._failed("campaign", exc)
            return
        self._recovered()
        self._ahead = None
        epoch, self.absent_for, self._written = acquired.epoch, acquired.absent_for, acquired.renewed_at
        self.leading, self.epoch, self._lapsed = True, epoch, False
        self._seen(self.identity)
        self._deadline = self.timing.send_deadline(started)
        self._metrics.show(leading=True, epoch=epoch)
        self._metrics.changes.labels("acquired").inc()
        if acquired.taken_over:
            self._metrics.takeovers.inc()
        log.warning("leader_elected", replica=self.identity, revision=release.build().revision, epoch=epoch,
                    taken_over=acquired.taken_over,
                    note="this replica now runs the triggers and the restart queue")
        assert self._on_elected is not None
        try:
            await self._on_elected(epoch)
        except Exception as exc:
            error, before = self._short(exc), self._start_failed
            self._start_failed = error
            self._start_failures += 1
            wait = min(START_RETRY_MAX, self.timing.renew_interval * 2 ** (self._start_failures - 1))
            self._start_retry_at = self._clock() + wait
            said = dict(replica=self.identity, epoch=epoch, error=error, repeated=self._start_failures,
                        next_try_in=round(wait, 1),
                        note="this replica is not ready until a start of leading succeeds; it leaves a free lease to "
                             "the other replicas until its next try, each wait twice the last, at most "
                             f"{START_RETRY_MAX:g}s")
            if error == before:  # the traceback once per kind of failure, not once a try
                log.error("leader_start_failed", **said)
            else:
                log.exception("leader_start_failed", **said)
            await self._step_down(f"could not start leading: {error}", release=True)
            return
        self._start_failed, self._start_failures, self._start_retry_at = None, 0, 0.0

    def _lease_ahead(self, view: lease.LeaseView) -> bool:
        """Whether to take a valid lease of another replica whose last renewal lies ahead of the
        database's clock (lease.ACQUIRE_AHEAD): that clock stepped back (NTP, a snapshot restore,
        a failover to a server whose clock lags), and by expires_at the lease would keep every
        replica out for the size of the step (an HA probe: an hour with no leader, nothing said).

        Said once per row seen so (`leader_lease_ahead_of_clock`, with the seconds), and taken once
        the row is unchanged (same epoch, same renewal time) a whole lease of this replica's own
        monotonic clock later, measured from the first read that found it. A healthy leader is
        never robbed: it renews every renew_interval, each renewal writes the database's time now,
        so its row changes well within a lease and is no longer ahead; a holder that did not renew
        for a whole lease stopped sending at its renew_deadline (shorter than the lease), just as
        with a lease that expired on the clock, and the new epoch fences its writes all the same.
        The lease's length is the holder's own (expires_at - renewed_at as it wrote them), so a
        replica configured with a shorter lease_duration does not take it sooner. The margin
        (renew_interval) keeps a step smaller than that out of this: such a lease expires on
        the clock at most that much later than it would have."""
        ahead, renewed_at = view.renewed_ahead, view.renewed_at
        if ahead is None or renewed_at is None or ahead <= self.timing.renew_interval:
            self._ahead = None
            return False
        now, seen = self._clock(), (view.epoch, renewed_at)
        length = view.length if view.length is not None and view.length > 0 else self.timing.lease_duration
        if self._ahead is None or self._ahead[0] != seen:
            self._ahead = (seen, now)
            log.warning("leader_lease_ahead_of_clock", replica=self.identity, holder=view.holder, epoch=view.epoch,
                        renewed_ahead_seconds=round(ahead, 1),
                        expires_in_seconds=None if view.expires_in is None else round(view.expires_in, 1),
                        database=self._database,
                        note=f"the lease's last renewal lies {ahead:.0f}s ahead of the database's clock, which "
                             "stepped back since; by its expiry no replica could lead for that long. Its holder "
                             f"is not renewing it: it is taken at a new epoch (fencing the holder's writes) if "
                             f"the row is unchanged {length:g}s from now")
            return False
        return now - self._ahead[1] >= length

    async def _give_back(self, conn: lease.AnsweringAsyncConnection, view: lease.LeaseView) -> None:
        """The lease names this replica, which does not lead: an ACQUIRE of its own committed and
        its answer never came, or it stepped down (it could not renew in time) before the lease
        expired. Expired now (lease.GIVE_BACK), so that any replica takes it at its next try, this
        one included; kept, it held the healthy standby out for a whole lease while this replica,
        which believed itself a standby, sent nothing."""
        given = await lease.within(conn, lease.give_back(conn, self.identity, view.epoch), self.timing.renew_interval)
        self._recovered()
        self._metrics.show(leading=False, epoch=view.epoch)
        self._seen(None)
        if given:
            log.warning("leader_lease_given_back", replica=self.identity, epoch=view.epoch, database=self._database,
                        note="the lease named this replica, which does not lead (a try to take it, or a renewal, "
                             "committed though its answer came too late, or it stepped down before the lease "
                             "expired); given back so that a replica takes it at its next try, not a lease later")

    async def _restore_lease(self, conn: lease.AnsweringAsyncConnection) -> None:
        """The lease row is gone (leader_lease truncated or its row deleted by hand, a partial
        restore): no replica could take the lease, ever, and none said why. Made again (by one
        replica: the others find it made)."""
        restored = await lease.within(conn, lease.restore(conn), self.timing.renew_interval)
        if restored is not None:
            log.warning("leader_lease_restored", replica=self.identity, epoch=restored, database=self._database,
                        note="the leader_lease row was missing (the table truncated or the row deleted by hand?); "
                             "made again so that a replica can lead; a leader that held the old one is fenced")

    async def _step_down(self, reason: str, *, release: bool = False) -> None:
        epoch = self.epoch
        self.leading, self.epoch, self._holder = False, None, None  # who leads now: read at the next try
        self._deadline = 0.0
        self._metrics.show(leading=False, epoch=epoch)
        self._metrics.changes.labels("lost").inc()
        log.error("leadership_lost", replica=self.identity, epoch=epoch, reason=reason,
                  note="stopped sending; restarts not yet sent are left to the next leader, which recovers them")
        assert self._on_lost is not None
        try:
            await self._on_lost(reason)
        except Exception:
            log.exception("leader_stop_failed", replica=self.identity)
        if release and epoch is not None:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                conn = await self._connection()
                await lease.within(conn, lease.release(conn, self.identity, epoch), self.timing.renew_interval)

    async def _connection(self, within: float | None = None) -> lease.AnsweringAsyncConnection:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        await self._close()
        # libpq tries a URL's hosts one after another, each within connect_timeout: bounded by one
        # connect_timeout, a replica whose first hosts of several did not answer never connected.
        hosts = str(conninfo_to_dict(self.parameters["conninfo"]).get("host") or "").count(",") + 1
        limit = self.parameters["connect_timeout"] * hosts + 1
        limit = limit if within is None else min(limit, within)
        try:
            self._conn = await asyncio.wait_for(
                lease.AnsweringAsyncConnection.connect(autocommit=True, **self.parameters), limit)
        except TimeoutError:
            # Said as such: the bare TimeoutError read "TimeoutError: TimeoutError" in leadership_lost.
            raise psycopg.OperationalError(f"no connection to the database within {round(limit, 2):g}s") from None
        return self._conn

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _failed(self, what: str, exc: BaseException) -> None:
        await self._close()  # made again at the next try
        self._unanswered = True  # whatever it sent may have committed unseen: read before writing again
        error = self._short(exc)
        if error != self._last_error:  # one line per kind of trouble, not one per try
            log.warning("leader_lease_unreachable", replica=self.identity, operation=what, error=error,
                        leading=self.leading, database=self._database)
        self._last_error = error

    def _recovered(self) -> None:
        self._reached = True
        if self._last_error is not None:
            log.info("leader_lease_reachable", replica=self.identity, database=self._database)
            self._last_error = None

