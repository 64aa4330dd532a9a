"""A schedule run cut short by a stop (SIGTERM while one of its listings waits out a 429 pause of
its key) is said by the daemon that stops, at warning, naming the clusters it did not decide, and
counted `missed`: a once-a-day run has no next try until tomorrow, and the next start reports it
only if it comes within 5 minutes (probe_races F2: said at debug only, `job_cancelled_at_shutdown`).
A retried listing says the wait it really has, the key's pause, not the retry's own delay."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import structlog

from watchdog.app import Daemon
from watchdog.config import Config

from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    World,
    daemon_config,
    in_process,
    sim_scenario,
    until,
)

NIGHTLY = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}


def two_clusters() -> Config:
    return daemon_config([NIGHTLY], clusters={
        CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID},
        "other": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-other1"},
    })


def other_cluster_paused() -> World:
    """Two clusters, the listing of `other` answered 429 with a 120 s Retry-After."""
    paused = {"match": {"endpoint": "list", "cluster": "lkc-other1"},
              "action": {"status": 429, "headers": {"Retry-After": "120"}}}
    sim = sim_scenario([{"name": "orders"}], faults=[paused])
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [{"name": "billing"}]})
    return in_process(sim, two_clusters())


async def run_waiting_on_the_pause(daemon: Daemon, logs: list[MutableMapping[str, Any]]) -> asyncio.Task[None]:
    """The nightly run as its job runs it, once it waits out the pause to list `other` again."""
    run = asyncio.create_task(daemon._job(daemon.run_schedule_rule, "nightly"))
    await until(lambda: any(line["event"] == "scheduled_listing_retried" for line in logs) or run.done(),
                "the run waiting out the pause to list `other` again", timeout=10)
    assert not run.done()
    return run


async def test_a_schedule_run_cut_by_the_stop_says_which_clusters_it_did_not_decide_and_is_counted_missed() -> None:
    w = other_cluster_paused()
    daemon = w.daemon
    await daemon.start(serve_http=False)  # its scheduler, whose running jobs the stop cancels
    with structlog.testing.capture_logs() as logs:
        run = await run_waiting_on_the_pause(daemon, logs)
        daemon.hurry()  # the restart of `orders` waits for the same key's pause: unsent now
        await asyncio.wait_for(daemon.stop(), 15)
    assert run.done()
    (retried,) = [line for line in logs if line["event"] == "scheduled_listing_retried"]
    # Before: delay_seconds 1.0, while the next try waits out the key's 120 s pause.
    assert retried["delay_seconds"] >= 100, retried
    cut = [line for line in logs if line["event"] == "scheduled_run_cut_by_stop"]
    # Before: nothing at info or above; `job_cancelled_at_shutdown` at debug only.
    assert len(cut) == 1, [line["event"] for line in logs]
    assert cut[0]["log_level"] == "warning" and cut[0]["rule"] == "nightly", cut
    assert cut[0]["clusters_not_decided"] == ["other"], cut  # prod was listed and decided
    assert w.sample("watchdog_scheduler_job_events_total", event="missed") == 1


async def test_a_schedule_run_cut_by_the_loss_of_the_lead_says_which_clusters_it_did_not_decide() -> None:
    # The same run, cut because this replica stopped leading (its lease could not be renewed). The
    # next leader does not run it again, and where this replica had queued some of the run's
    # restarts, its takeover finds the run made: before, nothing above debug said the clusters
    # left (`job_cancelled_standing_by`, s74's verification).
    w = other_cluster_paused()
    daemon = w.daemon
    await daemon.start(serve_http=False)
    try:
        with structlog.testing.capture_logs() as logs:
            run = await run_waiting_on_the_pause(daemon, logs)
            daemon.leadership.leading = False  # as the elector marks a lease it could not renew
            await asyncio.wait_for(daemon._follow("could not renew the lease within renew_deadline"), 15)
        assert run.done() and not run.cancelled() and run.exception() is None, "a normal end, not a failed job"
        cut = [line for line in logs if line["event"] == "scheduled_run_cut_by_lead_loss"]
        assert len(cut) == 1, [line["event"] for line in logs]
        assert cut[0]["log_level"] == "warning" and cut[0]["rule"] == "nightly", cut
        assert cut[0]["clusters_not_decided"] == ["other"], cut
        assert "stopped leading" in cut[0]["note"] and "does not run it again" in cut[0]["note"], cut
        assert not [line for line in logs if line["event"] == "scheduled_run_cut_by_stop"]
        assert w.sample("watchdog_scheduler_job_events_total", event="missed") == 1
    finally:
        daemon.hurry()
        await asyncio.wait_for(daemon.stop(), 15)
