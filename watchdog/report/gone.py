"""Which status rows are of connectors deleted (their cluster's last poll did not list them) or
no longer watched, as both the table and the JSON say it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from ..config import Config
from ..model import ConnectorKey, Decision
from .status import StatusRow


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
    while it ran on. Deleted too, or not: the file cannot tell; unwatched is true either way.
    Those only a stalled rule of `config` selects are marked `stall_only` (as the daemon marks
    them), so their rows say no restart is due of one not RUNNING (no_restart_due). They are
    watched (by their stall checks), and every poll stamps them as a status rule's
    (engine/stall_rows.stamp_stall_only): one the last poll did not stamp was left out of its
    listing, and stays `gone`, as the daemon says from that listing (taken for unwatched, a deleted
    stall-only connector read `unwatched (last seen RUNNING 2m ago)` here and `gone` there).
    One in a user error its status rule does not restart (`restart_user_errors` off) is held
    `user_error`, as the daemon's poll holds it: read from here it showed NEXT ALLOWED `now`, a
    restart about to go that no poll would make (probe_cli F7)."""
    from ..engine.stall_rows import StallOwners
    from ..rules import USER_ERROR_DETAIL, StatusOwners, left_as_user_error

    rows = list(rows)
    gone, owners, stall_owners = gone_keys(rows), StatusOwners(config.rules), StallOwners(config.rules)
    shown = []
    for row in rows:
        known = row.key.cluster in config.clusters
        rule = owners.rule_for(row.key.cluster, row.key.connector) if known else None
        status_rule = rule is not None
        if (rule is not None and left_as_user_error(rule, row.state.health)
                and row.held is None and row.seen_at is not None and row.key not in gone):
            row = replace(row, held=(Decision.USER_ERROR.value, USER_ERROR_DETAIL, row.seen_at))
        stall_only = known and not status_rule and stall_owners.rule_for(row.key.cluster, row.key.connector) is not None
        if stall_only:
            row = replace(row, stall_only=True)
        if row.key in gone and known and not status_rule and not stall_only:
            row = replace(row, gone=False, unwatched=True)
        shown.append(row)
    return shown
