"""`watchdog status`'s table: the rows grouped by environment, then by cluster, in one column
layout, then what is held, what the API did not accept, and the lines of status_notes.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..logs import printable
from .formatting import GROUP_INDENT, distinct_name, format_ago, render_table
from .gone import gone_keys
from .places import ClusterPlace
from .stall_word import stall_cell
from .status import QUEUED_DECISIONS, StatusRow, no_restart_due
from .status_cells import shown_held, status_cells
from .status_notes import (
    failing_lines,
    not_shown_lines,
    paused_lines,
    stall_only_lines,
    store_lines,
)

STATUS_HEADER = ("CONNECTOR", "HEALTH", "STATE", "ATTEMPTS", "LAST RESTART", "NEXT ALLOWED", "GAVE UP")

DRY_RUN_NOTE = ("(dry run): the dry run's would-be attempts, backoff and give-up, in the daemon's memory only: "
                "nothing was sent, and the state file keeps the live state")


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
    after = [*failing_lines(failing, now), *paused_lines(paused, now), *store_lines(store),
             *not_shown_lines(not_shown)]
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
                           [(status_cells(row, now, row.key in gone), row) for row in by_cluster[cluster]]))
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
            for row in rows if row.held and shown_held(row)]
    if held:
        out += ["", "Held (a restart wanted, not made yet):", *(printable(GROUP_INDENT + line) for line in held)]
    refused = [f"{row.key.cluster}/{distinct_name(row.key.connector)}: {row.not_accepted}" for row in rows if row.not_accepted]
    if refused:
        out += ["", "No restart made (ATTEMPTS and LAST RESTART count calls, and these the API did not accept):",
                *(printable(GROUP_INDENT + line) for line in refused)]
    out += stall_only_lines([row for row in rows if row.stall is None and no_restart_due(row) and row.key not in gone])
    if any(row.dry_run for row in rows):
        out += ["", DRY_RUN_NOTE]
    return "\n".join([*out, *after])


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
