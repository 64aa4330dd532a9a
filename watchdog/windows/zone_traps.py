"""Zone names that are legal but rarely mean what their writer thinks: said, not refused.

Which names, and why (the choice is here, one place, for rules and windows alike):
- `EST` and `MST`: fixed UTC-05:00 and UTC-07:00 all year (tzdata links them to America/Panama
  and America/Phoenix). Pasted from pytz, Java or an older APScheduler config by someone in New
  York or Denver, a `0 9 * * *` ran an hour late from March to November. Arizona has no daylight
  saving time, so `MST` is right there, and the warning says so.
- `Etc/GMT+N` and `Etc/GMT-N` (N not 0): POSIX's inverted sign, `Etc/GMT-2` is UTC+02:00. Fixed
  offsets are legal (a server farm kept on one offset), the sign is the trap.
Not warned of: `HST` (fixed UTC-10:00, as Hawaii is: it means what it says); `EST5EDT`,
`CST6CDT`, `MST7MDT`, `PST8PDT`, `CET`, `MET`, `EET`, `WET` (they follow daylight saving time,
as their writers expect); `US/Eastern` and the other old region links (the regions' own rules);
`Etc/GMT`, `Etc/GMT+0`, `GMT0` and the other names of UTC (no offset, no sign to invert).
The machine's zones (`localtime`, `posixrules`, `Factory`) are refused instead (zones.py).
"""

from __future__ import annotations

import re

_FIXED_US = {
    "EST": ("-05:00", "for New York use America/New_York"),
    "MST": ("-07:00", "for Denver use America/Denver (for Arizona, which has none, America/Phoenix)"),
}
_ETC_GMT = re.compile(r"Etc/GMT([+-])(\d{1,2})")


def zone_trap(name: str) -> str | None:
    """What the zone `name` (a name zones.zone_named took) really is, where that is not what its
    writer likely meant; None for every other zone."""
    if name in _FIXED_US:
        offset, instead = _FIXED_US[name]
        return f"{name!r} is a fixed UTC{offset} with no daylight saving time; {instead}"
    match = _ETC_GMT.fullmatch(name)
    if match is not None and int(match[2]) != 0:
        sign = "-" if match[1] == "+" else "+"
        return (f"{name!r} is UTC{sign}{int(match[2]):02d}:00 (the Etc/GMT sign is inverted), a fixed offset with "
                "no daylight saving time")
    return None
