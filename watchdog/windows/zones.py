"""A time zone by its IANA name, or a ValueError that names it: for a rule's `timezone` and a
window's zone alike, so that both refuse the same names with the same words."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# Files of the tz database that are no zone of their own: `localtime` is a link to the machine's
# /etc/localtime, `posixrules` to the rules a distribution chose, `Factory` a zone meaning "not set".
# Read as zones, a config meant the zone of whichever machine ran it: `timezone: localtime` passed
# check-config on a laptop in Berlin (03:00 = 01:00 UTC in summer) and ran at 03:00 UTC in a
# container, whose /etc/localtime is UTC.
_MACHINE_ZONES = {
    "localtime": "the zone of whichever machine runs the daemon (a laptop's Europe/Berlin, a container's UTC)",
    "posixrules": "the rules a distribution chose for POSIX TZ strings, not a zone of its own",
    "factory": "a zone meaning that none was set",
}


# Folders of copies of the tz database that some machines have (Debian's tzdata; tzdata-legacy in
# later releases) and Python's tzdata wheel has not, so check-config on one machine and `run` on
# another disagreed. `right/` holds the leap-second variant, whose time counts leap seconds:
# Python's zoneinfo reads it wrongly, `right/Europe/Berlin` keeping +02:00 past October's change,
# so `0 3 * * *` there ran at 02:00 on Berlin's clock all November and December. `posix/` holds
# the same zones as the top level; refused too, with its name, for one verdict on every machine.
_COPIES = {
    "right/": "is the tz database's leap-second variant, which Python reads an hour off for months "
              "(and which only some machines have)",
    "posix/": "is a copy of {zone} that only some machines' tz database has (not Python's tzdata)",
}


def zone_named(name: str) -> ZoneInfo:
    """The zone `name` names; ValueError "unknown time zone ..." with a hint otherwise."""
    if name.casefold() in _MACHINE_ZONES:
        raise ValueError(f"time zone {name!r} names {_MACHINE_ZONES[name.casefold()]}: name the zone, "
                         "an IANA name such as Europe/Berlin or UTC")
    folder = name[:6].casefold()
    if folder in _COPIES:
        zone = _zone_names_by_folded_case().get(name[6:].strip().casefold())
        hint = f"did you mean {zone}?" if zone else "use an IANA name such as Europe/Berlin or UTC"
        raise ValueError(f"time zone {name!r} {_COPIES[folder].format(zone=zone or 'a zone')}: {hint}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: not a normalised relative key or not a TZif file; OSError: a folder of the
        # tz database such as "Europe" (IsADirectoryError, which escaped the config's checks as a
        # traceback). All mean the same to the user: not a zone name.
        pass
    suggestion = _zone_names_by_folded_case().get(name.strip().casefold())
    if suggestion and name != name.strip():
        # `"Europe/Berlin "`: refused as unknown with no word of the space, where `utc` got a hint.
        hint = f"did you mean {suggestion}? a zone's name holds no space or tab around it"
    else:
        hint = f"did you mean {suggestion}?" if suggestion else "use an IANA name such as Europe/Berlin or UTC"
    raise ValueError(f"unknown time zone {name!r} ({hint})")


@cache
def _zone_names_by_folded_case() -> dict[str, str]:
    # Read on the error path only: listing every zone walks the tz database. Without the copies
    # (`right/`, `posix/`) a machine's tz database may list, never to be suggested.
    return {name.casefold(): name for name in available_timezones() if name[:6].casefold() not in _COPIES}
