"""The read side of the Connect API and its errors, as a client sees them."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from .support import AUTH, CLUSTER, ENVIRONMENT, NARROW_AUTH, OTHER_CLUSTER, Build, path, scenario

MASK = "****************"
REQUIRED_CONFIG_KEYS = {
    "cloud.environment",
    "cloud.provider",
    "connector.class",
    "kafka.api.key",
    "kafka.api.secret",
    "kafka.endpoint",
    "kafka.region",
    "name",
}


async def test_plain_list_names_the_connectors_in_order(build: Build) -> None:
    harness = build()

    response = await harness.client.get(path())

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == ["orders-source", "billing-sink"]


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ([("expand", "status,info,id")], {"status", "info", "id"}),
        ([("expand", "id,info,status")], {"status", "info", "id"}),
        ([("expand", "status"), ("expand", "id")], {"status", "id"}),
        ([("expand", "info")], {"info"}),
        ([("expand", "status, bogus")], {"status"}),
        ([("expand", "bogus")], set()),
        ([("expand", "id"), ("expand", "info,status")], {"status", "info", "id"}),
    ],
)
async def test_expanded_list_carries_exactly_the_requested_keys(
    build: Build, params: Any, keys: set[str]
) -> None:
    harness = build()

    response = await harness.client.get(path(), params=params)

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["orders-source", "billing-sink"]
    assert all(set(entry) == keys for entry in body.values())


async def test_expansions_carry_id_info_and_status(build: Build) -> None:
    harness = build(
        scenario(
            [
                {
                    "name": "pg-source",
                    "tasks": 2,
                    "config": {
                        "connector.class": "PostgresCdcSource",
                        "database.password": "hunter2",
                    },
                }
            ]
        )
    )

    body = (await harness.client.get(path(), params={"expand": "id,info,status"})).json()
    entry = body["pg-source"]

    assert re.fullmatch(r"lcc-[a-z0-9]+", entry["id"]["id"]) and entry["id"]["id_type"] == "ID"
    info = entry["info"]
    assert info["name"] == "pg-source" and info["type"] == "source"
    assert info["tasks"] == [
        {"connector": "pg-source", "task": 0},
        {"connector": "pg-source", "task": 1},
    ]
    assert set(info["config"]) >= REQUIRED_CONFIG_KEYS
    assert info["config"]["connector.class"] == "PostgresCdcSource"
    assert info["config"]["tasks.max"] == "2"
    assert info["config"]["database.password"] == MASK
    assert info["config"]["kafka.api.secret"] == MASK
    assert entry["status"] == {
        "name": "pg-source",
        "connector": {"state": "RUNNING", "worker_id": "pg-source", "trace": ""},
        "tasks": [
            {"id": 0, "state": "RUNNING", "worker_id": "pg-source", "msg": ""},
            {"id": 1, "state": "RUNNING", "worker_id": "pg-source", "msg": ""},
        ],
        "type": "source",
    }


async def test_read_returns_name_config_tasks_and_type(build: Build) -> None:
    harness = build()

    response = await harness.client.get(path(connector="billing-sink"))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"name", "config", "tasks", "type"}
    assert body["type"] == "sink"
    assert body["tasks"] == [
        {"connector": "billing-sink", "task": 0},
        {"connector": "billing-sink", "task": 1},
    ]


async def test_failed_status_carries_trace_message_and_cloud_diagnostics(build: Build) -> None:
    harness = build(scenario([{"name": "pg-source", "script": {"initial": "FAILED"}}]))

    body = (await harness.client.get(path(connector="pg-source", operation="status"))).json()

    assert body["connector"]["state"] == "FAILED"
    assert body["connector"]["trace"].startswith("org.apache.kafka.connect.errors.ConnectException")
    [task] = body["tasks"]
    assert task["state"] == "SYSTEM_ERROR" and task["msg"] and task["trace"]
    assert body["error_summary"] and body["errors_from_trace"]
    assert body["validation_errors"] == [] and body["error_recommendation_enabled"] is True


async def test_diagnostics_can_be_switched_off_and_never_appear_in_the_list(build: Build) -> None:
    failed = [{"name": "pg-source", "script": {"initial": "FAILED"}}]
    harness = build(scenario(failed, status_diagnostics=False))

    status = (await harness.client.get(path(connector="pg-source", operation="status"))).json()
    listed = (await build(scenario(failed)).client.get(path(), params={"expand": "status"})).json()

    assert set(status) == {"name", "connector", "tasks", "type"}
    assert "trace" not in status["tasks"][0]
    assert set(listed["pg-source"]["status"]) == {"name", "connector", "tasks", "type"}


async def test_script_texts_replace_the_default_trace_and_message(build: Build) -> None:
    script = {"initial": "FAILED", "trace": "boom\n", "message": "it broke"}
    harness = build(scenario([{"name": "c", "script": script}]))

    body = (await harness.client.get(path(connector="c", operation="status"))).json()

    assert body["connector"]["trace"] == "boom\n"
    assert body["tasks"][0]["msg"] == "it broke"


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        _basic("test-key:wrong"),
        _basic("test-key"),  # no colon, so no secret
        _basic("test-key:test-secret")[:-2],  # not valid base64
        "Basic !!!",
        "Bearer some-token",
    ],
)
async def test_bad_credentials_get_401(build: Build, authorization: str | None) -> None:
    harness = build(auth=None)
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await harness.client.get(path(), headers=headers)

    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "message": "Unauthorized"}}


async def test_unknown_key_gets_401_and_is_not_named_in_the_record(build: Build) -> None:
    harness = build(auth=("stranger", "whatever"))

    response = await harness.client.get(path())

    assert response.status_code == 401
    assert harness.simulator.calls[-1].api_key is None


async def test_errors_come_in_the_flat_shape_when_asked(build: Build) -> None:
    harness = build(scenario(error_shape="flat"), auth=("test-key", "nope"))

    response = await harness.client.get(path())

    assert response.json() == {"error_code": 401, "message": "Unauthorized"}


@pytest.mark.parametrize("shape", ["nested", "flat"])
async def test_key_without_access_to_a_cluster_gets_403(build: Build, shape: str) -> None:
    harness = build(scenario(error_shape=shape), auth=NARROW_AUTH)

    allowed = await harness.client.get(path(CLUSTER))
    forbidden = await harness.client.post(path(OTHER_CLUSTER, "audit-sink", "restart"))

    assert allowed.status_code == 200
    assert forbidden.status_code == 403
    expected = (
        {"error": {"code": 403, "message": "Forbidden"}}
        if shape == "nested"
        else {"error_code": 403, "message": "Forbidden"}
    )
    assert forbidden.json() == expected
    assert harness.simulator.connector(OTHER_CLUSTER, "audit-sink").restarts_accepted == 0


@pytest.mark.parametrize(
    ("url", "method", "message"),
    [
        # The spec's 404 examples: "account not found" for list, status and read ...
        (
            f"/connect/v1/environments/env-nope/clusters/{CLUSTER}/connectors",
            "GET",
            "account not found",
        ),
        (
            f"/connect/v1/environments/{ENVIRONMENT}/clusters/lkc-nope/connectors",
            "GET",
            "account not found",
        ),
        (path(connector="ghost", operation="status"), "GET", "account not found"),
        (path(connector="ghost"), "GET", "account not found"),
        # ... and "resource not found" for the lifecycle operations.
        (path(connector="ghost", operation="restart"), "POST", "resource not found"),
        (path(connector="ghost", operation="pause"), "PUT", "resource not found"),
        (path(connector="ghost", operation="resume"), "PUT", "resource not found"),
        (path(connector="orders-source", operation="tasks"), "GET", "resource not found"),
        ("/connect/v1/somewhere-else", "GET", "resource not found"),
    ],
)
async def test_unknown_things_get_404_with_the_spec_message(
    build: Build, url: str, method: str, message: str
) -> None:
    harness = build()

    response = await harness.client.request(method, url)

    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "message": message}}


async def test_a_cluster_is_only_found_in_its_own_environment(build: Build) -> None:
    data = scenario()
    data["environments"].append({"id": "env-test02", "clusters": [{"id": "lkc-test03"}]})
    harness = build(data)

    response = await harness.client.get(
        f"/connect/v1/environments/env-test02/clusters/{CLUSTER}/connectors"
    )

    assert response.status_code == 404


async def test_every_answer_carries_a_unique_request_id(build: Build) -> None:
    harness = build(scenario(rate_limit={"limit": 2, "window_seconds": 60}))
    responses = [
        await harness.client.get(path()),
        await harness.client.get(path(connector="ghost")),
        await harness.client.get(path()),  # 429
        await build(auth=None).client.get(path()),  # 401
    ]

    ids = [r.headers["x-request-id"] for r in responses]
    assert [r.status_code for r in responses] == [200, 404, 429, 401]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)


async def test_unknown_query_parameters_are_ignored(build: Build) -> None:
    harness = build()

    status = await harness.client.get(
        path(connector="orders-source", operation="status"), params={"expand": "id", "x": "1"}
    )
    restart = await harness.client.post(
        path(connector="orders-source", operation="restart"),
        params={"includeTasks": "true", "onlyFailed": "true"},
    )

    assert status.status_code == 200 and "id" not in status.json()
    assert restart.status_code == 202


async def test_error_recommendations_for_a_failed_connector(build: Build) -> None:
    harness = build(
        scenario([{"name": "pg-source", "script": {"initial": "USER_ACTIONABLE_ERROR"}}])
    )

    response = await harness.client.get(
        path(connector="pg-source", operation="error-recommendations")
    )

    assert response.status_code == 200
    body = response.json()
    assert body["error"] is None
    connector_id = harness.simulator.connector(CLUSTER, "pg-source").id
    assert re.fullmatch(rf"{connector_id}_\d{{10}}", body["event_id"])
    assert body["recommendations"] and all(isinstance(r, str) for r in body["recommendations"])


@pytest.mark.parametrize("script", [{}, {"initial": "CONFIG_ERROR"}], ids=["healthy", "config-error"])
async def test_error_recommendations_without_a_stack_trace_are_refused(build: Build, script: dict[str, Any]) -> None:
    # Cloud has advice only for a failure with a stack trace: not for a healthy connector, nor
    # for one that failed at config validation (Confluent's MCP server, against the real service).
    harness = build(scenario([{"name": "orders-source", "script": script}]))

    response = await harness.client.get(
        path(connector="orders-source", operation="error-recommendations")
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(
        "could not generate recommendations as error stack trace is not available."
    )


async def test_each_call_is_recorded(build: Build) -> None:
    harness = build()
    harness.clock.advance(2.5)

    response = await harness.client.post(path(connector="billing-sink", operation="restart"))
    await harness.client.get("/connect/v1/elsewhere")

    restart, other = harness.simulator.calls
    assert restart.as_dict() == {
        "t": 2.5,
        "method": "POST",
        "path": path(connector="billing-sink", operation="restart"),
        "endpoint": "restart",
        "api_key": AUTH[0],
        "environment": ENVIRONMENT,
        "cluster": CLUSTER,
        "connector": "billing-sink",
        "status_code": 202,
        "request_id": response.headers["x-request-id"],
        "rate_limited": False,
        "fault": None,
        "api": "cloud",
        "refused": None,
    }
    assert (other.endpoint, other.cluster, other.status_code) == ("other", None, 404)
    assert harness.simulator.restarts() == [restart]
    assert harness.simulator.restarts(cluster=OTHER_CLUSTER) == []
