"""What a schedule rule's 5-field cron means: what Debian's cron would make of the same line
(cronsim computes it, triggers/cron.py), not what APScheduler's CronTrigger made of it. Built by
the config's own validation and the daemon's own trigger (rule_trigger). The DST rules are in
test_scheduler.py; refusals as a user sees them in fixtures/configs/bad/."""

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


def test_l_is_the_last_day_of_each_month() -> None:
    times = fire_times(schedule_rule(cron="0 3 L * *"), NEW_YEAR, 3)
    assert days(times) == ["Sat 2026-01-31", "Sat 2026-02-28", "Tue 2026-03-31"]


@pytest.mark.parametrize(("cron", "field"), [
    ("0 3 lastday * *", "day-of-month"), ("0 3 last * *", "day-of-month"), ("0 3 1 jan- *", "month"),
    ("0 3 1 jan-dec/3x *", "month"), ("0 3 * * mon-fri/x", "day-of-week"), ("0 3 1 jan,,feb *", "month"),
    ("0 3 ? * mon", "day-of-month"), ("0 3 1 nov-feb *", "month"), ("0 24 * * *", "hour"), ("0 3 0 * *", "day-of-month"),
    ("61 3 * * *", "minute"), ("0 3 1 */0 *", "month"), ("0 3 * * 8", "day-of-week"),
])
def test_a_field_not_read_whole_is_refused_naming_it(cron: str, field: str) -> None:
    # APScheduler ran what it had read of a part and ignored the rest: `lastday` as `last`,
    # `jan-` as `jan`, `jan-dec/3x` every month, `mon-fri/x` as `mon-fri`.
    with pytest.raises(ValueError, match=re.escape(f"bad cron expression '{cron}': Bad {field}")):
        schedule_rule(cron=cron)


def test_a_day_and_a_weekday_fire_on_either_as_cron_does() -> None:
    # APScheduler fired only on the Mondays that are the 1st (the next: 1 June 2026).
    times = fire_times(schedule_rule(cron="0 3 1 * mon"), NEW_YEAR, 6)
    assert days(times) == ["Mon 2026-01-05", "Mon 2026-01-12", "Mon 2026-01-19", "Mon 2026-01-26",
                           "Sun 2026-02-01", "Mon 2026-02-02"]
    # ...and only on Friday the 13th (the next: 13 February 2026).
    times = fire_times(schedule_rule(cron="0 3 13 * fri"), NEW_YEAR, 4)
    assert days(times) == ["Fri 2026-01-02", "Fri 2026-01-09", "Tue 2026-01-13", "Fri 2026-01-16"]


def test_a_day_and_a_weekday_in_named_months_fire_on_either_in_those_months() -> None:
    # 31 February never comes, so this is every Sunday in February.
    times = fire_times(schedule_rule(cron="0 0 31 feb sun"), NEW_YEAR, 5)
    assert days(times) == ["Sun 2026-02-01", "Sun 2026-02-08", "Sun 2026-02-15", "Sun 2026-02-22", "Sun 2027-02-07"]


def test_a_day_or_weekday_starting_with_a_star_narrows_the_other_as_debians_cron_does() -> None:
    assert days(fire_times(schedule_rule(cron="0 3 * * mon"), NEW_YEAR, 2)) == ["Mon 2026-01-05", "Mon 2026-01-12"]
    assert days(fire_times(schedule_rule(cron="0 3 */10 * *"), NEW_YEAR, 3)) == ["Sun 2026-01-11", "Wed 2026-01-21",
                                                                                  "Sat 2026-01-31"]
    # `*/2` next to a weekday: the days that match both (odd-numbered Mondays), as Debian's cron;
    # written as a range, the days that match either.
    assert days(fire_times(schedule_rule(cron="0 3 */2 * mon"), NEW_YEAR, 3)) == ["Mon 2026-01-05", "Mon 2026-01-19",
                                                                                   "Mon 2026-02-09"]
    times = fire_times(schedule_rule(cron="0 3 1-31/2 * mon"), NEW_YEAR, 6)
    assert days(times) == ["Sat 2026-01-03", "Mon 2026-01-05", "Wed 2026-01-07", "Fri 2026-01-09", "Sun 2026-01-11",
                           "Mon 2026-01-12"]


def test_the_nth_weekday_of_a_month() -> None:
    assert days(fire_times(schedule_rule(cron="0 3 * * mon#2"), NEW_YEAR, 3)) == ["Mon 2026-01-12", "Mon 2026-02-09",
                                                                                   "Mon 2026-03-09"]


@pytest.mark.parametrize(("cron", "said"), [
    ("@daily", "got 1 field(s) in '@daily': write '0 0 * * *'"), ("@hourly", "in '@hourly': write '0 * * * *'"),
    ("@reboot", "got 1 field(s) in '@reboot'"), ("0 0 3 * * ?", "got 6 field(s) in '0 0 3 * * ?'"),
])
def test_a_cron_of_another_length_is_refused_quoting_it_and_a_macro_with_its_five_fields(cron: str, said: str) -> None:
    # The refusal said "got 1 field(s)" without the value, and nothing of what @daily stands for.
    with pytest.raises(ValueError, match=re.escape(said)):
        schedule_rule(cron=cron)


def test_jitter_shorter_than_the_crons_gap_keeps_every_run() -> None:
    # The next run is the cron's first time after the previous, jittered, one: with 30 minutes of
    # jitter `*/5` ran 17 times in 6 hours (now refused, fixtures/configs/bad/jitter-longer-than-
    # the-crons-gap.yaml); under its 5 minutes it runs all 72.
    from datetime import timedelta

    from watchdog.triggers.cron import CronScheduleTrigger

    trigger = CronScheduleTrigger("*/5 * * * *", "UTC", jitter=299)
    end = NEW_YEAR + timedelta(hours=6)
    previous, now, runs = None, NEW_YEAR, 0
    while (fire := trigger.get_next_fire_time(previous, now)) is not None and fire <= end:
        runs, previous, now = runs + 1, fire, fire
    assert runs in (71, 72)  # the last may be jittered past the end


@pytest.mark.parametrize(("cron", "zone"), [("0 1,3,13,15 * * *", "Europe/Berlin"), ("0 1,3,13,15 * * *", "America/New_York"),
                                            ("0 1,3,13,15 * * *", "Australia/Sydney")])
def test_a_jitter_longer_than_the_crons_gap_across_a_dst_change_is_refused(cron: str, zone: str) -> None:
    # Its gap was measured on its first 200 runs from 2000-01-01, 50 days of four runs a day, before
    # the spring change, where 01:00 CET and 03:00 CEST are an hour apart, not two: jitter: 80m was
    # accepted, and on that night the 01:00 run jittered past 03:00 CEST made the cron skip that
    # run (three runs that day, no missed run said).
    with pytest.raises(ValueError, match=re.escape("jitter (4800s) must be shorter than the shortest time between two "
                                                   "of the cron's runs (3600s)")):
        schedule_rule(cron=cron, timezone=zone, jitter="80m")
    schedule_rule(cron=cron, timezone=zone, jitter="59m")


@pytest.mark.parametrize(("cron", "zone"), [("0 2,4 * * *", "Europe/Vilnius"), ("0 2,4 * * *", "Europe/Riga"),
                                            ("0 2,4 * * *", "Europe/Tallinn"), ("0 1,3 * * *", "America/Indiana/Indianapolis"),
                                            ("0 1,3 * * *", "Africa/Casablanca")])
def test_the_dst_changes_checked_are_those_of_the_coming_years_not_2000s(cron: str, zone: str) -> None:
    # The offset changes were those of the year 2000, when these zones had none (or others): a
    # 90-minute jitter was accepted, and on the spring night of 2027 (02:00 EET and 04:00 EEST in
    # Vilnius, an hour apart) the first run jittered past the second made the cron skip it.
    with pytest.raises(ValueError, match=re.escape("jitter (5400s) must be shorter than the shortest time between two "
                                                   "of the cron's runs (3600s)")):
        schedule_rule(cron=cron, timezone=zone, jitter="90m")
    schedule_rule(cron=cron, timezone=zone, jitter="59m")


def test_a_jittered_daily_cron_is_checked_from_the_runs_around_the_dst_changes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each jittered (cron, zone) cost ~14 ms of cronsim runs (its first 200 and a day's around each
    # change): 1,000 such rules took 8-11 s to check and ~9 s to reload, where the docs say about
    # half a second. Away from a change the runs are as far apart in real time as on the clock,
    # which the cron's minute and hour fields tell: only the runs around the changes need cronsim.
    from cronsim import CronSim

    from watchdog.config import rules

    computed = []

    class Counted(CronSim):
        def __next__(self) -> datetime:
            computed.append(1)
            return super().__next__()

    monkeypatch.setattr(rules, "CronSim", Counted)
    schedule_rule(cron="17 3 * * *", timezone="Europe/Berlin", jitter="30s")
    assert len(computed) <= 40  # 6 changes in 3 years, a few runs each
    computed.clear()
    with pytest.raises(ValueError, match=re.escape("(3600s)")):  # the spring night still counts
        schedule_rule(cron="0 1,3 * * *", timezone="Europe/Berlin", jitter="61m")


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Australia/Lord_Howe", "Antarctica/Troll", "America/Santiago", "UTC"])
def test_the_quick_jitter_check_decides_as_the_full_count_of_gaps(zone: str) -> None:
    # The quick check (the clock's gap from the fields, cronsim around the changes) must refuse and
    # accept what the full count of the gaps (the first 200 runs and those around each change) does.
    from watchdog.config.rules import _jitter_gap_too_short, _shortest_gap

    crons = ["0 1,3 * * *", "30 1,2 * * *", "0 * * * *", "*/20 * * * *", "0 0,23 * * *", "30 2 * * *",
             "0 2,3 * * sun", "15 1-4 * * *", "0 3 * * mon", "0 22,2 * * *"]
    for cron in crons:
        shortest = _shortest_gap(cron, zone, 2027)
        for jitter in (60.0, 1799.0, 1800.0, 3599.0, 3600.0, 5400.0, 7199.0, 7200.0, 10800.0):
            said = _jitter_gap_too_short(cron, zone, jitter, 2027)
            assert (said is not None) == (jitter >= shortest), (cron, jitter, shortest, said)
            if said is not None:
                assert said == shortest
