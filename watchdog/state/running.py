"""What a new leader's stall checks need from the one before: since when the leader's polls have
seen each connector RUNNING (healthy), and when each cluster was last listed, kept in the store so
that a new leader (a takeover, or a single daemon started again on its file) can judge stalls at
once rather than after `grace` + `delay` + three windows (engine.running_since,
engine/status_intake.py seeds from these); and the windows each stalled rule last judged per
cluster (`stall_judged`, below).

Side tables, not a migration (as `daemon_alive`, schema.py): a new schema version makes every
older release refuse the store, so no rollback. An older release opens a store with them (extra
tables are its business: its checks look for the tables it needs) and never writes them; rolled
forward again, the cluster's stamp is as old as that release's run, so nothing is seeded from
them (a connector paused and resumed meanwhile must not read as running through it), and the
windows judged before the rollback stretch no connector's `before` (a catch-up judges over the
span only connectors seen running through it: triggers/stall_verdicts.py `_judge`).

Written only when something changes: a connector becoming healthy (a row) or leaving it, or
leaving the listing (its row removed), and one row per cluster per listing (its stamp), in one
transaction, under the leader's fence as every write. A connector's row alone says "healthy at
every listing since `since`" only together with a recent stamp of its cluster: each listing that
stamps the cluster has written its changes first, in the same transaction. Each row keeps the
lcc- id of the connector it was written for: a connector created again under the name (another id)
is not its namesake, and takes no time from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SQLITE_TABLES = (
    """CREATE TABLE IF NOT EXISTS connector_running (
        cluster   TEXT NOT NULL,
        connector TEXT NOT NULL,
        since     TEXT NOT NULL,
        connector_id TEXT,
        PRIMARY KEY (cluster, connector)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS cluster_listed (cluster TEXT PRIMARY KEY, at TEXT NOT NULL, identity TEXT)",
    """CREATE TABLE IF NOT EXISTS stall_judged (
        rule        TEXT NOT NULL,
        cluster     TEXT NOT NULL,
        start       TEXT NOT NULL,
        earlier     TEXT NOT NULL,
        later       TEXT NOT NULL,
        end_at      TEXT NOT NULL,
        granularity TEXT NOT NULL,
        step        INTEGER NOT NULL,
        PRIMARY KEY (rule, cluster)
    ) WITHOUT ROWID""",
)

POSTGRES_TABLES = (
    """CREATE TABLE IF NOT EXISTS connector_running (
        cluster   text NOT NULL,
        connector text NOT NULL,
        since     timestamptz NOT NULL,
        connector_id text,
        PRIMARY KEY (cluster, connector)
    )""",
    "CREATE TABLE IF NOT EXISTS cluster_listed (cluster text PRIMARY KEY, at timestamptz NOT NULL, identity text)",
    """CREATE TABLE IF NOT EXISTS stall_judged (
        rule        text NOT NULL,
        cluster     text NOT NULL,
        start       timestamptz NOT NULL,
        earlier     timestamptz NOT NULL,
        later       timestamptz NOT NULL,
        end_at      timestamptz NOT NULL,
        granularity text NOT NULL,
        step        integer NOT NULL,
        PRIMARY KEY (rule, cluster)
    )""",
)

TABLE_NAMES = ("connector_running", "cluster_listed", "stall_judged")

# Columns added after the tables were first made (by the release of e40a6aa): nullable, added where
# missing (ALTER TABLE ... ADD COLUMN, no schema version: an older release still opens the store).
# Its statements name their columns, so its writes go on; a row it inserts has them NULL, read
# as "not known" (the safe side: not seeded). (table, column, SQLite type, PostgreSQL type)
ADDED_COLUMNS = (
    # The connector's lcc- id (None: a listing gave none, as Kafka Connect's): a time is seeded only
    # to a connector listed with the same id; another one created under the name is not its namesake.
    ("connector_running", "connector_id", "TEXT", "text"),
    # Which Kafka cluster the name stood for at that listing (engine/cluster_identity.py; None: not
    # known, an older release made the row): a start under another definition takes none of the times.
    ("cluster_listed", "identity", "TEXT", "text"),
)


def running_writes(mark: str, stamp_at: str | None = None) -> tuple[str, str, str]:
    """The statements of one listing's changes, run in one transaction in this order, each for its
    rows at once (executemany: one round trip with PostgreSQL, whatever the count; a statement
    each, a first listing of 1,500 connectors 5 ms away held the event loop 7.5 s, past the lease):
    the connectors that stopped being healthy or left (cluster, connector), those that became
    healthy (cluster, connector, since, connector_id), then the cluster's stamp (cluster, at,
    identity). `mark`: the driver's parameter mark; `stamp_at`: the stamp's expression (default:
    the time given), for PostgreSQL POSTGRES_STAMP_AT."""
    return (f"DELETE FROM connector_running WHERE cluster = {mark} AND connector = {mark}",
            f"INSERT INTO connector_running (cluster, connector, since, connector_id) VALUES ({mark}, {mark}, {mark}, {mark}) "
            "ON CONFLICT (cluster, connector) DO UPDATE SET since = excluded.since, connector_id = excluded.connector_id",
            f"INSERT INTO cluster_listed (cluster, at, identity) VALUES ({mark}, {stamp_at or mark}, {mark}) "
            "ON CONFLICT (cluster) DO UPDATE SET at = excluded.at, identity = excluded.identity")


# With PostgreSQL the stamp is on the database's clock, as the lease's expiry is: written as the
# database's now() less the listing's age (in seconds, by the writer's clock: a span of moments,
# whatever that clock's offset), and read as its age by that same clock (POSTGRES_LISTED_AGE).
# On the writer's wall clock, it was read against the next leader's: a successor whose clock lagged
# the old leader's by more than the gap took every stored time back however long no replica led
# (the probe's F1), while replicas' clocks need not agree (config.example.yaml, leader_election).
POSTGRES_STAMP_AT = "now() - make_interval(secs => %s)"


def listed_sql(mark: str) -> str:
    return f"SELECT at FROM cluster_listed WHERE cluster = {mark}"


def listed_age_sql(mark: str) -> str:
    """PostgreSQL: the cluster's stamp as its age on the database's clock (`ago`, an interval)."""
    return f"SELECT now() - at AS ago FROM cluster_listed WHERE cluster = {mark}"


def running_sql(mark: str) -> str:
    return f"SELECT connector, since FROM connector_running WHERE cluster = {mark}"


def running_ids_sql(mark: str) -> str:
    return f"SELECT connector, connector_id FROM connector_running WHERE cluster = {mark}"


def identity_sql(mark: str) -> str:
    return f"SELECT identity FROM cluster_listed WHERE cluster = {mark}"


RunningIds = dict[str, str | None]  # the lcc- id each kept time is of, by connector name (None: not known)
# Which Kafka cluster the last listing was of (None: not known), and the id each kept time is of.
RunningIdentity = tuple[str | None, RunningIds]


def read_running_identity(identity: Sequence[Any], rows: Sequence[tuple[str, Any]]) -> RunningIdentity:
    """The identities kept with the times; a value that is not text (a hand edit) is "not known"."""
    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    return (text(identity[0]) if identity else None), {name: text(value) for name, value in rows}




@dataclass(frozen=True, slots=True)
class NotKnown:
    """When a cluster was last listed cannot be told though the store may record it, and why (a
    stamp that cannot be read, tables the role may not use): what a new leader's first listing
    says (`stall_checks_judge_from`). Told apart from None (none recorded): saying "no listing is
    recorded" of one that is, the operator looked for a first start that never happened."""

    why: str


# The cluster's last listing (None: none recorded), and each since
RunningSeen = tuple[datetime | NotKnown | None, dict[str, datetime]]


def read_running(listed: Sequence[Any], running: Sequence[tuple[str, Any]],
                 parse: Callable[[Any], datetime]) -> RunningSeen:
    """What running_seen answers from the rows read (`parse`: the driver's value to a UTC time).
    A value that cannot be read (changed by hand, a disk error) is "not known": the cluster's, and
    nothing is seeded (the connectors' times are still given, for the first listing to rewrite
    or remove their rows); a connector's, and it counts from its next listing. A hint, not a
    record: refusing the store for it would stop the daemon where the release before it ran."""
    at: datetime | NotKnown | None
    try:
        at = parse(listed[0]) if listed else None
    except (ValueError, TypeError) as error:
        at = NotKnown(f"the state store's record of when this cluster was last listed cannot be read "
                      f"({str(error)[:120]})")
    since: dict[str, datetime] = {}
    for name, value in running:
        try:
            since[name] = parse(value)
        except (ValueError, TypeError):
            continue
    return at, since


# The windows a stalled rule's check last read and judged for a cluster (triggers/stall.py's
# `Windows`: start, earlier, later, end, granularity, step), kept so that a new leader's first check
# reads the span the old one missed (stall.catch_up): a 429 spell, a Metrics API outage, then its
# death. Kept in memory only, a stall that showed only while the old leader could not read was
# never restarted by anyone. One row per rule and cluster, rewritten by each check that read it.
JudgedWindows = tuple[datetime, datetime, datetime, datetime, str, int]


def judged_write(mark: str) -> str:
    """The upsert of one (rule, cluster)'s windows: (rule, cluster, start, earlier, later, end, granularity, step)."""
    return (f"INSERT INTO stall_judged (rule, cluster, start, earlier, later, end_at, granularity, step) "
            f"VALUES ({', '.join([mark] * 8)}) ON CONFLICT (rule, cluster) DO UPDATE SET start = excluded.start, "
            "earlier = excluded.earlier, later = excluded.later, end_at = excluded.end_at, "
            "granularity = excluded.granularity, step = excluded.step")


def judged_sql(mark: str) -> str:
    return f"SELECT cluster, start, earlier, later, end_at, granularity, step FROM stall_judged WHERE rule = {mark}"


def read_judged(rows: Sequence[Sequence[Any]], parse: Callable[[Any], datetime]) -> dict[str, JudgedWindows]:
    """Each cluster's windows from the rows read; a row that cannot be read is left out (that
    cluster's first check reads its own windows, as before)."""
    found: dict[str, JudgedWindows] = {}
    for cluster, start, earlier, later, end, granularity, step in rows:
        try:
            if not isinstance(granularity, str) or not isinstance(step, int) or isinstance(step, bool):
                continue
            found[cluster] = (parse(start), parse(earlier), parse(later), parse(end), granularity, step)
        except (ValueError, TypeError):
            continue
    return found
