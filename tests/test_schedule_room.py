"""A schedule run that selects more connectors than its lane takes (`queue.max_jobs_per_lane`):
which ones are refused `queue_full`, and what says so."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from .support import CLUSTER, daemon_config, in_process, sim_scenario

CONNECTORS = [{"name": f"c{i:02}"} for i in range(20)]
SCHEDULE = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}


async def test_a_schedule_run_wider_than_its_lane_refuses_the_least_recently_restarted_last() -> None:
    """20 connectors, `max_jobs_per_lane: 5`: each run restarts 5 and refuses 15 `queue_full`.
    Decided in name order, every run restarted c00..c04 and refused the same 15, for good (a
    probe: 1,100 connectors under the default cap of 1,000, c909..c999 refused at every run and
    never restarted, each refusal an info line). Now those never restarted go first, then the
    least recently restarted: four runs restart each connector once. Each run that refused says
    so in one warning, with the count, the first names and what to do."""
    w = in_process(sim_scenario(CONNECTORS), daemon_config([SCHEDULE], queue={"max_jobs_per_lane": 5},
                                                               rate_limit={"max_requests_per_second": 10000}))
    w.daemon.queue.start()
    runs: list[list[str]] = []
    with capture_logs() as logs:
        for _ in range(4):
            before = len(w.simulator.restarts())
            await asyncio.wait_for(w.daemon.run_schedule_rule("nightly"), 10)
            await asyncio.wait_for(w.daemon.queue.join(), 10)
            runs.append([call.connector for call in w.simulator.restarts()[before:]])
    await w.daemon.stop()
    assert [sorted(run) for run in runs] == [[f"c{i:02}" for i in range(n, n + 5)] for n in (0, 5, 10, 15)], runs
    warnings = [e for e in logs if e["event"] == "scheduled_restarts_refused"]
    assert len(warnings) == 4, "one line per run that had refusals, not one per connector"
    first = warnings[0]
    assert (first["rule"], first["cluster"], first["count"], first["log_level"]) == ("nightly", CLUSTER, 15, "warning")
    assert first["connectors"] == [f"c{i:02}" for i in range(5, 15)], "the first names refused, ten of them"
    assert "queue.max_jobs_per_lane" in first["note"] and "first at the next run" in first["note"]
    refused = w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="nightly", trigger="schedule",
                       decision="queue_full")
    assert refused == 4 * 15


async def test_a_schedule_run_that_fits_its_lane_reads_no_state_to_order_it() -> None:
    """Ordering a run costs a read of every selected connector's state: a run the lane takes
    whole is decided in name order, with no such read. Its states are read once, in one batch,
    for the gap after another rule's restart (engine/restart_gap.py): the read this test forbade
    is the one per connector for ordering, and each connector is still read no more than once."""
    w = in_process(sim_scenario(CONNECTORS), daemon_config([SCHEDULE], rate_limit={"max_requests_per_second": 10000}))
    reads: list[int] = []
    load_many = w.daemon.state.load_many
    w.daemon.state.load_many = lambda keys: reads.append(len(keys)) or load_many(keys)  # type: ignore[method-assign]
    w.daemon.queue.start()
    with capture_logs() as logs:
        await asyncio.wait_for(w.daemon.run_schedule_rule("nightly"), 10)
        await asyncio.wait_for(w.daemon.queue.join(), 10)
    await w.daemon.stop()
    assert len(w.simulator.restarts()) == 20
    assert reads == [20], "one batch for the gap between rules' restarts; none more to order the run"
    assert not [e for e in logs if e["event"] == "scheduled_restarts_refused"]
