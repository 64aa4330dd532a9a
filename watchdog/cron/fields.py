"""The five fields of a crontab line, read whole: each part is understood exactly or refused.

    minute   0-59
    hour     0-23
    day      1-31, or `last` (the month's last day)
    month    1-12 or jan-dec
    weekday  sun-sat, names only

Each field is `*` or a comma-separated list of: a value, a range `a-b`, or a step `*/n`, `a-b/n`,
`a/n` (`a` to the field's end). Names are three letters, in any case. Why the grammar is ours and
not APScheduler's: APScheduler 3.11 tries each expression with `re.match`, which ignores what
follows a match, so `jan-dec/3` ran as `jan-dec` (every month) and `lastday` as `last`.

Weekday numbers are refused: crontab counts 0 as Sunday, APScheduler as Monday, so a number would
fire on the wrong day under one reading. For the same reason a weekday range wraps through the end
of the week (`fri-mon` is Fri, Sat, Sun, Mon; `sun-sat` and `mon-sun` are every day), as the
maintenance windows' day ranges do: each reading of a range that some cron accepts means the same
days this way. Other ranges must not run backwards (`nov-feb`: write `nov-dec,jan-feb`), and a step
must not be longer than its range (it would select only the range's first value).

Day and weekday (crontab, POSIX): when both are restricted (neither is `*`), a day that matches
EITHER fires: `0 3 1 * mon` fires on the 1st of each month and on every Monday. When one is `*`,
the other alone decides. APScheduler ANDs them (only Mondays that are the 1st); crontab's reading
is the one implemented rather than refusing such crons, because it can be made exact and users
paste crontab lines, which then mean here what they meant in crontab. A day field that starts with
`*` but is not `*` (`*/2`) next to a weekday is refused: Vixie cron and cronie treat it as
unrestricted (days that match both), Kubernetes' cron (robfig/cron) as restricted (days that match
either), so the same line fires on different days depending on where it was written.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()

_PART = re.compile(r"(?:(?P<star>\*)|(?P<first>[0-9]+|[a-z]+)(?:-(?P<last>[0-9]+|[a-z]+))?)(?:/(?P<step>[0-9]+))?",
                   re.IGNORECASE)
_DIGIT = re.compile(r"[0-9]")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names for low, low + 1, ...
    hint: str = ""

    def value(self, text: str, part: str) -> int:
        if text.isdigit():
            number = int(text)
            if not self.low <= number <= self.high:
                raise ValueError(f"{self.name} {part!r}: {number} is out of range ({self.low}-{self.high})")
            return number
        if text.lower() in self.names:
            return self.low + self.names.index(text.lower())
        raise ValueError(f"{self.name} {part!r} is not understood; write {self.hint}")


_FIELDS = (
    _Field("minute", 0, 59, hint="a minute 0-59, a range (0-29), a step (*/15, 0-29/5) or a list of those (0,30)"),
    _Field("hour", 0, 23, hint="an hour 0-23, a range (8-17), a step (*/6, 8-17/3) or a list of those (3,15)"),
    _Field("day", 1, 31, hint="a day 1-31 or last, a range (1-15), a step (*/2, 1-15/7) or a list of those (1,15)"),
    _Field("month", 1, 12, MONTH_NAMES,
           hint="a month 1-12 or jan-dec, a range (jan-mar), a step (*/3, jan-dec/3) or a list of those (jan,jul)"),
    _Field("weekday", 0, 6, WEEKDAY_NAMES, hint="a weekday name sun-sat, a range (mon-fri, fri-mon) or a list of those (sat,sun)"),
)
_MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY = _FIELDS


@dataclass(frozen=True)
class CronSpec:
    """What a 5-field cron asks for, as sets of values (weekdays: 0 is Monday, as date.weekday())."""

    minutes: tuple[int, ...]  # ascending
    hours: tuple[int, ...]  # ascending
    days: frozenset[int]
    last_day: bool  # `last` in the day field
    months: frozenset[int]
    weekdays: frozenset[int]
    either_day: bool  # day and weekday both restricted: a date matching either fires

    def fires_on(self, day: date) -> bool:
        """Whether the cron fires on this date (at its hours and minutes)."""
        if day.month not in self.months:
            return False
        by_day = day.day in self.days or (self.last_day and day.day == monthrange(day.year, day.month)[1])
        by_weekday = day.weekday() in self.weekdays
        return (by_day or by_weekday) if self.either_day else (by_day and by_weekday)


def parse_cron(expr: str) -> CronSpec:
    """The cron's meaning, or ValueError naming the field and the part it cannot read exactly."""
    texts = expr.split()
    if len(texts) != 5:
        raise ValueError(f"cron needs 5 fields (minute hour day month weekday), got {len(texts)}")
    minute, hour, day, month, weekday = texts
    if _DIGIT.search(weekday):
        # Crontab counts weekday 0 (and 7) as Sunday, APScheduler 0 as Monday: a number, or a
        # step, would fire on the wrong day under one of them.
        raise ValueError(f"numeric weekday {weekday!r} is ambiguous; use names like mon-fri or sun")
    try:
        days, last_day = _values(_DAY, day, allow_last=True)
        spec = CronSpec(
            minutes=tuple(sorted(_values(_MINUTE, minute)[0])),
            hours=tuple(sorted(_values(_HOUR, hour)[0])),
            days=days,
            last_day=last_day,
            months=_values(_MONTH, month)[0],
            weekdays=_values(_WEEKDAY, weekday)[0],
            either_day=day != "*" and weekday != "*",
        )
    except ValueError as exc:
        raise ValueError(f"bad cron expression {expr!r}: {exc}") from None
    if day.startswith("*") and day != "*" and weekday != "*":
        raise ValueError(
            f"day {day!r} with weekday {weekday!r} is ambiguous: crons disagree on a day that starts with '*' "
            "next to a weekday (Vixie cron and cronie fire on the days that match both, Kubernetes on the days "
            "that match either); write the days as a range (1-31/2, not */2) to fire on the days that match either"
        )
    return spec


def _values(field: _Field, text: str, allow_last: bool = False) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    last = False
    for part in text.split(","):
        if not part:
            raise ValueError(f"{field.name} {text!r} has an empty item between commas")
        if allow_last and part.lower() == "last":
            last = True
            continue
        values |= _part_values(field, part)
    return frozenset(values), last


def _part_values(field: _Field, part: str) -> set[int]:
    match = _PART.fullmatch(part)
    if match is None:
        raise ValueError(f"{field.name} {part!r} is not understood; write {field.hint}")
    if match["star"]:
        first, last = field.low, field.high
    else:
        first = field.value(match["first"], part)
        if match["last"] is not None:
            last = field.value(match["last"], part)
        else:
            last = field.high if match["step"] is not None else first
    if field is _WEEKDAY:
        return {(first + offset) % 7 for offset in range((last - first) % 7 + 1)}  # wraps through Sunday
    if last < first:
        raise ValueError(f"{field.name} {part!r}: the range runs backwards (from {first} down to {last}); "
                         f"split it at the end of the {field.name}s ({field.low}-{field.high})")
    step = int(match["step"]) if match["step"] is not None else 1
    if step == 0 or (step > 1 and step > last - first):
        raise ValueError(f"{field.name} {part!r}: a step must be at least 1 and at most the range's length "
                         f"({last - first}); a longer one selects only {first}: write that")
    return set(range(first, last + 1, step))
