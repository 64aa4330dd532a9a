"""The simulator's answers checked against Confluent's published connect/v1 specs.

The specs are copies in specs/ (see specs/README.md): `connect` is the 2024 SDK spec (list,
read, status, pause, resume), `lifecycle` the 2026 excerpt (restart, 403, RateLimitError).
Response schemas are OpenAPI 3.0 schemas, which are JSON Schema but for `nullable`; that one
keyword is translated before validating.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from watchdog.simulator.routing import classify

from .openapi import Spec, assert_valid
from .support import NARROW_AUTH, OTHER_CLUSTER, Build, Harness, path, scenario

PREFIX = "/connect/v1/environments/{environment_id}/clusters/{kafka_cluster_id}"
LIST = f"{PREFIX}/connectors"
EXPANDED_LIST = f"{PREFIX}/connectors?expand=info,status,id"
CONNECTOR = f"{PREFIX}/connectors/{{connector_name}}"

# operationId -> the simulator's endpoint kind
SERVED_OPERATIONS = {
    "listConnectv1Connectors": "list",
    "listConnectv1ConnectorsWithExpansions": "list",
    "readConnectv1Connector": "read",
    "readConnectv1ConnectorStatus": "status",
    "pauseConnectv1Connector": "pause",
    "resumeConnectv1Connector": "resume",
    "restartConnectv1Connector": "restart",
}

EVERY_STATE: list[dict[str, Any]] = [
    {"name": "running", "tasks": 2},
    {"name": "failed", "type": "sink", "script": {"initial": "FAILED"}},
    {"name": "degraded", "tasks": 3, "script": {"initial": "DEGRADED"}},
    {"name": "user-error", "script": {"initial": "USER_ACTIONABLE_ERROR"}},
    {"name": "provisioning", "script": {"initial": "PROVISIONING"}},
    {"name": "paused", "type": "sink", "script": {"initial": "PAUSED"}},
    {"name": "restarting", "tasks": 2, "script": {"initial": "FAILED"}},
]


@pytest.fixture(scope="module")
def connect() -> Spec:
    return Spec("confluent-connect-v1-openapi.yaml")


@pytest.fixture(scope="module")
def lifecycle() -> Spec:
    return Spec("confluent-connect-v1-lifecycle-2026-excerpt.yaml")


def _assert_exact_error(
    validator: Draft202012Validator, body: dict[str, Any], example: Any
) -> None:
    """Valid, the same fields as the spec's example, and the example's own values."""
    assert_valid(validator, body)
    assert body == example


async def _every_state(build: Build) -> Harness:
    harness = build(scenario(EVERY_STATE))
    restarted = await harness.client.post(path(connector="restarting", operation="restart"))
    assert restarted.status_code == 202
    return harness


def test_every_served_operation_is_in_the_specs(connect: Spec, lifecycle: Spec) -> None:
    found = {}
    for spec in (connect, lifecycle):
        for spec_path, operations in spec.document["paths"].items():
            for method, operation in operations.items():
                if (
                    isinstance(operation, dict)
                    and operation.get("operationId") in SERVED_OPERATIONS
                ):
                    concrete = (
                        spec_path.split("?")[0]
                        .replace("{environment_id}", "env-a1")
                        .replace("{kafka_cluster_id}", "lkc-a1")
                        .replace("{connector_name}", "c")
                    )
                    found[operation["operationId"]] = classify(method.upper(), concrete).kind

    assert found == SERVED_OPERATIONS


async def test_lists_match_their_schemas(build: Build, connect: Spec) -> None:
    harness = await _every_state(build)

    plain = await harness.client.get(path())
    expanded = await harness.client.get(path(), params={"expand": "info,status,id"})
    partial = await harness.client.get(path(), params=[("expand", "status"), ("expand", "id")])

    assert_valid(connect.validator(LIST, "get", 200), plain.json())
    assert_valid(connect.validator(EXPANDED_LIST, "get", 200), expanded.json())
    assert_valid(connect.validator(EXPANDED_LIST, "get", 200), partial.json())


async def test_status_and_read_match_their_schemas_in_every_state(
    build: Build, connect: Spec
) -> None:
    harness = await _every_state(build)
    status_schema = connect.validator(f"{CONNECTOR}/status", "get", 200)
    read_schema = connect.validator(CONNECTOR, "get", 200)

    states = set()
    for connector in EVERY_STATE:
        status = (
            await harness.client.get(path(connector=connector["name"], operation="status"))
        ).json()
        read = (await harness.client.get(path(connector=connector["name"]))).json()
        assert_valid(status_schema, status)
        assert_valid(read_schema, read)
        states.add((status["connector"]["state"], tuple(t["state"] for t in status["tasks"])))

    assert ("RUNNING", ("RESTARTING", "RESTARTING")) in states
    assert {state for state, _ in states} == {
        "RUNNING",
        "FAILED",
        "DEGRADED",
        "PROVISIONING",
        "PAUSED",
    }


@pytest.mark.parametrize(
    ("spec_path", "method", "missing"),
    [
        (LIST, "get", path("lkc-nope")),
        (CONNECTOR, "get", path(connector="ghost")),
        (f"{CONNECTOR}/status", "get", path(connector="ghost", operation="status")),
        (f"{CONNECTOR}/pause", "put", path(connector="ghost", operation="pause")),
        (f"{CONNECTOR}/resume", "put", path(connector="ghost", operation="resume")),
    ],
)
async def test_errors_match_the_2024_spec(
    build: Build, connect: Spec, spec_path: str, method: str, missing: str
) -> None:
    harness = build()
    anonymous = build(auth=None)
    broken = build(scenario(faults=[{"action": {"status": 500}}]))

    answers = {
        401: await anonymous.client.request(method.upper(), missing),
        404: await harness.client.request(method.upper(), missing),
        500: await broken.client.request(method.upper(), missing),
    }

    for status, response in answers.items():
        assert response.status_code == status
        example = connect.response(spec_path, method, status)["content"]["application/json"][
            "example"
        ]
        _assert_exact_error(connect.validator(spec_path, method, status), response.json(), example)


async def test_restart_answers_match_the_2026_spec(build: Build, lifecycle: Spec) -> None:
    restart = f"{CONNECTOR}/restart"
    harness = build()
    narrow = build(auth=NARROW_AUTH)
    anonymous = build(auth=None)
    broken = build(scenario(faults=[{"action": {"status": 500}}]))

    accepted = await harness.client.post(path(connector="orders-source", operation="restart"))
    answers = {
        401: await anonymous.client.post(path(connector="orders-source", operation="restart")),
        403: await narrow.client.post(path(OTHER_CLUSTER, "audit-sink", "restart")),
        404: await harness.client.post(path(connector="ghost", operation="restart")),
        500: await broken.client.post(path(connector="orders-source", operation="restart")),
    }

    assert (accepted.status_code, accepted.content) == (202, b"")
    assert "content" not in lifecycle.response(restart, "post", 202)
    for status, response in answers.items():
        assert response.status_code == status
        example = lifecycle.response(restart, "post", status)["content"]["application/json"][
            "example"
        ]
        _assert_exact_error(lifecycle.validator(restart, "post", status), response.json(), example)


async def test_a_refused_restart_is_a_connect_error(build: Build, connect: Spec) -> None:
    harness = build(scenario([{"name": "new", "script": {"initial": "PROVISIONING"}}]))

    response = await harness.client.post(path(connector="new", operation="restart"))

    assert response.status_code == 400
    assert_valid(connect.schema_validator("connect.v1.ConnectorError"), response.json())
    assert set(response.json()["error"]) == {"code", "message"}


async def test_the_flat_error_shape_is_the_specs_inline_response_500(
    build: Build, connect: Spec
) -> None:
    harness = build(scenario(error_shape="flat"))

    body = (await harness.client.get(path(connector="ghost"))).json()

    schema = connect.document["components"]["schemas"]["inline_response_500"]
    assert_valid(connect.schema_validator("inline_response_500"), body)
    assert set(body) == set(schema["properties"])


async def test_429_carries_every_rate_limit_error_header(
    build: Build, connect: Spec, lifecycle: Spec
) -> None:
    harness = build(scenario(rate_limit={"limit": 1, "window_seconds": 30}))
    harness.clock.advance(12.5)
    await harness.client.get(path())

    responses = [
        await harness.client.get(path()),
        await harness.client.post(path(connector="orders-source", operation="restart")),
    ]

    declared_2026 = lifecycle.document["components"]["responses"]["RateLimitError"]["headers"]
    declared_2024 = connect.response(LIST, "get", 429)["headers"]
    assert set(declared_2024) <= set(declared_2026)
    for response in responses:
        assert response.status_code == 429 and response.content == b""
        for name, header in declared_2026.items():
            value = response.headers[name]
            if header["schema"]["type"] == "integer":
                int(value)
        assert response.headers["x-ratelimit-reset"] == response.headers["retry-after"] == "18"
