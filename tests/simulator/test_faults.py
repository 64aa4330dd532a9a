"""Injected faults, in-process (faults that cut connections: test_server, over sockets)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .support import CLUSTER, OTHER_CLUSTER, Build, Harness, path, scenario


def _faulty(
    build: Build, *faults: dict[str, Any], seed: int | None = None, **settings: Any
) -> Harness:
    return build(scenario(faults=list(faults), **settings), seed=seed)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (500, "Oops, something went wrong"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (404, "resource not found"),
        (409, "Conflict"),
    ],
)
async def test_status_faults_answer_with_a_connect_error_body(
    build: Build, status: int, message: str
) -> None:
    harness = _faulty(build, {"action": {"status": status}})

    response = await harness.client.get(path())

    assert response.status_code == status
    assert response.json() == {"error": {"code": status, "message": message}}
    assert response.headers["x-request-id"]


async def test_status_faults_use_the_flat_shape_when_asked(build: Build) -> None:
    harness = _faulty(build, {"action": {"status": 500}}, error_shape="flat")

    response = await harness.client.get(path())

    assert response.json() == {"error_code": 500, "message": "Oops, something went wrong"}


async def test_body_and_headers_can_be_replaced(build: Build) -> None:
    harness = _faulty(
        build,
        {
            "match": {"endpoint": "status"},
            "action": {"status": 503, "body": "<html>down</html>", "headers": {"Retry-After": 7}},
        },
        {
            "match": {"endpoint": "read"},
            "action": {"status": 500, "body": {"errors": [{"detail": "boom"}]}},
        },
    )

    text = await harness.client.get(path(connector="orders-source", operation="status"))
    structured = await harness.client.get(path(connector="orders-source"))

    assert (text.status_code, text.text, text.headers["retry-after"]) == (
        503,
        "<html>down</html>",
        "7",
    )
    assert structured.json() == {"errors": [{"detail": "boom"}]}


async def test_a_revoked_key_gets_401(build: Build) -> None:
    harness = _faulty(build, {"match": {"api_key": "test-key"}, "action": {"status": 401}})

    response = await harness.client.get(path())

    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "message": "Unauthorized"}}


async def test_403_on_the_list_of_one_cluster_only(build: Build) -> None:
    harness = _faulty(
        build, {"match": {"endpoint": "list", "cluster": OTHER_CLUSTER}, "action": {"status": 403}}
    )

    forbidden = await harness.client.get(path(OTHER_CLUSTER))
    allowed = await harness.client.get(path(CLUSTER))
    status = await harness.client.get(path(OTHER_CLUSTER, "audit-sink", "status"))

    assert forbidden.status_code == 403
    assert forbidden.json() == {"error": {"code": 403, "message": "Forbidden"}}
    assert (allowed.status_code, status.status_code) == (200, 200)


async def test_injected_429_without_headers(build: Build) -> None:
    harness = _faulty(
        build,
        {"action": {"status": 429}},
        rate_limit={"limit": 100, "window_seconds": 1, "headers": "always"},
    )

    response = await harness.client.get(path())

    assert (response.status_code, response.content) == (429, b"")
    # No rate-limit headers: only what every answer of the simulator carries.
    assert set(response.headers) == {"x-request-id", "content-length", "date"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "0"},
        {"Retry-After": "999999999"},
        {"Retry-After": "soon"},
        {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
        {"X-RateLimit-Reset": "-5", "X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "10"},
        {"X-RateLimit-Reset": "4102444800"},
    ],
)
async def test_injected_429_with_odd_headers(build: Build, headers: dict[str, str]) -> None:
    harness = _faulty(build, {"action": {"status": 429, "headers": headers}})

    response = await harness.client.get(path())

    assert response.status_code == 429
    assert {name: response.headers[name] for name in headers} == headers


async def test_a_status_fault_stops_the_operation(build: Build) -> None:
    harness = _faulty(
        build, {"name": "restart-500", "match": {"endpoint": "restart"}, "action": {"status": 500}}
    )

    response = await harness.client.post(path(connector="orders-source", operation="restart"))

    assert response.status_code == 500
    assert harness.simulator.connector(CLUSTER, "orders-source").restarts_accepted == 0
    assert harness.simulator.restarts() == []
    [call] = harness.simulator.restarts(accepted_only=False)
    assert (call.status_code, call.fault) == (500, "restart-500")


async def test_faults_only_act_in_their_time_window(build: Build) -> None:
    harness = _faulty(build, {"when": {"from": 10, "until": 20}, "action": {"status": 503}})
    codes = []
    for t in (9.9, 10, 19.9, 20):
        harness.clock.now = 5000.0 + t
        codes.append((await harness.client.get(path())).status_code)

    assert codes == [200, 503, 503, 200]


async def test_faults_fire_at_most_count_times(build: Build) -> None:
    harness = _faulty(build, {"when": {"count": 2}, "action": {"status": 502}})

    codes = [(await harness.client.get(path())).status_code for _ in range(4)]

    assert codes == [502, 502, 200, 200]


async def test_probability_is_seeded_and_repeatable(build: Build) -> None:
    rule = {"when": {"probability": 0.3}, "action": {"status": 500}}
    runs = []
    for _ in range(2):
        harness = _faulty(build, rule, seed=42)
        runs.append([(await harness.client.get(path())).status_code for _ in range(100)])

    assert runs[0] == runs[1]
    assert 15 <= runs[0].count(500) <= 45


async def test_the_first_matching_rule_wins_and_labels_the_call(build: Build) -> None:
    harness = _faulty(
        build,
        {"match": {"connector": "billing-sink"}, "action": {"status": 503}},
        {"name": "everything", "action": {"status": 500}},
    )

    billing = await harness.client.get(path(connector="billing-sink", operation="status"))
    orders = await harness.client.get(path(connector="orders-source", operation="status"))

    assert (billing.status_code, orders.status_code) == (503, 500)
    assert [c.fault for c in harness.simulator.calls] == ["faults[0]", "everything"]


async def test_faults_act_after_authentication_and_the_rate_limit(build: Build) -> None:
    harness = _faulty(
        build, {"action": {"status": 500}}, rate_limit={"limit": 1, "window_seconds": 60}
    )
    intruder = build(scenario(faults=[{"action": {"status": 500}}]), auth=("test-key", "nope"))

    first = await harness.client.get(path())
    second = await harness.client.get(path())
    unauthenticated = await intruder.client.get(path())

    assert (first.status_code, second.status_code, unauthenticated.status_code) == (500, 429, 401)
    assert [c.fault for c in harness.simulator.calls] == ["faults[0]", None]


async def test_invalid_json_breaks_the_real_answer(build: Build) -> None:
    harness = _faulty(build, {"match": {"endpoint": "list"}, "action": {"invalid_json": True}})

    response = await harness.client.get(path(), params={"expand": "status"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_a_restart_answered_with_broken_json_still_happened(build: Build) -> None:
    harness = _faulty(build, {"match": {"endpoint": "restart"}, "action": {"invalid_json": True}})

    response = await harness.client.post(path(connector="orders-source", operation="restart"))

    assert (response.status_code, response.content) == (202, b"{")
    assert harness.simulator.connector(CLUSTER, "orders-source").restarts_accepted == 1
    assert harness.simulator.restarts()[0].fault == "faults[0]"


async def test_delay_holds_the_answer_back(build: Build) -> None:
    harness = _faulty(build, {"action": {"delay_seconds": 0.2}})

    started = time.monotonic()
    response = await harness.client.get(path())

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.19  # asyncio may wake a hair early


async def test_latency_is_added_to_every_answer(build: Build) -> None:
    harness = build(scenario(latency_seconds=[0.05, 0.06]))

    started = time.monotonic()
    for _ in range(3):
        await harness.client.get(path())

    assert time.monotonic() - started >= 0.14  # asyncio may wake a hair early


@pytest.mark.parametrize("action", [{"truncated": True}, {"reset": True}])
async def test_connection_faults_need_a_real_connection(
    build: Build, action: dict[str, bool]
) -> None:
    harness = _faulty(build, {"action": action})

    with pytest.raises(ConnectionResetError, match="needs a real connection"):
        await harness.client.get(path())


async def test_fault_rules_can_be_replaced_and_cleared_at_runtime(build: Build) -> None:
    harness = _faulty(build, {"when": {"count": 1}, "action": {"status": 500}})
    assert (await harness.client.get(path())).status_code == 500
    assert (await harness.client.get(path())).status_code == 200

    harness.simulator.set_faults([{"when": {"count": 1}, "action": {"status": 503}}])
    assert (await harness.client.get(path())).status_code == 503
    harness.simulator.set_faults(harness.simulator.faults)  # counts start again
    assert (await harness.client.get(path())).status_code == 503
    harness.simulator.clear_faults()

    assert (await harness.client.get(path())).status_code == 200
    assert harness.simulator.faults == []


def test_runtime_fault_rules_are_validated(build: Build) -> None:
    harness = build()

    with pytest.raises(ValueError, match="unknown cluster lkc-nope"):
        harness.simulator.set_faults(
            [{"match": {"cluster": "lkc-nope"}, "action": {"status": 500}}]
        )
    with pytest.raises(ValueError, match="action"):
        harness.simulator.set_faults([{"action": {}}])
