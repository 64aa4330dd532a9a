"""Schedule runs a forward step of the wall clock jumped over are counted missed, as before, and
their note names the step, not the daemon ("stopped, stuck or starved of CPU")."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone

from freezegun import freeze_time
from structlog.testing import capture_logs

from .support import daemon_config, in_process, sim_scenario, until


async def test_runs_a_forward_step_of_the_wall_clock_jumped_over_are_said_as_that() -> None:
    # NTP puts right a clock 400 s slow: the 6 runs of `* * * * *` between were never due in real
    # time. They were counted missed with "it came due while the daemon could not run jobs (it
    # was stopped, stuck or starved of CPU)", though the line before said the clock stepped.
    rules = [{"name": "minutely", "trigger": {"type": "schedule", "cron": "* * * * *"}, "select": {"connectors": ["a"]}}]
    with freeze_time("2026-06-01 12:00:30", tick=True, real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
        await w.daemon.start(serve_http=False)
        try:
            await until(lambda: w.daemon.scheduled_job_ids() == {"rule:minutely"}, "the rule's job")
            await asyncio.sleep(1.2)  # a heartbeat has read the clock before the step
            frozen.move_to(datetime(2026, 6, 1, 12, 7, 10, tzinfo=timezone.utc))
            await until(lambda: w.simulator.restarts(), "the 12:07 restart", timeout=10, step=0.05)
            await until(lambda: [e for e in logs if e["event"] == "scheduler_job_event"], "the missed runs' line")
            missed = w.sample("watchdog_scheduler_job_events_total", event="missed")
        finally:
            await w.daemon.stop()
    (stepped,) = [e for e in logs if e["event"] == "wall_clock_stepped"]
    assert 395 < stepped["seconds"] < 401
    (line,) = [e for e in logs if e["event"] == "scheduler_job_event"]
    assert (line["job_event"], line["scheduled_run_time"], line["runs"]) == ("missed", "2026-06-01T12:01:00+00:00", 6)
    assert re.match(r"not run: the wall clock stepped forward (39\d|400)s over its time \(wall_clock_stepped", line["note"])
    assert "stopped, stuck or starved of CPU" not in line["note"].split(", not late because")[0]
    assert 'counted as missed (watchdog_scheduler_job_events_total{event="missed"})' in line["note"]
    assert 395 < line["wall_clock_stepped"] < 401
    assert missed == 6, "still counted: the runs were not made"


def test_only_the_runs_inside_the_stretch_a_step_jumped_over_are_said_so() -> None:
    from watchdog.triggers.stepped_runs import ClockSteps

    steps = ClockSteps()
    wall = datetime(2026, 6, 1, 12, 7, 10, tzinfo=timezone.utc)
    steps.add(400.0, wall)
    steps.add(-90.0, wall)  # a step back jumps over nothing
    assert steps.over(wall - timedelta(seconds=399)) == 400.0
    assert steps.over(wall) == 400.0
    assert steps.over(wall - timedelta(seconds=410)) is None  # before the step: the daemon's own lateness
    assert steps.over(wall + timedelta(seconds=1)) is None
    # A step the heartbeat has not said yet (a job the scheduler ran first) is known too.
    later = ClockSteps()
    later.pending = lambda: (400.0, wall)
    assert later.over(wall - timedelta(seconds=60)) == 400.0
