"""What a SQLite store keeps besides the connectors' state, the history and the requests: since
when the leader's polls saw each connector running, the windows each stalled rule last judged
(running.py: side tables, for the next start's stall checks), and the daemon's last sign of life
(`daemon_alive`, for a start that judges how long no daemon ran).

`SqliteMemory` is mixed into `SqliteStateStore` (store.py), which opens the file and does the
reads and transactional writes these use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ..report import format_timestamp, parse_timestamp, parse_timestamp_or_none
from .pruning import unjudged_step, unlisted_step
from .running import (
    JudgedWindows,
    RunningIdentity,
    RunningSeen,
    identity_sql,
    judged_sql,
    judged_write,
    listed_sql,
    read_judged,
    read_running,
    read_running_identity,
    running_ids_sql,
    running_sql,
    running_writes,
)

T = TypeVar("T")

_RUNNING_WRITES = running_writes("?")
_JUDGED_WRITE = judged_write("?")

# The daemon's record of being alive, and the newest time any record was written, those ahead of a
# given time left out (see SqliteStateStore.last_alive). Timestamps are fixed-width ISO 8601 UTC
# text, so max() is the newest.
ALIVE_SQL = """
SELECT (SELECT at FROM daemon_alive WHERE id = 1) AS beat, max(at) AS record FROM (
    SELECT max(seen_at) AS at FROM connector_state WHERE seen_at <= ?
    UNION ALL SELECT max(at) FROM restart_history WHERE at <= ?
    UNION ALL SELECT max(requested_at) FROM pending_request WHERE requested_at <= ?
)
"""
# This release records being alive every 30 s (app.py's ALIVE_BEATS) while it leads: a record later
# than its last beat by more than three beats was written by a release that records none (one from
# before 2026-12-02, rolled back to), and says only when that one last wrote, not when it stopped.
BEAT_SILENCE = timedelta(seconds=90)



class SqliteMemory:
    # The store's parts this uses (SqliteStateStore has them).
    _db: sqlite3.Connection

    if TYPE_CHECKING:
        def _read(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]: ...
        def _decoded(self, what: str, decode: Callable[[sqlite3.Row], T], rows: list[sqlite3.Row]) -> list[T]: ...
        def _write(self, what: str, *, commit: bool = False,
                   quiet_while_failing: bool = False) -> AbstractContextManager[sqlite3.Connection]: ...

    # -- since when the polls saw each connector running (running.py) --------------------------------

    def record_running(self, cluster: str, listed_at: datetime, started: Mapping[str, datetime],
                       stopped: Collection[str], *, ids: Mapping[str, str | None] | None = None,
                       identity: str | None = None) -> None:
        delete, upsert, stamp = _RUNNING_WRITES
        with self._write("record which connectors run", quiet_while_failing=True) as db:
            db.executemany(delete, [(cluster, name) for name in stopped])
            db.executemany(upsert, [(cluster, name, format_timestamp(since), (ids or {}).get(name))
                                    for name, since in started.items()])
            db.execute(stamp, (cluster, format_timestamp(listed_at), identity))

    def running_seen(self, cluster: str) -> RunningSeen:
        listed = self._read("read when a cluster was last listed", listed_sql("?"), (cluster,))
        rows = self._read("read since when connectors run", running_sql("?"), (cluster,))
        return read_running([row["at"] for row in listed], [(row["connector"], row["since"]) for row in rows],
                            parse_timestamp)

    def running_identity(self, cluster: str) -> RunningIdentity:
        identity = self._read("read which cluster was last listed", identity_sql("?"), (cluster,))
        rows = self._read("read the ids of connectors that run", running_ids_sql("?"), (cluster,))
        return read_running_identity([row["identity"] for row in identity],
                                     [(row["connector"], row["connector_id"]) for row in rows])

    def record_judged(self, rule: str, judged: Mapping[str, JudgedWindows]) -> None:
        with self._write("record the windows a stall check judged", quiet_while_failing=True) as db:
            db.executemany(_JUDGED_WRITE, [
                (rule, cluster, *(format_timestamp(at) for at in windows[:4]), *windows[4:])
                for cluster, windows in judged.items()])

    def judged(self, rule: str) -> dict[str, JudgedWindows]:
        rows = self._read("read the windows stall checks judged", judged_sql("?"), (rule,))
        return read_judged([tuple(row) for row in rows], parse_timestamp)

    def prune_unlisted(self, keep: Callable[[str], bool], cutoff: datetime, after: str | None,
                       clusters: int) -> tuple[int, str | None]:
        with self._write("prune what the polls saw running") as db:
            return unlisted_step(db, "?", keep, format_timestamp(cutoff), after, clusters)

    def prune_unjudged(self, rules: Collection[str], after: str | None, count: int) -> tuple[int, str | None]:
        with self._write("prune the windows stall checks judged") as db:
            return unjudged_step(db, "?", rules, after, count)

    # -- the daemon's last sign of life -------------------------------------------------------------

    def last_alive(self, now: datetime | None = None) -> datetime | None:
        """When a daemon was last known alive on this file, by its record of being alive, or the
        newest record written after it within a few beats (killed between two beats: a poll seen,
        a restart, a request), leaving out records ahead of `now` (written before the wall clock
        stepped back). None when it is not known: no daemon ever recorded being alive on it, or
        its last writer records none (a release from before 2026-12-02, rolled back to: its
        records stop during a 429 pause or while polls fail, and say nothing of when it stopped).
        Taken for its last sign of life, its newest record made a rollout 3 s after it stopped,
        at the end of a 5.5-minute 429 pause, drop the schedule's kept restarts as "missed while
        no daemon ran: 5m" (engine/recovery.py says what a start does without a gap)."""
        newest = format_timestamp(now) if now is not None else "9999"
        try:
            rows = self._db.execute(ALIVE_SQL, (newest, newest, newest)).fetchall()
        except sqlite3.OperationalError:  # a reader on a file no daemon of this release opened yet
            return None
        if not rows:
            return None
        beat, record = self._decoded("find when a daemon was last alive", lambda row: (
            parse_timestamp_or_none(row["beat"]), parse_timestamp_or_none(row["record"])), rows)[0]
        if beat is None or (record is not None and record > beat + BEAT_SILENCE):
            return None
        return max(beat, record) if record is not None else beat

    def mark_alive(self, at: datetime) -> None:
        """Record that the daemon is alive at `at` (one row, rewritten). Tried every 30 s whatever
        happens: on a full disk it fails each time, and reported each time it added a store
        error every 30 s to the one already reported and put its own reason in /readyz in place
        of what could not be recorded. Its failure is reported only when it is the first
        (`problem` unset); the next beat after the disk has room records it again, and clears
        `problem` (a daemon with nothing else to write would say the disk is full for ever)."""
        with self._write("record that the daemon is alive", quiet_while_failing=True) as db:
            db.execute("INSERT INTO daemon_alive (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                       (format_timestamp(at),))
