"""Maintenance windows: parsing, membership, DST edges and the exact next opening.

Reference week: Monday 2026-06-01 to Sunday 2026-06-07 (Berlin CEST +02:00, New York EDT -04:00,
Kolkata +05:30). DST in 2026: Europe/Berlin springs forward on Sunday 2026-03-29 at 01:00 UTC
(02:00 CET -> 03:00 CEST) and falls back on Sunday 2026-10-25 at 01:00 UTC (03:00 CEST -> 02:00
CET); America/New_York springs forward on Sunday 2026-03-08 at 07:00 UTC (02:00 EST -> 03:00 EDT)
and falls back on Sunday 2026-11-01 at 06:00 UTC (02:00 EDT -> 01:00 EST).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from watchdog.windows import (
    AbsoluteWindow,
    AlwaysWindow,
    NeverWindow,
    WeeklyWindow,
    WindowError,
    Windows,
    WindowSpec,
    parse_window,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")

OFFICE_BERLIN = "Mon-Fri 06:30-20:30 Europe/Berlin"
OFFICE_NEW_YORK = "Mon-Fri 09:00-17:00 America/New_York"
CHRISTMAS = "2026-12-24T00:00:00+01:00-2026-12-27T00:00:00+01:00"
WEEK = [date(2026, 6, 1) + timedelta(days=n) for n in range(7)]  # Mon .. Sun
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def windows(allowed: list[str] | None = None, blackout: tuple[str, ...] = ()) -> Windows:
    specs = None if allowed is None else [parse_window(text) for text in allowed]
    return Windows(specs, [parse_window(text) for text in blackout])


# ---------------------------------------------------------------------------------------------
# Parsing and the normalised form
# ---------------------------------------------------------------------------------------------

NORMALISED = [
    pytest.param("Mon 09:00-17:00 UTC", "Mon 09:00-17:00 UTC", id="single-day"),
    pytest.param("mon 09:00-17:00 UTC", "Mon 09:00-17:00 UTC", id="lower-case-day"),
    pytest.param("FRI-sun 09:00-17:00 UTC", "Fri-Sun 09:00-17:00 UTC", id="mixed-case-range"),
    pytest.param(OFFICE_BERLIN, OFFICE_BERLIN, id="range"),
    pytest.param("Fri-Mon 09:00-17:00 UTC", "Fri-Mon 09:00-17:00 UTC", id="wrapping-range"),
    pytest.param("Sun-Thu 09:00-17:00 Asia/Jerusalem", "Sun-Thu 09:00-17:00 Asia/Jerusalem", id="sunday-week"),
    pytest.param("Tue-Mon 09:00-17:00 UTC", "Mon-Sun 09:00-17:00 UTC", id="wrapping-whole-week"),
    pytest.param("Wed-Wed 09:00-17:00 UTC", "Wed 09:00-17:00 UTC", id="one-day-range"),
    pytest.param("Mon,Wed,Fri 09:00-17:00 UTC", "Mon,Wed,Fri 09:00-17:00 UTC", id="list"),
    pytest.param("Sat,Sun 09:00-17:00 UTC", "Sat-Sun 09:00-17:00 UTC", id="list-of-neighbours"),
    pytest.param("Tue,Thu-Sat 09:00-17:00 UTC", "Tue,Thu-Sat 09:00-17:00 UTC", id="list-with-range"),
    # Fri-Sun and Mon are one run through the week's end, so they print as one wrapping range.
    pytest.param("Mon,Wed,Fri-Sun 09:00-17:00 UTC", "Wed,Fri-Mon 09:00-17:00 UTC", id="list-wrapping"),
    pytest.param("Mon-Wed,Tue-Thu 09:00-17:00 UTC", "Mon-Thu 09:00-17:00 UTC", id="overlapping-items"),
    pytest.param("Mon,Tue,Wed,Thu,Fri,Sat,Sun 09:00-17:00 UTC", "Mon-Sun 09:00-17:00 UTC", id="every-day-listed"),
    pytest.param("Mon , Wed - Fri 09:00-17:00 UTC", "Mon,Wed-Fri 09:00-17:00 UTC", id="spaces-in-day-list"),
    pytest.param("  Mon-Fri   06:30-20:30\tEurope/Berlin ", OFFICE_BERLIN, id="extra-whitespace"),
    pytest.param("Sun 22:00-24:00 UTC", "Sun 22:00-24:00 UTC", id="end-24:00"),
    pytest.param("Sun 22:00-00:00 UTC", "Sun 22:00-24:00 UTC", id="end-00:00-is-24:00"),
    pytest.param("Mon-Sun 00:00-24:00 UTC", "Mon-Sun 00:00-24:00 UTC", id="whole-day"),
    pytest.param("Mon-Fri 22:00-06:00 UTC", "Mon-Fri 22:00-06:00 UTC", id="crossing-midnight"),
    pytest.param(OFFICE_NEW_YORK, OFFICE_NEW_YORK, id="zone-new-york"),
    pytest.param("Mon 09:00-09:30 Asia/Kolkata", "Mon 09:00-09:30 Asia/Kolkata", id="zone-half-hour-offset"),
    pytest.param("Mon 09:00-09:30 Etc/UTC", "Mon 09:00-09:30 Etc/UTC", id="zone-etc-utc"),
    pytest.param(CHRISTMAS, CHRISTMAS, id="absolute"),
    pytest.param(
        "2026-12-24T00:00Z-2026-12-27T00:00Z",
        "2026-12-24T00:00:00+00:00-2026-12-27T00:00:00+00:00",
        id="absolute-z-no-seconds",
    ),
    pytest.param(
        "2026-06-01T08:00:00-04:00-2026-06-01T09:00:00.250-04:00",
        "2026-06-01T08:00:00-04:00-2026-06-01T09:00:00.250000-04:00",
        id="absolute-negative-offset-fraction",
    ),
    pytest.param(
        "2026-12-24T00:00:00+01:00 / 2026-12-27T00:00:00+05:30",
        "2026-12-24T00:00:00+01:00-2026-12-27T00:00:00+05:30",
        id="absolute-iso-slash",
    ),
    pytest.param("always", "always", id="always"),
    pytest.param("ALWAYS", "always", id="always-upper-case"),
    pytest.param(" Never ", "never", id="never-padded"),
]


@pytest.mark.parametrize(("text", "normalised"), NORMALISED)
def test_parse_gives_a_normalised_form(text: str, normalised: str) -> None:
    spec = parse_window(text)
    assert spec.describe() == normalised
    assert str(spec) == normalised


@pytest.mark.parametrize(("text", "normalised"), NORMALISED)
def test_normalised_form_parses_back_to_an_equal_spec(text: str, normalised: str) -> None:
    spec = parse_window(text)
    assert parse_window(normalised) == spec
    assert hash(parse_window(normalised)) == hash(spec)


def test_parse_returns_the_kind_of_window_written() -> None:
    weekly = parse_window("Mon-Fri 22:00-06:00 Europe/Berlin")
    assert weekly == WeeklyWindow(frozenset({0, 1, 2, 3, 4}), 22 * 60, 6 * 60, BERLIN)
    assert isinstance(weekly, WeeklyWindow) and weekly.crosses_midnight
    assert parse_window(CHRISTMAS) == AbsoluteWindow(
        datetime(2026, 12, 24, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 12, 27, tzinfo=timezone(timedelta(hours=1))),
    )
    assert parse_window("always") == AlwaysWindow()
    assert parse_window("never") == NeverWindow()
    assert parse_window("always") != parse_window("never")


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        pytest.param("Mon", {"Mon"}, id="day"),
        pytest.param("Mon-Fri", {"Mon", "Tue", "Wed", "Thu", "Fri"}, id="range"),
        pytest.param("Sat-Sun", {"Sat", "Sun"}, id="weekend"),
        pytest.param("Fri-Mon", {"Fri", "Sat", "Sun", "Mon"}, id="wrapping-range"),
        pytest.param("Sun-Thu", {"Sun", "Mon", "Tue", "Wed", "Thu"}, id="wrapping-sunday-week"),
        pytest.param("Tue-Mon", set(DAY_NAMES), id="wrapping-whole-week"),
        pytest.param("Wed-Wed", {"Wed"}, id="one-day-range"),
        pytest.param("Mon,Wed,Fri", {"Mon", "Wed", "Fri"}, id="list"),
        pytest.param("Mon,Wed,Fri-Sun", {"Mon", "Wed", "Fri", "Sat", "Sun"}, id="list-with-range"),
        pytest.param("Sat-Mon,Wed", {"Sat", "Sun", "Mon", "Wed"}, id="list-with-wrapping-range"),
        pytest.param("mon-FRI", {"Mon", "Tue", "Wed", "Thu", "Fri"}, id="any-case"),
        pytest.param("Mon , Wed - Fri", {"Mon", "Wed", "Thu", "Fri"}, id="spaces"),
        pytest.param("Mon-Wed,Tue-Thu", {"Mon", "Tue", "Wed", "Thu"}, id="overlapping-items"),
    ],
)
def test_every_weekday_form_selects_its_days(days: str, expected: set[str]) -> None:
    spec = parse_window(f"{days} 00:00-24:00 UTC")
    open_days = {DAY_NAMES[day.weekday()] for day in WEEK if spec.contains(utc(day.year, day.month, day.day, 12))}
    assert open_days == expected


# ---------------------------------------------------------------------------------------------
# Membership
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "at", "expected"),
    [
        pytest.param(OFFICE_BERLIN, utc(2026, 6, 1, 4, 30), True, id="berlin-start-inclusive"),
        pytest.param(OFFICE_BERLIN, utc(2026, 6, 1, 4, 29, 59, 999999), False, id="berlin-before-start"),
        pytest.param(OFFICE_BERLIN, utc(2026, 6, 1, 18, 29, 59, 999999), True, id="berlin-before-end"),
        pytest.param(OFFICE_BERLIN, utc(2026, 6, 1, 18, 30), False, id="berlin-end-exclusive"),
        pytest.param(OFFICE_BERLIN, utc(2026, 6, 5, 10), True, id="berlin-friday"),
        pytest.param(OFFICE_BERLIN, utc(2026, 6, 6, 10), False, id="berlin-saturday"),
        pytest.param(OFFICE_BERLIN, datetime(2026, 6, 1, 0, 30, tzinfo=NEW_YORK), True, id="instant-in-other-zone"),
        pytest.param(OFFICE_BERLIN, datetime(2026, 1, 5, 6, 30, tzinfo=BERLIN), True, id="berlin-winter-time"),
        pytest.param(OFFICE_BERLIN, utc(2026, 1, 5, 5, 29), False, id="berlin-winter-before-start"),
        pytest.param(OFFICE_NEW_YORK, utc(2026, 6, 1, 13), True, id="new-york-start"),
        pytest.param(OFFICE_NEW_YORK, utc(2026, 6, 1, 12, 59), False, id="new-york-before-start"),
        pytest.param(OFFICE_NEW_YORK, utc(2026, 6, 1, 21), False, id="new-york-end"),
        pytest.param(OFFICE_NEW_YORK, utc(2026, 6, 6, 14), False, id="new-york-saturday"),
        pytest.param("Mon 09:00-09:30 Asia/Kolkata", utc(2026, 6, 1, 3, 29), False, id="kolkata-before"),
        pytest.param("Mon 09:00-09:30 Asia/Kolkata", utc(2026, 6, 1, 3, 30), True, id="kolkata-start"),
        pytest.param("Mon 09:00-09:30 Asia/Kolkata", utc(2026, 6, 1, 3, 59), True, id="kolkata-inside"),
        pytest.param("Mon 09:00-09:30 Asia/Kolkata", utc(2026, 6, 1, 4, 0), False, id="kolkata-end"),
        # The weekday is the window's own: Tuesday in Kolkata begins on Monday 18:30 UTC.
        pytest.param("Tue 00:00-01:00 Asia/Kolkata", utc(2026, 6, 1, 18, 30), True, id="kolkata-weekday-is-local"),
        pytest.param("Tue 00:00-01:00 Asia/Kolkata", utc(2026, 6, 2, 18, 45), False, id="kolkata-next-local-day"),
        pytest.param("Mon 00:00-01:00 Europe/Berlin", utc(2026, 5, 31, 22, 30), True, id="berlin-weekday-is-local"),
        pytest.param("Mon 00:00-01:00 Europe/Berlin", utc(2026, 6, 1, 0, 30), False, id="berlin-not-utc-monday"),
        pytest.param("Mon 09:00-17:00 UTC", utc(2026, 6, 1, 9), True, id="utc"),
        pytest.param("Fri-Mon 10:00-11:00 UTC", utc(2026, 6, 7, 10, 30), True, id="wrapping-sunday"),
        pytest.param("Fri-Mon 10:00-11:00 UTC", utc(2026, 6, 1, 10, 30), True, id="wrapping-monday"),
        pytest.param("Fri-Mon 10:00-11:00 UTC", utc(2026, 6, 2, 10, 30), False, id="wrapping-tuesday"),
        pytest.param("Fri-Mon 10:00-11:00 UTC", utc(2026, 6, 4, 10, 30), False, id="wrapping-thursday"),
        pytest.param("Mon 22:00-06:00 UTC", utc(2026, 6, 1, 22), True, id="crossing-start"),
        pytest.param("Mon 22:00-06:00 UTC", utc(2026, 6, 1, 21, 59), False, id="crossing-before-start"),
        pytest.param("Mon 22:00-06:00 UTC", utc(2026, 6, 2, 5, 59), True, id="crossing-next-morning"),
        pytest.param("Mon 22:00-06:00 UTC", utc(2026, 6, 2, 6), False, id="crossing-end"),
        # Monday morning belongs to Sunday's occurrence, and Sunday is not listed.
        pytest.param("Mon 22:00-06:00 UTC", utc(2026, 6, 1, 5), False, id="crossing-listed-day-morning"),
        pytest.param("Mon 22:00-06:00 UTC", utc(2026, 5, 31, 23), False, id="crossing-previous-day"),
        pytest.param("Sun 22:00-06:00 UTC", utc(2026, 6, 1, 3), True, id="crossing-into-next-week"),
        pytest.param("Sun 22:00-24:00 UTC", utc(2026, 6, 7, 23, 59, 59), True, id="24:00-before"),
        pytest.param("Sun 22:00-24:00 UTC", utc(2026, 6, 8, 0), False, id="24:00-exclusive"),
        pytest.param("Mon 00:00-24:00 UTC", utc(2026, 6, 1, 0), True, id="whole-day-start"),
        pytest.param("Mon 00:00-24:00 UTC", utc(2026, 6, 1, 23, 59, 59, 999999), True, id="whole-day-last"),
        pytest.param("Mon 00:00-24:00 UTC", utc(2026, 6, 2, 0), False, id="whole-day-end"),
        pytest.param(CHRISTMAS, utc(2026, 12, 23, 23), True, id="absolute-start-inclusive"),
        pytest.param(CHRISTMAS, utc(2026, 12, 23, 22, 59, 59), False, id="absolute-before"),
        pytest.param(CHRISTMAS, utc(2026, 12, 26, 22, 59, 59, 999999), True, id="absolute-before-end"),
        pytest.param(CHRISTMAS, utc(2026, 12, 26, 23), False, id="absolute-end-exclusive"),
        pytest.param("2026-06-01T08:00:00-04:00/2026-06-01T09:00:00-04:00", utc(2026, 6, 1, 12), True, id="absolute-negative-offset"),
        pytest.param("always", utc(2026, 6, 1), True, id="always"),
        pytest.param("never", utc(2026, 6, 1), False, id="never"),
    ],
)
def test_contains(text: str, at: datetime, expected: bool) -> None:
    assert parse_window(text).contains(at) is expected


# ---------------------------------------------------------------------------------------------
# Daylight saving time
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day", "start", "end"),
    [
        # Europe/Berlin, spring forward: the clock jumps from 02:00 to 03:00 at 01:00 UTC.
        pytest.param("Sun 02:00-03:00 Europe/Berlin", date(2026, 3, 29), utc(2026, 3, 29, 1), utc(2026, 3, 29, 1), id="berlin-spring-hour-missing-empty"),
        pytest.param("Sun 01:00-02:30 Europe/Berlin", date(2026, 3, 29), utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), id="berlin-spring-end-in-gap"),
        pytest.param("Sun 02:30-04:00 Europe/Berlin", date(2026, 3, 29), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2), id="berlin-spring-start-in-gap"),
        pytest.param("Sat 23:00-02:30 Europe/Berlin", date(2026, 3, 28), utc(2026, 3, 28, 22), utc(2026, 3, 29, 1), id="berlin-spring-crossing-end-in-gap"),
        pytest.param("Sun 00:00-24:00 Europe/Berlin", date(2026, 3, 29), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), id="berlin-spring-day-23h"),
        # Europe/Berlin, fall back: 02:00-03:00 is lived twice, 00:00-02:00 UTC.
        pytest.param("Sun 02:00-03:00 Europe/Berlin", date(2026, 10, 25), utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), id="berlin-fall-hour-twice-2h"),
        pytest.param("Sun 01:00-02:30 Europe/Berlin", date(2026, 10, 25), utc(2026, 10, 24, 23), utc(2026, 10, 25, 0, 30), id="berlin-fall-end-first-pass"),
        pytest.param("Sun 02:30-04:00 Europe/Berlin", date(2026, 10, 25), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3), id="berlin-fall-start-first-pass"),
        pytest.param("Sun 00:00-24:00 Europe/Berlin", date(2026, 10, 25), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), id="berlin-fall-day-25h"),
        # America/New_York, spring forward: 02:00 EST -> 03:00 EDT at 07:00 UTC.
        pytest.param("Sun 02:00-03:00 America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 7), utc(2026, 3, 8, 7), id="new-york-spring-hour-missing-empty"),
        pytest.param("Sun 02:15-02:45 America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 7), utc(2026, 3, 8, 7), id="new-york-spring-inside-gap-empty"),
        pytest.param("Sun 01:00-02:30 America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), id="new-york-spring-end-in-gap"),
        pytest.param("Sun 02:30-04:00 America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8), id="new-york-spring-start-in-gap"),
        pytest.param("Sat 22:00-02:30 America/New_York", date(2026, 3, 7), utc(2026, 3, 8, 3), utc(2026, 3, 8, 7), id="new-york-spring-crossing-end-in-gap"),
        # America/New_York, fall back: 01:00-02:00 is lived twice, 05:00-07:00 UTC.
        pytest.param("Sun 01:00-02:00 America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 5), utc(2026, 11, 1, 7), id="new-york-fall-hour-twice-2h"),
        pytest.param("Sun 00:30-01:30 America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 4, 30), utc(2026, 11, 1, 5, 30), id="new-york-fall-end-first-pass"),
        pytest.param("Sun 01:30-03:00 America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 8), id="new-york-fall-start-first-pass"),
        pytest.param("Sun 00:00-24:00 America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), id="new-york-fall-day-25h"),
        # America/St_Johns fell back across midnight until 2010: Sun 00:01 NDT -> Sat 23:01 NST.
        pytest.param("Sun 00:00-00:30 America/St_Johns", date(2010, 11, 7), utc(2010, 11, 7, 2, 30), utc(2010, 11, 7, 4), id="st-johns-fall-back-across-midnight"),
    ],
)
def test_dst_occurrence_is_one_stretch_of_real_time(text: str, day: date, start: datetime, end: datetime) -> None:
    spec = parse_window(text)
    assert isinstance(spec, WeeklyWindow)
    assert spec.occurrence(day) == (start, end)
    expected = [] if start == end else [(start, end)]
    assert spec.intervals(start - timedelta(hours=1), end + timedelta(hours=1)) == expected


HOUR_AFTER_TWO_BERLIN = "Mon-Sun 02:00-03:00 Europe/Berlin"


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(utc(2026, 3, 28, 1, 30), True, id="day-before-spring-02:30-cet"),
        pytest.param(utc(2026, 3, 29, 0, 59), False, id="spring-01:59-cet"),
        pytest.param(utc(2026, 3, 29, 1, 0), False, id="spring-03:00-cest-just-after-jump"),
        pytest.param(utc(2026, 10, 24, 23, 59), False, id="fall-01:59-cest"),
        pytest.param(utc(2026, 10, 25, 0, 0), True, id="fall-02:00-cest-first-pass"),
        pytest.param(utc(2026, 10, 25, 0, 59), True, id="fall-02:59-cest-first-pass"),
        pytest.param(utc(2026, 10, 25, 1, 0), True, id="fall-02:00-cet-second-pass"),
        pytest.param(utc(2026, 10, 25, 1, 59), True, id="fall-02:59-cet-second-pass"),
        pytest.param(utc(2026, 10, 25, 2, 0), False, id="fall-03:00-cet"),
    ],
)
def test_hour_that_dst_removes_or_repeats(at: datetime, expected: bool) -> None:
    assert windows([HOUR_AFTER_TWO_BERLIN]).is_open(at) is expected


def test_occurrence_found_while_the_clock_shows_the_previous_date_again() -> None:
    # 02:45 UTC reads Saturday 23:16 NST, after the clock had already shown Sunday 00:00 NDT:
    # still inside Sunday's occurrence, which only ends when the clock first reads 00:30.
    assert parse_window("Sun 00:00-00:30 America/St_Johns").contains(utc(2010, 11, 7, 2, 45))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Mon-Sun 22:00-06:00 Europe/Berlin", id="crossing-berlin"),
        pytest.param("Mon-Sun 02:00-03:00 Europe/Berlin", id="dst-hour-berlin"),
        pytest.param("Sat-Sun 00:00-24:00 America/New_York", id="weekend-new-york"),
        pytest.param("Mon,Thu 01:30-01:00 America/New_York", id="almost-a-day-new-york"),
    ],
)
@pytest.mark.parametrize(
    "month", [pytest.param((3, 1), id="march"), pytest.param((10, 15), id="october-november")]
)
def test_occurrences_are_sorted_disjoint_and_touch_the_range(text: str, month: tuple[int, int]) -> None:
    lo = utc(2026, month[0], month[1])
    hi = lo + timedelta(days=31)
    found = parse_window(text).intervals(lo, hi)
    assert found
    for start, end in found:
        assert start < end and start <= hi and end > lo
    for (_, earlier_end), (later_start, _) in zip(found, found[1:]):
        assert earlier_end <= later_start


# ---------------------------------------------------------------------------------------------
# Allowed and blackout windows together
# ---------------------------------------------------------------------------------------------

WEDNESDAY_MORNING_BLACKOUT = "2026-06-03T00:00:00+02:00-2026-06-03T12:00:00+02:00"


@pytest.mark.parametrize(
    ("subject", "at", "expected"),
    [
        pytest.param(windows(), utc(2026, 6, 6, 3), True, id="no-allowed-list-open"),
        pytest.param(windows([]), utc(2026, 6, 1, 10), False, id="empty-allowed-list-closed"),
        pytest.param(windows([OFFICE_BERLIN]), utc(2026, 6, 1, 10), True, id="allowed-inside"),
        pytest.param(windows([OFFICE_BERLIN]), utc(2026, 6, 6, 10), False, id="allowed-outside"),
        pytest.param(windows([OFFICE_BERLIN, "Sat 10:00-12:00 UTC"]), utc(2026, 6, 6, 11), True, id="any-allowed"),
        pytest.param(windows(None, ("Sat-Sun 00:00-24:00 UTC",)), utc(2026, 6, 6, 11), False, id="blackout-only-inside"),
        pytest.param(windows(None, ("Sat-Sun 00:00-24:00 UTC",)), utc(2026, 6, 5, 11), True, id="blackout-only-outside"),
        pytest.param(windows([OFFICE_BERLIN], (WEDNESDAY_MORNING_BLACKOUT,)), utc(2026, 6, 3, 8), False, id="blackout-wins"),
        pytest.param(windows([OFFICE_BERLIN], (WEDNESDAY_MORNING_BLACKOUT,)), utc(2026, 6, 3, 10), True, id="blackout-end-exclusive"),
        pytest.param(windows([OFFICE_BERLIN], (CHRISTMAS, "Sat-Sun 00:00-24:00 UTC")), utc(2026, 12, 25, 10), False, id="any-blackout"),
        pytest.param(windows(["always"], ("always",)), utc(2026, 6, 1), False, id="always-blacked-out"),
        pytest.param(windows(["never"]), utc(2026, 6, 1), False, id="never-allowed"),
    ],
)
def test_is_open(subject: Windows, at: datetime, expected: bool) -> None:
    assert subject.is_open(at) is expected


@pytest.mark.parametrize(
    ("subject", "after", "expected"),
    [
        pytest.param(windows([OFFICE_BERLIN]), utc(2026, 6, 1, 10), utc(2026, 6, 1, 10), id="open-now"),
        pytest.param(windows([OFFICE_BERLIN]), utc(2026, 6, 1, 3), utc(2026, 6, 1, 4, 30), id="later-today"),
        pytest.param(windows([OFFICE_BERLIN]), utc(2026, 6, 1, 18, 30), utc(2026, 6, 2, 4, 30), id="at-close-tomorrow"),
        pytest.param(windows([OFFICE_BERLIN]), utc(2026, 6, 5, 19), utc(2026, 6, 8, 4, 30), id="across-weekend"),
        pytest.param(windows([OFFICE_BERLIN]), utc(2026, 3, 27, 20), utc(2026, 3, 30, 4, 30), id="across-berlin-spring-forward"),
        pytest.param(windows([OFFICE_BERLIN]), utc(2026, 10, 23, 19), utc(2026, 10, 26, 5, 30), id="across-berlin-fall-back"),
        pytest.param(windows([OFFICE_NEW_YORK]), utc(2026, 3, 6, 23), utc(2026, 3, 9, 13), id="across-new-york-spring-forward"),
        pytest.param(windows([OFFICE_NEW_YORK]), utc(2026, 10, 30, 22), utc(2026, 11, 2, 14), id="across-new-york-fall-back"),
        pytest.param(windows(["Sun 02:30-04:00 Europe/Berlin"]), utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), id="opens-at-the-jump"),
        pytest.param(windows([HOUR_AFTER_TWO_BERLIN]), utc(2026, 3, 28, 2), utc(2026, 3, 30, 0), id="skips-the-missing-hour"),
        pytest.param(windows(["Mon 22:00-06:00 UTC"]), utc(2026, 6, 2, 3), utc(2026, 6, 2, 3), id="open-in-crossing-window"),
        pytest.param(windows(["Mon 22:00-06:00 UTC"]), utc(2026, 6, 2, 6), utc(2026, 6, 8, 22), id="crossing-next-week"),
        pytest.param(windows([OFFICE_BERLIN], (WEDNESDAY_MORNING_BLACKOUT,)), utc(2026, 6, 3, 6), utc(2026, 6, 3, 10), id="blackout-ends-inside-allowed"),
        pytest.param(
            windows([OFFICE_BERLIN], ("2026-06-03T00:00:00+02:00-2026-06-03T22:00:00+02:00",)),
            utc(2026, 6, 3, 6),
            utc(2026, 6, 4, 4, 30),
            id="blackout-ends-outside-allowed",
        ),
        pytest.param(
            windows([OFFICE_BERLIN], (WEDNESDAY_MORNING_BLACKOUT, "2026-06-03T12:00:00+02:00-2026-06-03T15:00:00+02:00")),
            utc(2026, 6, 3, 6),
            utc(2026, 6, 3, 13),
            id="touching-blackouts",
        ),
        pytest.param(
            windows([OFFICE_BERLIN], (WEDNESDAY_MORNING_BLACKOUT, "2026-06-03T11:00:00+02:00-2026-06-03T14:00:00+02:00")),
            utc(2026, 6, 3, 6),
            utc(2026, 6, 3, 12),
            id="overlapping-blackouts",
        ),
        pytest.param(
            windows([OFFICE_BERLIN], ("2026-12-24T00:00:00+01:00-2027-01-04T00:00:00+01:00",)),
            utc(2026, 12, 23, 21),
            utc(2027, 1, 4, 5, 30),
            id="holiday-freeze",
        ),
        pytest.param(windows(None, ("Sat-Sun 00:00-24:00 UTC",)), utc(2026, 6, 6, 12), utc(2026, 6, 8), id="weekly-blackout"),
        pytest.param(windows(["Mon-Sun 00:00-24:00 UTC"], ("Mon-Fri 22:00-06:00 UTC",)), utc(2026, 6, 1, 23), utc(2026, 6, 2, 6), id="crossing-blackout"),
        pytest.param(windows(None, (CHRISTMAS,)), utc(2026, 12, 25), utc(2026, 12, 26, 23), id="absolute-blackout"),
        pytest.param(windows(), utc(2026, 6, 1), utc(2026, 6, 1), id="unrestricted"),
        pytest.param(windows(["never"]), utc(2026, 6, 1), None, id="never"),
        pytest.param(windows([]), utc(2026, 6, 1), None, id="empty-allowed-list"),
        pytest.param(windows([OFFICE_BERLIN], ("always",)), utc(2026, 6, 1), None, id="blacked-out-always"),
        pytest.param(windows([CHRISTMAS]), utc(2027, 1, 1), None, id="absolute-in-the-past"),
        pytest.param(
            windows(["2028-01-01T00:00:00Z-2028-01-02T00:00:00Z"]), utc(2026, 6, 1), None, id="beyond-default-horizon"
        ),
    ],
)
def test_next_open(subject: Windows, after: datetime, expected: datetime | None) -> None:
    assert subject.next_open(after) == expected
    if expected is not None:
        assert subject.is_open(expected)


def test_next_open_horizon_includes_its_last_instant() -> None:
    subject = windows(["2026-06-02T00:00:00Z-2026-06-03T00:00:00Z"])
    after = utc(2026, 6, 1)
    assert subject.next_open(after, horizon=timedelta(days=1)) == utc(2026, 6, 2)
    assert subject.next_open(after, horizon=timedelta(days=1) - timedelta(microseconds=1)) is None
    assert subject.next_open(after, horizon=timedelta(days=800)) == utc(2026, 6, 2)


def test_next_open_with_zero_horizon_only_looks_at_now() -> None:
    subject = windows([OFFICE_BERLIN])
    assert subject.next_open(utc(2026, 6, 1, 10), horizon=timedelta(0)) == utc(2026, 6, 1, 10)
    assert subject.next_open(utc(2026, 6, 1, 3), horizon=timedelta(0)) is None


@pytest.mark.parametrize(
    ("days_ahead", "horizon_days"),
    [
        pytest.param(7, 7, id="at-the-end-of-a-short-horizon"),
        pytest.param(8, 400, id="at-the-end-of-the-first-look"),
        pytest.param(9, 400, id="just-past-the-first-look"),
        pytest.param(399, 400, id="late-in-the-horizon"),
    ],
)
def test_next_open_finds_windows_anywhere_in_the_horizon(days_ahead: int, horizon_days: int) -> None:
    opens = utc(2026, 6, 1) + timedelta(days=days_ahead)
    subject = windows([f"{opens.isoformat()}-{(opens + timedelta(hours=1)).isoformat()}"])
    assert subject.next_open(utc(2026, 6, 1), horizon=timedelta(days=horizon_days)) == opens


def test_next_open_far_window_needs_a_longer_horizon() -> None:
    subject = windows(["2028-01-01T00:00:00Z-2028-01-02T00:00:00Z"])
    assert subject.next_open(utc(2026, 6, 1), horizon=timedelta(days=800)) == utc(2028, 1, 1)


def test_next_open_answers_in_the_zone_it_was_asked_in() -> None:
    found = windows([OFFICE_BERLIN]).next_open(datetime(2026, 6, 5, 21, tzinfo=BERLIN))
    assert found == datetime(2026, 6, 8, 6, 30, tzinfo=BERLIN)
    assert found is not None and found.tzinfo is BERLIN


def test_intersect_applies_global_windows_on_top_of_a_rule() -> None:
    rule = windows([OFFICE_BERLIN])
    global_ = windows(["Mon-Sun 08:00-18:00 UTC"], (CHRISTMAS,))
    both = rule.intersect(global_)
    assert both.next_open(utc(2026, 6, 1, 3)) == utc(2026, 6, 1, 8)
    assert both.is_open(utc(2026, 6, 1, 17, 59)) and not both.is_open(utc(2026, 6, 1, 18))
    assert not both.is_open(utc(2026, 12, 24, 10))
    assert both.next_open(utc(2026, 12, 24, 10)) == utc(2026, 12, 28, 8)
    assert both.blackout == (parse_window(CHRISTMAS),)
    assert len(both.allowed_groups) == 2


def test_intersect_of_disjoint_allowed_windows_never_opens() -> None:
    both = windows(["Mon 06:00-07:00 UTC"]).intersect(windows(["Tue-Sun 00:00-24:00 UTC"]))
    assert both.next_open(utc(2026, 6, 1)) is None
    assert not both.is_open(utc(2026, 6, 1, 6, 30))


def test_intersect_with_an_unrestricted_side_changes_nothing() -> None:
    rule = windows([OFFICE_BERLIN], (CHRISTMAS,))
    combined = rule.intersect(windows())
    assert combined == rule
    assert combined.next_open(utc(2026, 6, 5, 19)) == rule.next_open(utc(2026, 6, 5, 19))


def _brute_force_next_open(subject: Windows, after: datetime, horizon: timedelta) -> datetime | None:
    # Every boundary in these cases is on a whole minute, so stepping by minutes is exact.
    step, at = timedelta(minutes=1), after
    while at <= after + horizon:
        if subject.is_open(at):
            return at
        at += step
    return None


@pytest.mark.parametrize(
    ("subject", "first_after"),
    [
        pytest.param(
            windows([OFFICE_BERLIN], (WEDNESDAY_MORNING_BLACKOUT, "Sat-Sun 00:00-24:00 UTC")),
            utc(2026, 6, 2, 19),
            id="office-with-blackouts",
        ),
        pytest.param(
            windows([HOUR_AFTER_TWO_BERLIN, "Sun 01:00-02:30 Europe/Berlin"]), utc(2026, 3, 28, 12), id="berlin-spring"
        ),
        pytest.param(
            windows([HOUR_AFTER_TWO_BERLIN], ("Sun 02:30-02:45 Europe/Berlin",)), utc(2026, 10, 24, 12), id="berlin-fall"
        ),
        pytest.param(
            windows(["Sat 22:00-02:30 America/New_York"], ("Sun 01:00-01:30 America/New_York",)),
            utc(2026, 10, 31, 12),
            id="new-york-fall",
        ),
        pytest.param(
            windows(["Sat-Sun 01:30-03:00 America/New_York"]).intersect(windows(["Mon-Sun 06:00-08:00 UTC"])),
            utc(2026, 3, 7, 0),
            id="new-york-spring-intersected",
        ),
    ],
)
def test_next_open_agrees_with_stepping_minute_by_minute(subject: Windows, first_after: datetime) -> None:
    horizon = timedelta(days=2)
    for hours in range(0, 40, 3):
        after = first_after + timedelta(hours=hours, minutes=7 * hours)
        assert subject.next_open(after, horizon) == _brute_force_next_open(subject, after, horizon), after


def test_windows_describe_for_logs() -> None:
    assert str(windows()) == "allowed: always; blackout: none"
    assert str(windows([])) == "allowed: never; blackout: none"
    assert (
        windows([OFFICE_BERLIN, "sat 10:00-12:00 UTC"], (CHRISTMAS,)).describe()
        == f"allowed: {OFFICE_BERLIN} | Sat 10:00-12:00 UTC; blackout: {CHRISTMAS}"
    )
    combined = windows([OFFICE_BERLIN]).intersect(windows(["always"], ("never",)))
    assert combined.describe() == f"allowed: ({OFFICE_BERLIN}) and (always); blackout: never"
    assert repr(windows()) == "Windows('allowed: always; blackout: none')"


def test_windows_are_values() -> None:
    assert windows([OFFICE_BERLIN], (CHRISTMAS,)) == windows([OFFICE_BERLIN], (CHRISTMAS,))
    assert hash(windows([OFFICE_BERLIN])) == hash(windows([OFFICE_BERLIN]))
    assert windows([OFFICE_BERLIN]) != windows()
    assert windows() != windows([])
    assert windows() != "allowed: always; blackout: none"


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

WEEKLY_HINT = "for example 'Mon-Fri 06:30-20:30 Europe/Berlin'"
ABSOLUTE_HINT = f"for example '{CHRISTMAS}'"
ANY_HINT = f"for example 'Mon-Fri 06:30-20:30 Europe/Berlin', '{CHRISTMAS}', 'always' or 'never'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", f"invalid window '': it is empty; {ANY_HINT}", id="empty"),
        pytest.param("   ", f"invalid window '   ': it is empty; {ANY_HINT}", id="blank"),
        pytest.param("sometimes", f"invalid window 'sometimes': it is not '<weekdays> <HH:MM>-<HH:MM> <time zone>'; {ANY_HINT}", id="unrecognised"),
        pytest.param("Mon-Fri Europe/Berlin", f"invalid window 'Mon-Fri Europe/Berlin': it is not '<weekdays> <HH:MM>-<HH:MM> <time zone>'; {ANY_HINT}", id="no-times"),
        pytest.param(
            "Mon-Fri 06:30-20:30 Europe/Berlin, Sat 10:00-12:00 Europe/Berlin",
            "invalid window 'Mon-Fri 06:30-20:30 Europe/Berlin, Sat 10:00-12:00 Europe/Berlin': "
            f"it holds several windows; give each its own list item; {ANY_HINT}",
            id="comma-joined-weekly",
        ),
        pytest.param(
            f"{CHRISTMAS},{CHRISTMAS}",
            f"invalid window '{CHRISTMAS},{CHRISTMAS}': it holds several windows; give each its own list item; {ANY_HINT}",
            id="comma-joined-absolute",
        ),
        pytest.param("06:30-20:30 Europe/Berlin", f"invalid window '06:30-20:30 Europe/Berlin': it has no weekdays before the times; {WEEKLY_HINT}", id="no-weekdays"),
        pytest.param("Mon-Fri 06:30-20:30", f"invalid window 'Mon-Fri 06:30-20:30': it has no time zone after the times; {WEEKLY_HINT}", id="no-zone"),
        pytest.param(
            "Mon-Fri 06:30-20:30 Europe/Berlin now",
            f"invalid window 'Mon-Fri 06:30-20:30 Europe/Berlin now': 'Europe/Berlin now' is not one time zone name; {WEEKLY_HINT}",
            id="two-zones",
        ),
        pytest.param(
            "Mnd-Fri 06:30-20:30 Europe/Berlin",
            f"invalid window 'Mnd-Fri 06:30-20:30 Europe/Berlin': unknown weekday 'Mnd' (use Mon, Tue, Wed, Thu, Fri, Sat or Sun); {WEEKLY_HINT}",
            id="unknown-weekday",
        ),
        pytest.param(
            "Monday 06:30-20:30 UTC",
            f"invalid window 'Monday 06:30-20:30 UTC': unknown weekday 'Monday' (use Mon, Tue, Wed, Thu, Fri, Sat or Sun); {WEEKLY_HINT}",
            id="full-weekday-name",
        ),
        pytest.param(
            "Mon,,Fri 06:30-20:30 UTC",
            f"invalid window 'Mon,,Fri 06:30-20:30 UTC': a weekday is missing (an empty item between ',' or '-'); {WEEKLY_HINT}",
            id="empty-list-item",
        ),
        pytest.param(
            "Mon- 06:30-20:30 UTC",
            f"invalid window 'Mon- 06:30-20:30 UTC': a weekday is missing (an empty item between ',' or '-'); {WEEKLY_HINT}",
            id="open-range",
        ),
        pytest.param(
            "Mon-Wed-Fri 06:30-20:30 UTC",
            f"invalid window 'Mon-Wed-Fri 06:30-20:30 UTC': 'Mon-Wed-Fri' is not a day or a day range like Mon-Fri; {WEEKLY_HINT}",
            id="three-part-range",
        ),
        pytest.param(
            "Mon-Fri 6:30-20:30 UTC",
            f"invalid window 'Mon-Fri 6:30-20:30 UTC': '6:30-20:30' is not a time range HH:MM-HH:MM (24-hour clock); {WEEKLY_HINT}",
            id="one-digit-hour",
        ),
        pytest.param(
            "Mon-Fri 06:30 UTC",
            f"invalid window 'Mon-Fri 06:30 UTC': '06:30' is not a time range HH:MM-HH:MM (24-hour clock); {WEEKLY_HINT}",
            id="one-time",
        ),
        pytest.param(
            "Mon-Fri 06:30 - 20:30 UTC",
            f"invalid window 'Mon-Fri 06:30 - 20:30 UTC': '06:30' is not a time range HH:MM-HH:MM (24-hour clock); {WEEKLY_HINT}",
            id="spaces-in-time-range",
        ),
        pytest.param(
            "Mon 25:00-26:00 UTC",
            f"invalid window 'Mon 25:00-26:00 UTC': '25:00' is not a time of day (00:00 to 24:00); {WEEKLY_HINT}",
            id="hour-25",
        ),
        pytest.param(
            "Mon 06:60-07:00 UTC",
            f"invalid window 'Mon 06:60-07:00 UTC': '06:60' is not a time of day (00:00 to 24:00); {WEEKLY_HINT}",
            id="minute-60",
        ),
        pytest.param(
            "Mon 22:00-24:30 UTC",
            f"invalid window 'Mon 22:00-24:30 UTC': '24:30' is not a time of day (00:00 to 24:00); {WEEKLY_HINT}",
            id="after-24:00",
        ),
        pytest.param(
            "Mon 24:00-06:00 UTC",
            f"invalid window 'Mon 24:00-06:00 UTC': it starts at 24:00 (a start is 00:00 to 23:59); {WEEKLY_HINT}",
            id="starts-at-24:00",
        ),
        pytest.param(
            "Mon 10:00-10:00 UTC",
            f"invalid window 'Mon 10:00-10:00 UTC': start and end are both 10:00; for a whole day write 00:00-24:00; {WEEKLY_HINT}",
            id="start-equals-end",
        ),
        pytest.param(
            "Mon 00:00-00:00 UTC",
            f"invalid window 'Mon 00:00-00:00 UTC': start and end are both 00:00; for a whole day write 00:00-24:00; {WEEKLY_HINT}",
            id="midnight-to-midnight",
        ),
        pytest.param(
            "Mon-Fri 06:30-20:30 europe/berlin",
            f"invalid window 'Mon-Fri 06:30-20:30 europe/berlin': unknown time zone 'europe/berlin' (did you mean Europe/Berlin?); {WEEKLY_HINT}",
            id="zone-wrong-case",
        ),
        pytest.param(
            "Mon-Fri 06:30-20:30 Mars/Olympus",
            f"invalid window 'Mon-Fri 06:30-20:30 Mars/Olympus': unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin or UTC); {WEEKLY_HINT}",
            id="unknown-zone",
        ),
        pytest.param(
            "Mon-Fri 06:30-20:30 Europe",
            f"invalid window 'Mon-Fri 06:30-20:30 Europe': unknown time zone 'Europe' (use an IANA name such as Europe/Berlin or UTC); {WEEKLY_HINT}",
            id="zone-directory",
        ),
        pytest.param(
            "Mon-Fri 06:30-20:30 ../etc/passwd",
            f"invalid window 'Mon-Fri 06:30-20:30 ../etc/passwd': unknown time zone '../etc/passwd' (use an IANA name such as Europe/Berlin or UTC); {WEEKLY_HINT}",
            id="zone-path",
        ),
        pytest.param(
            "Mon-Fri 06:30-20:30 +01:00",
            f"invalid window 'Mon-Fri 06:30-20:30 +01:00': unknown time zone '+01:00' (use an IANA name such as Europe/Berlin or UTC); {WEEKLY_HINT}",
            id="zone-offset",
        ),
        pytest.param(
            "2026-12-24T00:00:00+01:00",
            "invalid window '2026-12-24T00:00:00+01:00': it is not an ISO-8601 range <start>-<end>; " + ABSOLUTE_HINT,
            id="absolute-one-instant",
        ),
        pytest.param(
            "2026-12-24-2026-12-27",
            "invalid window '2026-12-24-2026-12-27': it is not an ISO-8601 range <start>-<end>; " + ABSOLUTE_HINT,
            id="absolute-dates-only",
        ),
        pytest.param(
            "2026-12-24T00:00:00-2026-12-27T00:00:00+01:00",
            "invalid window '2026-12-24T00:00:00-2026-12-27T00:00:00+01:00': "
            "'2026-12-24T00:00:00' has no UTC offset (add one such as +01:00 or Z); " + ABSOLUTE_HINT,
            id="absolute-start-without-offset",
        ),
        pytest.param(
            "2026-12-24T00:00:00+01:00-2026-12-27T00:00:00",
            "invalid window '2026-12-24T00:00:00+01:00-2026-12-27T00:00:00': "
            "'2026-12-27T00:00:00' has no UTC offset (add one such as +01:00 or Z); " + ABSOLUTE_HINT,
            id="absolute-end-without-offset",
        ),
        pytest.param(
            "2026-02-30T00:00:00Z-2026-03-01T00:00:00Z",
            "invalid window '2026-02-30T00:00:00Z-2026-03-01T00:00:00Z': "
            "'2026-02-30T00:00:00Z' is not a valid date and time; " + ABSOLUTE_HINT,
            id="absolute-no-such-date",
        ),
        pytest.param(
            "2026-12-27T00:00:00+01:00-2026-12-24T00:00:00+01:00",
            "invalid window '2026-12-27T00:00:00+01:00-2026-12-24T00:00:00+01:00': "
            "it ends at 2026-12-24T00:00:00+01:00, not after its start 2026-12-27T00:00:00+01:00; " + ABSOLUTE_HINT,
            id="absolute-reversed",
        ),
        pytest.param(
            "2026-12-24T01:00:00+01:00-2026-12-24T00:00:00Z",
            "invalid window '2026-12-24T01:00:00+01:00-2026-12-24T00:00:00Z': "
            "it ends at 2026-12-24T00:00:00+00:00, not after its start 2026-12-24T01:00:00+01:00; " + ABSOLUTE_HINT,
            id="absolute-empty-across-offsets",
        ),
    ],
)
def test_error_messages_quote_the_window_and_show_the_right_form(text: str, message: str) -> None:
    with pytest.raises(WindowError) as caught:
        parse_window(text)
    assert str(caught.value) == message
    assert caught.value.text == text
    assert isinstance(caught.value, ValueError)  # so config validation reports it like any other


def test_a_window_that_is_not_text_is_rejected() -> None:
    with pytest.raises(WindowError) as caught:
        parse_window(5)  # type: ignore[arg-type]
    assert str(caught.value) == f"invalid window '5': a window must be text, got int; {ANY_HINT}"


NAIVE = datetime(2026, 6, 1, 12)
NAIVE_MESSAGE = "must be a timezone-aware datetime, got naive 2026-06-01T12:00:00"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: parse_window(OFFICE_BERLIN).contains(NAIVE), id="weekly-contains"),
        pytest.param(lambda: parse_window(CHRISTMAS).contains(NAIVE), id="absolute-contains"),
        pytest.param(lambda: parse_window("always").contains(NAIVE), id="always-contains"),
        pytest.param(lambda: parse_window("never").intervals(NAIVE, utc(2026, 6, 2)), id="never-intervals"),
        pytest.param(lambda: parse_window(OFFICE_BERLIN).intervals(utc(2026, 6, 1), NAIVE), id="weekly-intervals"),
        pytest.param(lambda: windows().is_open(NAIVE), id="is-open"),
        pytest.param(lambda: windows([OFFICE_BERLIN]).next_open(NAIVE), id="next-open"),
        pytest.param(lambda: AbsoluteWindow(NAIVE, utc(2026, 6, 2)), id="absolute-window"),
    ],
)
def test_naive_datetimes_are_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=NAIVE_MESSAGE) as caught:
        call()
    assert "attach a zone" in str(caught.value)
    assert not isinstance(caught.value, WindowError)


@pytest.mark.parametrize(
    ("allowed", "blackout"),
    [
        pytest.param(OFFICE_BERLIN, (), id="allowed-string"),
        pytest.param([OFFICE_BERLIN], (), id="allowed-list-of-strings"),
        pytest.param(None, CHRISTMAS, id="blackout-string"),
    ],
)
def test_windows_take_parsed_specs_only(allowed: object, blackout: object) -> None:
    with pytest.raises(TypeError, match="must be a list of parsed windows"):
        Windows(allowed, blackout)  # type: ignore[arg-type]


def test_negative_horizon_is_rejected() -> None:
    with pytest.raises(ValueError, match="horizon must not be negative"):
        windows().next_open(utc(2026, 6, 1), horizon=timedelta(seconds=-1))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: WeeklyWindow(frozenset(), 0, 60, BERLIN), "days must be a non-empty subset", id="no-days"),
        pytest.param(lambda: WeeklyWindow(frozenset({7}), 0, 60, BERLIN), "days must be a non-empty subset", id="day-7"),
        pytest.param(lambda: WeeklyWindow(frozenset({0}), 1440, 60, BERLIN), "start_minute must be in", id="start-1440"),
        pytest.param(lambda: WeeklyWindow(frozenset({0}), 0, 0, BERLIN), "end_minute must be in", id="end-0"),
        pytest.param(lambda: WeeklyWindow(frozenset({0}), 60, 60, BERLIN), "must differ", id="equal"),
        pytest.param(lambda: AbsoluteWindow(utc(2026, 6, 2), utc(2026, 6, 1)), "must be after start", id="reversed"),
    ],
)
def test_specs_built_directly_are_validated(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_every_spec_kind_is_a_window_spec() -> None:
    for text in (OFFICE_BERLIN, CHRISTMAS, "always", "never"):
        assert isinstance(parse_window(text), WindowSpec)
