"""Connector scripts: how state and throughput change over time and across restarts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from watchdog.simulator.scenario import Scenario

from .support import CLUSTER, Build, Harness, path, scenario


def _one(build: Build, script: dict[str, Any], **connector: Any) -> Harness:
    """A harness whose CLUSTER holds one connector `c` playing `script` (restart delay 3 s)."""
    return build(scenario([{"name": "c", "script": script, **connector}]))


async def _restart(harness: Harness) -> None:
    response = await harness.client.post(path(connector="c", operation="restart"))
    assert response.status_code == 202


def _phase(harness: Harness) -> str:
    return harness.simulator.connector(CLUSTER, "c").phase


async def test_fail_at_turns_failed_with_system_error_tasks(build: Build) -> None:
    harness = _one(build, {"fail_at": 5}, tasks=2)
    harness.clock.advance(4.99)
    assert harness.state("c") == "RUNNING"

    harness.clock.advance(0.01)

    assert harness.state("c") == "FAILED"
    assert harness.tasks("c") == ("SYSTEM_ERROR", "SYSTEM_ERROR")


async def test_first_restart_recovers_for_good_by_default(build: Build) -> None:
    harness = _one(build, {"fail_at": 5})
    harness.clock.advance(6)

    await _restart(harness)
    harness.clock.advance(3)

    assert harness.state("c") == "RUNNING"
    harness.clock.advance(10_000)
    assert harness.state("c") == "RUNNING"


async def test_recovery_can_need_several_restarts(build: Build) -> None:
    harness = _one(build, {"initial": "FAILED", "recover_after_restarts": 3})

    for _ in range(2):
        await _restart(harness)
        harness.clock.advance(3)
        assert harness.state("c") == "FAILED"
    await _restart(harness)
    harness.clock.advance(3)

    assert harness.state("c") == "RUNNING"


async def test_fails_again_after_every_restart(build: Build) -> None:
    harness = _one(
        build, {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 4}
    )

    for _ in range(3):
        await _restart(harness)
        harness.clock.advance(3)
        assert harness.state("c") == "RUNNING"
        harness.clock.advance(3.9)
        assert harness.state("c") == "RUNNING"
        harness.clock.advance(0.1)
        assert harness.state("c") == "FAILED"


async def test_restarting_before_the_failure_does_not_count(build: Build) -> None:
    harness = _one(build, {"fail_at": 10})
    harness.clock.advance(2)

    await _restart(harness)
    harness.clock.advance(8)

    assert harness.state("c") == "FAILED"
    await _restart(harness)
    harness.clock.advance(3)
    assert harness.state("c") == "RUNNING"


async def test_flap_alternates_running_and_failed(build: Build) -> None:
    harness = _one(build, {"flap": {"running_seconds": 10, "failed_seconds": 5}})
    seen = []
    for t in (0, 9.9, 10, 14.9, 15, 24.9, 25, 40):
        harness.clock.now = 5000.0 + t
        seen.append(harness.state("c"))

    assert seen == [
        "RUNNING",
        "RUNNING",
        "FAILED",
        "FAILED",
        "RUNNING",
        "RUNNING",
        "FAILED",
        "FAILED",
    ]


async def test_a_restart_ends_flapping_for_good(build: Build) -> None:
    harness = _one(build, {"flap": {"running_seconds": 10, "failed_seconds": 5}})
    harness.clock.advance(11)

    await _restart(harness)
    harness.clock.advance(100)

    assert harness.state("c") == "RUNNING"


@pytest.mark.parametrize(
    ("initial", "state", "tasks"),
    [
        ("DEGRADED", "DEGRADED", ("RUNNING", "RUNNING", "SYSTEM_ERROR")),
        ("USER_ACTIONABLE_ERROR", "FAILED", ("USER_ACTIONABLE_ERROR",) * 3),
    ],
)
async def test_troubles_that_restarts_do_not_fix_stay(
    build: Build, initial: str, state: str, tasks: tuple[str, ...]
) -> None:
    harness = _one(build, {"initial": initial, "recover_after_restarts": "never"}, tasks=3)
    assert (harness.state("c"), harness.tasks("c")) == (state, tasks)

    await _restart(harness)
    assert harness.tasks("c") == ("RESTARTING",) * 3
    harness.clock.advance(3)

    assert (harness.state("c"), harness.tasks("c")) == (state, tasks)


async def test_user_actionable_error_reads_as_a_configuration_problem(build: Build) -> None:
    harness = _one(build, {"initial": "USER_ACTIONABLE_ERROR"})

    body = (await harness.client.get(path(connector="c", operation="status"))).json()

    assert body["connector"]["state"] == "FAILED"
    assert body["connector"]["trace"].startswith("There were some errors with your configuration")
    assert body["tasks"][0]["state"] == "USER_ACTIONABLE_ERROR"
    assert body["validation_errors"]


async def test_fail_at_can_show_as_degraded(build: Build) -> None:
    harness = _one(build, {"fail_at": 1, "failure": "DEGRADED"}, tasks=2)
    harness.clock.advance(1)

    body = (await harness.client.get(path(connector="c", operation="status"))).json()

    assert body["connector"] == {"state": "DEGRADED", "worker_id": "c", "trace": ""}
    assert [t["state"] for t in body["tasks"]] == ["RUNNING", "SYSTEM_ERROR"]


async def test_a_degraded_connectors_failed_task_can_show_a_user_error(build: Build) -> None:
    # Confluent's status docs: DEGRADED is tasks RUNNING or UNASSIGNED beside others UNASSIGNED,
    # SYSTEM_ERROR or USER_ACTIONABLE_ERROR; the failed task's msg is a user error's.
    harness = _one(build, {"initial": "DEGRADED", "failed_task": "USER_ACTIONABLE_ERROR"}, tasks=3)

    body = (await harness.client.get(path(connector="c", operation="status"))).json()
    listed = (await harness.client.get(path(), params={"expand": "status"})).json()["c"]["status"]

    for status in (body, listed):
        assert status["connector"] == {"state": "DEGRADED", "worker_id": "c", "trace": ""}
        assert [t["state"] for t in status["tasks"]] == ["RUNNING", "RUNNING", "USER_ACTIONABLE_ERROR"]
        assert status["tasks"][2]["msg"].startswith("Authentication failed")
    assert body["validation_errors"]
    assert harness.simulator.connector(CLUSTER, "c").tasks == ("RUNNING", "RUNNING", "USER_ACTIONABLE_ERROR")


@pytest.mark.parametrize("script", [{"initial": "FAILED", "failed_task": "USER_ACTIONABLE_ERROR"},
                                    {"fail_at": 5, "failed_task": "USER_ACTIONABLE_ERROR"}])
def test_failed_task_needs_a_degraded_failure(script: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="failed_task needs a DEGRADED failure"):
        Scenario.model_validate(scenario([{"name": "c", "tasks": 2, "script": script}]))


async def test_provisioning_until_a_time_then_running(build: Build) -> None:
    harness = _one(build, {"initial": "PROVISIONING", "provisioning_until": 30})

    assert (harness.state("c"), harness.tasks("c")) == ("PROVISIONING", ())
    harness.clock.advance(30)
    assert (harness.state("c"), harness.tasks("c")) == ("RUNNING", ("RUNNING",))


async def test_provisioning_without_an_end_stays(build: Build) -> None:
    harness = _one(build, {"initial": "PROVISIONING"})
    harness.clock.advance(86_400)

    assert harness.state("c") == "PROVISIONING"


def test_records_grow_only_while_running_and_not_stalled(build: Build) -> None:
    harness = _one(
        build, {"flap": {"running_seconds": 10, "failed_seconds": 5}}, records_per_second=10
    )
    harness.clock.advance(30)

    # RUNNING during [0, 10) and [15, 25): 20 s at 10 records a second.
    assert harness.simulator.connector(CLUSTER, "c").records == 200


async def test_a_stall_stops_the_records_until_a_restart(build: Build) -> None:
    harness = _one(build, {"stall_at": 5}, records_per_second=2)
    harness.clock.advance(20)

    stalled = harness.simulator.connector(CLUSTER, "c")
    assert (stalled.state, stalled.stalled, stalled.records) == ("RUNNING", True, 10)

    await _restart(harness)
    harness.clock.advance(3)
    assert harness.simulator.connector(CLUSTER, "c").records == 10  # nothing while restarting
    harness.clock.advance(5)

    flowing = harness.simulator.connector(CLUSTER, "c")
    assert (flowing.stalled, flowing.records) == (False, 20)


def test_no_records_while_paused_provisioning_or_failed(build: Build) -> None:
    harness = build(
        scenario(
            [
                {"name": "paused", "script": {"initial": "PAUSED"}},
                {"name": "new", "script": {"initial": "PROVISIONING"}},
                {"name": "broken", "script": {"initial": "FAILED"}},
            ]
        )
    )
    harness.clock.advance(60)

    assert [c.records for c in harness.simulator.connectors()[:3]] == [0, 0, 0]


def test_set_state_overrides_the_script_but_keeps_recovery_rules(build: Build) -> None:
    harness = _one(
        build, {"fail_at": 100, "recover_after_restarts": "never", "refail_after": 1}, tasks=2
    )
    simulator = harness.simulator

    assert simulator.set_state(CLUSTER, "c", "DEGRADED").state == "DEGRADED"
    harness.clock.advance(200)
    assert harness.state("c") == "DEGRADED"
    assert simulator.set_state(CLUSTER, "c", "PAUSED").state == "PAUSED"
    assert simulator.set_state(CLUSTER, "c", "RUNNING").state == "RUNNING"
    harness.clock.advance(200)
    assert harness.state("c") == "RUNNING"  # the old fail_at is gone


async def test_set_state_failed_then_restart_follows_the_recovery_rules(build: Build) -> None:
    harness = _one(build, {"recover_after_restarts": 1})
    harness.simulator.set_state(CLUSTER, "c", "FAILED")

    await _restart(harness)
    harness.clock.advance(3)

    assert harness.state("c") == "RUNNING"


def test_set_state_refuses_degraded_for_one_task(build: Build) -> None:
    harness = _one(build, {})

    with pytest.raises(ValueError, match="DEGRADED needs"):
        harness.simulator.set_state(CLUSTER, "c", "DEGRADED")
    with pytest.raises(ValueError):
        harness.simulator.set_state(CLUSTER, "c", "ASLEEP")


def test_set_script_plays_from_now(build: Build) -> None:
    harness = _one(build, {})
    harness.clock.advance(100)

    harness.simulator.set_script(CLUSTER, "c", {"fail_at": 5})
    harness.clock.advance(4)
    assert harness.state("c") == "RUNNING"
    harness.clock.advance(1)
    assert harness.state("c") == "FAILED"


async def test_a_stall_lasts_until_a_late_restart_has_run(build: Build) -> None:
    # restart.lag_seconds: the restart begins 10 s after its 202; the connector stays stalled
    # (moving nothing) until then and while it restarts, then flows.
    harness = build(scenario([{"name": "c", "script": {"stall_at": 5}, "records_per_second": 2}],
                             restart={"lag_seconds": 10, "delay_seconds": 3}))
    harness.clock.advance(20)
    await _restart(harness)
    harness.clock.advance(12.9)
    assert harness.simulator.connector(CLUSTER, "c").records == 10
    assert harness.simulator.connector(CLUSTER, "c").stalled is True
    harness.clock.advance(5.1)

    flowing = harness.simulator.connector(CLUSTER, "c")
    assert (flowing.stalled, flowing.records) == (False, 20)


def test_stall_can_be_switched_at_runtime(build: Build) -> None:
    harness = _one(build, {}, records_per_second=1)
    harness.clock.advance(10)

    assert harness.simulator.set_stalled(CLUSTER, "c").stalled is True
    harness.clock.advance(10)
    assert harness.simulator.set_stalled(CLUSTER, "c", False).records == 10
    harness.clock.advance(10)
    assert harness.simulator.connector(CLUSTER, "c").records == 20


async def test_deleted_connectors_are_gone(build: Build) -> None:
    harness = _one(build, {})

    harness.simulator.delete_connector(CLUSTER, "c")

    assert (await harness.client.get(path())).json() == []
    assert (await harness.client.get(path(connector="c", operation="status"))).status_code == 404
    with pytest.raises(KeyError):
        harness.simulator.connector(CLUSTER, "c")


async def test_connectors_added_at_runtime_appear_in_the_list(build: Build) -> None:
    harness = _one(build, {})
    harness.clock.advance(50)

    added = harness.simulator.add_connector(CLUSTER, {"name": "late", "script": {"fail_at": 1}})

    assert added.state == "RUNNING"
    assert (await harness.client.get(path())).json() == ["c", "late"]
    harness.clock.advance(1)
    assert harness.state("late") == "FAILED"
    with pytest.raises(ValueError, match="already exists"):
        harness.simulator.add_connector(CLUSTER, {"name": "late"})


def test_records_stay_exact_with_fractional_flap_periods(build: Build) -> None:
    script = {"flap": {"running_seconds": 0.3, "failed_seconds": 0.7}}
    harness = _one(build, script, records_per_second=100)
    for _ in range(1000):
        harness.clock.advance(0.1)
        harness.simulator.connector(CLUSTER, "c")

    # 100 s of flapping, RUNNING 30% of the time, at 100 records a second.
    assert abs(harness.simulator.connector(CLUSTER, "c").records - 3000) <= 1


async def test_a_restart_during_a_restart_starts_the_wait_again(build: Build) -> None:
    harness = _one(build, {"initial": "FAILED"})
    await _restart(harness)
    harness.clock.advance(2)

    await _restart(harness)
    harness.clock.advance(2)

    assert _phase(harness) == "RESTARTING"
    harness.clock.advance(1)
    assert _phase(harness) == "RUNNING"


def test_an_idle_connector_runs_but_moves_nothing(build: Build) -> None:
    harness = _one(build, {"idle_at": 10}, type="sink", records_per_second=2)
    harness.clock.advance(30)

    idle = harness.simulator.connector(CLUSTER, "c")

    assert (idle.state, idle.idle, idle.records, idle.lag) == ("RUNNING", True, 20, 0)


def test_a_stalled_connector_falls_behind_until_it_flows_again(build: Build) -> None:
    harness = _one(build, {"stall_at": 10}, type="sink", records_per_second=2)
    harness.clock.advance(30)
    assert harness.simulator.connector(CLUSTER, "c").lag == 40

    harness.simulator.set_stalled(CLUSTER, "c", False)
    harness.clock.advance(5)

    flowing = harness.simulator.connector(CLUSTER, "c")
    assert (flowing.records, flowing.lag) == (30, 0)


def test_idleness_can_be_switched_at_runtime_and_survives_restarts(build: Build) -> None:
    harness = _one(build, {}, records_per_second=1)
    harness.clock.advance(10)

    assert harness.simulator.set_idle(CLUSTER, "c").idle is True
    harness.clock.advance(10)
    assert harness.simulator.change_connector(CLUSTER, "c", {"idle": False}).records == 10
    harness.clock.advance(10)
    assert harness.simulator.connector(CLUSTER, "c").records == 20


async def test_a_restart_does_not_end_idleness(build: Build) -> None:
    harness = _one(build, {"idle_at": 0})

    await _restart(harness)
    harness.clock.advance(10)

    assert harness.simulator.connector(CLUSTER, "c").idle is True
