"""`watchdog status` and `GET /v1/connectors`: the watched connectors' rows, as JSON (and read
back from it) and as a table grouped by environment and cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..config import CloudCluster, Config
from ..logs import printable
from ..model import ConnectorKey, ConnectorState, Health
from .formatting import (
    distinct_name,
    format_ago,
    format_moment,
    format_span,
    format_timestamp,
    parse_timestamp,
    parse_timestamp_or_none,
    render_table,
    timestamp_or_none,
)
from .stall_word import StallWord, stall_cell, stall_from_json, stall_json


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One watched connector as the status table shows it."""

    key: ConnectorKey
    state: ConnectorState
    seen_state: str | None = None  # the connector state of the last poll: RUNNING, FAILED, ...
    seen_at: datetime | None = None  # when that poll saw it
    # `state` is the dry run's view (attempts, backoff, gave-up as the live run would have them,
    # kept in the daemon's memory only), not the state file's: dry_run_rows.
    dry_run: bool = False
    # In a dry run's view, its last restart is a live one (a restart by name the view took on:
    # JobRecorder): LAST RESTART is not marked `(dry run)` (dry_run_rows).
    last_restart_live: bool = False
    # Whether its cluster's last listing left it out, where that is known (the daemon knows what
    # each poll listed); None: worked out from `seen_at` (gone_keys).
    gone: bool | None = None
    # (decision, detail, when) while a gate holds its wanted restart (window_closed,
    # breaker_open, blocked), or its failure awaits its rule's confirmation (unconfirmed): the
    # daemon knows it, the state file does not (EngineCore.held).
    held: tuple[str, str, datetime] | None = None
    # Listed, but no status rule selects it now (a reload excluded it, a rule turned off): not
    # judged, so its health and seen state are as last seen, and no poll restarts it. Said by the
    # daemon, or read from the state file with the config (report.unwatched_rows).
    unwatched: bool = False
    # Its ATTEMPTS, none of which the API accepted (every call refused, 500, unsent...): what each
    # got, from the history (report/attempts.py); None when one was accepted, or not read.
    not_accepted: str | None = None
    # Its cluster is no longer watched (discovery removed it from its environment's list, or a
    # reload removed it from the config): nothing polls, schedules or restarts it, and its state
    # is kept for `state.forget_vanished_after`. Said by the daemon only (the state file cannot
    # tell a discovered cluster removed from one not discovered yet). Shown as last seen, a
    # deleted cluster's FAILED connectors read `failed ... in 1m`, `gone: false` for days.
    cluster_unwatched: bool = False
    # A stalled rule selects it: the stall check's last word on it (report/stall_word.py; the daemon's memory).
    stall: StallWord | None = None


def rows_shown(rows: Iterable[StatusRow], places: Mapping[str, ClusterPlace], *, cluster: str | None = None,
               problems: bool = False) -> list[StatusRow]:
    """The rows `watchdog status --cluster C --problems` shows. A fleet of 2,000 connectors, with
    the deleted ones kept for days, made one table of 3,400 lines (a soak probe), every healthy
    row in the way of the few that matter."""
    def in_cluster(row: StatusRow) -> bool:
        place = places.get(row.key.cluster)
        return row.key.cluster == cluster or (place is not None and place.kafka_cluster_id == cluster)

    def a_problem(row: StatusRow) -> bool:
        if row.cluster_unwatched:
            return False  # nothing can be done there: said in one line instead (render_status's not_shown)
        return (row.state.health is not Health.HEALTHY or row.gone is True or row.unwatched or row.held is not None
                or row.state.gave_up or row.not_accepted is not None)

    return [row for row in rows if (cluster is None or in_cluster(row)) and (not problems or a_problem(row))]


def dry_run_rows(rows: Iterable[StatusRow], dry_states: Mapping[ConnectorKey, ConnectorState]) -> list[StatusRow]:
    """The daemon's rows with the dry run's view where it has one. The state file keeps the live
    state (attempts 0, next allowed now) while the backoff gauges and the log show the dry run's
    cadence: shown from the file, the API and `watchdog status` disagreed with both."""
    return [_in_dry_run(row, dry_states[row.key]) if row.key in dry_states else row for row in rows]


def _in_dry_run(row: StatusRow, view: ConnectorState) -> StatusRow:
    """The row with the dry run's view, its last restart said live where the state file has it at
    the same moment: a live restart (by name, an alert's, a schedule's) moves the view too, and
    marked `(dry run)` a live manual restart read as none made (probe s73, finding 4)."""
    live, shown = row.state.last_restart_at, view.last_restart_at
    made_live = live is not None and shown is not None and abs((shown - live).total_seconds()) < 1
    return replace(row, state=view, dry_run=True, last_restart_live=made_live)


@dataclass(frozen=True, slots=True)
class ClusterPlace:
    """Where a cluster is, for grouping the status table: its environment (id and display name)
    and its Kafka cluster id and display name, where known. Self-managed Kafka Connect clusters
    have no environment."""

    environment_id: str | None = None
    environment_name: str | None = None
    kafka_cluster_id: str | None = None
    display_name: str | None = None
    self_managed: bool = False


def cluster_places(
    config: Config, display_names: Mapping[str, Any], environment_name: Callable[[str], str | None]
) -> dict[str, ClusterPlace]:
    """Every cluster of `config`: configured ones from their entry, discovered ones (in
    `display_names`, by name: objects with a `display_name`) with what discovery saw."""
    places = {}
    for name, cluster in config.clusters.items():
        if not isinstance(cluster, CloudCluster):
            places[name] = ClusterPlace(self_managed=True)
            continue
        found = display_names.get(name)
        places[name] = ClusterPlace(
            environment_id=cluster.environment_id,
            environment_name=environment_name(cluster.environment_id),
            kafka_cluster_id=cluster.kafka_cluster_id,
            display_name=getattr(found, "display_name", None),
        )
    return places


# -- JSON: the API's and --json's shapes ------------------------------------------------------------


def status_json(rows: Iterable[StatusRow], places: Mapping[str, ClusterPlace] | None = None) -> dict[str, Any]:
    """`GET /v1/connectors` and `watchdog status --json`. With `places`, every row also says
    where its cluster is (null where that is not known)."""
    rows = list(rows)
    gone = gone_keys(rows)
    if places is None:
        return {"connectors": [_row_json(row, row.key in gone) for row in rows]}
    return {"connectors": [{**_row_json(row, row.key in gone), **_place_json(places.get(row.key.cluster))}
                           for row in rows]}


def gone_keys(rows: Iterable[StatusRow]) -> set[ConnectorKey]:
    """The connectors their cluster's last poll did not list (deleted; their state is kept for
    `state.forget_vanished_after`). Every poll stamps each connector it judges with the same
    time, so one seen before its cluster's latest was not in that listing. The table and the
    JSON (the API other systems read) both say it from here: the API's rows of a deleted
    connector kept `health: healthy`, `seen_state: RUNNING` for days, and only the table said
    gone. Exact from the daemon (it never answers in the middle of a poll) and from a
    PostgreSQL store (a poll's writes are one transaction); read from a SQLite file by another
    process while a poll is being written, connectors that poll has not reached yet show as
    gone for that moment (each write commits alone: store.py's batch). A row that says itself
    (`gone`, set by the daemon from what the poll listed) is taken at its word: a connector a
    reload no longer watches is not judged, so not stamped, yet it still exists."""
    rows = list(rows)
    last_poll: dict[str, datetime] = {}
    for row in rows:
        if row.seen_at is not None and (row.key.cluster not in last_poll or row.seen_at > last_poll[row.key.cluster]):
            last_poll[row.key.cluster] = row.seen_at
    return {row.key for row in rows if not row.cluster_unwatched and (
            row.gone or (row.gone is None and row.seen_state is not None and row.seen_at is not None
                            and row.seen_at < last_poll[row.key.cluster]))}


def with_gone(rows: Iterable[StatusRow]) -> list[StatusRow]:
    """The rows, each saying whether it is `gone` (gone_keys), worked out over all of them: a
    filter (`--problems`) before that left gone_keys a part of a cluster's rows, where a deleted
    connector's row could be the newest. Read from the state file, `--problems` then left a
    connector deleted while RUNNING out and showed one deleted while FAILED as a live failing one,
    NEXT ALLOWED `now`, for `state.forget_vanished_after`, while the full table said both gone
    (probe soak F1). A row that says itself (the daemon's) is kept as it is, as in gone_keys;
    select_rows does the same for the daemon's answer."""
    rows = list(rows)
    gone = gone_keys(rows)
    return [row if row.gone is not None or row.cluster_unwatched else replace(row, gone=row.key in gone)
            for row in rows]


def unwatched_rows(rows: Iterable[StatusRow], config: Config) -> list[StatusRow]:
    """Rows read from the state file, with those `gone_keys` takes for deleted that no status
    rule of `config` selects marked unwatched instead: the file keeps no listing, and a connector
    a reload stopped watching is no longer stamped by the polls, so it showed as `gone` (deleted)
    while it ran on. Deleted too, or not: the file cannot tell; unwatched is true either way."""
    from ..rules import StatusOwners

    rows = list(rows)
    gone, owners = gone_keys(rows), StatusOwners(config.rules)
    return [replace(row, gone=False, unwatched=True)
            if row.key in gone and row.key.cluster in config.clusters
            and owners.rule_for(row.key.cluster, row.key.connector) is None else row
            for row in rows]


def _place_json(place: ClusterPlace | None) -> dict[str, Any]:
    place = place or ClusterPlace()
    return {
        "environment_id": place.environment_id,
        "environment_name": place.environment_name,
        "kafka_cluster_id": place.kafka_cluster_id,
        "cluster_display_name": place.display_name,
        "self_managed": place.self_managed,
    }


def places_from_json(document: Mapping[str, Any]) -> dict[str, ClusterPlace]:
    """The clusters' places in a `status_json` document made with them (none otherwise)."""
    places = {}
    for item in document["connectors"]:
        if "environment_id" in item:
            places[item["cluster"]] = ClusterPlace(
                environment_id=item["environment_id"], environment_name=item["environment_name"],
                kafka_cluster_id=item["kafka_cluster_id"], display_name=item["cluster_display_name"],
                self_managed=bool(item["self_managed"]),
            )
    return places


def _row_json(row: StatusRow, gone: bool) -> dict[str, Any]:
    state = row.state
    return {
        "cluster": row.key.cluster,
        "connector": row.key.connector,
        "health": None if state.health is None else state.health.value,
        "seen_state": row.seen_state,
        "seen_at": timestamp_or_none(row.seen_at),
        # Not in its cluster's last listing: health and seen_state are as it was last seen.
        "gone": gone,
        # No status rule watches it now: health and seen_state are as it was last seen, no poll restarts it.
        "unwatched": row.unwatched or row.cluster_unwatched,
        # Its cluster is no longer watched (discovery or a reload removed it): unwatched too.
        "cluster_unwatched": row.cluster_unwatched,
        "consecutive_failures": state.consecutive_failures,
        "attempts": state.attempts,
        "last_restart_at": timestamp_or_none(state.last_restart_at),
        "next_allowed_at": timestamp_or_none(state.next_allowed_at),
        "gave_up": state.gave_up,
        "healthy_since": timestamp_or_none(state.healthy_since),
        # The fields above are the dry run's would-be cadence (memory only), not the live state.
        "dry_run": row.dry_run,
        # Its last_restart_at is a live restart's, though the fields above are the dry run's.
        "last_restart_live": row.last_restart_live,
        # Why a wanted restart is not made now; null from the state file, which does not know.
        "held": None if row.held is None else {"decision": row.held[0], "detail": row.held[1],
                                                "at": format_timestamp(row.held[2])},
        # Its attempts got no restart from the API (attempts and last_restart_at count calls): what they got.
        "attempts_not_accepted": row.not_accepted,
        "stall": stall_json(row.stall),  # null: no stalled rule selects it, or read from the state file
    }


def status_rows_from_json(document: Mapping[str, Any]) -> list[StatusRow]:
    """The inverse of `status_json`, for rendering a running daemon's answer as a table."""
    return [_row_from_json(item) for item in document["connectors"]]


def _row_from_json(item: Mapping[str, Any]) -> StatusRow:
    state = ConnectorState(
        consecutive_failures=item["consecutive_failures"],
        attempts=item["attempts"],
        last_restart_at=parse_timestamp_or_none(item["last_restart_at"]),
        next_allowed_at=parse_timestamp_or_none(item["next_allowed_at"]),
        gave_up=item["gave_up"],
        health=None if item["health"] is None else Health(item["health"]),
        healthy_since=parse_timestamp_or_none(item["healthy_since"]),
    )
    return StatusRow(
        key=ConnectorKey(item["cluster"], item["connector"]),
        state=state,
        seen_state=item["seen_state"],
        seen_at=parse_timestamp_or_none(item["seen_at"]),
        dry_run=bool(item.get("dry_run", False)),  # a daemon of an older version does not say
        last_restart_live=bool(item.get("last_restart_live", False)),  # a daemon before 2026-12-07 does not say
        gone=item.get("gone"),
        unwatched=bool(item.get("unwatched", False)),  # a daemon before 2026-12-06 does not say
        cluster_unwatched=bool(item.get("cluster_unwatched", False)),  # a daemon of an older version does not say
        held=(item["held"]["decision"], item["held"]["detail"], parse_timestamp(item["held"]["at"]))
        if item.get("held") else None,
        not_accepted=item.get("attempts_not_accepted"),  # a daemon before 2026-12-06 does not say
        stall=stall_from_json(item.get("stall")),
    )


# -- the table -------------------------------------------------------------------------------------

STATUS_HEADER = ("CONNECTOR", "HEALTH", "STATE", "ATTEMPTS", "LAST RESTART", "NEXT ALLOWED", "GAVE UP")
GROUP_INDENT = "  "
DRY_RUN_MARK = " (dry run)"
DRY_RUN_NOTE = ("(dry run): the dry run's would-be attempts, backoff and give-up, in the daemon's memory only: "
                "nothing was sent, and the state file keeps the live state")


# The `held` of a restart queued (or on the wire) that goes out whatever the gave-up flag says (a
# person's, a schedule's): shown for a given-up connector too, whose NEXT ALLOWED said `when
# healthy` while a restart of it was about to go.
QUEUED_DECISIONS = frozenset({"queued", "sending"})
# A queued restart a reload took the rule or cluster of: it ends `dropped` at its turn, not sent
# (the daemon's Daemon._queued); only a restart asked for by name outlives such a reload.
TO_BE_DROPPED = "to be dropped"


def _shown_held(row: StatusRow) -> bool:
    return row.held is not None and (not row.state.gave_up or row.held[0] in QUEUED_DECISIONS)


def render_status(
    rows: Sequence[StatusRow], *, now: datetime, places: Mapping[str, ClusterPlace] | None = None,
    failing: Sequence[Mapping[str, Any]] = (), paused: Sequence[Mapping[str, Any]] = (), store: str = "ok",
    watched: int | None = None, not_shown: Sequence[str] = (),
) -> str:
    """The watched connectors grouped by environment, then by cluster; one column layout for
    the whole table, so that every group lines up. Then the clusters whose listings fail now
    (`failing`, from the daemon: `polls_failing` of GET /v1/connectors), those whose polls a
    pause of their API key holds (`paused`: `polls_paused`), and why the daemon's state store
    takes no write, when it does not (`store`: `state_store`). `watched`: how many connectors the
    rows were chosen from (`--problems`): none chosen of a healthy fleet said "No watched
    connectors.", read at 3 a.m. as a daemon watching nothing. `not_shown`: the clusters no longer
    watched whose rows `--problems` left out (rows_shown), said in one line."""
    after = [*_failing_lines(failing, now), *_paused_lines(paused, now), *_store_lines(store),
             *_not_shown_lines(not_shown)]
    if not rows:
        nothing = (f"No connector needs a look ({watched} watched, all healthy)." if watched
                   else "No watched connectors.")
        return "\n".join([nothing, *after])
    places = places or {}
    by_cluster: dict[str, list[StatusRow]] = {}
    for row in rows:
        by_cluster.setdefault(row.key.cluster, []).append(row)
    groups: dict[tuple[int, str], list[str]] = {}
    for cluster in by_cluster:
        # Placed with the rest, a removed discovered cluster (no place now) sat under "discovered
        # clusters are placed by `--daemon URL`" in the output of `status --daemon URL`.
        placed = (UNWATCHED_CLUSTERS_HEADING if all(row.cluster_unwatched for row in by_cluster[cluster])
                   else _environment_heading(places.get(cluster)))
        groups.setdefault(placed, []).append(cluster)
    gone = gone_keys(rows)
    blocks: list[tuple[str, list[tuple[tuple[str, ...], StatusRow]]]] = []  # (heading, rows of cells)
    for environment in sorted(groups):
        blocks.append((environment[1], []))
        for cluster in sorted(groups[environment]):
            blocks.append((f"{GROUP_INDENT}CLUSTER {_cluster_heading(cluster, places.get(cluster))}"
                           f"{_still_sent(by_cluster[cluster]) if environment == UNWATCHED_CLUSTERS_HEADING else ''}",
                           [(_status_cells(row, now, row.key in gone), row) for row in by_cluster[cluster]]))
    stalls = any(row.stall for row in rows)  # a STALL CHECK column only where a stalled rule checks a row
    cells = [(*c, stall_cell(r.stall, now)) if stalls else c for _, g in blocks for c, r in g]
    lines = render_table((*STATUS_HEADER, "STALL CHECK") if stalls else STATUS_HEADER, cells,
                         right_aligned={STATUS_HEADER.index("ATTEMPTS")}).split("\n")
    header, body = lines[0], iter(lines[1:])
    out: list[str] = []
    for heading, group in blocks:
        if out and not heading.startswith(GROUP_INDENT):
            out.append("")
        out.append(printable(heading))
        if group:
            out.append(GROUP_INDENT * 2 + header)
            out += [GROUP_INDENT * 2 + next(body) for _ in group]
    held = [f"{row.key.cluster}/{distinct_name(row.key.connector)}: {row.held[0]} ({format_ago(row.held[2], now)}): {row.held[1]}"
            for row in rows if row.held and _shown_held(row)]
    if held:
        out += ["", "Held (a restart wanted, not made yet):", *(printable(GROUP_INDENT + line) for line in held)]
    refused = [f"{row.key.cluster}/{distinct_name(row.key.connector)}: {row.not_accepted}" for row in rows if row.not_accepted]
    if refused:
        out += ["", "No restart made (ATTEMPTS and LAST RESTART count calls, and these the API did not accept):",
                *(printable(GROUP_INDENT + line) for line in refused)]
    if any(row.dry_run for row in rows):
        out += ["", DRY_RUN_NOTE]
    return "\n".join([*out, *after])


def _not_shown_lines(clusters: Sequence[str]) -> list[str]:
    if not clusters:
        return []
    return ["", printable(f"Not shown: the connectors of {len(clusters)} cluster(s) no longer watched (discovery or a "
                          "reload removed them: nothing polls, schedules or restarts them, and their state goes after "
                          f"state.forget_vanished_after): {', '.join(clusters)}; `watchdog status` without "
                          "--problems lists them")]


def _store_lines(store: str) -> list[str]:
    """Said when the daemon's state store takes no write: it then sends no restart, and every
    row's NEXT ALLOWED "now" (its backoff, not the store) read as restarts about to go."""
    if store == "ok":
        return []
    return ["", "No restart is sent: the daemon cannot write its state store, so it records nothing and sends "
                "nothing until it can (/readyz says the same):", printable(GROUP_INDENT + store)]


def _paused_lines(paused: Sequence[Mapping[str, Any]], now: datetime) -> list[str]:
    """The clusters whose polls wait out a pause of their API key (a 429's Retry-After, up to
    rate_limit.max_pause): nothing is listed or restarted there until it ends, and their rows
    are as the last poll before it saw them. Before, nothing said so for up to 15 minutes."""
    if not paused:
        return []
    lines = ["", "Polls paused (a cluster's connectors above are as its last poll before the pause saw them):"]
    for item in paused:
        listed = parse_timestamp_or_none(item["last_listed_at"])
        worked = "never since the daemon started" if listed is None else format_ago(listed, now)
        lines.append(printable(f"{GROUP_INDENT}{item['cluster']}: every call of its API key is paused for "
                               f"{format_span(item['paused_seconds'])} more by {item['paused_by']} "
                               f"(last poll that worked: {worked})"))
    return lines


def _failing_lines(failing: Sequence[Mapping[str, Any]], now: datetime) -> list[str]:
    """The clusters the daemon cannot list now: their connectors show what the last listing that
    worked saw (a cluster never listed has no rows at all). Before, such a cluster was left out
    of the table, or shown as healthy as of hours ago, without a word."""
    if not failing:
        return []
    lines = ["", "Polls failing (a cluster's connectors above are as its last poll that worked saw them):"]
    for item in failing:
        since = parse_timestamp(item["failing_since"])
        listed = parse_timestamp_or_none(item["last_listed_at"])
        worked = "never since the daemon started" if listed is None else format_ago(listed, now)
        lines.append(printable(f"{GROUP_INDENT}{item['cluster']}: {item['message']} (failing since "
                               f"{format_ago(since, now)}; last poll that worked: {worked})"))
    return lines


# "nothing polls or restarts their connectors" was said before, also of a cluster whose restarts
# asked for by name, kept by the reload that removed it, were about to be sent (probe_races F4):
# those are now said on their cluster's line (_cluster_line).
UNWATCHED_CLUSTERS_HEADING = (3, "CLUSTERS NO LONGER WATCHED (discovery or a reload removed them: nothing polls them or "
                                 "decides a new restart there; a restart asked for by name before is still sent, said on its "
                                 "cluster's line, a rule's ends dropped at its turn; their state goes after "
                                 "state.forget_vanished_after)")


def _still_sent(rows: Sequence[StatusRow]) -> str:
    """For a cluster no longer watched: the restarts queued for it that are still sent (restarts
    by name a reload kept), else nothing. A rule's restart queued there is held TO_BE_DROPPED."""
    queued = sum(1 for row in rows if row.held is not None and row.held[0] in QUEUED_DECISIONS)
    if not queued:
        return ""
    return f": {queued} queued restart{'s' if queued > 1 else ''} still sent (see Held below)"


def _environment_heading(place: ClusterPlace | None) -> tuple[int, str]:
    """(sort order, heading): environments by id, then self-managed clusters, then unknown."""
    if place is None or (place.environment_id is None and not place.self_managed):
        return (2, "ENVIRONMENT unknown (not in the config: discovered clusters are placed by `--daemon URL`)")
    if place.self_managed:
        return (1, "SELF-MANAGED KAFKA CONNECT")
    name = f" ({place.environment_name})" if place.environment_name and place.environment_name != place.environment_id else ""
    return (0, f"ENVIRONMENT {place.environment_id}{name}")


def _cluster_heading(cluster: str, place: ClusterPlace | None) -> str:
    details = [d for d in (place.display_name if place else None,
                           place.kafka_cluster_id if place else None) if d and d != cluster]
    return f"{cluster} ({', '.join(dict.fromkeys(details))})" if details else cluster


def _status_cells(row: StatusRow, now: datetime, gone: bool) -> tuple[str, ...]:
    state = row.state
    mark = DRY_RUN_MARK if row.dry_run else ""
    return (
        distinct_name(row.key.connector),
        "-" if state.health is None or row.unwatched or row.cluster_unwatched else state.health.value,  # not judged since
        _seen(row, now, gone),
        f"{state.attempts}{mark}",
        "-" if state.last_restart_at is None else format_moment(state.last_restart_at, now) + (
            "" if row.last_restart_live else mark),
        # Nothing is due of a connector no longer watched, or gone (the last poll did not list it).
        (f"held: {row.held[0]}" if row.held and _shown_held(row)
         else "-" if row.unwatched or row.cluster_unwatched or gone else _next_allowed(state, now) + mark),
        ("yes" + mark) if state.gave_up else "no",
    )


def _seen(row: StatusRow, now: datetime, gone: bool) -> str:
    """The state the last poll saw; for a connector that poll did not list (`gone_keys`), that
    it is gone and what it was: shown as it was, a deleted connector looked alive (or failing)
    for days."""
    if row.cluster_unwatched:
        last = (f" (last seen {row.seen_state} {format_ago(row.seen_at, now)})"
                if row.seen_state is not None and row.seen_at is not None else "")
        return f"cluster no longer watched{last}"
    if row.seen_state is None:
        return "-"
    if row.unwatched and row.seen_at is not None:
        # Shown as it was, "healthy  RUNNING ... now" read as watched and due, while it failed since.
        return f"unwatched (last seen {row.seen_state} {format_ago(row.seen_at, now)})"
    if gone and row.seen_at is not None:
        return f"gone (last seen {row.seen_state} {format_ago(row.seen_at, now)})"
    return row.seen_state


def _next_allowed(state: ConnectorState, now: datetime) -> str:
    if state.gave_up:
        # Given up: no restart is due at any time; the flag clears once it has stayed healthy for
        # its gap (policy.observe), its count reset.
        return "when healthy"
    if state.next_allowed_at is None or state.next_allowed_at <= now:
        return "now"
    return f"in {format_span((state.next_allowed_at - now).total_seconds())}"
