"""What a schedule rule's 5-field cron means, as a user pasting a crontab line expects it: each
field read whole (or the config refused, naming the field and the part), and a day with a weekday
firing on either. Built by the config's own validation and the daemon's own trigger (rule_trigger).
The DST rules are in test_scheduler.py; refusals as a user sees them in fixtures/configs/bad/."""

import re
from datetime import datetime, timezone

import pytest

from .schedules import days, fire_times, schedule_rule

NEW_YEAR = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)  # a Thursday, after 03:00


def test_a_step_on_month_names_fires_in_those_months_only() -> None:
    # APScheduler read `jan-dec/3` as `jan-dec` and fired every month.
    times = fire_times(schedule_rule(cron="0 3 1 jan-dec/3 *"), NEW_YEAR, 4)
    assert days(times) == ["Wed 2026-04-01", "Wed 2026-07-01", "Thu 2026-10-01", "Fri 2027-01-01"]
    assert fire_times(schedule_rule(cron="0 3 1 */3 *"), NEW_YEAR, 4) == times  # the same in numbers
    assert fire_times(schedule_rule(cron="0 3 1 JAN-Dec/3 *"), NEW_YEAR, 4) == times  # names in any case


def test_last_is_the_last_day_of_each_month() -> None:
    times = fire_times(schedule_rule(cron="0 3 last * *"), NEW_YEAR, 3)
    assert days(times) == ["Sat 2026-01-31", "Sat 2026-02-28", "Tue 2026-03-31"]


@pytest.mark.parametrize("cron", ["0 3 lastday * *", "0 3 last-1 * *", "0 3 1 jan- *", "0 3 1 jan-dec/3x *",
                                  "0 3 * * mon-fri/x", "0 3 1 jan,,feb *", "0 3 L * *", "0 3 ? * mon"])
def test_a_field_read_only_in_part_is_refused(cron: str) -> None:
    with pytest.raises(ValueError, match=r"bad cron expression .*(is not understood|has an empty item)"):
        schedule_rule(cron=cron)


def test_a_day_and_a_weekday_fire_on_either_as_crontab_does() -> None:
    # APScheduler fired only on the Mondays that are the 1st (the next: 1 June 2026).
    times = fire_times(schedule_rule(cron="0 3 1 * mon"), NEW_YEAR, 6)
    assert days(times) == ["Mon 2026-01-05", "Mon 2026-01-12", "Mon 2026-01-19", "Mon 2026-01-26",
                           "Sun 2026-02-01", "Mon 2026-02-02"]
    # ...and only on Friday the 13th (the next: 13 February 2026).
    times = fire_times(schedule_rule(cron="0 3 13 * fri"), NEW_YEAR, 4)
    assert days(times) == ["Fri 2026-01-02", "Fri 2026-01-09", "Tue 2026-01-13", "Fri 2026-01-16"]


def test_a_day_and_a_weekday_in_named_months_fire_on_either_in_those_months() -> None:
    # 31 February never comes, so this is every Sunday in February (once refused as never firing).
    times = fire_times(schedule_rule(cron="0 0 31 feb sun"), NEW_YEAR, 5)
    assert days(times) == ["Sun 2026-02-01", "Sun 2026-02-08", "Sun 2026-02-15", "Sun 2026-02-22", "Sun 2027-02-07"]


def test_a_star_day_or_weekday_leaves_the_other_alone_to_decide() -> None:
    assert days(fire_times(schedule_rule(cron="0 3 * * mon"), NEW_YEAR, 2)) == ["Mon 2026-01-05", "Mon 2026-01-12"]
    assert days(fire_times(schedule_rule(cron="0 3 */10 * *"), NEW_YEAR, 3)) == ["Sun 2026-01-11", "Wed 2026-01-21",
                                                                                  "Sat 2026-01-31"]


def test_a_day_starting_with_a_star_next_to_a_weekday_is_refused_as_crons_disagree() -> None:
    with pytest.raises(ValueError, match=r"day '\*/2' with weekday 'mon' is ambiguous.*Vixie.*Kubernetes"):
        schedule_rule(cron="0 3 */2 * mon")
    # Without the star it is plain crontab: odd days or Mondays.
    times = fire_times(schedule_rule(cron="0 3 1-31/2 * mon"), NEW_YEAR, 6)
    assert days(times) == ["Sat 2026-01-03", "Mon 2026-01-05", "Wed 2026-01-07", "Fri 2026-01-09", "Sun 2026-01-11",
                           "Mon 2026-01-12"]


def test_a_weekday_range_wraps_through_the_end_of_the_week() -> None:
    # As the maintenance windows' Fri-Mon; sun-thu is a working week in some countries.
    times = fire_times(schedule_rule(cron="0 3 * * fri-mon"), NEW_YEAR, 5)
    assert days(times) == ["Fri 2026-01-02", "Sat 2026-01-03", "Sun 2026-01-04", "Mon 2026-01-05", "Fri 2026-01-09"]
    assert len({t.weekday() for t in fire_times(schedule_rule(cron="0 3 * * sun-sat"), NEW_YEAR, 7)}) == 7


@pytest.mark.parametrize(("cron", "message"), [
    ("0 3 1 nov-feb *", "month 'nov-feb': the range runs backwards"),
    ("0 24 * * *", "hour '24': 24 is out of range (0-23)"),
    ("0 3 0 * *", "day '0': 0 is out of range (1-31)"),
    ("*/60 * * * *", "minute '*/60': a step must be at least 1 and at most the range's length (59)"),
    ("0 3 1 */0 *", "month '*/0': a step must be at least 1"),
])
def test_values_outside_a_field_are_refused_naming_the_field(cron: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"bad cron expression '{cron}': {message}")):
        schedule_rule(cron=cron)
