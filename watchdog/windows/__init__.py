"""Maintenance windows: when a rule may restart connectors. Pure: no clock reads.

A rule skips a restart with reason `window_closed` while its windows are closed, and a
status-triggered failure is reconsidered at `Windows.next_open`.

    specs.py     one parsed window (weekly, absolute, always, never) as stretches of real time
    dst.py       wall time -> instant across daylight saving changes (the weekly windows' rules)
    parsing.py   window text -> spec (the grammar), `WindowError`
    sets.py      `Windows`: allowed and blackout windows together, `is_open`, `next_open`
    zones.py     an IANA time zone by name, refused with the same words for rules and windows
    zone_traps.py  zone names said at check-config and start: `EST`, `MST`, `Etc/GMT-2`'s inverted sign
"""

from .parsing import (
    ABSOLUTE_EXAMPLE,
    ABSOLUTE_EXAMPLES,
    ANY_EXAMPLES,
    WEEKLY_EXAMPLE,
    WEEKLY_EXAMPLES,
    WindowError,
    parse_window,
)
from .sets import DEFAULT_HORIZON, Windows
from .specs import (
    MINUTES_PER_DAY,
    WEEKDAY_NAMES,
    AbsoluteWindow,
    AlwaysWindow,
    Interval,
    NeverWindow,
    WeeklyWindow,
    WindowSpec,
)

__all__ = [
    "ABSOLUTE_EXAMPLE",
    "ABSOLUTE_EXAMPLES",
    "ANY_EXAMPLES",
    "DEFAULT_HORIZON",
    "MINUTES_PER_DAY",
    "WEEKDAY_NAMES",
    "WEEKLY_EXAMPLE",
    "WEEKLY_EXAMPLES",
    "AbsoluteWindow",
    "AlwaysWindow",
    "Interval",
    "NeverWindow",
    "WeeklyWindow",
    "WindowError",
    "WindowSpec",
    "Windows",
    "parse_window",
]
