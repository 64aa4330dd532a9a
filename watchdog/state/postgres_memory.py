"""What a PostgreSQL store keeps besides the connectors' state, the history and the requests:
since when the leader's polls saw each connector running and the windows each stalled rule last
judged (running.py: side tables, for the next leader's stall checks; none where the role could
not make them, `_running` False), and the leader's last sign of life, which the lease holds.

`PostgresMemory` is a base of `PostgresStateStore` (postgres.py); its own base,
`PostgresTransactions` (postgres_transactions.py), does the fenced reads and writes these use.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime

from . import postgres_rows
from .postgres_rows import aware
from .postgres_transactions import PostgresTransactions
from .pruning import unjudged_step, unlisted_step
from .running import (
    POSTGRES_STAMP_AT,
    JudgedWindows,
    NotKnown,
    RunningIdentity,
    RunningSeen,
    identity_sql,
    judged_sql,
    judged_write,
    listed_age_sql,
    read_judged,
    read_running,
    read_running_identity,
    running_ids_sql,
    running_sql,
    running_writes,
)


class PostgresMemory(PostgresTransactions):
    _running: bool  # PostgresStateStore sets it, once it made or found the side tables
    _running_not_kept: str  # and if not, why (postgres_schema.ensure_running_tables)
    _now: Callable[[], datetime]  # PostgresStateStore's wall clock

    def record_running(self, cluster: str, listed_at: datetime, started: Mapping[str, datetime],
                       stopped: Collection[str], *, ids: Mapping[str, str | None] | None = None,
                       identity: str | None = None) -> None:
        if not self._running:
            return
        delete, upsert, stamp = running_writes("%s", POSTGRES_STAMP_AT)
        with self._write("record which connectors run", quiet_while_failing=True) as db, db.cursor() as cursor:
            if stopped:
                cursor.executemany(delete, [(cluster, name) for name in stopped])
            if started:
                cursor.executemany(upsert, [(cluster, name, postgres_rows.utc(since), (ids or {}).get(name))
                                            for name, since in started.items()])
            # On the database's clock (running.py, POSTGRES_STAMP_AT): the listing's age now, never below 0.
            cursor.execute(stamp, (cluster, max(0.0, (self._now() - listed_at).total_seconds()), identity))

    def running_seen(self, cluster: str) -> RunningSeen:
        if not self._running:
            return (NotKnown(self._running_not_kept) if self._running_not_kept else None), {}
        # The stamp's age on the database's clock, put on this process's clock (running.py, POSTGRES_STAMP_AT).
        listed = self._read("read when a cluster was last listed", listed_age_sql("%s"), (cluster,))
        rows = self._read("read since when connectors run", running_sql("%s"), (cluster,))
        return read_running([self._now() - row["ago"] for row in listed],
                            [(row["connector"], row["since"]) for row in rows], aware)

    def running_identity(self, cluster: str) -> RunningIdentity:
        if not self._running:
            return None, {}
        identity = self._read("read which cluster was last listed", identity_sql("%s"), (cluster,))
        rows = self._read("read the ids of connectors that run", running_ids_sql("%s"), (cluster,))
        return read_running_identity([row["identity"] for row in identity],
                                     [(row["connector"], row["connector_id"]) for row in rows])

    def record_judged(self, rule: str, judged: Mapping[str, JudgedWindows]) -> None:
        if not self._running or not judged:
            return
        with self._write("record the windows a stall check judged", quiet_while_failing=True) as db, db.cursor() as cursor:
            cursor.executemany(judged_write("%s"), [
                (rule, cluster, *(postgres_rows.utc(at) for at in windows[:4]), *windows[4:])
                for cluster, windows in judged.items()])

    def judged(self, rule: str) -> dict[str, JudgedWindows]:
        if not self._running:
            return {}
        rows = self._read("read the windows stall checks judged", judged_sql("%s"), (rule,))
        return read_judged([(row["cluster"], row["start"], row["earlier"], row["later"], row["end_at"],
                             row["granularity"], row["step"]) for row in rows], aware)

    def prune_unlisted(self, keep: Callable[[str], bool], cutoff: datetime, after: str | None,
                       clusters: int) -> tuple[int, str | None]:
        if not self._running:
            return 0, None
        with self._write("prune what the polls saw running") as db:
            # The stamps are on the database's clock (running.POSTGRES_STAMP_AT): so is the cutoff,
            # as far back from the database's now as the one given is from this process's.
            row = db.execute("SELECT now() AS now").fetchone()
            assert row is not None
            return unlisted_step(db, "%s", keep, row["now"] - (self._now() - cutoff), after, clusters)

    def prune_unjudged(self, rules: Collection[str], after: str | None, count: int) -> tuple[int, str | None]:
        if not self._running:
            return 0, None
        with self._write("prune the windows stall checks judged") as db:
            return unjudged_step(db, "%s", rules, after, count)

    def last_alive(self, now: datetime | None = None) -> datetime | None:
        """None: with PostgreSQL the leader's last sign of life is its lease renewal, which the
        elector reads as it takes the lease (Elector.absent_for), on the database's clock."""
        return None

    def mark_alive(self, at: datetime) -> None:
        """Nothing to record (the lease's renewal does); while a failed write stands, one of nothing:
        with alert rules only, till the hourly pruning, /readyz said 503 with the database back."""
        if self.problem is None:
            return
        with self._write("check that the database takes writes again", quiet_while_failing=True):
            pass
