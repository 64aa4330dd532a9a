"""Every skip is logged with a reason's words, whichever trigger met it (docs/runbook.md, "Why a
connector was not restarted"). An outside audit (2026-12-06) found a status rule's `backoff`,
`budget_spent`, `transient` (PAUSED) and `duplicate` lines with no `detail`, where an alert's or
a request's said why and what comes next; and the `budget_spent` line's `next_allowed_at`, a few
seconds on, read as "restarted again then" for a connector left alone until it stays healthy.
"""

from __future__ import annotations

from typing import Any

import structlog

from .support import CLUSTER, daemon_config, in_process, sim_scenario


def _said(logs: list[dict[str, Any]], connector: str) -> list[dict[str, Any]]:
    """The connector's `decision` lines written at info (repeats go to debug)."""
    return [e for e in logs if e["event"] == "decision" and e["connector"] == connector and e["log_level"] == "info"]


async def test_a_status_rules_skips_say_why_and_what_comes_next() -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
              "max_restarts": 2, "backoff": {"base": 60, "cap": 600, "jitter": 0}}]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": "never"}},
                             {"name": "audit-sink", "script": {"initial": "PAUSED"}}])
    w = in_process(scenario, daemon_config(rules), fake_time=True)
    assert w.clock is not None
    poll = w.daemon.pollers[CLUSTER].poll
    with structlog.testing.capture_logs() as logs:
        await poll()  # the queue not started: the restart stays queued
        await poll()
        w.daemon.queue.start()
        await w.daemon.queue.join()
        w.clock.advance(10)
        await poll()  # restarted 10 s ago: its backoff
        w.clock.advance(110)
        await poll()  # its second and last restart
        await w.daemon.queue.join()
        w.clock.advance(10)
        await poll()
    await w.daemon.queue.close(1.0)
    orders = {e["decision"]: e for e in _said(logs, "orders-sink")}
    assert list(orders) == ["restart", "duplicate", "backoff", "budget_spent"], _said(logs, "orders-sink")
    assert orders["duplicate"]["detail"] == ("a restart of it is already queued, to go at its turn: this poll asks for "
                                             "no other"), orders
    assert orders["backoff"]["detail"] == ("restarted 1 time(s); its backoff lets the next go at "
                                           "2026-03-01T12:02:00+00:00 (in 1m): restarted then if a poll still sees it "
                                           "failing"), orders
    assert orders["budget_spent"]["detail"] == (
        "given up on: restarted 2 time(s) without a fix (max_restarts); left to a person until it has stayed healthy "
        "for 6m (its backoff gap), or a restart by name (watchdog restart)"), orders
    # No moment it "goes again" at: its backoff's next step is not one.
    assert "next_allowed_at" not in orders["budget_spent"], orders
    assert "next_allowed_at" in orders["backoff"], orders
    [paused] = _said(logs, "audit-sink")
    assert (paused["decision"], paused["detail"]) == (
        "transient", "it is PAUSED: resume it, and it starts again without a restart"), paused
    # Its STATE says it: status shows no `held` line for it (docs/runbook.md's table).
    assert w.daemon.engine.held.get(next(k for k in w.daemon.engine.statuses if k.connector == "audit-sink")) is None
