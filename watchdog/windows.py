"""Maintenance windows: when a rule may restart connectors. Pure: no clock reads.

A rule skips a restart with reason `window_closed` while its windows are closed, and a
status-triggered failure is reconsidered at `Windows.next_open`.

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

Weekly windows
--------------
`days` are the days a window STARTS on, in its own zone. `Mon-Fri 22:00-06:00` is open from Monday
22:00 to Tuesday 06:00, and so on to Friday 22:00 to Saturday 06:00; Monday 00:00-06:00 belongs to
Sunday's window, which is not listed, so it is closed. An end of 24:00 (or 00:00) means midnight at
the end of the start day. The whole day is `00:00-24:00`; equal start and end are rejected,
because they could mean a whole day or nothing.

Daylight saving time
--------------------
Each weekly occurrence is ONE stretch of real time, [start, end): from the first instant at which
the local wall clock reads the start time (or later) to the first instant at which it reads the end
time (or later). Concretely:

- a wall time that occurs twice (fall-back) resolves to its first occurrence;
- a wall time that does not exist (spring-forward gap) resolves to the instant the clocks jump
  over it, that is, the end of the gap.

So in Europe/Berlin, `Mon-Sun 02:00-03:00` is empty on the spring-forward day (the clock never
reads 02:xx) and lasts two real hours on the fall-back day (03:00 comes only after both passes
through 02:xx). `01:00-02:30` on the spring-forward day closes when the clock jumps from 02:00 to
03:00; on the fall-back day it closes at the first 02:30 and does not reopen on the second pass.

Absolute windows include their start and exclude their end, like every other window here.

`Windows` combines allowed and blackout windows: open when inside any allowed window (or when no
allowed list is given) and inside no blackout window. `Windows.intersect` applies the global
windows on top of a rule's own. `next_open` is exact: it merges the windows' intervals over the
horizon instead of stepping through time.
"""

from __future__ import annotations

import bisect
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

Interval = tuple[datetime, datetime]
"""A half-open stretch of time [start, end), both ends timezone-aware (UTC)."""

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # index = datetime.weekday()
_WEEKDAY_NUMBERS = {name.lower(): number for number, name in enumerate(WEEKDAY_NAMES)}
MINUTES_PER_DAY = 24 * 60
DEFAULT_HORIZON = timedelta(days=400)  # a yearly window (Christmas freeze) plus a month of slack
_FIRST_LOOK = timedelta(days=8)  # a weekly window recurs within 7 days; 1 more for DST and 24:00

WEEKLY_EXAMPLE = "Mon-Fri 06:30-20:30 Europe/Berlin"
ABSOLUTE_EXAMPLE = "2026-12-24T00:00:00+01:00-2026-12-27T00:00:00+01:00"
WEEKLY_EXAMPLES = (WEEKLY_EXAMPLE,)
ABSOLUTE_EXAMPLES = (ABSOLUTE_EXAMPLE,)
ANY_EXAMPLES = (WEEKLY_EXAMPLE, ABSOLUTE_EXAMPLE, "always", "never")

# Stand-ins for "unbounded" in interval arithmetic: only ever compared, never shifted.
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
_LATEST = datetime.max.replace(tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


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


def _as_utc(value: datetime, name: str) -> datetime:
    """`value` in UTC; naive datetimes are refused because their instant is unknowable."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}; "
            "attach a zone, e.g. datetime(..., tzinfo=timezone.utc)"
        )
    return value.astimezone(timezone.utc)


def _require_aware(lo: datetime, hi: datetime) -> None:
    # Specs that ignore the bounds still refuse naive ones, so a caller's bug shows up whatever
    # the config says.
    _as_utc(lo, "lo")
    _as_utc(hi, "hi")


# ---------------------------------------------------------------------------------------------
# Window specs
# ---------------------------------------------------------------------------------------------


class WindowSpec(ABC):
    """One parsed window: a set of half-open stretches of real time."""

    @abstractmethod
    def intervals(self, lo: datetime, hi: datetime) -> list[Interval]:
        """The stretches [start, end) that touch [lo, hi] (start <= hi and end > lo), in UTC.

        Sorted by start and never overlapping. They are not clipped to [lo, hi]: a stretch that
        began before `lo` is returned whole.
        """

    @abstractmethod
    def describe(self) -> str:
        """The normalised text of this window; `parse_window` reads it back to an equal spec."""

    def contains(self, at: datetime) -> bool:
        # Defined through `intervals` so that `Windows.is_open` and `Windows.next_open` can never
        # disagree about a single instant.
        instant = _as_utc(at, "at")
        return any(start <= instant < end for start, end in self.intervals(instant, instant))

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class AlwaysWindow(WindowSpec):
    def intervals(self, lo: datetime, hi: datetime) -> list[Interval]:
        _require_aware(lo, hi)
        return [(_EARLIEST, _LATEST)]

    def describe(self) -> str:
        return "always"


@dataclass(frozen=True)
class NeverWindow(WindowSpec):
    def intervals(self, lo: datetime, hi: datetime) -> list[Interval]:
        _require_aware(lo, hi)
        return []

    def describe(self) -> str:
        return "never"


@dataclass(frozen=True)
class AbsoluteWindow(WindowSpec):
    """[start, end) between two instants. The offsets given are kept for `describe`."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if _as_utc(self.end, "end") <= _as_utc(self.start, "start"):
            raise ValueError(
                f"end {self.end.isoformat()} must be after start {self.start.isoformat()}"
            )

    def intervals(self, lo: datetime, hi: datetime) -> list[Interval]:
        start, end = _as_utc(self.start, "start"), _as_utc(self.end, "end")
        if start <= _as_utc(hi, "hi") and end > _as_utc(lo, "lo"):
            return [(start, end)]
        return []

    def describe(self) -> str:
        return f"{self.start.isoformat()}-{self.end.isoformat()}"


@dataclass(frozen=True)
class WeeklyWindow(WindowSpec):
    """Open from `start_minute` to `end_minute` (minutes after local midnight) on `days`.

    `days` are the weekdays (0 = Monday) an occurrence starts on. When `end_minute` is smaller
    than `start_minute` the occurrence ends the next morning. See the module docstring for DST.
    """

    days: frozenset[int]
    start_minute: int
    end_minute: int
    zone: ZoneInfo

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(
                f"days must be a non-empty subset of 0..6 (Monday = 0), got {sorted(self.days)}"
            )
        if not 0 <= self.start_minute < MINUTES_PER_DAY:
            raise ValueError(
                f"start_minute must be in [0, {MINUTES_PER_DAY}), got {self.start_minute}"
            )
        if not 0 < self.end_minute <= MINUTES_PER_DAY:
            raise ValueError(f"end_minute must be in (0, {MINUTES_PER_DAY}], got {self.end_minute}")
        if self.start_minute == self.end_minute:
            raise ValueError("start_minute and end_minute must differ")

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute < self.start_minute

    def intervals(self, lo: datetime, hi: datetime) -> list[Interval]:
        lo_utc, hi_utc = _as_utc(lo, "lo"), _as_utc(hi, "hi")
        # One day of margin on each side. Before: an occurrence that started the day before `lo`
        # may still be open. After: where clocks fall back across midnight, the wall clock has
        # already shown the next date once before `hi`.
        day = lo_utc.astimezone(self.zone).date() - timedelta(days=1)
        last_day = hi_utc.astimezone(self.zone).date() + timedelta(days=1)
        found: list[Interval] = []
        while day <= last_day:
            if day.weekday() in self.days:
                start, end = self.occurrence(day)
                # Empty when both ends fall into the same spring-forward gap.
                if start < end and start <= hi_utc and end > lo_utc:
                    found.append((start, end))
            day += timedelta(days=1)
        return found

    def occurrence(self, day: date) -> Interval:
        """The stretch of real time this window covers when it starts on local date `day`."""
        midnight = datetime(day.year, day.month, day.day)
        end_day = midnight + timedelta(days=1) if self.crosses_midnight else midnight
        start = _first_instant_reading(midnight + timedelta(minutes=self.start_minute), self.zone)
        end = _first_instant_reading(end_day + timedelta(minutes=self.end_minute), self.zone)
        return start, end

    def describe(self) -> str:
        times = f"{_format_minute(self.start_minute)}-{_format_minute(self.end_minute)}"
        return f"{_describe_days(self.days)} {times} {self.zone.key}"


def _first_instant_reading(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in `zone` reads `wall` or later.

    For a wall time that occurs twice this is its first occurrence (fold=0). For one that does
    not occur it is the instant the clock jumps over it.
    """
    first_pass = wall.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    if first_pass.astimezone(zone).replace(tzinfo=None) == wall:
        return first_pass
    return _jump_over_gap(wall, first_pass, zone)


def _jump_over_gap(wall: datetime, after_jump: datetime, zone: ZoneInfo) -> datetime:
    """The instant of the spring-forward jump that skips the non-existent `wall` time.

    fold=0 reads a gap time with the offset from before the jump, which lands `after_jump`
    past the jump; `wall` minus the offset from after the jump lands before it. zoneinfo does
    not expose its transition table, so bisect between the two on whole microseconds: at most
    about 32 conversions for a one-hour gap, and only for times that fall into a gap.
    """
    after_offset = _utc_offset(after_jump, zone)
    before_jump = (wall - after_offset).replace(tzinfo=timezone.utc)
    while after_jump - before_jump > _MICROSECOND:
        middle = before_jump + (after_jump - before_jump) // 2
        if _utc_offset(middle, zone) == after_offset:
            after_jump = middle
        else:
            before_jump = middle
    return after_jump


def _utc_offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset; this narrows the type
    return offset


def _format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _describe_days(days: frozenset[int]) -> str:
    """Runs of consecutive days, Monday first; a run through Sunday stays whole (`Fri-Mon`)."""
    if len(days) == 7:
        return "Mon-Sun"
    runs = []
    for first in range(7):
        if first not in days or (first - 1) % 7 in days:
            continue
        last = first
        while (last + 1) % 7 in days:
            last = (last + 1) % 7
        runs.append(
            WEEKDAY_NAMES[first]
            if first == last
            else f"{WEEKDAY_NAMES[first]}-{WEEKDAY_NAMES[last]}"
        )
    return ",".join(runs)


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

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
    """Parse one window (grammar in the module docstring). Raises `WindowError`."""
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
        return datetime.fromisoformat(local + offset)
    except ValueError:
        _fail(text, f"{local + offset!r} is not a valid date and time", ABSOLUTE_EXAMPLES)


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
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: not a normalised relative key or not a TZif file; OSError: a directory
        # such as "Europe". All mean the same to the user: not a zone name.
        pass
    suggestion = _zone_names_by_folded_case().get(name.casefold())
    hint = (
        f"did you mean {suggestion}?"
        if suggestion
        else "use an IANA name such as Europe/Berlin or UTC"
    )
    _fail(text, f"unknown time zone {name!r} ({hint})", WEEKLY_EXAMPLES)


@cache
def _zone_names_by_folded_case() -> dict[str, str]:
    # Read on the error path only: listing every zone walks the tz database.
    return {name.casefold(): name for name in available_timezones()}


# ---------------------------------------------------------------------------------------------
# Allowed and blackout windows together
# ---------------------------------------------------------------------------------------------


class Windows:
    """When restarts may happen: inside an allowed window and outside every blackout window.

    `allowed=None` means no restriction; an empty list means never open. Immutable and hashable.
    """

    __slots__ = ("_allowed_groups", "_blackout")

    def __init__(
        self, allowed: Sequence[WindowSpec] | None = None, blackout: Sequence[WindowSpec] = ()
    ) -> None:
        self._allowed_groups: tuple[tuple[WindowSpec, ...], ...] = (
            () if allowed is None else (_specs(allowed, "allowed"),)
        )
        self._blackout: tuple[WindowSpec, ...] = _specs(blackout, "blackout")

    @property
    def allowed_groups(self) -> tuple[tuple[WindowSpec, ...], ...]:
        """Open only when inside some window of EVERY group (one group per `intersect`ed part)."""
        return self._allowed_groups

    @property
    def blackout(self) -> tuple[WindowSpec, ...]:
        return self._blackout

    def intersect(self, other: Windows) -> Windows:
        """Open exactly when both are open: the global windows applied on top of a rule's own."""
        combined = Windows(blackout=self._blackout + other._blackout)
        # Each side keeps its own "any of these" group: (A or B) and (C) is not one flat list.
        combined._allowed_groups = self._allowed_groups + other._allowed_groups
        return combined

    def is_open(self, at: datetime) -> bool:
        _as_utc(at, "at")
        allowed = all(any(spec.contains(at) for spec in group) for group in self._allowed_groups)
        return allowed and not any(spec.contains(at) for spec in self._blackout)

    def next_open(self, after: datetime, horizon: timedelta = DEFAULT_HORIZON) -> datetime | None:
        """The earliest instant in [after, after + horizon] at which the windows are open.

        `after` itself when open now; None when closed for the whole horizon. The result is in
        the time zone of `after`. Exact, without stepping: it merges the windows' occurrences,
        first over the coming week (where a weekly window opens) and only if that finds nothing
        over the whole horizon (about 57 occurrences per listed weekday in 400 days, a few ms).
        """
        start = _as_utc(after, "after")
        if horizon < timedelta(0):
            raise ValueError(f"horizon must not be negative, got {horizon}")
        for reach in sorted({min(horizon, _FIRST_LOOK), horizon}):
            found = self._first_open_instant(start, start + reach)
            if found is not None:
                return found.astimezone(after.tzinfo)
        return None

    def _first_open_instant(self, start: datetime, limit: datetime) -> datetime | None:
        """The earliest open instant in [start, limit], both UTC."""
        allowed = [(start, _LATEST)]
        for group in self._allowed_groups:
            allowed = _intersection(allowed, _union(spec.intervals(start, limit) for spec in group))
        blocked = _union(spec.intervals(start, limit) for spec in self._blackout)
        found = _first_unblocked_instant(allowed, blocked)
        return found if found is not None and found <= limit else None

    def describe(self) -> str:
        """One line for logs, e.g. `allowed: Mon-Fri 06:30-20:30 Europe/Berlin; blackout: none`."""
        groups = [" | ".join(map(str, group)) or "never" for group in self._allowed_groups]
        if not groups:
            allowed = "always"
        elif len(groups) == 1:
            allowed = groups[0]
        else:
            allowed = " and ".join(f"({group})" for group in groups)
        blackout = " | ".join(map(str, self._blackout)) or "none"
        return f"allowed: {allowed}; blackout: {blackout}"

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"Windows({self.describe()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Windows):
            return NotImplemented
        return (self._allowed_groups, self._blackout) == (other._allowed_groups, other._blackout)

    def __hash__(self) -> int:
        return hash((self._allowed_groups, self._blackout))


def _specs(specs: Sequence[WindowSpec], name: str) -> tuple[WindowSpec, ...]:
    # A bare string is a Sequence too; without this check it would become one spec per letter.
    if isinstance(specs, str) or not all(isinstance(spec, WindowSpec) for spec in specs):
        raise TypeError(
            f"{name} must be a list of parsed windows (see parse_window), got {specs!r}"
        )
    return tuple(specs)


def _union(interval_lists: Iterable[list[Interval]]) -> list[Interval]:
    """Sorted, disjoint intervals covering the same time; touching intervals are joined."""
    merged: list[Interval] = []
    for start, end in sorted(interval for intervals in interval_lists for interval in intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersection(left: list[Interval], right: list[Interval]) -> list[Interval]:
    """Time covered by both of two sorted, disjoint interval lists."""
    both: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start, end = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if start < end:
            both.append((start, end))
        # Drop whichever interval ends first: it cannot overlap anything further on.
        if left[i][1] <= right[j][1]:
            i += 1
        else:
            j += 1
    return both


def _first_unblocked_instant(allowed: list[Interval], blocked: list[Interval]) -> datetime | None:
    """The earliest instant inside `allowed` and outside `blocked` (both sorted and disjoint)."""
    blocked_ends = [end for _, end in blocked]
    for start, end in allowed:
        candidate = start
        # The first blackout that ends after the candidate; if it has begun, wait for its end.
        # `_union` joined touching blackouts, so the next one starts strictly later.
        index = bisect.bisect_right(blocked_ends, candidate)
        if index < len(blocked) and blocked[index][0] <= candidate:
            candidate = blocked[index][1]
        if candidate < end:
            return candidate
    return None
