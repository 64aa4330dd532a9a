"""Why a stall check skips a connector a stalled rule selects, as its row says it (report/stall_word.py's
`waits`): worked out when the row is read, from what the engine keeps in memory (the cluster's
last listing, since when the connector runs), so nothing is written per connector and check.

A check judges only connectors listed RUNNING (with their tasks: classify healthy), through the
rule's grace and windows (stall_intake.stall_candidates); it skips the others without a word, and
their rows read "not checked yet" for as long as they stay so. Pure: values in, a StallWord out."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..report.stall_word import NOT_RUNNING, StallWord


def stall_waits(word: StallWord, *, listed: bool, running_since: datetime | None) -> StallWord:
    """`word` with why the checks skip the connector now: NOT_RUNNING where its cluster's last
    listing shows it and not running (the engine keeps `running_since` for healthy ones only).
    One not listed (gone, or before its cluster's first poll here) is left as it was."""
    if listed and running_since is None:
        return replace(word, waits=NOT_RUNNING)
    return word
