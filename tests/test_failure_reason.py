"""The REASON a poll's restart is recorded with names what failed: the connector, or its tasks."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from watchdog.model import ConnectorStatus, Health, TaskStatus
from watchdog.rules import classify, failure_words

from .support import CLUSTER, CLUSTER_ID, daemon_config, in_process, sim_scenario


def _status(state: str, *tasks: str) -> ConnectorStatus:
    return ConnectorStatus(name="c", state=state, tasks=tuple(TaskStatus(id=i, state=s) for i, s in enumerate(tasks)))


@pytest.mark.parametrize(("status", "said"), [
    (_status("FAILED", "FAILED"), "failed: connector FAILED"),
    (_status("FAILED"), "failed: connector FAILED"),
    # A soak probe: every restart for a failed task was recorded "failed: connector RUNNING".
    (_status("RUNNING", "RUNNING", "RUNNING", "RUNNING", "FAILED"), "failed: task 3 failed (connector RUNNING)"),
    (_status("DEGRADED", "SYSTEM_ERROR", "RUNNING", "FAILED"), "failed: tasks 0, 2 failed (connector DEGRADED)"),
    (_status("RUNNING", *["FAILED"] * 5), "failed: tasks 0, 1, 2 and 2 more failed (connector RUNNING)"),
])
def test_the_reason_names_the_failed_tasks_of_a_connector_not_itself_failed(status: ConnectorStatus, said: str) -> None:
    assert classify(status) is Health.FAILED
    assert failure_words(Health.FAILED, status) == said


async def test_a_polls_restart_for_a_failed_task_is_queued_and_recorded_with_it() -> None:
    connectors = [{"name": "sink", "tasks": 2, "script": {"initial": "DEGRADED", "failed_task": "SYSTEM_ERROR"}}]
    rule = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}
    w = in_process(sim_scenario(connectors), daemon_config([rule]))
    with capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
        w.daemon.queue.start()
        await w.daemon.queue.join()
    [record] = w.daemon.state.history(None, 10)
    await w.daemon.stop()
    [queued] = [e for e in logs if e["event"] == "restart_queued"]
    assert queued["reason"] == "failed: task 1 failed (connector DEGRADED)", queued
    assert record.reason == queued["reason"]


async def test_a_connector_created_again_under_its_name_is_said_with_both_ids() -> None:
    # A soak probe: a connector given up on, deleted and created again to fix it, was given up on
    # at once (its budget is the name's, as documented), and no line said it came back.
    connectors = [{"name": "sink", "id": "lcc-old1"}]
    rule = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}
    w = in_process(sim_scenario(connectors), daemon_config([rule]))
    await w.daemon.pollers[CLUSTER].poll()
    w.simulator.delete_connector(CLUSTER_ID, "sink")
    w.simulator.add_connector(CLUSTER_ID, {"name": "sink", "id": "lcc-new2"})
    with capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.stop()
    [said] = [e for e in logs if e["event"] == "connector_replaced"]
    assert (said["connector"], said["old_id"], said["new_id"]) == ("sink", "lcc-old1", "lcc-new2"), said
    assert "its restart budget, backoff and gave-up flag are the name's" in said["note"]


async def test_a_connector_deleted_then_created_again_a_poll_later_is_said_too() -> None:
    # The re-verification of that probe: deleted, absent from a poll, created again (the case a
    # team re-creating a broken connector meets) still had no line.
    connectors = [{"name": "sink", "id": "lcc-old1"}, {"name": "other"}]
    rule = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}
    w = in_process(sim_scenario(connectors), daemon_config([rule]))
    await w.daemon.pollers[CLUSTER].poll()
    w.simulator.delete_connector(CLUSTER_ID, "sink")
    await w.daemon.pollers[CLUSTER].poll()
    w.simulator.add_connector(CLUSTER_ID, {"name": "sink", "id": "lcc-new2"})
    with capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.pollers[CLUSTER].poll()  # said once
    await w.daemon.stop()
    [said] = [e for e in logs if e["event"] == "connector_replaced"]
    assert (said["old_id"], said["new_id"], said["absent_from_a_listing_between"]) == ("lcc-old1", "lcc-new2", True)
