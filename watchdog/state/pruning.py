"""The restart history's pruning, in steps of bounded size, for both stores; and the side tables'
(running.py) rows of clusters and stalled rules no longer configured (`side_steps`).

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

from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime, timedelta
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


# -- the side tables (running.py): rows of clusters and stalled rules no longer configured ----------
# Nothing else deletes them: a listing rewrites only its own cluster's rows, so a fleet whose
# discovery watches short-lived clusters (named by their lkc- id), or whose rules are renamed, grew
# them by every cluster and rule ever watched, in backups too (probe_upgrade F4).

CLUSTERS_PER_STEP = 20  # clusters past the cutoff one step looks at (each with all its rows)
RULES_PER_STEP = 20  # rule names with kept windows one step looks at


class SidePrunable(Protocol):
    def prune_unlisted(self, keep: Callable[[str], bool], cutoff: datetime, after: str | None,
                       clusters: int) -> tuple[int, str | None]:
        """Of the next `clusters` clusters after `after` whose last listing is older than `cutoff`,
        delete every side-table row of those `keep` does not keep; how many went, and the last
        cluster looked at (None: none left)."""
        ...

    def prune_unjudged(self, rules: Collection[str], after: str | None, count: int) -> tuple[int, str | None]:
        """Of the next `count` rule names after `after` with kept windows, delete those not in `rules`."""
        ...


def unlisted_step(db: Database, mark: str, keep: Callable[[str], bool], cutoff: object, after: str | None,
                  clusters: int) -> tuple[int, str | None]:
    """SidePrunable.prune_unlisted, in the store's transaction; `cutoff` as the store writes `at`."""
    lower = f" AND cluster > {mark}" if after is not None else ""
    page = [row["cluster"] for row in db.execute(
        f"SELECT cluster FROM cluster_listed WHERE at < {mark}{lower} ORDER BY cluster LIMIT {mark}",
        (cutoff, *(() if after is None else (after,)), clusters)).fetchall()]
    removed = 0
    for cluster in page:
        if keep(cluster):
            continue
        # Its rows first, the stamp last: a stamp left alone says nothing of rows.
        removed += int(db.execute(f"DELETE FROM connector_running WHERE cluster = {mark}", (cluster,)).rowcount)
        removed += int(db.execute(f"DELETE FROM stall_judged WHERE cluster = {mark}", (cluster,)).rowcount)
        removed += int(db.execute(f"DELETE FROM cluster_listed WHERE cluster = {mark} AND at < {mark}",
                                  (cluster, cutoff)).rowcount)
    return removed, page[-1] if len(page) == clusters else None


def unjudged_step(db: Database, mark: str, rules: Collection[str], after: str | None,
                  count: int) -> tuple[int, str | None]:
    """SidePrunable.prune_unjudged, in the store's transaction."""
    lower = f"WHERE rule > {mark} " if after is not None else ""
    page = [row["rule"] for row in db.execute(
        f"SELECT DISTINCT rule FROM stall_judged {lower}ORDER BY rule LIMIT {mark}",
        (*(() if after is None else (after,)), count)).fetchall()]
    removed = 0
    for rule in page:
        if rule not in rules:
            removed += int(db.execute(f"DELETE FROM stall_judged WHERE rule = {mark}", (rule,)).rowcount)
    return removed, page[-1] if len(page) == count else None


def side_steps(store: SidePrunable, keep: Callable[[str], bool], rules: Collection[str], cutoff: datetime, *,
               per_step: int = CLUSTERS_PER_STEP) -> Iterator[int]:
    """The side tables' prune, one step at a time (rows deleted by each): the rows of clusters
    whose last listing is older than `cutoff` (now - state.forget_vanished_after) that `keep`
    does not keep (configured or discovered, or that discovery may still find), then the windows
    kept for stalled rules whose names are not in `rules` (renamed or removed: a rule's first
    check reads its own windows)."""
    after: str | None = None
    while True:
        removed, after = store.prune_unlisted(keep, cutoff, after, per_step)
        yield removed
        if after is None:
            break
    while True:
        removed, after = store.prune_unjudged(rules, after, per_step)
        yield removed
        if after is None:
            return
