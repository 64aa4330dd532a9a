"""Parsing window text (from the config) into window specs, with errors that show the right form.

Grammar
-------
`parse_window` takes ONE window. kube-downscaler also accepts several windows joined by commas,
but commas already separate weekdays here (`Mon,Wed 10:00-12:00 UTC`), so a list of windows is a
YAML list in config, one window per item:

    window    = "always" | "never" | weekly | absolute        (surrounding spaces ignored)
    weekly    = weekdays SP time "-" time SP zone
    weekdays  = day-item *( "," day-item )                    (spaces around "," and "-" allowed)
    day-item  = day | day "-" day                             ("Fri-Mon" wraps through Sunday)
    day       = "Mon" | "Tue" | "Wed" | "Thu" | "Fri" | "Sat" | "Sun"      (any letter case)
    time      = HH ":" MM                                     (00:00 to 24:00, 24-hour clock)
    zone      = an IANA time zone name, exactly as spelled in the tz database ("Europe/Berlin")
    absolute  = instant ( "-" | "/" ) instant                 ("/" is ISO 8601's own separator)
    instant   = YYYY-MM-DD "T" HH:MM[:SS[.ffffff]] ( "Z" | ("+"|"-") HH:MM )   (offset required)
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import NoReturn
from zoneinfo import ZoneInfo

from .specs import (
    MINUTES_PER_DAY,
    WEEKDAY_NAMES,
    AbsoluteWindow,
    AlwaysWindow,
    NeverWindow,
    WeeklyWindow,
    WindowSpec,
)
from .zones import zone_named

_WEEKDAY_NUMBERS = {name.lower(): number for number, name in enumerate(WEEKDAY_NAMES)}

WEEKLY_EXAMPLE = "Mon-Fri 06:30-20:30 Europe/Berlin"
ABSOLUTE_EXAMPLE = "2026-12-24T00:00:00+01:00-2026-12-27T00:00:00+01:00"
WEEKLY_EXAMPLES = (WEEKLY_EXAMPLE,)
ABSOLUTE_EXAMPLES = (ABSOLUTE_EXAMPLE,)
ANY_EXAMPLES = (WEEKLY_EXAMPLE, ABSOLUTE_EXAMPLE, "always", "never")


class WindowError(ValueError):
    """A window spec that cannot be parsed. The message quotes it and shows the right form.

    Config validation prefixes the message with the field's path, e.g.
    `rules[1].windows.allowed[0]: invalid window 'Mnd-Fri 06:30-20:30 Europe/Berlin': ...`.
    """

    def __init__(self, text: str, problem: str, examples: tuple[str, ...]) -> None:
        self.text = text
        self.problem = problem
        self.examples = examples
        quoted = [repr(example) for example in examples]
        shown = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        super().__init__(f"invalid window {text!r}: {problem}; for example {shown}")


def _fail(text: str, problem: str, examples: tuple[str, ...] = ANY_EXAMPLES) -> NoReturn:
    raise WindowError(text, problem, examples)


# [0-9], not \d: \d also matches other scripts' digits, which int() would quietly accept.
_TIME_RANGE = re.compile(r"[0-9]{1,2}:[0-9]{2}-[0-9]{1,2}:[0-9]{2}")
_STRICT_TIME_RANGE = re.compile(r"[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}")
_LOOKS_ABSOLUTE = re.compile(r"[0-9]{4}-")
_INSTANT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
_OFFSET = r"Z|[+-][0-9]{2}:[0-9]{2}"
_ABSOLUTE = re.compile(
    rf"(?P<start>{_INSTANT})(?P<start_offset>{_OFFSET})?\s*[-/]\s*(?P<end>{_INSTANT})(?P<end_offset>{_OFFSET})?"
)


def parse_window(text: str) -> WindowSpec:
    """Parse one window (grammar in this module's docstring). Raises `WindowError`."""
    if not isinstance(text, str):
        _fail(repr(text), f"a window must be text, got {type(text).__name__}")
    spec = text.strip()
    if not spec:
        _fail(text, "it is empty")
    if spec.lower() == "always":
        return AlwaysWindow()
    if spec.lower() == "never":
        return NeverWindow()
    # kube-downscaler's comma-joined lists are the likeliest mistake: name it instead of
    # reporting whichever piece happens to fail first.
    if _LOOKS_ABSOLUTE.match(spec):
        if "," in spec:
            _fail(text, "it holds several windows; give each its own list item", ANY_EXAMPLES)
        return _parse_absolute(text, spec)
    if len(_TIME_RANGE.findall(spec)) > 1:
        _fail(text, "it holds several windows; give each its own list item", ANY_EXAMPLES)
    return _parse_weekly(text, spec)


def _parse_absolute(text: str, spec: str) -> AbsoluteWindow:
    match = _ABSOLUTE.fullmatch(spec)
    if match is None:
        _fail(text, "it is not an ISO-8601 range <start>-<end>", ABSOLUTE_EXAMPLES)
    start = _parse_instant(text, match["start"], match["start_offset"])
    end = _parse_instant(text, match["end"], match["end_offset"])
    if end <= start:
        _fail(
            text,
            f"it ends at {end.isoformat()}, not after its start {start.isoformat()}",
            ABSOLUTE_EXAMPLES,
        )
    return AbsoluteWindow(start, end)


def _parse_instant(text: str, local: str, offset: str | None) -> datetime:
    if offset is None:
        _fail(text, f"{local!r} has no UTC offset (add one such as +01:00 or Z)", ABSOLUTE_EXAMPLES)
    try:
        instant = datetime.fromisoformat(local + offset)
    except ValueError:
        _fail(text, f"{local + offset!r} is not a valid date and time", ABSOLUTE_EXAMPLES)
    try:
        # Every window is compared in UTC: an instant whose UTC time falls outside years 1-9999
        # (9999-12-31T23:00:00-14:00) raised OverflowError there, check-config's traceback.
        instant.astimezone(timezone.utc)
    except OverflowError:
        _fail(text, f"{local + offset!r} is, in UTC, outside the years 1 to 9999 that dates can have", ABSOLUTE_EXAMPLES)
    return instant


def _parse_weekly(text: str, spec: str) -> WeeklyWindow:
    # The first word with a colon is the time range: weekdays come before it (the list may hold
    # spaces, as in "Mon, Wed") and exactly one zone name after it.
    words = spec.split()
    time_index = next((index for index, word in enumerate(words) if ":" in word), None)
    if time_index is None:
        _fail(text, "it is not '<weekdays> <HH:MM>-<HH:MM> <time zone>'", ANY_EXAMPLES)
    day_words, time_range, zone_words = (
        words[:time_index],
        words[time_index],
        words[time_index + 1 :],
    )
    if not day_words:
        _fail(text, "it has no weekdays before the times", WEEKLY_EXAMPLES)
    if not zone_words:
        _fail(text, "it has no time zone after the times", WEEKLY_EXAMPLES)
    days = _parse_days(text, " ".join(day_words))
    start_minute, end_minute = _parse_time_range(text, time_range)
    if len(zone_words) > 1:
        _fail(text, f"{' '.join(zone_words)!r} is not one time zone name", WEEKLY_EXAMPLES)
    return WeeklyWindow(days, start_minute, end_minute, _parse_zone(text, zone_words[0]))


def _parse_days(text: str, day_list: str) -> frozenset[int]:
    days: set[int] = set()
    for item in day_list.split(","):
        ends = [_parse_day(text, name) for name in item.split("-")]
        if len(ends) > 2:
            _fail(
                text, f"{item.strip()!r} is not a day or a day range like Mon-Fri", WEEKLY_EXAMPLES
            )
        first, last = ends[0], ends[-1]
        # (last - first) % 7 makes a range that passes Sunday wrap: Fri-Mon is Fri, Sat, Sun, Mon.
        days.update((first + offset) % 7 for offset in range((last - first) % 7 + 1))
    return frozenset(days)


def _parse_day(text: str, name: str) -> int:
    name = name.strip()
    if not name:
        _fail(text, "a weekday is missing (an empty item between ',' or '-')", WEEKLY_EXAMPLES)
    number = _WEEKDAY_NUMBERS.get(name.lower())
    if number is None:
        _fail(
            text,
            f"unknown weekday {name!r} (use Mon, Tue, Wed, Thu, Fri, Sat or Sun)",
            WEEKLY_EXAMPLES,
        )
    return number


def _parse_time_range(text: str, time_range: str) -> tuple[int, int]:
    if _STRICT_TIME_RANGE.fullmatch(time_range) is None:
        _fail(
            text, f"{time_range!r} is not a time range HH:MM-HH:MM (24-hour clock)", WEEKLY_EXAMPLES
        )
    start_text, end_text = time_range.split("-")
    start, end = _parse_time(text, start_text), _parse_time(text, end_text)
    if start == MINUTES_PER_DAY:
        _fail(text, "it starts at 24:00 (a start is 00:00 to 23:59)", WEEKLY_EXAMPLES)
    if start == end:
        _fail(
            text,
            f"start and end are both {start_text}; for a whole day write 00:00-24:00",
            WEEKLY_EXAMPLES,
        )
    # 00:00 as an end is the midnight that closes the start day, the same as 24:00.
    return start, end or MINUTES_PER_DAY


def _parse_time(text: str, hh_mm: str) -> int:
    hours, minutes = int(hh_mm[:2]), int(hh_mm[3:])
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        _fail(text, f"{hh_mm!r} is not a time of day (00:00 to 24:00)", WEEKLY_EXAMPLES)
    return hours * 60 + minutes


def _parse_zone(text: str, name: str) -> ZoneInfo:
    try:
        return zone_named(name)
    except ValueError as exc:
        _fail(text, str(exc), WEEKLY_EXAMPLES)
