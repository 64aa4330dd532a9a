"""Restart, pause and resume: 202 at once, the state change later (research note §2.6)."""

from __future__ import annotations

from typing import Any

import pytest

from .support import CLUSTER, Build, Harness, path, scenario


async def _status(harness: Harness, name: str) -> dict[str, Any]:
    response = await harness.client.get(path(connector=name, operation="status"))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_restart_is_accepted_with_an_empty_body_and_takes_its_time(build: Build) -> None:
    harness = build(scenario([{"name": "c", "tasks": 2, "script": {"initial": "FAILED"}}]))

    response = await harness.client.post(path(connector="c", operation="restart"))

    assert response.status_code == 202
    assert response.content == b""
    during = await _status(harness, "c")
    assert during["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in during["tasks"]] == ["RESTARTING", "RESTARTING"]
    harness.clock.advance(2.9)
    assert harness.state("c") == "RUNNING"
    assert harness.simulator.connector(CLUSTER, "c").phase == "RESTARTING"
    harness.clock.advance(0.1)
    assert harness.simulator.connector(CLUSTER, "c").phase == "RUNNING"
    assert harness.tasks("c") == ("RUNNING", "RUNNING")


async def test_a_restart_may_show_nothing_for_a_while_after_its_202(build: Build) -> None:
    # The spec: "This call is asynchronous and the connector will not transition to another
    # state at the same time". With `lag_seconds` the 202 comes at once, and the connector shows
    # as it was (FAILED, its trace and tasks) until the restart begins.
    connectors = [{"name": "c", "tasks": 2, "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    harness = build(scenario(connectors, restart={"lag_seconds": 30, "delay_seconds": 3}))

    response = await harness.client.post(path(connector="c", operation="restart"))

    assert response.status_code == 202 and response.content == b""
    assert harness.simulator.connector(CLUSTER, "c").restarts_accepted == 1
    before = await _status(harness, "c")
    harness.clock.advance(29.9)
    assert harness.state("c") == "FAILED" and harness.tasks("c") == ("SYSTEM_ERROR", "SYSTEM_ERROR")
    assert await _status(harness, "c") == before, "the status is the one from before the restart"
    harness.clock.advance(0.1)
    assert harness.state("c") == "RUNNING" and harness.tasks("c") == ("RESTARTING", "RESTARTING")
    harness.clock.advance(3)
    assert harness.simulator.connector(CLUSTER, "c").phase == "RUNNING"
    assert harness.tasks("c") == ("RUNNING", "RUNNING")


async def test_restarting_tasks_can_show_unassigned(build: Build) -> None:
    harness = build(scenario(restart={"task_state": "UNASSIGNED", "delay_seconds": 1}))

    await harness.client.post(path(connector="orders-source", operation="restart"))

    assert harness.tasks("orders-source") == ("UNASSIGNED",)
    harness.clock.advance(1)
    assert harness.tasks("orders-source") == ("RUNNING",)


@pytest.mark.parametrize(
    ("script", "state"),
    [({"initial": "PROVISIONING"}, "PROVISIONING"), ({"initial": "PAUSED"}, "PAUSED")],
)
async def test_restart_is_refused_with_400_while_provisioning_or_paused(
    build: Build, script: dict[str, Any], state: str
) -> None:
    harness = build(scenario([{"name": "c", "script": script}]))

    response = await harness.client.post(path(connector="c", operation="restart"))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and state in error["message"]
    assert harness.state("c") == state
    assert harness.simulator.restarts() == []
    assert len(harness.simulator.restarts(accepted_only=False)) == 1


async def test_refusing_states_are_configurable(build: Build) -> None:
    connectors = [
        {"name": "paused", "script": {"initial": "PAUSED"}},
        {"name": "failed", "script": {"initial": "FAILED"}},
    ]
    harness = build(scenario(connectors, restart={"rejected_states": ["FAILED"]}))

    paused = await harness.client.post(path(connector="paused", operation="restart"))
    failed = await harness.client.post(path(connector="failed", operation="restart"))

    assert (paused.status_code, failed.status_code) == (202, 400)


@pytest.mark.parametrize("initial", ["FAILED", "DEGRADED", "USER_ACTIONABLE_ERROR"])
async def test_failing_connectors_may_be_restarted(build: Build, initial: str) -> None:
    harness = build(scenario([{"name": "c", "tasks": 2, "script": {"initial": initial}}]))

    response = await harness.client.post(path(connector="c", operation="restart"))

    assert response.status_code == 202


async def test_pause_then_resume_take_effect_after_the_delay(build: Build) -> None:
    harness = build(scenario(pause_resume={"delay_seconds": 2}))

    paused = await harness.client.put(path(connector="billing-sink", operation="pause"))

    assert (paused.status_code, paused.content) == (202, b"")
    assert harness.state("billing-sink") == "RUNNING"
    harness.clock.advance(2)
    assert harness.state("billing-sink") == "PAUSED"
    assert harness.tasks("billing-sink") == ("STOPPED", "STOPPED")

    resumed = await harness.client.put(path(connector="billing-sink", operation="resume"))

    assert (resumed.status_code, resumed.content) == (202, b"")
    harness.clock.advance(1.9)
    assert harness.state("billing-sink") == "PAUSED"
    harness.clock.advance(0.1)
    assert harness.state("billing-sink") == "RUNNING"


async def test_resume_does_nothing_unless_paused(build: Build) -> None:
    harness = build()

    await harness.client.put(path(connector="orders-source", operation="pause"))
    response = await harness.client.put(
        path(connector="orders-source", operation="resume")
    )  # not yet paused
    harness.clock.advance(10)

    assert response.status_code == 202
    assert harness.state("orders-source") == "PAUSED"


async def test_pausing_twice_keeps_the_first_pause(build: Build) -> None:
    harness = build()

    await harness.client.put(path(connector="orders-source", operation="pause"))
    harness.clock.advance(1.5)
    await harness.client.put(path(connector="orders-source", operation="pause"))
    harness.clock.advance(0.5)

    assert harness.state("orders-source") == "PAUSED"


async def test_a_paused_failure_is_still_there_after_resume(build: Build) -> None:
    harness = build(scenario([{"name": "c", "script": {"initial": "PAUSED", "fail_at": 5}}]))
    harness.clock.advance(10)

    assert harness.state("c") == "PAUSED"
    await harness.client.put(path(connector="c", operation="resume"))
    harness.clock.advance(2)

    assert harness.state("c") == "FAILED"


async def test_restart_is_refused_until_a_resume_has_landed(build: Build) -> None:
    """The mcp-confluent observation: resume answers 202 while the connector is still PAUSED."""
    harness = build(scenario([{"name": "c", "script": {"initial": "PAUSED"}}]))

    await harness.client.put(path(connector="c", operation="resume"))
    early = await harness.client.post(path(connector="c", operation="restart"))
    harness.clock.advance(2)
    late = await harness.client.post(path(connector="c", operation="restart"))

    assert (early.status_code, late.status_code) == (400, 202)
