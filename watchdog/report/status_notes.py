"""The lines after the status table: the clusters whose polls fail or are paused, the state store
that takes no write, and the clusters no longer watched that `--problems` leaves out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..logs import printable
from .formatting import (
    GROUP_INDENT,
    distinct_name,
    format_ago,
    format_span,
    parse_timestamp,
    parse_timestamp_or_none,
)
from .status import StatusRow


def not_shown_lines(clusters: Sequence[str]) -> list[str]:
    if not clusters:
        return []
    return ["", printable(f"Not shown: the connectors of {len(clusters)} cluster(s) no longer watched (discovery or a "
                          "reload removed them: nothing polls, schedules or restarts them, and their state goes after "
                          f"state.forget_vanished_after): {', '.join(clusters)}; `watchdog status` without "
                          "--problems lists them")]


STALL_ONLY_NAMED = 5  # connectors named in stall_only_lines' line; the others counted


def stall_only_lines(rows: Sequence[StatusRow]) -> list[str]:
    """Why NEXT ALLOWED reads `-` for a connector only a stalled rule selects, listed not RUNNING,
    where no STALL CHECK column says it (read from the state file: the daemon's memory of the
    checks is not there)."""
    if not rows:
        return []
    named = ", ".join(f"{row.key.cluster}/{distinct_name(row.key.connector)}" for row in rows[:STALL_ONLY_NAMED])
    more = f" and {len(rows) - STALL_ONLY_NAMED} more" if len(rows) > STALL_ONLY_NAMED else ""
    return ["", printable(f"NEXT ALLOWED `-`: only a stalled rule selects these, and its last listing was not RUNNING: "
                          f"no status rule restarts them on their status, and a stall check judges RUNNING connectors "
                          f"only: {named}{more}")]


def store_lines(store: str) -> list[str]:
    """Said when the daemon's state store takes no write: it then sends no restart, and every
    row's NEXT ALLOWED "now" (its backoff, not the store) read as restarts about to go."""
    if store == "ok":
        return []
    return ["", "No restart is sent: the daemon cannot write its state store, so it records nothing and sends "
                "nothing until it can (/readyz says the same):", printable(GROUP_INDENT + store)]


def paused_lines(paused: Sequence[Mapping[str, Any]], now: datetime) -> list[str]:
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


def failing_lines(failing: Sequence[Mapping[str, Any]], now: datetime) -> list[str]:
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
