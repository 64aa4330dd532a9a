"""Window specs: one parsed window each, as half-open stretches of real time. Pure: no clock reads.

Weekly windows
--------------
`days` are the days a window STARTS on, in its own zone. `Mon-Fri 22:00-06:00` is open from Monday
22:00 to Tuesday 06:00, and so on to Friday 22:00 to Saturday 06:00; Monday 00:00-06:00 belongs to
Sunday's window, which is not listed, so it is closed. An end of 24:00 (or 00:00) means midnight at
the end of the start day. The whole day is `00:00-24:00`; equal start and end are rejected,
because they could mean a whole day or nothing. How a wall time becomes an instant across daylight
saving changes is in `dst.py`.

Absolute windows include their start and exclude their end, like every other window here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .dst import first_instant_reading

Interval = tuple[datetime, datetime]
"""A half-open stretch of time [start, end), both ends timezone-aware (UTC)."""

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # index = datetime.weekday()
MINUTES_PER_DAY = 24 * 60

# Stand-ins for "unbounded" in interval arithmetic: only ever compared, never shifted.
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
LATEST = datetime.max.replace(tzinfo=timezone.utc)


def as_utc(value: datetime, name: str) -> datetime:
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
    as_utc(lo, "lo")
    as_utc(hi, "hi")


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
        instant = as_utc(at, "at")
        return any(start <= instant < end for start, end in self.intervals(instant, instant))

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class AlwaysWindow(WindowSpec):
    def intervals(self, lo: datetime, hi: datetime) -> list[Interval]:
        _require_aware(lo, hi)
        return [(EARLIEST, LATEST)]

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
        if as_utc(self.end, "end") <= as_utc(self.start, "start"):
            raise ValueError(
                f"end {self.end.isoformat()} must be after start {self.start.isoformat()}"
            )

    def intervals(self, lo: datetime, hi: datetime) -> list[Interval]:
        start, end = as_utc(self.start, "start"), as_utc(self.end, "end")
        if start <= as_utc(hi, "hi") and end > as_utc(lo, "lo"):
            return [(start, end)]
        return []

    def describe(self) -> str:
        return f"{self.start.isoformat()}-{self.end.isoformat()}"


@dataclass(frozen=True)
class WeeklyWindow(WindowSpec):
    """Open from `start_minute` to `end_minute` (minutes after local midnight) on `days`.

    `days` are the weekdays (0 = Monday) an occurrence starts on. When `end_minute` is smaller
    than `start_minute` the occurrence ends the next morning. See dst.py for daylight saving time.
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
        lo_utc, hi_utc = as_utc(lo, "lo"), as_utc(hi, "hi")
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
        start = first_instant_reading(midnight + timedelta(minutes=self.start_minute), self.zone)
        end = first_instant_reading(end_day + timedelta(minutes=self.end_minute), self.zone)
        return start, end

    def describe(self) -> str:
        times = f"{_format_minute(self.start_minute)}-{_format_minute(self.end_minute)}"
        return f"{_describe_days(self.days)} {times} {self.zone.key}"


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
