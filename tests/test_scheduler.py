"""Schedule rules: cron in a time zone (DST included), intervals, and the scheduler wiring."""

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from structlog.testing import capture_logs

from watchdog.config import Config
from watchdog.metrics import Metrics
from watchdog.triggers.scheduler import (
    MOST_JOBS_SAID,
    _SkippedRuns,
    add_poll_job,
    add_rule_job,
    build_scheduler,
    rule_trigger,
)

from .schedules import BERLIN, fire_times, local, schedule_rule
from .support import World, daemon_config, in_process, sim_scenario, until


def test_cron_weekday_names_fire_on_those_days_in_local_time() -> None:
    rule = schedule_rule(cron="30 3 * * mon-fri", timezone="Europe/Berlin")
    start = datetime(2026, 3, 6, 12, 0, tzinfo=timezone.utc)  # a Friday
    times = fire_times(rule, start, 3)
    assert [t.astimezone(BERLIN).strftime("%a %H:%M") for t in times] == ["Mon 03:30", "Tue 03:30", "Wed 03:30"]


def test_sunday_by_name_is_sunday() -> None:
    # APScheduler's from_crontab would read a numeric 0 as Monday; names are unambiguous.
    rule = schedule_rule(cron="0 4 * * sun")
    times = fire_times(rule, datetime(2026, 5, 4, tzinfo=timezone.utc), 2)
    assert [t.strftime("%A") for t in times] == ["Sunday", "Sunday"]


def test_cron_keeps_local_wall_time_across_the_spring_dst_change() -> None:
    rule = schedule_rule(cron="30 3 * * *", timezone="Europe/Berlin")
    times = fire_times(rule, datetime(2026, 3, 27, 12, 0, tzinfo=timezone.utc), 3)
    # 28 March is CET (UTC+1); from 29 March Berlin is on CEST (UTC+2).
    assert [t.astimezone(timezone.utc).strftime("%d %H:%M") for t in times] == ["28 02:30", "29 01:30", "30 01:30"]


def test_a_time_skipped_by_dst_fires_once_when_the_clock_jumps_over_it() -> None:
    # 02:30 does not exist on 29 March: the clock jumps from 02:00 CET to 03:00 CEST. As cron runs
    # a skipped job right after the change, and as a window opens (windows/dst.py): at the jump.
    rule = schedule_rule(cron="30 2 * * *", timezone="Europe/Berlin")
    times = fire_times(rule, datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc), 2)
    assert local(times) == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]


def test_several_times_skipped_by_dst_fire_once_together() -> None:
    rule = schedule_rule(cron="0,30 2 * * *", timezone="Europe/Berlin")
    times = fire_times(rule, datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc), 3)
    assert local(times) == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00", "2026-03-30T02:30:00+02:00"]


def test_a_time_the_fall_back_repeats_fires_once_on_its_first_pass() -> None:
    # On 25 October the clock goes from 03:00 CEST back to 02:00 CET: it reads 02:30 twice. Cron
    # runs the job once; APScheduler's CronTrigger ran it at 02:30 CEST and again at 02:30 CET.
    rule = schedule_rule(cron="30 2 * * *", timezone="Europe/Berlin")
    times = fire_times(rule, datetime(2026, 10, 24, 12, 0, tzinfo=timezone.utc), 3)
    assert local(times) == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"]
    ny = schedule_rule(cron="30 1 * * *", timezone="America/New_York")  # 01:00-02:00 repeats on 1 November
    times = fire_times(ny, datetime(2026, 10, 31, 12, 0, tzinfo=timezone.utc), 2)
    assert local(times, ZoneInfo("America/New_York")) == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]


def test_an_hourly_cron_fires_every_real_hour_on_the_fall_back_night() -> None:
    # As Debian's cron: a job with `*` in the hour runs every hour the clock shows, the repeated
    # 02:00 included (an hour after the first); one that names the hour runs once (above).
    rule = schedule_rule(cron="0 * * * *", timezone="Europe/Berlin")
    times = fire_times(rule, datetime(2026, 10, 24, 23, 30, tzinfo=timezone.utc), 3)
    assert local(times) == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"]


def test_a_minute_that_starts_with_a_star_runs_the_repeated_hour_again_as_debians_cron() -> None:
    # docs/configuration.md said a time the cron names and the clock reads twice fires once:
    # `*/30 2 * * *` names 02:30, and runs it on both passes (Debian's cron runs a job whose minute
    # or hour starts with `*` as the clock reads, cronsim too): four restarts that night where two
    # were read. Written as a list or a range, the minutes fire once.
    night = datetime(2026, 10, 24, 23, 0, tzinfo=timezone.utc)
    assert local(fire_times(schedule_rule(cron="*/30 2 * * *", timezone="Europe/Berlin"), night, 4)) == [
        "2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00"]
    for cron in ("0,30 2 * * *", "0-59/30 2 * * *"):
        assert local(fire_times(schedule_rule(cron=cron, timezone="Europe/Berlin"), night, 3)) == [
            "2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:00:00+01:00"]


def test_jitter_counts_real_seconds_across_the_fall_back() -> None:
    # 02:59 CEST plus up to two minutes: added to the local time, 03:00:30 read as CET, an hour
    # and a half minute later than meant.
    rule = schedule_rule(cron="59 2 * * *", timezone="Europe/Berlin", jitter="2m")
    slot = datetime(2026, 10, 25, 0, 59, tzinfo=timezone.utc)  # 02:59 CEST
    trigger = rule_trigger(rule)
    for _ in range(200):
        fire = trigger.get_next_fire_time(None, slot - timedelta(minutes=1))
        assert slot <= fire <= slot + timedelta(minutes=2), fire.isoformat()


async def test_the_scheduler_runs_a_time_the_fall_back_repeats_once() -> None:
    ran: list[datetime] = []
    rule = schedule_rule(cron="30 2 * * *", timezone="Europe/Berlin")

    async def run() -> None:
        ran.append(datetime.now(timezone.utc))

    # First without the frozen clock: freezegun's datetimes lose `fold`, and with them APScheduler's
    # own CronTrigger (before watchdog's) looped forever at the second pass instead of failing.
    first_pass = datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)
    assert local(fire_times(rule, first_pass, 2)) == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    with freeze_time("2026-10-25 00:29:30", real_asyncio=True, tz_offset=0) as frozen:  # 02:29:30 CEST
        scheduler = build_scheduler(Metrics())
        add_rule_job(scheduler, rule, run)
        scheduler.start()
        try:
            frozen.tick(timedelta(seconds=31))  # 02:30 CEST
            scheduler.wakeup()
            await until(lambda: ran, "the first pass's run")
            await until(lambda: scheduler.get_job("rule:nightly").next_run_time > datetime.now(timezone.utc),
                        "the next run planned")
            # What the scheduler will do next: tomorrow, not 02:30 CET an hour from now.
            assert scheduler.get_job("rule:nightly").next_run_time.isoformat() == "2026-10-26T02:30:00+01:00"
            frozen.tick(timedelta(hours=1))  # 02:30:01 CET, the second pass
            scheduler.wakeup()
            await asyncio.sleep(0.05)
            assert len(ran) == 1
        finally:
            scheduler.shutdown(wait=False)


class _SchedulerClock(datetime):
    """APScheduler's clock, set by the test. Not freezegun: its datetimes lose `fold`, which is
    all that tells 02:20 CET from 02:20 CEST on the fall-back night."""

    at = datetime(2026, 1, 1, tzinfo=timezone.utc)

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
        return cls.at.astimezone(tz) if tz is not None else cls.at.replace(tzinfo=None)


async def test_a_jittered_run_that_lands_in_the_repeated_hour_is_the_nights_only_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # `30 2 * * *` in Berlin with `jitter: 1h`: on 25 October its 02:30 CEST slot (00:30 UTC) is
    # jittered 50 minutes, to 02:20 CET, the second pass of the hour the fall-back repeats. The
    # next run was computed from 02:20 CET as cronsim reads it, on the wall clock: 02:30 that
    # night, taken as CEST (fold 0), an hour before, so the same slot again, jittered once more.
    # Here (55 minutes twice, as APScheduler asks twice, then 10) the night got a second run at
    # 02:25 CET and a third slot counted `missed`; with other draws the night's one run was itself
    # counted missed and never ran, or ran up to eight times (America/New_York, `59 1 * * *`,
    # jitter 10m, in a simulation of the scheduler over 300 draws).
    ran: list[datetime] = []
    draws = iter([3000.0, 3300.0, 3300.0, 3500.0, 3500.0, 600.0] + [1800.0] * 20)
    monkeypatch.setattr("apscheduler.triggers.base.random.uniform", lambda low, high: next(draws))
    for module in ("apscheduler.schedulers.base", "apscheduler.executors.base"):
        monkeypatch.setattr(f"{module}.datetime", _SchedulerClock)
    _SchedulerClock.at = datetime(2026, 10, 25, 0, 29, 30, tzinfo=timezone.utc)  # 02:29:30 CEST
    rule = schedule_rule(cron="30 2 * * *", timezone="Europe/Berlin", jitter="1h")
    metrics = Metrics()

    async def run() -> None:
        ran.append(_SchedulerClock.at)

    scheduler = build_scheduler(metrics)
    add_rule_job(scheduler, rule, run)
    scheduler.start()
    try:
        planned = scheduler.get_job("rule:nightly").next_run_time
        assert planned.astimezone(timezone.utc) == datetime(2026, 10, 25, 1, 20, tzinfo=timezone.utc)  # 02:20 CET
        for minutes in range(51, 240):  # a look each minute from 02:20 CET to 04:59 CET
            _SchedulerClock.at = datetime(2026, 10, 25, 0, 29, tzinfo=timezone.utc) + timedelta(minutes=minutes)
            scheduler.wakeup()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        assert [at.astimezone(BERLIN).isoformat() for at in ran] == ["2026-10-25T02:20:00+01:00"]
        assert [metrics.scheduler_events.labels(event)._value.get() for event in ("missed", "max_instances")] == [0, 0]
        assert scheduler.get_job("rule:nightly").next_run_time.astimezone(BERLIN).date().isoformat() == "2026-10-26"
    finally:
        scheduler.shutdown(wait=False)


async def test_a_start_in_the_repeated_hour_does_not_run_the_night_s_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # A daemon started (a rollout, a new leader, a reload changing the cron) at 02:01 CET on 25
    # October, after `59 2 * * *` ran at 02:59 CEST, an hour and two minutes before: its first run
    # was planned for that 02:59 CEST, two minutes past, within the 5 minutes' grace, and it ran
    # again at once. Started later in that hour, a run an hour old was counted missed.
    ran: list[datetime] = []
    for module in ("apscheduler.schedulers.base", "apscheduler.executors.base"):
        monkeypatch.setattr(f"{module}.datetime", _SchedulerClock)
    _SchedulerClock.at = datetime(2026, 10, 25, 1, 1, tzinfo=timezone.utc)  # 02:01 CET
    metrics = Metrics()

    async def run() -> None:
        ran.append(_SchedulerClock.at)

    scheduler = build_scheduler(metrics)
    add_rule_job(scheduler, schedule_rule(cron="59 2 * * *", timezone="Europe/Berlin"), run)
    scheduler.start()
    try:
        scheduler.wakeup()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert ran == []
        assert scheduler.get_job("rule:nightly").next_run_time.isoformat() == "2026-10-26T02:59:00+01:00"
    finally:
        scheduler.shutdown(wait=False)
    lord_howe = ZoneInfo("Australia/Lord_Howe")  # its clock goes back half an hour, 02:00 to 01:30
    half = schedule_rule(cron="45 1 * * *", timezone="Australia/Lord_Howe")
    second_pass = datetime(2026, 4, 4, 15, 5, tzinfo=timezone.utc)  # 01:35 +10:30, after 01:45 +11:00
    assert local(fire_times(half, second_pass, 1), lord_howe) == ["2026-04-06T01:45:00+10:30"]


def test_interval_rule_fires_at_the_interval() -> None:
    rule = schedule_rule(interval="6h")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    times = fire_times(rule, start, 3)
    assert times[1] - times[0] == timedelta(hours=6)


def test_an_interval_rule_keeps_its_times_across_restarts_of_the_daemon() -> None:
    # A daemon restarted every 40 minutes (rollouts, a crash loop, a new leader) with an hourly
    # rule: before, each start began the hour anew (13:00, then 13:40, then 14:20...), and the rule
    # never ran. Its times are whole multiples of the interval since 1970-01-01 UTC.
    rule = schedule_rule(interval="1h")
    for start in (datetime(2026, 6, 1, 12, 0, 0, 150000, tzinfo=timezone.utc), datetime(2026, 6, 1, 12, 40, tzinfo=timezone.utc)):
        assert fire_times(rule, start, 2) == [datetime(2026, 6, 1, 13, tzinfo=timezone.utc), datetime(2026, 6, 1, 14, tzinfo=timezone.utc)]
    daily = schedule_rule(interval="24h")
    assert fire_times(daily, datetime(2026, 6, 1, 23, 59, tzinfo=timezone.utc), 1) == [datetime(2026, 6, 2, tzinfo=timezone.utc)]


async def test_scheduler_runs_the_rule_when_its_time_comes() -> None:
    ran: list[datetime] = []
    rule = schedule_rule(cron="0 * * * *")

    async def run() -> None:
        ran.append(datetime.now(timezone.utc))

    with freeze_time("2026-06-01 10:59:30", real_asyncio=True, tz_offset=0) as frozen:
        scheduler = build_scheduler(Metrics())
        add_rule_job(scheduler, rule, run)
        scheduler.start()
        try:
            (job,) = scheduler.get_jobs()
            assert job.next_run_time == datetime(2026, 6, 1, 11, 0, tzinfo=timezone.utc), "not before its time"
            assert ran == []
            frozen.tick(timedelta(seconds=31))
            scheduler.wakeup()
            await until(lambda: ran, "the rule ran")
            assert len(ran) == 1
            assert ran[0].replace(tzinfo=None) >= datetime(2026, 6, 1, 11, 0)
        finally:
            scheduler.shutdown(wait=False)


def apscheduler_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("apscheduler") and r.levelno >= logging.WARNING]


async def test_a_run_missed_by_more_than_the_grace_time_is_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    rule = schedule_rule(cron="0 * * * *")

    async def run() -> None:
        pass

    with freeze_time("2026-06-01 10:59:59", real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        scheduler = build_scheduler(metrics)
        add_rule_job(scheduler, rule, run)
        scheduler.start(paused=True)
        try:
            frozen.tick(timedelta(minutes=20))  # the daemon was stuck past the 5-minute grace
            scheduler.resume()
            await until(lambda: metrics.registry.get_sample_value("watchdog_scheduler_job_events_total", {"event": "missed"}),
                        "the missed run counted")
            assert metrics.registry.get_sample_value("watchdog_scheduler_job_events_total", {"event": "missed"}) == 1
        finally:
            scheduler.shutdown(wait=False)

    missed = [e for e in logs if e["event"] == "scheduler_job_event"]
    assert len(missed) == 1 and missed[0]["job_event"] == "missed"
    assert missed[0]["scheduled_run_time"] == "2026-06-01T11:00:00+00:00"  # the time it was due, not a repr
    assert "grace" in missed[0]["note"]
    assert not apscheduler_warnings(caplog), "APScheduler's own free-text copy of the same event"


@pytest.mark.parametrize(("cron", "weekdays"), [("0 3 * * 0", {"Sun"}), ("0 3 * * 7", {"Sun"}),
                                                ("0 3 * * 1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
                                                ("0 3 * * mon,3", {"Mon", "Wed"})])
def test_numeric_weekdays_count_as_cron_counts_them(cron: str, weekdays: set[str]) -> None:
    # APScheduler counted 0 as Monday, so numbers were refused; cronsim counts as cron does.
    times = fire_times(schedule_rule(cron=cron), datetime(2026, 1, 1, tzinfo=timezone.utc), 14)
    assert {t.strftime("%a") for t in times} == weekdays


async def test_a_run_skipped_because_the_last_is_still_going_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    release = asyncio.Event()

    async def slow_poll() -> None:
        await release.wait()

    scheduler = build_scheduler(metrics)
    add_poll_job(scheduler, "prod", 0.05, slow_poll)
    with capture_logs() as logs:
        scheduler.start()
        try:
            await until(lambda: metrics.registry.get_sample_value("watchdog_scheduler_job_events_total",
                                                                 {"event": "max_instances"}), "a skipped run counted")
        finally:
            release.set()
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0.01)

    assert metrics.registry.get_sample_value("watchdog_scheduler_job_events_total", {"event": "max_instances"}) >= 1
    assert not [r for r in caplog.records if "Error notifying listener" in r.getMessage()], "the listener failed"
    skipped = [e for e in logs if e["event"] == "scheduler_job_event"]
    assert skipped and skipped[0]["job_event"] == "max_instances" and skipped[0]["job_id"] == "poll:prod"
    assert datetime.fromisoformat(skipped[0]["scheduled_run_time"]).tzinfo is not None  # ISO 8601, not a list's repr
    assert "still running" in skipped[0]["note"]
    # One line per skipped run, ours: APScheduler's own warning said the same without the metric's name.
    assert not apscheduler_warnings(caplog), "APScheduler's own free-text copy of the same event"


def test_skipped_runs_of_many_jobs_are_said_for_a_few_jobs_every_few_minutes() -> None:
    # The bound per job grew with the fleet: a thousand discovered clusters, their polls queued
    # behind each other on one lane, made 394 max_instances warnings in 30 s. Across jobs, at most
    # MOST_JOBS_SAID lines per 5 minutes; the next one counts the jobs not said meanwhile.
    virtual = [0.0]
    skipped = _SkippedRuns(lambda: virtual[0])
    said: list[tuple[float, str, dict[str, object]]] = []
    for _ in range(60):  # every 10 s for 10 minutes, 200 jobs each time
        for job in range(200):
            fields = skipped.said(f"poll:lkc-{job}")
            if fields is not None:
                said.append((virtual[0], f"poll:lkc-{job}", fields))
        virtual[0] += 10
    assert len(said) == 2 * MOST_JOBS_SAID, [(t, j) for t, j, _ in said]
    assert [t for t, _, _ in said] == [0.0] * MOST_JOBS_SAID + [300.0] * MOST_JOBS_SAID
    assert all(fields == {} for _, _, fields in said[:MOST_JOBS_SAID])
    first_after = said[MOST_JOBS_SAID][2]
    assert first_after["other_jobs_skipped"] == 200 - MOST_JOBS_SAID, first_after
    assert first_after["repeated"] == 29, "that job's own skips since its first line (10 s to 290 s)"
    assert all("other_jobs_skipped" not in fields for _, _, fields in said[MOST_JOBS_SAID + 1:])


async def test_a_poll_skipped_at_every_interval_is_said_every_few_minutes_not_at_each_skip() -> None:
    # An API that does not answer holds each poll for api.timeouts.total, past its interval: against
    # the simulator with three clusters polled every 10 s and every list call held, the daemon wrote
    # a max_instances warning per cluster every 10 s (62 in four minutes, beside the 7 lines that
    # said the outage). Each job's skips are said when they start and at most every 5 minutes,
    # counting those not said; the metric counts every one.
    metrics = Metrics()
    virtual = [0.0]
    release = asyncio.Event()

    async def held_poll() -> None:
        await release.wait()

    def skips() -> float:
        return metrics.registry.get_sample_value("watchdog_scheduler_job_events_total", {"event": "max_instances"}) or 0

    scheduler = build_scheduler(metrics, clock=lambda: virtual[0])
    add_poll_job(scheduler, "prod", 0.02, held_poll)
    with capture_logs() as logs:
        scheduler.start()
        try:
            await until(lambda: skips() >= 10, "ten skipped runs")
            virtual[0] += 299  # within the 5 minutes: still not said
            await until(lambda: skips() >= 12, "two more")
            said_before = skips()
            virtual[0] += 1
            await until(lambda: skips() > said_before, "a skip 5 minutes after the first line")
            scheduler.pause()
        finally:
            release.set()
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0.01)

    lines = [e for e in logs if e["event"] == "scheduler_job_event"]
    warned = [e for e in lines if e["log_level"] == "warning"]
    assert len(warned) == 2, [(e["log_level"], e.get("repeated")) for e in lines]
    first, second = warned
    assert first["job_id"] == second["job_id"] == "poll:prod" and "repeated" not in first
    assert "at most every 5 minutes" in first["note"]
    # The second line counts the skips said at debug since the first, and every skip is a line.
    assert second["repeated"] == lines.index(second) - lines.index(first) - 1 >= 11
    assert len(lines) == skips()


async def test_a_stop_as_a_poll_starts_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 5}, "select": {"include": ["*"]}}]
    for yields in range(4):  # stop before the first poll's task has run, and at each step after
        w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
        with capture_logs() as logs:
            await w.daemon.start(serve_http=False)
            for _ in range(yields):
                await asyncio.sleep(0)
            await w.daemon.stop()
            await asyncio.sleep(0.05)
        errors = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [], f"stopping after {yields} loop steps logged {errors}"
        assert [e for e in logs if e["log_level"] in ("error", "critical")] == []


async def test_losing_the_lead_while_a_poll_runs_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    # A replica that steps down cancels the jobs running (leadership/host._follow). A poll cut
    # short so was logged as APScheduler's "Job raised an exception" with a CancelledError
    # traceback and a scheduler_job_event error, and counted a failed job, at every loss of the
    # lead that met a poll (one slow list call, here 5 s, is enough).
    caplog.set_level(logging.DEBUG)
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 30}, "select": {"include": ["*"]}}]
    faults = [{"match": {"endpoint": "list"}, "action": {"delay_seconds": 5}}]
    w = in_process(sim_scenario([{"name": "a"}], faults=faults), daemon_config(rules))
    await w.daemon.start(serve_http=False)
    try:
        await until(lambda: bool(w.daemon._job_tasks), "the first poll runs")
        with capture_logs() as logs:
            w.daemon.leadership.leading = False  # as Elector._step_down does before it calls _follow
            await w.daemon._follow("another replica took the lease over")
            await asyncio.sleep(0.05)
    finally:
        await w.daemon.stop()
    errors = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []
    assert w.sample("watchdog_scheduler_job_events_total", event="error") == 0


@pytest.mark.parametrize(("started", "missed"), [
    ("2026-06-01 03:00:10", "2026-06-01T03:00:00+00:00"),  # a rollout or a takeover just after 03:00
    ("2026-06-01 03:04:50", "2026-06-01T03:00:00+00:00"),  # within the 5 minutes a late run is given
    ("2026-06-01 03:05:30", None),  # past them: a running scheduler would not have run it either
    ("2026-06-01 02:59:50", None),  # before its time: it runs at 03:00 as usual
])
async def test_a_schedule_run_due_just_before_the_daemon_began_to_lead_is_reported_as_missed(
    started: str, missed: str | None
) -> None:
    # A daemon started (a rollout, a crash, a new leader) seconds after a cron rule's time plans
    # from now: the nightly run was not made, and nothing said so. It is still not run late (cron
    # does not, and the last daemon may have made it before it stopped), but counted and logged
    # as a missed run, as one the scheduler could not start in time.
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["a"]}}]
    w, events, counted = await _job_events_of_a_start(started, rules)
    if missed is None:
        assert events == [] and counted == 0
    else:
        (event,) = events
        assert (event["job_id"], event["job_event"], event["scheduled_run_time"]) == ("rule:nightly", "missed", missed)
        assert "came due while no daemon led" in event["note"] and counted == 1
    assert w.simulator.restarts() == [], "never run late"


async def _job_events_of_a_start(started: str, rules: list[dict[str, Any]]) -> tuple[World, list[Any], float]:
    """A daemon started at `started` (UTC) with `rules`, then stopped: its world, the
    scheduler_job_event lines it logged at start, and the missed runs it counted."""
    with freeze_time(started, tick=True, real_asyncio=True, tz_offset=0), capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
        await w.daemon.start(serve_http=False)
        try:
            events = [e for e in logs if e["event"] == "scheduler_job_event"]
            counted = w.sample("watchdog_scheduler_job_events_total", event="missed") or 0
        finally:
            await w.daemon.stop()
    return w, events, float(counted)


async def test_a_reload_that_changes_a_jittered_rule_in_its_window_keeps_the_run_still_to_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `0 3 * * *` with `jitter: 20m`, its run drawn for 03:15; at 03:05 a reload made the jitter
    # 10m (or the cron `0 3 * * 1-5`, a Monday): the new job planned from now, tomorrow, and the
    # night's run, still to come, was dropped without a word.
    monkeypatch.setattr("apscheduler.triggers.base.random.uniform", lambda low, high: min(900.0, high))

    def config(**trigger: object) -> Config:
        rule = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *", "jitter": "20m", **trigger},
                "select": {"connectors": ["a"]}}
        return daemon_config([rule])

    with freeze_time("2026-06-01 02:59:00", tick=True, real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}]), config())
        await w.daemon.start(serve_http=False)
        try:
            job = w.daemon._scheduler.get_job("rule:nightly")
            assert job.next_run_time == datetime(2026, 6, 1, 3, 15, tzinfo=timezone.utc)
            frozen.move_to("2026-06-01 03:05:00")
            for edit, kept in (({"jitter": "10m"}, datetime(2026, 6, 1, 3, 10, tzinfo=timezone.utc)),
                               ({"jitter": "10m", "cron": "0 3 * * 1-5"}, datetime(2026, 6, 1, 3, 10, tzinfo=timezone.utc)),
                               ({"jitter": "10m", "cron": "0 4 * * *"}, datetime(2026, 6, 1, 4, 10, tzinfo=timezone.utc)),
                               ({"jitter": "10m", "cron": "0 3 * * *"}, datetime(2026, 6, 2, 3, 10, tzinfo=timezone.utc))):
                w.daemon._reload_config = lambda edit=edit: config(**edit)
                assert await w.daemon.reload("test") is True
                assert w.daemon._scheduler.get_job("rule:nightly").next_run_time == kept, edit
        finally:
            await w.daemon.stop()
    assert [e for e in logs if e["event"] == "scheduler_job_event"] == []


async def test_a_reload_that_renames_a_jittered_rule_in_its_window_keeps_the_run_still_to_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `0 3 * * *` with `jitter: 20m`, its run drawn for 03:15; at 03:05 a reload renamed the rule
    # (`nightly` to `nightly-v2`, the trigger as it was): the job of the removed name was dropped,
    # the added one planned from now, tomorrow, and the night's run was lost without a word.
    monkeypatch.setattr("apscheduler.triggers.base.random.uniform", lambda low, high: min(900.0, high))

    def config(*names: str, cron: str = "0 3 * * *") -> Config:
        return daemon_config([{"name": name, "trigger": {"type": "schedule", "cron": cron, "jitter": "20m"},
                               "select": {"connectors": ["a"]}} for name in names])

    with freeze_time("2026-06-01 02:59:00", tick=True, real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}]), config("nightly"))
        await w.daemon.start(serve_http=False)
        try:
            assert w.daemon._scheduler.get_job("rule:nightly").next_run_time == datetime(2026, 6, 1, 3, 15, tzinfo=timezone.utc)
            frozen.move_to("2026-06-01 03:05:00")
            w.daemon._reload_config = lambda: config("nightly-v2")
            assert await w.daemon.reload("test") is True
            assert w.daemon._scheduler.get_job("rule:nightly") is None
            assert w.daemon._scheduler.get_job("rule:nightly-v2").next_run_time == datetime(
                2026, 6, 1, 3, 15, tzinfo=timezone.utc), "the drawn run is carried to the renamed rule"
            # Renamed again with another trigger: no run of the new trigger is due, nothing carried.
            w.daemon._reload_config = lambda: config("nightly-v3", cron="0 4 * * *")
            assert await w.daemon.reload("test") is True
            assert w.daemon._scheduler.get_job("rule:nightly-v3").next_run_time == datetime(
                2026, 6, 1, 4, 15, tzinfo=timezone.utc)
        finally:
            await w.daemon.stop()
    carried = [e for e in logs if e["event"] == "schedule_run_carried"]
    assert [(e["rule"], e["renamed_from"], e["next_run"]) for e in carried] == [
        ("nightly-v2", "nightly", "2026-06-01T03:15:00+00:00")]


def test_a_rule_that_runs_more_often_than_the_grace_is_not_reported_missed_at_every_start() -> None:
    from watchdog.triggers.scheduler import due_before

    now = datetime(2026, 6, 1, 3, 0, 10, tzinfo=timezone.utc)
    assert due_before(rule_trigger(schedule_rule(interval="20s")), now) is None
    assert due_before(rule_trigger(schedule_rule(cron="*/5 * * * *")), now) is None
    assert due_before(rule_trigger(schedule_rule(interval="1h")), now) == datetime(2026, 6, 1, 3, tzinfo=timezone.utc)
    assert due_before(rule_trigger(schedule_rule(cron="*/10 * * * *")), now) == datetime(2026, 6, 1, 3, tzinfo=timezone.utc)


async def test_every_run_of_a_schedule_says_why_it_restarted_nothing() -> None:
    # A nightly rule whose run a window holds (its cron in UTC, its window in a zone with DST: a
    # season of nights) or whose connector is not listed said so the first night only: each later
    # night's decisions were repeats, logged at debug, and nothing was restarted without a line.
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"},
              "select": {"connectors": ["a", "ghost"]}, "windows": {"blackout": ["Mon-Sun 02:30-03:30 UTC"]}}]
    with freeze_time("2026-06-01 02:59:58", tick=True, real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
        await w.daemon.start(serve_http=False)
        try:
            for night in (1, 2, 3):
                await until(lambda night=night: w.total("watchdog_decisions_total", rule="nightly") >= 2 * night,
                            f"night {night}'s run")
                frozen.move_to(f"2026-06-0{night + 1} 02:59:58")
                w.daemon._scheduler.wakeup()
        finally:
            await w.daemon.stop()
    said = [(e["log_level"], e["connector"], e["decision"]) for e in logs if e["event"] == "decision"]
    assert said == [("info", "a", "window_closed"), ("info", "ghost", "missing")] * 3
    assert w.simulator.restarts() == []



class TwoPolls:
    """A cluster's poll as it was (it runs until released) and as a reload redefined it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.runs: list[str] = []

    async def old_poll(self) -> None:
        self.runs.append("old")
        await self.release.wait()

    async def new_poll(self) -> None:
        self.runs.append("new")


async def test_a_poll_redefined_while_its_run_goes_on_runs_when_that_run_ends_and_is_no_skipped_run() -> None:
    # A reload that redefines a cluster (a new URL, CA, key) replaces its poll job while the poll
    # begun under the old definition still runs. APScheduler counts instances per job id: the new
    # job's first run was refused as a skipped run (`max_instances`, "a rate-limit pause or a
    # slow API"), and the cluster went unpolled under its new settings for a whole interval.
    metrics, polls = Metrics(), TwoPolls()
    scheduler = build_scheduler(metrics)
    add_poll_job(scheduler, "prod", 600, polls.old_poll)
    with capture_logs() as logs:
        scheduler.start()
        try:
            await until(lambda: polls.runs == ["old"], "the first poll runs")
            add_poll_job(scheduler, "prod", 600, polls.new_poll)  # what a reload does (triggers/host.py)
            await asyncio.sleep(0.2)
            assert polls.runs == ["old"], "the new poll ran beside the old one"
            polls.release.set()
            await until(lambda: polls.runs == ["old", "new"], "the redefined poll runs once the old one ended")
        finally:
            polls.release.set()
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0.01)
    assert not metrics.registry.get_sample_value("watchdog_scheduler_job_events_total", {"event": "max_instances"})
    assert not [e for e in logs if e["event"] == "scheduler_job_event"], "a reload's wait was said as a skipped run"
    waits = [e for e in logs if e["event"] == "scheduler_job_waits"]
    assert len(waits) == 1 and waits[0]["job_id"] == "poll:prod" and "starts as soon as that run ends" in waits[0]["note"]


async def test_a_poll_redefined_and_then_removed_while_the_old_run_goes_on_does_not_run() -> None:
    polls = TwoPolls()
    scheduler = build_scheduler(Metrics())
    add_poll_job(scheduler, "prod", 600, polls.old_poll)
    scheduler.start()
    try:
        await until(lambda: polls.runs == ["old"], "the first poll runs")
        add_poll_job(scheduler, "prod", 600, polls.new_poll)
        await asyncio.sleep(0.1)
        scheduler.remove_job("poll:prod")  # a second reload removed the cluster
        polls.release.set()
        await asyncio.sleep(0.2)
    finally:
        polls.release.set()
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0.01)
    assert polls.runs == ["old"], "a removed cluster's poll ran"
