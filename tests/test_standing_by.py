"""Losing the lead is a normal event in a replicated deployment: what it cuts short is not a
failure and must not be reported as one."""

from __future__ import annotations

from datetime import datetime, timezone

from .support import CLUSTER, daemon_config, in_process, sim_scenario, until

HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1}, "select": {"include": ["*"]}}


async def test_a_poll_cut_short_by_a_loss_of_the_lead_is_not_reported_as_a_failed_job() -> None:
    # A poll waiting at its key's 429 pause when the lease was lost was cancelled and reported as
    # a failed job: an error line ("the job failed") and watchdog_scheduler_job_events_total
    # {event="error"}, which the runbook alerts on, at every failover during a 429 storm.
    w = in_process(sim_scenario([{"name": "orders"}], rate_limit={"limit": 1, "window_seconds": 60}), daemon_config([HEAL]))
    d = w.daemon
    await d.start(serve_http=False)
    try:
        await until(lambda: d.pollers[CLUSTER].first_poll_done, "the first poll")
        await d.pollers[CLUSTER].list()  # refused 429: the key pauses for the rest of the minute
        assert d.pollers[CLUSTER].paused_for() > 10
        assert d._scheduler is not None
        for job in d._scheduler.get_jobs():
            job.modify(next_run_time=datetime.now(timezone.utc))
        d._scheduler.wakeup()
        await until(lambda: d._job_tasks, "a poll waiting at the pause")

        # As the elector steps down (leadership/elector.py _step_down): no longer leading, then told.
        d.leadership.leading = False
        await d._follow("the lease was not renewed within renew_deadline")
        assert not d._job_tasks
        assert w.sample("watchdog_scheduler_job_events_total", event="error") == 0
    finally:
        await d.stop()
