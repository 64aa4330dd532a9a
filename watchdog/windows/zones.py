"""A time zone by its IANA name, or a ValueError that names it: for a rule's `timezone` and a
window's zone alike, so that both refuse the same names with the same words."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def zone_named(name: str) -> ZoneInfo:
    """The zone `name` names; ValueError "unknown time zone ..." with a hint otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: not a normalised relative key or not a TZif file; OSError: a folder of the
        # tz database such as "Europe" (IsADirectoryError, which escaped the config's checks as a
        # traceback). All mean the same to the user: not a zone name.
        pass
    suggestion = _zone_names_by_folded_case().get(name.casefold())
    hint = f"did you mean {suggestion}?" if suggestion else "use an IANA name such as Europe/Berlin or UTC"
    raise ValueError(f"unknown time zone {name!r} ({hint})")


@cache
def _zone_names_by_folded_case() -> dict[str, str]:
    # Read on the error path only: listing every zone walks the tz database.
    return {name.casefold(): name for name in available_timezones()}
