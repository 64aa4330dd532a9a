"""When a cron fires: its wall-clock times in its time zone, made instants by the windows' DST rule.

A cron names wall-clock times. Each one it names fires once, at the first instant at which the
zone's clock reads it (windows/dst.py, the rule the maintenance windows follow):

- a time the clock reads twice (autumn, fall-back) fires on its first pass only: `30 2 * * *` in
  Europe/Berlin fires at 02:30 CEST on 25 October 2026, not again at 02:30 CET, as cron does
  (APScheduler 3.11's CronTrigger fired on both passes);
- a time the clock skips (spring-forward) fires when the clock jumps over it: `30 2 * * *` fires
  at 03:00 CEST on 29 March 2026, as cron runs a skipped job right after the change, and the
  next day at 02:30 again. Several times in one gap (`0,30 2 * * *`) fire once, at the jump.
  (APScheduler's CronTrigger read a skipped time with the winter offset: 03:30 CEST, and each
  time in the gap on its own.)

That holds for every cron, `*` in the hour or minute included: `0 * * * *` fires at 02:00 CEST and
next at 03:00 CET on the fall-back night (two real hours apart), where Vixie cron would also run it
at 02:00 CET. A schedule in real time is an `interval`, or a cron in UTC, which has no DST.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ..windows.dst import first_instant_reading
from .fields import CronSpec

_MICROSECOND = timedelta(microseconds=1)
# The Gregorian calendar, weekdays included, repeats every 400 years: a cron that fires at all
# fires within 400 years of any date.
CALENDAR_CYCLE_YEARS = 400


def next_fire_time(spec: CronSpec, zone: ZoneInfo, start: datetime) -> datetime | None:
    """The first instant at or after `start` (timezone-aware) at which the cron fires, in `zone`;
    None if it never fires again (no date in a whole calendar cycle, or past the year 9999)."""
    start = start.astimezone(timezone.utc)
    # The clock's reading just before `start`: every wall time up to it was read before `start`,
    # so it has fired already. (UTC arithmetic: an aware datetime's own arithmetic is wall time.)
    read = (start - _MICROSECOND).astimezone(zone).replace(tzinfo=None)
    try:
        for wall in _wall_times_after(spec, read):
            instant = first_instant_reading(wall, zone)
            # False only in the second pass of a fall-back, for the wall times read in the first.
            if instant >= start:
                return instant.astimezone(zone)
    except OverflowError:  # the year 9999
        return None
    return None


def fires_at_all(spec: CronSpec) -> bool:
    """Whether any date has the cron's day and month (`0 3 30 2 *`: no 30 February)."""
    return next(_dates(spec, date(2000, 1, 1)), None) is not None


def _wall_times_after(spec: CronSpec, read: datetime) -> Iterator[datetime]:
    """The cron's wall times later than `read`, in order."""
    for day in _dates(spec, read.date()):
        for hour in spec.hours:
            for minute in spec.minutes:
                wall = datetime.combine(day, time(hour, minute))
                if wall > read:
                    yield wall


def _dates(spec: CronSpec, first: date) -> Iterator[date]:
    """The dates the cron fires on, from `first`, for one calendar cycle (and not past 9999)."""
    months = sorted(spec.months)
    for year in range(first.year, min(first.year + CALENDAR_CYCLE_YEARS, date.max.year) + 1):
        for month in months:
            if (year, month) < (first.year, first.month):
                continue
            day = date(year, month, first.day if (year, month) == (first.year, first.month) else 1)
            while day.month == month:
                if spec.fires_on(day):
                    yield day
                if day == date.max:
                    return
                day += timedelta(days=1)
