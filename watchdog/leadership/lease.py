"""The lease row in the shared database: take it, renew it, give it back, read it.

One row (`leader_lease`, made by the store's migrations): holder, epoch, expires_at. Every
statement is one UPDATE, atomic on its own; all times are the database's (`clock_timestamp()`),
so replicas never compare their own clocks. The epoch rises with every change of holder and is
what the store's writes are fenced with (state/postgres.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen
from psycopg.errors import _WaitTimeout  # psycopg >= 3.3 (pyproject): the wait's timeout

from ..state.postgres_connection import ANSWER_TIMEOUT

T = TypeVar("T")


class AnsweringAsyncConnection(psycopg.AsyncConnection[Any]):
    """The elector's connection: every wait for the database ends within `answer_timeout` (set by
    the elector before each statement), then the connection is closed and OperationalError raised.
    Bounded by asyncio.wait_for alone, a statement is cancelled, and psycopg, cancelled, sends the
    server a cancel request (up to 5 s) and waits for the statement to end (5 s more): against a
    database that answers nothing (a pooler or a proxy cut off from it), a leader's renewal took
    10 s past its renew deadline, and the leader stood by after its lease had expired."""

    answer_timeout: float = ANSWER_TIMEOUT

    async def wait(self, gen: PQGen[Any], interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return await super().wait(gen, interval, self.answer_timeout if timeout is None else timeout)
        except _WaitTimeout:
            await self.close()
            raise psycopg.OperationalError(
                f"no answer from the database within {round(self.answer_timeout, 2):g}s (the connection is up, but nothing "
                "comes back: a pooler or a proxy cut off from it, or a server that stopped answering?)") from None


AsyncConnection = psycopg.AsyncConnection[Any]

# Also returns how long before now the lease was last renewed (or taken) by whoever held it: the
# last sign of life of the previous leader, which recovery weighs (None: never held), and whether
# a holder was still named on it (it was taken over: see Acquired.taken_over). The CTE reads the
# row as it was before this UPDATE.
ACQUIRE = """
WITH previous AS (SELECT renewed_at, holder FROM leader_lease WHERE id = 1)
UPDATE leader_lease
SET holder = %(me)s, epoch = epoch + 1, expires_at = clock_timestamp() + make_interval(secs => %(lease)s),
    acquired_at = clock_timestamp(), renewed_at = clock_timestamp()
WHERE id = 1 AND expires_at <= clock_timestamp()
RETURNING epoch, extract(epoch FROM clock_timestamp() - (SELECT renewed_at FROM previous)),
          (SELECT holder FROM previous) IS NOT NULL, renewed_at
"""
# Only an expired (or given back) lease is taken, this replica's own name on it or not. Before, a
# replica that found its own name there took the lease again at once (`OR holder = me`): a replica
# whose link to the database had turned slow, its statements committed but their answers too late,
# stepped down, and each of its campaigns then took its own lease again, blind (the UPDATE committed,
# its answer never came): a whole lease more each time, under a new epoch, while it believed itself
# a standby, sent nothing, and the healthy standby was kept out (an HA probe: 30 s with nothing
# restarted, where a takeover within lease_duration + renew_interval is promised). A replica that
# stepped down with its lease still valid gives it back (GIVE_BACK) at its next try that the
# database answers, and takes it again only as any replica does, once it is free.

# A lease naming this replica, which does not lead: it took it blind (an ACQUIRE that committed, its
# answer lost) or stepped down before it expired. Expired now, the holder kept (the next one counts a
# takeover). Safe for fencing: this replica sends nothing while it does not lead, and leads again only
# through an ACQUIRE, which raises the epoch; no other replica writes under this epoch (the store's
# fenced writes check the holder too). Named by the epoch read just before, so a lease another
# replica took meanwhile is left alone.
GIVE_BACK = """
UPDATE leader_lease SET expires_at = clock_timestamp()
WHERE id = 1 AND holder = %(me)s AND epoch = %(epoch)s AND expires_at > clock_timestamp()
RETURNING epoch
"""

# Also returns the renewal time the row held before (the CTE reads the row as it was) and the one
# written now: the holder compares the former with the last one it wrote (Elector._check_rollback).
RENEW = """
WITH previous AS (SELECT renewed_at FROM leader_lease WHERE id = 1)
UPDATE leader_lease SET expires_at = clock_timestamp() + make_interval(secs => %(lease)s), renewed_at = clock_timestamp()
WHERE id = 1 AND holder = %(me)s AND epoch = %(epoch)s
RETURNING (SELECT renewed_at FROM previous), renewed_at
"""

# A leader whose renewal found the row under an older epoch than its own takes it back: the
# database lost the commits that made this replica the holder (an asynchronous standby promoted
# that missed a handover), and the epochs only ever rise, so the holder the row names was
# superseded by this replica before the loss (it had released the lease or let it expire, and
# its sends stopped at its renew deadline). Taken back under a higher epoch, whatever the row's
# expiry says: stepping down instead, this replica recovered the restarts it had finished (their
# ends were lost) and sent each again, and lost those it had accepted and not yet sent (found by
# a failover probe). A replica that took the row in the meantime holds an epoch at least this
# one's: then nothing is taken back, and this replica steps down.
RECLAIM = """
WITH previous AS (SELECT holder, epoch FROM leader_lease WHERE id = 1)
UPDATE leader_lease
SET holder = %(me)s, epoch = %(epoch)s + 1, expires_at = clock_timestamp() + make_interval(secs => %(lease)s),
    acquired_at = clock_timestamp(), renewed_at = clock_timestamp()
WHERE id = 1 AND epoch < %(epoch)s
RETURNING epoch, renewed_at, (SELECT holder FROM previous), (SELECT epoch FROM previous)
"""

RELEASE = """
UPDATE leader_lease SET holder = NULL, expires_at = '-infinity'
WHERE id = 1 AND holder = %(me)s AND epoch = %(epoch)s
"""

# The row made again when it is gone (the table truncated or the row deleted by hand, a partial
# restore): without it no replica could ever lead, and none said why. Its epoch is the database's
# clock in seconds, above any epoch counted before (one per change of holder), so that the epoch
# still rises with every change of holder; the holder check of every fenced write (state/postgres.py)
# keeps an old leader's writes out whatever the numbers.
RESTORE = """
INSERT INTO leader_lease (id, holder, epoch, expires_at)
VALUES (1, NULL, floor(extract(epoch FROM clock_timestamp()))::bigint, '-infinity')
ON CONFLICT (id) DO NOTHING
RETURNING epoch
"""

# No arithmetic on an infinite expires_at: a lease given back at a clean stop expires at
# '-infinity', and `expires_at - clock_timestamp()` then fails ("cannot subtract infinite
# timestamps"). renewed_at is always finite (written as clock_timestamp()) or NULL (never held).
READ = """
SELECT holder, epoch, expires_at > clock_timestamp() AS valid, renewed_at,
       extract(epoch FROM renewed_at - clock_timestamp()),
       CASE WHEN isfinite(expires_at) THEN extract(epoch FROM expires_at - clock_timestamp()) END,
       CASE WHEN isfinite(expires_at) THEN extract(epoch FROM expires_at - renewed_at) END
FROM leader_lease WHERE id = 1
"""

# A lease whose renewal time lies ahead of the database's clock: that clock stepped back since
# (NTP putting right a clock that ran fast, a VM restored from a snapshot, a failover to a server
# whose clock lags), and `expires_at` may lie hours ahead, so the lease would keep every replica
# out for the size of the step though its holder is dead. Taken (under a new epoch) only when the
# row is still exactly as a standby first read it, a whole lease of that standby's own clock
# earlier (Elector._lease_ahead): same epoch, same renewal time. A live holder renews every
# renew_interval, and every renewal writes a new renewed_at, so a healthy leader's row never
# matches; a holder that has not renewed for a whole lease has stopped sending at its
# renew_deadline (shorter than the lease), as with a lease that expired on the clock.
ACQUIRE_AHEAD = """
WITH previous AS (SELECT renewed_at, holder FROM leader_lease WHERE id = 1)
UPDATE leader_lease
SET holder = %(me)s, epoch = epoch + 1, expires_at = clock_timestamp() + make_interval(secs => %(lease)s),
    acquired_at = clock_timestamp(), renewed_at = clock_timestamp()
WHERE id = 1 AND epoch = %(epoch)s AND renewed_at = %(renewed_at)s AND renewed_at > clock_timestamp()
RETURNING epoch, extract(epoch FROM clock_timestamp() - (SELECT renewed_at FROM previous)),
          (SELECT holder FROM previous) IS NOT NULL, renewed_at
"""


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    epoch: int
    valid: bool  # held and not expired, on the database's clock
    # The holder's last renewal (the database's clock; None: never held), how far it lies ahead
    # of the database's clock now (positive only when that clock stepped back since), when the
    # lease expires from now (None: given back or never held), and the lease's length as its
    # holder wrote it (expires_at - renewed_at).
    renewed_at: datetime | None = None
    renewed_ahead: float | None = None
    expires_in: float | None = None
    length: float | None = None


@dataclass(frozen=True)
class Acquired:
    epoch: int
    # Seconds from the lease's last renewal before this acquisition to now (the database's clock);
    # None when the lease was never held.
    absent_for: float | None
    # The lease still named a holder, which had not given it back (RELEASE clears the holder): it
    # expired (the leader died, froze or could not renew), or it was this replica's own after a
    # step-down. False for a lease released at a clean stop (every rollout's handover), restored,
    # or never held.
    taken_over: bool = False
    # The renewal time this acquisition wrote (the database's clock).
    renewed_at: datetime | None = None


@dataclass(frozen=True)
class Renewed:
    # The row's renewal time before this renewal, and the one it wrote (the database's clock): a
    # holder that finds an older one than it last wrote renews a row its database lost commits
    # of (an asynchronous standby promoted, a restore).
    previous: datetime | None
    written: datetime


async def acquire(conn: AsyncConnection, me: str, lease_seconds: float) -> Acquired | None:
    """The new epoch if this replica now holds the lease, else None (another holds a valid one)."""
    cursor = await conn.execute(ACQUIRE, {"me": me, "lease": lease_seconds})
    row = await cursor.fetchone()
    return None if row is None else Acquired(int(row[0]), None if row[1] is None else float(row[1]), bool(row[2]), row[3])


async def renew(conn: AsyncConnection, me: str, epoch: int, lease_seconds: float) -> Renewed | None:
    """None: the lease is no longer ours under this epoch (another replica took it over)."""
    cursor = await conn.execute(RENEW, {"me": me, "epoch": epoch, "lease": lease_seconds})
    row = await cursor.fetchone()
    return None if row is None else Renewed(row[0], row[1])


async def reclaim(conn: AsyncConnection, me: str, epoch: int, lease_seconds: float) -> Reclaimed | None:
    """Take the lease back when its row holds an older epoch than `epoch`, this replica's (RECLAIM);
    None when it does not (another replica took it since)."""
    cursor = await conn.execute(RECLAIM, {"me": me, "epoch": epoch, "lease": lease_seconds})
    row = await cursor.fetchone()
    return None if row is None else Reclaimed(int(row[0]), row[1], row[2], int(row[3]))


async def release(conn: AsyncConnection, me: str, epoch: int) -> None:
    """Give the lease back at a clean stop: a standby takes over at its next try, not a lease later."""
    await conn.execute(RELEASE, {"me": me, "epoch": epoch})


async def give_back(conn: AsyncConnection, me: str, epoch: int) -> bool:
    """Expire a lease that names this replica, a standby, under `epoch` (GIVE_BACK); whether it did."""
    cursor = await conn.execute(GIVE_BACK, {"me": me, "epoch": epoch})
    return await cursor.fetchone() is not None


async def restore(conn: AsyncConnection) -> int | None:
    """Make the lease row again if it is gone; its epoch if this call made it."""
    cursor = await conn.execute(RESTORE)
    row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def read(conn: AsyncConnection) -> LeaseView | None:
    """The lease as the database holds it, or None when its row is gone."""
    cursor = await conn.execute(READ)
    row = await cursor.fetchone()
    if row is None:
        return None
    return LeaseView(row[0], int(row[1]), bool(row[2]) and row[0] is not None, row[3], _seconds(row[4]),
                     _seconds(row[5]), _seconds(row[6]))


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


async def acquire_ahead(conn: AsyncConnection, me: str, lease_seconds: float, epoch: int,
                        renewed_at: datetime) -> Acquired | None:
    """Take a lease whose renewal time lies ahead of the database's clock, if the row is still
    under `epoch` with `renewed_at` (ACQUIRE_AHEAD); None when it changed (its holder renewed)."""
    cursor = await conn.execute(ACQUIRE_AHEAD, {"me": me, "lease": lease_seconds, "epoch": epoch,
                                                "renewed_at": renewed_at})
    row = await cursor.fetchone()
    return None if row is None else Acquired(int(row[0]), None if row[1] is None else float(row[1]), bool(row[2]), row[3])


@dataclass(frozen=True)
class Reclaimed:
    epoch: int  # the new one, above the one this replica held
    written: datetime  # the renewal time written (the database's clock)
    found_holder: str | None  # whom the row named, under...
    found_epoch: int  # ...this older epoch


async def within(conn: AnsweringAsyncConnection, call: Awaitable[T], seconds: float) -> T:
    """`call`, a statement on `conn`, its answer awaited `seconds` at most: by the connection's own
    bound (AnsweringAsyncConnection), which ends it at once, asyncio.wait_for a second later
    only in case. Cancelled by wait_for, psycopg first asks the server to cancel the statement and
    waits for it, up to 10 s more."""
    conn.answer_timeout = seconds
    return await asyncio.wait_for(call, seconds + 1)
