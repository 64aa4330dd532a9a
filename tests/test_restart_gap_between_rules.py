"""Two rules do not restart one connector back to back: a schedule's run within
`queue.manual_restart_gap` of another rule's restart is refused `recently_restarted`, and a poll's
failure restart within that gap of a schedule's waits it out (probe of rules, finding 2: a status
rule's restart and a schedule's went out 9 ms apart in `run --once`, about 1 s in the daemon)."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from .support import CLUSTER, daemon_config, in_process, sim_scenario

FAILING = [{"name": "orders-sink", "id": "lcc-orders1", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
HEAL = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}
HOURLY = {"name": "hourly-orders", "trigger": {"type": "schedule", "interval": 3600},
          "select": {"connectors": ["orders-sink"]}}


def _decisions(logs: list[dict[str, object]], rule: str) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == "decision" and e["rule"] == rule]


async def test_a_schedule_run_right_after_a_status_restart_is_refused_and_says_which_rule_restarted_it() -> None:
    w = in_process(sim_scenario(FAILING), daemon_config([HEAL, HOURLY]), fake_time=True)
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        await daemon.pollers[CLUSTER].poll()
        await asyncio.wait_for(daemon.queue.join(), 10)
        w.clock.advance(1)
        with capture_logs() as logs:
            await asyncio.wait_for(daemon.run_schedule_rule("hourly-orders"), 10)
            await asyncio.wait_for(daemon.queue.join(), 10)
    finally:
        await daemon.stop()
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"], "one restart, not two"
    [said] = _decisions(logs, "hourly-orders")
    assert said["decision"] == "recently_restarted", said
    detail = str(said["detail"])
    assert "restarted 1 s ago by rule heal (status)" in detail and "accepted" in detail, detail
    assert "queue.manual_restart_gap (60 s)" in detail and "its next run restarts it" in detail, detail
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="hourly-orders", trigger="schedule",
                    decision="recently_restarted") == 1


async def test_a_failure_restart_right_after_a_schedule_restart_waits_out_the_gap() -> None:
    w = in_process(sim_scenario(FAILING), daemon_config([HEAL, HOURLY]), fake_time=True)
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        await asyncio.wait_for(daemon.run_schedule_rule("hourly-orders"), 10)
        await asyncio.wait_for(daemon.queue.join(), 10)
        w.clock.advance(10)  # its restart over, FAILED again
        with capture_logs() as logs:
            await daemon.pollers[CLUSTER].poll()
            await asyncio.wait_for(daemon.queue.join(), 10)
        assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"], "not sent within the gap"
        [said] = _decisions(logs, "heal")
        assert said["decision"] == "recently_restarted", said
        detail = str(said["detail"])
        assert "by rule hourly-orders (schedule)" in detail and "restarted in 50 s if a poll still sees it" in detail, detail
        w.clock.advance(50)
        await daemon.pollers[CLUSTER].poll()
        await asyncio.wait_for(daemon.queue.join(), 10)
    finally:
        await daemon.stop()
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink", "orders-sink"], "restarted once the gap passed"
