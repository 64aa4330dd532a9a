"""A daemon that could not run its jobs for a while (SIGSTOP, a stuck event loop, CPU starvation):
what becomes of a schedule rule's runs that came due meanwhile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from structlog.testing import capture_logs

from watchdog.metrics import Metrics
from watchdog.triggers.scheduler import add_rule_job, build_scheduler

from .schedules import schedule_rule
from .support import until


def missed(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("watchdog_scheduler_job_events_total", {"event": "missed"}) or 0


async def paused_for(pause: timedelta, **trigger: object) -> tuple[Metrics, int, list[dict[str, object]]]:
    """A schedule rule's scheduler, its clock frozen at 10:59:59 and then moved `pause` on while no
    job could run (SIGSTOP, an event loop held): the metrics, the runs made once it could run
    again, and the scheduler's log lines."""
    metrics = Metrics()
    ran: list[object] = []

    async def run() -> None:
        ran.append(None)

    with freeze_time("2026-06-01 10:59:59", real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        scheduler = build_scheduler(metrics)
        add_rule_job(scheduler, schedule_rule(**trigger), run)
        scheduler.start(paused=True)
        try:
            frozen.tick(pause)
            scheduler.resume()
            await until(lambda: ran, "a run made")
        finally:
            scheduler.shutdown(wait=False)
    return metrics, len(ran), [e for e in logs if e["event"] == "scheduler_job_event"]


@pytest.mark.parametrize(("trigger", "runs", "first", "last", "made"), [
    ({"cron": "* * * * *"}, 5, "11:00:00", "11:04:00", "11:05:00"),
    ({"interval": "20s"}, 17, "11:00:00", "11:05:20", "11:05:40"),
    ({"cron": "* * * * *", "jitter": 30}, 5, "11:00:", "11:04:00", "11:05:"),  # the first as it was drawn
])
async def test_runs_that_came_due_while_the_daemon_was_frozen_are_each_counted_missed(
    trigger: dict[str, object], runs: int, first: str, last: str, made: str,
) -> None:
    """Frozen from 10:59:59 for six minutes, a `* * * * *` rule came due six times: APScheduler
    (coalesce) runs the latest, 11:05, and dropped 11:00..11:04 before its grace check, without
    a word: `watchdog_scheduler_job_events_total{event="missed"}` stayed 0 (a probe: SIGSTOP for
    6 minutes), where the docs promise each run not made is counted and logged. Each is counted
    now, and said in one line naming the first, the last and the run made instead."""
    metrics, made_runs, lines = await paused_for(timedelta(minutes=6), **trigger)

    assert missed(metrics) == runs
    assert made_runs == 1, "the runs not made are not made late"
    (said,) = lines
    assert (said["job_event"], said["job_id"], said["runs"], said["log_level"]) == ("missed", "rule:nightly", runs, "warning")
    assert str(said["scheduled_run_time"]).startswith(f"2026-06-01T{first}")
    assert said["last_scheduled_run_time"] == f"2026-06-01T{last}+00:00"
    assert str(said["run_instead"]).startswith(f"2026-06-01T{made}")
    assert "could not run jobs" in str(said["note"])


async def test_a_rule_run_on_time_counts_nothing_missed() -> None:
    metrics, made_runs, lines = await paused_for(timedelta(seconds=2), cron="* * * * *")

    assert (missed(metrics), made_runs, lines) == (0, 1, [])
