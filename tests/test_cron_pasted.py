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
