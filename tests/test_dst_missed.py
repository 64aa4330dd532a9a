"""A schedule run missed at a start on a DST night is reported as on any other night (and a run
the next one makes up for a minute later is not): due_before measures the gap to the next run in
real time, not on the wall clock."""

from datetime import datetime, timezone

import pytest
from structlog.testing import capture_logs

from watchdog.config import Rule
from watchdog.triggers.cron import CronScheduleTrigger
from watchdog.triggers.scheduler import due_before, run_still_to_come

from .schedules import schedule_rule
from .support import daemon_config, in_process, sim_scenario

UTC = timezone.utc


@pytest.mark.parametrize(("cron", "zone", "now", "missed"), [
    # Fall-back nights: the run an hour (or half an hour) before the repeat, missed a minute
    # before the start; the next run is a real hour (half an hour) later: reported.
    ("0 * * * *", "Europe/Berlin", datetime(2026, 10, 25, 0, 1, tzinfo=UTC), "2026-10-25T02:00:00+02:00"),
    ("*/30 2 * * *", "Europe/Berlin", datetime(2026, 10, 25, 0, 30, 40, tzinfo=UTC), "2026-10-25T02:30:00+02:00"),
    ("0 * * * *", "America/New_York", datetime(2026, 11, 1, 5, 1, tzinfo=UTC), "2026-11-01T01:00:00-04:00"),
    # The control, a week before: the same.
    ("0 * * * *", "Europe/Berlin", datetime(2026, 10, 18, 0, 1, tzinfo=UTC), "2026-10-18T02:00:00+02:00"),
    # Spring forward: 01:58 CET, then 03:00 CEST one real minute later makes up for it: not reported.
    ("0,58 1-3 * * *", "Europe/Berlin", datetime(2026, 3, 29, 0, 59, tzinfo=UTC), None),
])
def test_a_run_missed_just_before_a_start_on_a_dst_night_is_told_by_its_real_gap(
    cron: str, zone: str, now: datetime, missed: str | None
) -> None:
    due = due_before(CronScheduleTrigger(cron, zone), now)
    assert (due.isoformat() if due is not None else None) == missed


@pytest.mark.parametrize(("started", "missed"), [
    (datetime(2026, 10, 25, 0, 30, 40, tzinfo=UTC), "2026-10-25T02:30:00+02:00"),  # fall-back night, 02:30 CEST
    (datetime(2026, 10, 18, 0, 30, 40, tzinfo=UTC), "2026-10-18T02:30:00+02:00"),  # a week before
])
async def test_a_start_on_the_fall_back_night_reports_the_run_it_missed(started: datetime, missed: str) -> None:
    # The probe's case through the daemon's own start: `*/30 2 * * *` in Europe/Berlin, started
    # 40 s after 02:30 CEST. On the fall-back night no line and no count said the run was lost.
    # The daemon's injected wall clock, not freezegun: its FakeDatetime drops `fold` in
    # arithmetic, and cronsim then loops for ever on the repeated hour.
    rules = [{"name": "star-30", "trigger": {"type": "schedule", "cron": "*/30 2 * * *", "timezone": "Europe/Berlin"},
              "select": {"connectors": ["a"]}}]
    w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules), fake_time=True)
    assert w.clock is not None
    w.clock.epoch = started
    with capture_logs() as logs:
        await w.daemon.start(serve_http=False)
        try:
            events = [e for e in logs if e["event"] == "scheduler_job_event"]
            counted = w.sample("watchdog_scheduler_job_events_total", event="missed")
        finally:
            await w.daemon.stop()
    (event,) = events
    assert (event["job_id"], event["job_event"], event["scheduled_run_time"]) == ("rule:star-30", "missed", missed)
    assert "came due while no daemon led" in event["note"] and counted == 1
    assert w.simulator.restarts() == [], "never run late"


def test_a_reload_on_the_fall_back_night_keeps_a_jittered_run_still_to_come() -> None:
    # `*/30 2 * * *` with jitter 20m, its 02:30 CEST run drawn for 02:45 CEST; a reload at 02:35
    # CEST changes the jitter to 10m. The run is kept (at 02:40 CEST), as on any other night;
    # before, the wall-clock gap to 02:00 CET (-30 min) dropped it.
    def rule(jitter: str) -> Rule:
        return schedule_rule(cron="*/30 2 * * *", timezone="Europe/Berlin", jitter=jitter)

    for day in (25, 18):
        planned = datetime(2026, 10, day, 0, 45, tzinfo=UTC)
        now = datetime(2026, 10, day, 0, 35, tzinfo=UTC)
        kept = run_still_to_come(rule("20m"), rule("10m"), planned, now)
        assert kept == datetime(2026, 10, day, 0, 40, tzinfo=UTC), day
