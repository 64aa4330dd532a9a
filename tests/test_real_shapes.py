"""Decisions against situations real Confluent Cloud produces (issue 11), each played by the
simulator: a connector whose tasks await a worker, unusable list entries, configuration errors,
connectors of type "unknown". Fake clock, poll by poll, as in test_daemon.py."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from .support import CLUSTER, CLUSTER_ID
from .test_daemon import restart_times, run_polls, status_rule, world


def rule_with(**trigger: Any) -> dict[str, Any]:
    return status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 2, **trigger})


# -- 1. DEGRADED with no task in error ------------------------------------------------------------


async def test_degraded_with_tasks_awaiting_a_worker_is_reported_not_restarted() -> None:
    connectors = [
        {"name": "allocating", "tasks": 2, "script": {"unassigned": {"tasks": 1}}},
        # The control: DEGRADED because a task failed is a failure and is restarted.
        {"name": "broken", "tasks": 2, "script": {"initial": "DEGRADED", "recover_after_restarts": 1}},
    ]
    w = world(connectors, [rule_with(degraded_report_after="60s")])

    with capture_logs() as logs:
        await run_polls(w, 59)
        assert w.sample("watchdog_connectors_degraded_too_long", cluster=CLUSTER) == 0
        await run_polls(w, 3)

    assert restart_times(w, "allocating") == [], "a DEGRADED connector without a failed task was restarted"
    assert len(restart_times(w, "broken")) == 1
    assert w.sample("watchdog_connectors_degraded_too_long", cluster=CLUSTER) == 1
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="transient") == 1
    reports = [e for e in logs if e["event"] == "degraded_too_long"]
    assert [(e["connector"], e["log_level"]) for e in reports] == [("allocating", "warning")], "reported once"

    w.simulator.change_connector(CLUSTER_ID, "allocating", {"unassigned": 0})
    await run_polls(w, 1)
    assert w.sample("watchdog_connectors_degraded_too_long", cluster=CLUSTER) == 0
    assert restart_times(w, "allocating") == []
