"""Self-managed Apache Kafka Connect clusters served under /kafka-connect/{cluster}/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .support import CLUSTER, ENVIRONMENT, Build, Harness, path, scenario

ONPREM = "onprem"
BASE = f"/kafka-connect/{ONPREM}"
WORKER = re.compile(r"^10\.0\.0\.[1-3]:8083$")


def _cluster(connectors: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    return scenario(
        kafka_connect_clusters=[
            {"name": ONPREM, "workers": 3, "connectors": connectors, **settings}
        ]
    )


def _kc(build: Build, connectors: list[dict[str, Any]], **settings: Any) -> Harness:
    return build(_cluster(connectors, **settings))


async def _status(harness: Harness, name: str) -> dict[str, Any]:
    response = await harness.client.get(f"{BASE}/connectors/{name}/status")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _states(body: dict[str, Any]) -> tuple[str, list[str]]:
    return body["connector"]["state"], [task["state"] for task in body["tasks"]]


ONLY_FAILED = {"includeTasks": "true", "onlyFailed": "true"}


async def test_the_list_names_the_connectors(build: Build) -> None:
    harness = _kc(build, [{"name": "a"}, {"name": "b", "type": "sink"}])

    response = await harness.client.get(f"{BASE}/connectors")

    assert (response.status_code, response.json()) == (200, ["a", "b"])
    assert "x-ratelimit-limit" not in response.headers


async def test_the_expanded_list_maps_names_to_status_and_info(build: Build) -> None:
    harness = _kc(build, [{"name": "a", "tasks": 2, "config": {"topics": "orders"}}])

    body = (
        await harness.client.get(
            f"{BASE}/connectors", params=[("expand", "status"), ("expand", "info")]
        )
    ).json()

    entry = body["a"]
    assert set(entry) == {"status", "info"}
    assert entry["status"]["name"] == "a" and entry["status"]["type"] == "source"
    assert _states(entry["status"]) == ("RUNNING", ["RUNNING", "RUNNING"])
    assert entry["info"]["config"]["topics"] == "orders"
    assert entry["info"]["config"]["tasks.max"] == "2"
    assert entry["info"]["tasks"] == [{"connector": "a", "task": 0}, {"connector": "a", "task": 1}]


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ([("expand", "status,info")], set()),  # one unknown expansion, as Kafka Connect reads it
        ([("expand", "bogus"), ("expand", "info")], {"info"}),
        ([("expand", "id")], set()),
    ],
)
async def test_expand_values_are_read_whole_and_unknown_ones_ignored(
    build: Build, params: list[tuple[str, str]], keys: set[str]
) -> None:
    harness = _kc(build, [{"name": "a"}])

    body = (await harness.client.get(f"{BASE}/connectors", params=params)).json()

    assert set(body["a"]) == keys


@pytest.mark.parametrize(
    ("script", "tasks", "connector_state", "task_states"),
    [
        ({}, 2, "RUNNING", ["RUNNING", "RUNNING"]),
        ({"initial": "FAILED"}, 2, "RUNNING", ["FAILED", "FAILED"]),
        ({"initial": "DEGRADED"}, 3, "RUNNING", ["RUNNING", "RUNNING", "FAILED"]),
        ({"initial": "USER_ACTIONABLE_ERROR"}, 2, "FAILED", []),
        ({"initial": "PAUSED"}, 2, "PAUSED", ["PAUSED", "PAUSED"]),
        ({"initial": "PROVISIONING"}, 2, "UNASSIGNED", []),
    ],
)
async def test_status_shows_the_kafka_connect_states(
    build: Build,
    script: dict[str, Any],
    tasks: int,
    connector_state: str,
    task_states: list[str],
) -> None:
    harness = _kc(build, [{"name": "c", "tasks": tasks, "script": script}])

    body = await _status(harness, "c")

    assert _states(body) == (connector_state, task_states)
    assert WORKER.match(body["connector"]["worker_id"])
    for task in body["tasks"]:
        assert WORKER.match(task["worker_id"])
        assert "msg" not in task
        assert ("trace" in task) == (task["state"] == "FAILED")
        assert "Exception" in task.get("trace", "Exception")
    assert ("trace" in body["connector"]) == (connector_state == "FAILED")


async def test_one_task_status_has_its_own_path(build: Build) -> None:
    harness = _kc(build, [{"name": "c", "tasks": 3, "script": {"initial": "DEGRADED"}}])

    task = (await harness.client.get(f"{BASE}/connectors/c/tasks/2/status")).json()
    missing = await harness.client.get(f"{BASE}/connectors/c/tasks/7/status")

    assert (task["id"], task["state"]) == (2, "FAILED") and task["trace"]
    assert missing.status_code == 404
    assert missing.json() == {"error_code": 404, "message": "No status found for task c-7"}


async def test_restart_of_failed_instances_answers_202_with_them_restarting(build: Build) -> None:
    harness = _kc(build, [{"name": "c", "tasks": 2, "script": {"initial": "FAILED"}}])

    response = await harness.client.post(f"{BASE}/connectors/c/restart", params=ONLY_FAILED)

    assert response.status_code == 202
    assert _states(response.json()) == ("RUNNING", ["RESTARTING", "RESTARTING"])
    assert _states(await _status(harness, "c")) == ("RUNNING", ["RESTARTING", "RESTARTING"])
    harness.clock.advance(3)  # the scenario's restart delay
    assert _states(await _status(harness, "c")) == ("RUNNING", ["RUNNING", "RUNNING"])


async def test_only_the_failed_task_of_a_degraded_connector_restarts(build: Build) -> None:
    harness = _kc(build, [{"name": "c", "tasks": 3, "script": {"initial": "DEGRADED"}}])

    body = (await harness.client.post(f"{BASE}/connectors/c/restart", params=ONLY_FAILED)).json()

    assert _states(body) == ("RUNNING", ["RUNNING", "RUNNING", "RESTARTING"])
    harness.clock.advance(3)
    assert _states(await _status(harness, "c")) == ("RUNNING", ["RUNNING"] * 3)


async def test_a_connector_that_could_not_start_restarts_its_connector_instance(
    build: Build,
) -> None:
    harness = _kc(build, [{"name": "c", "script": {"initial": "USER_ACTIONABLE_ERROR"}}])

    body = (await harness.client.post(f"{BASE}/connectors/c/restart", params=ONLY_FAILED)).json()

    assert _states(body) == ("RESTARTING", [])
    harness.clock.advance(3)
    assert _states(await _status(harness, "c")) == ("RUNNING", ["RUNNING"])


async def test_only_failed_leaves_a_healthy_or_stalled_connector_alone(build: Build) -> None:
    harness = _kc(build, [{"name": "c", "tasks": 2, "script": {"stall_at": 0}}])

    only_failed = await harness.client.post(f"{BASE}/connectors/c/restart", params=ONLY_FAILED)
    still = harness.simulator.connector(ONPREM, "c")
    every_task = await harness.client.post(
        f"{BASE}/connectors/c/restart", params={"includeTasks": "true", "onlyFailed": "false"}
    )

    assert only_failed.status_code == 202
    assert _states(only_failed.json()) == ("RUNNING", ["RUNNING", "RUNNING"])
    assert (still.stalled, still.restarts_accepted) == (True, 0)
    assert _states(every_task.json()) == ("RESTARTING", ["RESTARTING", "RESTARTING"])
    harness.clock.advance(3)
    assert harness.simulator.connector(ONPREM, "c").stalled is False


@pytest.mark.parametrize(("configured", "expected"), [(None, 204), (200, 200)])
async def test_a_bare_restart_answers_without_a_body(
    build: Build, configured: int | None, expected: int
) -> None:
    settings = {} if configured is None else {"bare_restart_status": configured}
    harness = _kc(build, [{"name": "c"}], **settings)

    response = await harness.client.post(f"{BASE}/connectors/c/restart")

    assert (response.status_code, response.content) == (expected, b"")
    assert len(harness.simulator.restarts(cluster=ONPREM)) == 1


async def test_a_bare_restart_does_not_restart_failed_tasks(build: Build) -> None:
    harness = _kc(build, [{"name": "tasks-failed", "script": {"initial": "FAILED"}}])

    await harness.client.post(f"{BASE}/connectors/tasks-failed/restart")

    assert _states(await _status(harness, "tasks-failed")) == ("RUNNING", ["FAILED"])


async def test_a_bare_restart_heals_a_failed_connector_instance_at_once(build: Build) -> None:
    harness = _kc(build, [{"name": "c", "script": {"initial": "USER_ACTIONABLE_ERROR"}}])

    await harness.client.post(f"{BASE}/connectors/c/restart")

    assert _states(await _status(harness, "c")) == ("RUNNING", ["RUNNING"])


async def test_restarting_the_failed_task_heals_a_degraded_connector(build: Build) -> None:
    harness = _kc(build, [{"name": "c", "tasks": 2, "script": {"initial": "DEGRADED"}}])

    healthy_task = await harness.client.post(f"{BASE}/connectors/c/tasks/0/restart")
    degraded = _states(await _status(harness, "c"))
    failed_task = await harness.client.post(f"{BASE}/connectors/c/tasks/1/restart")
    unknown = await harness.client.post(f"{BASE}/connectors/c/tasks/5/restart")

    assert (healthy_task.status_code, healthy_task.content) == (204, b"")
    assert degraded == ("RUNNING", ["RUNNING", "FAILED"])
    assert failed_task.status_code == 204
    assert _states(await _status(harness, "c")) == ("RUNNING", ["RUNNING", "RUNNING"])
    assert unknown.status_code == 404
    assert unknown.json() == {"error_code": 404, "message": "Unknown task: c-5"}


async def test_pause_and_resume_answer_202(build: Build) -> None:
    harness = _kc(build, [{"name": "c", "tasks": 2}])

    paused = await harness.client.put(f"{BASE}/connectors/c/pause")
    harness.clock.advance(2)
    while_paused = _states(await _status(harness, "c"))
    resumed = await harness.client.put(f"{BASE}/connectors/c/resume")
    harness.clock.advance(2)

    assert (paused.status_code, paused.content, resumed.status_code) == (202, b"", 202)
    assert while_paused == ("PAUSED", ["PAUSED", "PAUSED"])
    assert _states(await _status(harness, "c")) == ("RUNNING", ["RUNNING", "RUNNING"])


@pytest.mark.parametrize(
    ("method", "suffix", "message"),
    [
        ("GET", "/connectors/ghost/status", "No status found for connector ghost"),
        ("GET", "/connectors/ghost", "Connector ghost not found"),
        ("POST", "/connectors/ghost/restart", "Unknown connector: ghost"),
        ("POST", "/connectors/ghost/tasks/0/restart", "Unknown connector: ghost"),
        ("PUT", "/connectors/ghost/pause", "Unknown connector: ghost"),
        ("GET", "/connectors/c/offsets/whatever", "HTTP 404 Not Found"),
        ("GET", "/", "HTTP 404 Not Found"),
    ],
)
async def test_unknown_things_are_404_in_kafka_connects_words(
    build: Build, method: str, suffix: str, message: str
) -> None:
    harness = _kc(build, [{"name": "c"}])

    response = await harness.client.request(method, f"{BASE}{suffix}")

    assert response.status_code == 404
    assert response.json() == {"error_code": 404, "message": message}


async def test_an_unknown_cluster_is_404(build: Build) -> None:
    harness = _kc(build, [{"name": "c"}])

    response = await harness.client.get("/kafka-connect/elsewhere/connectors")

    assert response.status_code == 404


async def test_restarts_answer_409_while_a_scripted_rebalance_runs(build: Build) -> None:
    rebalance = [{"from": 10, "until": 20}]
    harness = _kc(build, [{"name": "c", "script": {"initial": "FAILED"}}], rebalances=rebalance)
    harness.clock.advance(10)

    during = [
        await harness.client.post(f"{BASE}/connectors/c/restart", params=ONLY_FAILED),
        await harness.client.post(f"{BASE}/connectors/c/restart"),
        await harness.client.post(f"{BASE}/connectors/c/tasks/0/restart"),
    ]
    status = await harness.client.get(f"{BASE}/connectors/c/status")
    harness.clock.advance(10)
    after = await harness.client.post(f"{BASE}/connectors/c/restart", params=ONLY_FAILED)

    assert [r.status_code for r in during] == [409, 409, 409]
    assert during[0].json() == {
        "error_code": 409,
        "message": "Cannot complete request momentarily due to no known leader URL, "
        "likely because a rebalance was underway.",
    }
    assert status.status_code == 200
    assert after.status_code == 202


async def test_a_rebalance_can_be_started_at_runtime(build: Build) -> None:
    harness = _kc(build, [{"name": "c"}])

    started = await harness.client.post(f"/_sim/rebalances/{ONPREM}", json={"seconds": 5})
    refused = await harness.client.post(f"{BASE}/connectors/c/restart")
    harness.clock.advance(5)
    accepted = await harness.client.post(f"{BASE}/connectors/c/restart")
    unknown = await harness.client.post("/_sim/rebalances/elsewhere", json={"seconds": 5})
    bad = await harness.client.post(f"/_sim/rebalances/{ONPREM}", json={"seconds": "soon"})

    assert (started.status_code, refused.status_code, accepted.status_code) == (200, 409, 204)
    assert (unknown.status_code, bad.status_code) == (404, 400)


async def test_basic_auth_is_checked_when_configured(build: Build) -> None:
    auth = {"username": "admin", "password": "admin-secret"}
    data = _cluster([{"name": "c"}], basic_auth=auth)
    anonymous = build(data, auth=None)
    wrong = build(data, auth=("admin", "nope"))
    right = build(data, auth=("admin", "admin-secret"))

    for harness in (anonymous, wrong):
        response = await harness.client.get(f"{BASE}/connectors")
        assert (response.status_code, response.text) == (401, "User cannot access the resource.")
    assert (await right.client.get(f"{BASE}/connectors")).json() == ["c"]
    assert anonymous.simulator.calls[-1].api_key is None


async def test_without_basic_auth_no_credentials_are_needed(build: Build) -> None:
    harness = build(_cluster([{"name": "c"}]), auth=None)

    assert (await harness.client.get(f"{BASE}/connectors")).status_code == 200


async def test_kafka_connect_calls_spend_no_confluent_rate_limit(build: Build) -> None:
    data = _cluster([{"name": "c"}])
    data["rate_limit"] = {"limit": 1, "window_seconds": 60, "headers": "always"}
    harness = build(data)

    answers = [await harness.client.get(f"{BASE}/connectors") for _ in range(5)]
    cloud = await harness.client.get(path())

    assert {a.status_code for a in answers} == {200}
    assert all("x-ratelimit-remaining" not in a.headers for a in answers)
    assert cloud.status_code == 200


async def test_fault_rules_match_kafka_connect_clusters(build: Build) -> None:
    data = _cluster([{"name": "c"}])
    data["faults"] = [
        {"match": {"cluster": ONPREM, "endpoint": "restart"}, "action": {"status": 500}},
        {
            "match": {"cluster": ONPREM, "connector": "c", "endpoint": "status"},
            "action": {"status": 409},
        },
    ]
    harness = build(data)

    restart = await harness.client.post(f"{BASE}/connectors/c/restart", params=ONLY_FAILED)
    status = await harness.client.get(f"{BASE}/connectors/c/status")
    cloud = await harness.client.post(path(connector="orders-source", operation="restart"))

    assert restart.json() == {"error_code": 500, "message": "Request timed out"}
    assert status.json()["error_code"] == 409
    assert cloud.status_code == 202


async def test_calls_are_recorded_with_the_cluster_name(build: Build) -> None:
    harness = _kc(build, [{"name": "c", "script": {"initial": "FAILED"}}])

    await harness.client.get(f"{BASE}/connectors", params={"expand": "status"})
    await harness.client.post(f"{BASE}/connectors/c/restart", params=ONLY_FAILED)
    await harness.client.post(f"{BASE}/connectors/c/tasks/0/restart")

    calls = harness.simulator.calls
    assert [(c.api, c.endpoint, c.cluster, c.connector, c.status_code) for c in calls] == [
        ("kafka_connect", "list", ONPREM, None, 200),
        ("kafka_connect", "restart", ONPREM, "c", 202),
        ("kafka_connect", "restart", ONPREM, "c", 204),
    ]
    assert all(c.environment is None and c.api_key is None for c in calls)
    assert len(harness.simulator.restarts(cluster=ONPREM, connector="c")) == 2


async def test_the_apis_do_not_reach_each_others_clusters(build: Build) -> None:
    harness = _kc(build, [{"name": "c"}])

    cloud_path_to_onprem = await harness.client.get(
        f"/connect/v1/environments/{ENVIRONMENT}/clusters/{ONPREM}/connectors"
    )
    onprem_path_to_cloud = await harness.client.get(f"/kafka-connect/{CLUSTER}/connectors")

    assert (cloud_path_to_onprem.status_code, onprem_path_to_cloud.status_code) == (404, 404)


async def test_the_control_api_changes_kafka_connect_connectors(build: Build) -> None:
    harness = _kc(build, [{"name": "c", "tasks": 2}])

    changed = await harness.client.post(f"/_sim/connectors/{ONPREM}/c", json={"state": "DEGRADED"})

    assert changed.status_code == 200
    assert _states(await _status(harness, "c")) == ("RUNNING", ["RUNNING", "FAILED"])


def test_cluster_names_must_be_unique_and_url_safe(build: Build) -> None:
    clash = _cluster([])
    clash["kafka_connect_clusters"].append({"name": CLUSTER})
    with pytest.raises(ValueError, match="duplicate cluster id: lkc-test01"):
        build(clash)
    with pytest.raises(ValueError, match="name"):
        build(scenario(kafka_connect_clusters=[{"name": "a/b"}]))
    with pytest.raises(ValueError, match="until > from"):
        build(_cluster([], rebalances=[{"from": 5, "until": 5}]))
