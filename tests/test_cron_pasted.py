"""Crons pasted from another scheduler (Kubernetes, cronie, Quartz): refused saying what to write
instead, or, for Quartz's last-weekday `5L`, read as documented."""

import re
from datetime import datetime, timezone

import pytest

from .schedules import fire_times, schedule_rule


@pytest.mark.parametrize(("cron", "says"), [
    ("TZ=Europe/Berlin 0 3 * * *", "a TZ= prefix is not read: give the zone as the rule's `timezone: Europe/Berlin`"),
    ("CRON_TZ=America/New_York 0 3 * * *",
     "a CRON_TZ= prefix is not read: give the zone as the rule's `timezone: America/New_York`"),
])
def test_a_cron_with_a_zone_prefix_is_refused_pointing_to_the_rules_timezone(cron: str, says: str) -> None:
    # Before: only "cron needs five fields ...; got 6 field(s)".
    with pytest.raises(ValueError, match=re.escape(says)):
        schedule_rule(cron=cron)


@pytest.mark.parametrize(("cron", "field"), [("0 0 ? * *", "day-of-month"), ("0 0 * * ?", "day-of-week")])
def test_quartz_question_mark_is_refused_saying_to_write_a_star(cron: str, field: str) -> None:
    # Before: "Bad day-of-month (not a day cron reads, or one that none of its months has, such
    # as 30 February)", which sent the reader looking for a day.
    with pytest.raises(ValueError) as refused:
        schedule_rule(cron=cron)
    said = str(refused.value)
    assert f"Bad {field}: `?` is Quartz's \"no specific value\", which cron does not have: write `*`" in said
    assert "30 February" not in said


def test_a_last_weekday_of_the_month_runs_as_the_field_table_says() -> None:
    # `5L`, Quartz's last Friday: accepted, and documented (docs/configuration.md's field table).
    times = fire_times(schedule_rule(cron="0 0 * * 5L"), datetime(2026, 1, 1, tzinfo=timezone.utc), 3)
    assert [t.strftime("%a %Y-%m-%d") for t in times] == ["Fri 2026-01-30", "Fri 2026-02-27", "Fri 2026-03-27"]
    with pytest.raises(ValueError, match="Bad day-of-week"):
        schedule_rule(cron="0 0 * * friL")


def test_the_field_table_documents_the_last_weekday() -> None:
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    assert "`5L` (the month's last Friday, by number only: `friL` is refused)" in doc


@pytest.mark.parametrize(("cron", "days"), [
    ("0 3 * * sat-sun", ["Sat", "Sun"]), ("0 3 * * mon-sun", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    ("0 3 * * fri-sun,mon", ["Mon", "Fri", "Sat", "Sun"]), ("0 3 * * SAT-Sun", ["Sat", "Sun"]),
    ("0 3 * * mon-sun/2", ["Mon", "Wed", "Fri", "Sun"]), ("0 3 * * sun-sun", ["Sun"]),
])
def test_sunday_ending_a_weekday_range_is_its_last_day(cron: str, days: list[str]) -> None:
    # `sun` is 0, so `sat-sun` read as 6-0 ran backwards and was refused with a bare "Bad
    # day-of-week": the weekend cron, and the docs' own `fri-sun,mon`. Read as cronie reads it, 7.
    times = fire_times(schedule_rule(cron=cron), datetime(2026, 1, 5, tzinfo=timezone.utc), 14)  # a Monday
    assert sorted({t.strftime("%a") for t in times}, key=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].index) == days


@pytest.mark.parametrize(("cron", "says"), [
    ("0 3 * * fri-mon", "Bad day-of-week: `fri-mon` runs backwards (a range goes up): write `fri-sun,mon`"),
    ("0 3 * nov-feb *", "Bad month: `nov-feb` runs backwards (a range goes up): write `nov-dec,jan-feb`"),
    ("0 22-2 * * *", "Bad hour: `22-2` runs backwards (a range goes up): write `22-23,0-2`"),
    ("0 3 * * 5-1", "Bad day-of-week: `5-1` runs backwards (a range goes up): write `5-7,1`"),
    # Sunday as 7 starting it: Sunday as 0 does (the verification of 5f003aa saw `7-7,1` offered).
    ("0 3 * * 7-1", "Bad day-of-week: `7-1` runs backwards (a range goes up): write `0-1`"),
])
def test_a_range_running_backwards_is_refused_saying_what_to_write(cron: str, says: str) -> None:
    # Before: a bare "Bad day-of-week" (or month, hour), with no word of why.
    with pytest.raises(ValueError, match=re.escape(says)):
        schedule_rule(cron=cron)
    fixed = says.rsplit("`", 2)[-2]
    fields = cron.split()
    index = {"day-of-week": 4, "month": 3, "hour": 1}[says.split(":")[0].removeprefix("Bad ")]
    fields[index] = fixed
    schedule_rule(cron=" ".join(fields))  # what it says to write is accepted


def test_a_refusal_quotes_the_cron_as_written_and_names_the_field_cronsim_names() -> None:
    with pytest.raises(ValueError, match=re.escape("bad cron expression '0 3 * * sat-sun/x': Bad day-of-week;")):
        schedule_rule(cron="0 3 * * sat-sun/x")
    with pytest.raises(ValueError, match=re.escape("bad cron expression '0 24 * nov-feb *': Bad hour;")):
        schedule_rule(cron="0 24 * nov-feb *")
