"""The stall check's last word on a connector a `stalled` rule selects, as its row says it: the
verdict of the last check that judged it, or why that check could not, when, and by which rule.
The daemon keeps it in memory only (EngineCore.stall_rows): after a restart of the daemon, and
on a standby, it reads "not checked yet" until the first check. Read from the state file, a row
has none (null)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .formatting import format_ago, parse_timestamp_or_none, timestamp_or_none

NOT_CHECKED = "not checked yet"
# A StallWord's `waits`: why the checks skip the connector now, whatever their last word was.
NOT_RUNNING = "not_running"  # not listed RUNNING (its tasks too): a check judges RUNNING connectors only
NOT_RUNNING_SAID = "not judged: a check judges RUNNING connectors only"
# RUNNING, not yet through the rule's grace, delay and three windows (or its last restart's
# windows): `running_since` and `judged_from` say since when and from when.
RUNNING_TOO_SHORT = "running_too_short"
DETAIL_SHOWN = 500  # characters of a detail kept: what a check met can name many windows or points


@dataclass(frozen=True, slots=True)
class StallWord:
    """`verdict` (moving, idle, stalling, stalled) or `unjudged` (a stall.Unjudged value, or
    `check_failed`: its cluster's points could not be read, `detail` saying how), or
    neither: selected by `rule` and not checked since the daemon started (a check judges only
    connectors seen RUNNING through the rule's grace and windows). `waits`: why the checks skip it
    now (NOT_RUNNING, RUNNING_TOO_SHORT: with since when it runs and the first check that may judge
    it), said by the daemon from its memory; None when they judge it, or may."""

    rule: str
    verdict: str | None = None
    unjudged: str | None = None
    detail: str | None = None
    at: datetime | None = None
    waits: str | None = None
    running_since: datetime | None = None
    judged_from: datetime | None = None


def stall_json(word: StallWord | None) -> dict[str, Any] | None:
    if word is None:
        return None
    return {"rule": word.rule, "verdict": word.verdict, "unjudged": word.unjudged, "detail": word.detail,
            "at": timestamp_or_none(word.at), "waits": word.waits,
            "running_since": timestamp_or_none(word.running_since), "judged_from": timestamp_or_none(word.judged_from)}


def stall_from_json(item: Mapping[str, Any] | None) -> StallWord | None:
    """The inverse of stall_json; None from a daemon before 2026-12-07 (it did not say)."""
    if not item:
        return None
    return StallWord(rule=item["rule"], verdict=item.get("verdict"), unjudged=item.get("unjudged"),
                     detail=item.get("detail"), at=parse_timestamp_or_none(item.get("at")),
                     waits=item.get("waits"),  # a daemon before 2026-12-08 does not say
                     running_since=parse_timestamp_or_none(item.get("running_since")),
                     judged_from=parse_timestamp_or_none(item.get("judged_from")))


def _clock(moment: datetime) -> str:
    """`03:02Z` (UTC, as the table's other times): the wait is minutes to an hour or two, and `in 34m` beside it dates it."""
    return moment.astimezone(timezone.utc).strftime("%H:%MZ")


def stall_cell(word: StallWord | None, now: datetime) -> str:
    """The STALL CHECK column: `idle 2m ago`, `unjudged: data_late 1m ago`, `not checked yet`, or why
    the checks skip it now (`waits: running since 03:02Z, judged from 03:48Z (in 34m)`);
    `-` for a connector no stall rule checks (or whose daemon did not say)."""
    if word is None:
        return "-"
    if word.waits == NOT_RUNNING:
        # Its last verdict (if any) is of a run before; "not checked yet" read as a check to come.
        return NOT_RUNNING_SAID
    if word.waits == RUNNING_TOO_SHORT and word.running_since is not None and word.judged_from is not None:
        # The check skips it without a word until then: "not checked yet" read as a check that never came.
        return (f"waits: running since {_clock(word.running_since)}, judged from {_clock(word.judged_from)} "
                f"({format_ago(word.judged_from, now)})")
    said = word.verdict or (f"unjudged: {word.unjudged}" if word.unjudged else None)
    if said is None or word.at is None:
        return NOT_CHECKED
    return f"{said} {format_ago(word.at, now)}"
