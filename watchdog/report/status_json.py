"""The status rows as JSON: GET /v1/connectors' and `watchdog status --json`'s shape, and read back
from it (`watchdog status --daemon` renders a daemon's answer as the state file's rows)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..model import ConnectorKey, ConnectorState, Health
from .formatting import (
    format_timestamp,
    parse_timestamp,
    parse_timestamp_or_none,
    timestamp_or_none,
)
from .gone import gone_keys
from .places import ClusterPlace, place_json
from .stall_word import stall_from_json, stall_json
from .status import StatusRow


def status_json(rows: Iterable[StatusRow], places: Mapping[str, ClusterPlace] | None = None) -> dict[str, Any]:
    """`GET /v1/connectors` and `watchdog status --json`. With `places`, every row also says
    where its cluster is (null where that is not known)."""
    rows = list(rows)
    gone = gone_keys(rows)
    if places is None:
        return {"connectors": [_row_json(row, row.key in gone) for row in rows]}
    return {"connectors": [{**_row_json(row, row.key in gone), **place_json(places.get(row.key.cluster))}
                           for row in rows]}


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
        # No status rule selects it, a stalled rule does: only a stall check restarts it, and a check judges
        # RUNNING connectors only (stall.waits says when it does not now): no restart is due of one not RUNNING.
        "stall_only": row.stall_only,
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
        stall_only=bool(item.get("stall_only", False)),  # a daemon before 2026-12-08 does not say
    )
