"""What both tables share: times (as the stores keep them and as a table shows them), spans, and
the layout of a text table (columns padded by the width a terminal gives each cell, every cell
made printable)."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timezone

from ..logs import printable

COLUMN_GAP = "  "
GROUP_INDENT = "  "  # a cluster's heading under its environment's, its table under it


# -- timestamps ----------------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds: exact, and sortable as text (the state file relies on
    that for age pruning, so the width must never vary)."""
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone: the watchdog keeps UTC times only")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(timezone.utc)


def timestamp_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def parse_timestamp_or_none(text: str | None) -> datetime | None:
    return None if text is None else parse_timestamp(text)


# -- tables ----------------------------------------------------------------------------------------


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_moment(moment: datetime, now: datetime) -> str:
    """`2026-03-29T10:04:00Z (3m ago)`: the fixed-width ISO part first, so a column lines up."""
    iso = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{iso} ({format_ago(moment, now)})"


def format_ago(moment: datetime, now: datetime) -> str:
    """`3m ago`; `in 2m` for a moment after `now` (a clock that moved back), not `-2m ago`."""
    seconds = (now - moment).total_seconds()
    return f"{format_span(seconds)} ago" if seconds >= 0 else f"in {format_span(-seconds)}"


def format_span(seconds: float) -> str:
    """A duration in its two largest units, rounded down: 45s, 3m, 1h05m, 2d04h."""
    whole = math.floor(seconds)
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{minutes}m"
    if whole < 86400:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{days}d{hours % 24:02d}h"


def distinct_name(name: str) -> str:
    """A connector's name as a table shows it: quoted when spaces at its ends would make it look
    like another name (`'orders-sink '` beside `orders-sink`: two connectors, the one healthy, the
    other FAILED, showed as two identical rows, and the history's restart of one read as a
    restart of the other). Other look-alikes (a Cyrillic `о`, a decomposed `é`) are shown as
    written: `--json` tells them apart."""
    return f"'{printable(name)}'" if name != name.strip() else name


def render_table(header: Sequence[str], body: Sequence[Sequence[str]], *, right_aligned: set[int]) -> str:
    body = [[printable(cell) for cell in row] for row in body]
    widths = [max(shown_width(row[column]) for row in (header, *body)) for column in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            " " * (width - shown_width(cell)) + cell if column in right_aligned else cell + " " * (width - shown_width(cell))
            for column, (cell, width) in enumerate(zip(cells, widths))
        )
        return COLUMN_GAP.join(padded).rstrip()

    return "\n".join(line(row) for row in (header, *body))


def shown_width(text: str) -> int:
    """How many columns a terminal gives `text`: a wide character (Chinese, Japanese, Korean, most
    emoji) two, a combining mark (an accent written apart) none. Padded by characters, a table
    with a connector named `注文-シンク` had every later column of that row 5 columns to the right."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
