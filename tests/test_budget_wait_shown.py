"""A restart queued while the key's budget is spent for long (an answer's `Remaining: 0` with a
`Reset` of an hour, capped at rate_limit.max_pause) says what it waits for in status's Held line
and /v1/connectors' `held`, as one held by a 429's pause does: it said only "its restart is
queued, not sent yet" for up to 15 minutes, while "Polls paused" named the budget (a
verification run, 2026-12-06)."""

from __future__ import annotations

from watchdog.model import ConnectorKey

from .support import CLUSTER, daemon_config, in_process, sim_scenario, until


async def test_a_restart_waiting_for_a_spent_budget_says_so_in_its_held_line() -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": 1}}],
                            rate_limit={"limit": 1, "window_seconds": 3600, "headers": "always"})
    w = in_process(scenario, daemon_config(rules, rate_limit={"max_requests_per_second": 1000}))
    w.daemon.queue.start()
    key = ConnectorKey(CLUSTER, "orders-sink")
    try:
        await w.daemon.pollers[CLUSTER].poll()  # its answer spends the key's budget for the hour
        job = w.daemon.queue.pending_job(key)
        assert job is not None, "a restart is queued for the failed connector"
        await until(lambda: w.daemon.pollers[CLUSTER].held_for()[0] > 0, "the budget's wait")
        queued = w.daemon._queued(key)
        assert queued is not None
        decision, detail, _ = queued
        assert decision == "queued"
        assert "waiting: every call of its API key waits " in detail and " more for the key's budget (an answer said " \
               "Remaining 0 until its Reset" in detail, detail
        assert w.simulator.restarts() == [], "not sent meanwhile"
    finally:
        await w.daemon.queue.close(0.1)
