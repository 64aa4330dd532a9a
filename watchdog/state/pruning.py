"""The restart history's pruning, in steps of bounded size, for both stores.

A step is one short transaction that looks at a bounded number of records: the oldest
OLD_PER_STEP records past `max_age`, or the records of CONNECTORS_PER_STEP connectors (in
(cluster, connector) order, read through the index on them) for those beyond `max_entries`. The
daemon runs the steps in slices beside the event loop (EngineCore.prune_history); `prune_all`
runs them all at once (a tool, the tests).

Before, each prune was two statements over the whole table, the second a window over every
record ranked per connector: with 2,000 connectors at their 200 records each (an hourly schedule
for nine days; 402,000 records), it held the event loop 0.4 to 1.3 s (by the machine's load) at
every hourly prune on a SQLite file and 3.1 to 3.4 s on PostgreSQL, whether or not anything was
to be deleted, and longer as the history grew: webhooks, `/healthz`, scrapes and the lease's
renewal waited on it. In steps, each takes 1 to 50 ms, and a prune with nothing to delete 0.07 s
(SQLite) or 0.26 s (PostgreSQL) in all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, Protocol

from ..model import ConnectorKey

OLD_PER_STEP = 1000  # records past max_age deleted by one step, oldest first
CONNECTORS_PER_STEP = 20  # connectors whose records one step counts (and cuts to max_entries)


class Prunable(Protocol):
    def prune_older(self, max_age: timedelta, limit: int) -> int:
        """Delete at most `limit` records older than `max_age`, the oldest first; how many went."""
        ...

    def prune_excess(self, max_entries: int, after: ConnectorKey | None, connectors: int) -> tuple[int, ConnectorKey | None]:
        """Of the next `connectors` connectors with history after `after` (None: from the first),
        in (cluster, connector) order, delete every record but the newest `max_entries` of each.
        Returns how many went and the last connector looked at (None: no connector is left)."""
        ...


class Database(Protocol):
    """A store's connection in a transaction (sqlite3's, psycopg's): rows read by column name."""

    def execute(self, sql: str, params: Sequence[Any]) -> Any: ...


# The statements of a step, with the store's placeholder (`mark`: `?`, `%s`). Each reads through an
# index (restart_history_by_time, restart_history_by_connector), so its cost is the records it
# looks at, not the table's.

def older_step(db: Database, mark: str, cutoff: object, limit: int) -> int:
    """Prunable.prune_older, in the store's transaction; `cutoff` as the store writes `at`."""
    return int(db.execute(f"DELETE FROM restart_history WHERE id IN ("
                          f"SELECT id FROM restart_history WHERE at < {mark} ORDER BY at LIMIT {mark})",
                          (cutoff, limit)).rowcount)


def excess_step(db: Database, mark: str, max_entries: int, after: ConnectorKey | None,
                connectors: int) -> tuple[int, ConnectorKey | None]:
    """Prunable.prune_excess, in the store's transaction: the page of connectors read (each with
    whether it has more records than the limit), then, if any has, the records beyond the newest
    `max_entries` of each connector of the page deleted in one statement (two records at the same
    instant: the one written last is the newer)."""
    bound: tuple[str, ...] = () if after is None else (after.cluster, after.connector)
    lower = f"(cluster, connector) > ({mark}, {mark})" if after is not None else ""
    page = db.execute(f"SELECT cluster, connector, count(*) > {mark} AS over FROM restart_history "
                      f"{'WHERE ' + lower if lower else ''} "
                      f"GROUP BY cluster, connector ORDER BY cluster, connector LIMIT {mark}",
                      (max_entries, *bound, connectors)).fetchall()
    if not page:
        return 0, None
    last = ConnectorKey(page[-1]["cluster"], page[-1]["connector"])
    removed = 0
    if any(row["over"] for row in page):
        removed = int(db.execute(
            f"DELETE FROM restart_history WHERE id IN (SELECT id FROM ("
            f"SELECT id, ROW_NUMBER() OVER (PARTITION BY cluster, connector ORDER BY at DESC, id DESC) AS newest_first "
            f"FROM restart_history WHERE {lower + ' AND ' if lower else ''}(cluster, connector) <= ({mark}, {mark})"
            f") AS ranked WHERE newest_first > {mark})",
            (*bound, last.cluster, last.connector, max_entries)).rowcount)
    return removed, last if len(page) == connectors else None


def check_limits(max_age: timedelta, max_entries: int) -> None:
    if max_age <= timedelta(0) or max_entries < 1:
        raise ValueError(f"history limits must be positive, got max_age={max_age}, max_entries={max_entries}")


def prune_steps(store: Prunable, max_age: timedelta, max_entries: int) -> Iterator[int]:
    """The prune, one step at a time: yields the records each step deleted. Records past
    `max_age` first (all connectors), then all but the newest `max_entries` of EACH connector:
    counting per connector keeps a quiet connector's last restarts from being pushed out by a
    noisy one."""
    check_limits(max_age, max_entries)
    while True:
        removed = store.prune_older(max_age, OLD_PER_STEP)
        yield removed
        if removed < OLD_PER_STEP:
            break
    after: ConnectorKey | None = None
    while True:
        removed, after = store.prune_excess(max_entries, after, CONNECTORS_PER_STEP)
        yield removed
        if after is None:
            return


def prune_all(store: Prunable, max_age: timedelta, max_entries: int) -> int:
    """Every step at once; the number of records deleted."""
    return sum(prune_steps(store, max_age, max_entries))
