"""The self-managed Kafka Connect client against the simulator: every answer classified, the
202 status body read, and worker failover (in-process and over real loopback sockets)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from watchdog.connect.backend import ConnectBackend
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.model import ERROR_OUTCOMES, Outcome
from watchdog.simulator import Scenario, Simulator, create_app

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .simulator.serving import closed_port, served

CLUSTER = "onprem"
PREFIX = f"/kafka-connect/{CLUSTER}"
CONNECTORS: list[dict[str, Any]] = [
    {"name": "orders-source", "tasks": 2},
    {"name": "billing-sink", "type": "sink", "tasks": 2, "script": {"initial": "FAILED"}},
    {"name": "search-sink", "type": "sink", "tasks": 3, "script": {"initial": "DEGRADED"}},
    {"name": "stuck-source", "tasks": 2, "script": {"stall_at": 0}},
]


def kc_scenario(connectors: list[dict[str, Any]] | None = None, **cluster: Any) -> dict[str, Any]:
    return {
        "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}],
        "environments": [],
        "kafka_connect_clusters": [
            {"name": CLUSTER, "connectors": copy.deepcopy(connectors or CONNECTORS), **cluster}
        ],
    }


def backend_for(
    scenario: dict[str, Any], auth: tuple[str, str] | None = None, **settings: Any
) -> tuple[KafkaConnectBackend, Simulator]:
    simulator = Simulator(Scenario.model_validate({**scenario, **settings}))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(simulator)), auth=auth)
    return KafkaConnectBackend(http, [f"http://sim{PREFIX}"]), simulator


class _DeadHosts(httpx.AsyncBaseTransport):
    """Refuses connections to the hosts named `dead-*`; the rest go to the simulator."""

    def __init__(self, simulator: Simulator) -> None:
        self._live = httpx.ASGITransport(app=create_app(simulator))
        self.refused: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("dead"):
            self.refused.append(request.url.host)
            raise httpx.ConnectError("connection refused", request=request)
        return await self._live.handle_async_request(request)


async def test_it_is_a_connect_backend() -> None:
    backend, _ = backend_for(kc_scenario())
    checked: ConnectBackend = backend  # mypy checks the protocol here

    assert checked.kind == "kafka_connect"
    assert Outcome.CONFLICT in ERROR_OUTCOMES


async def test_one_list_call_returns_every_status_with_traces() -> None:
    backend, simulator = backend_for(kc_scenario())

    result = await backend.list_connectors()

    assert (result.outcome, result.status_code) == (Outcome.ACCEPTED, 200)
    assert set(result.value) == {"orders-source", "billing-sink", "search-sink", "stuck-source"}
    billing = result.value["billing-sink"]
    assert (billing.state, [t.state for t in billing.tasks]) == ("RUNNING", ["FAILED", "FAILED"])
    assert all(t.trace.startswith("org.apache.kafka") for t in billing.tasks)
    assert [t.state for t in result.value["search-sink"].tasks] == ["RUNNING", "RUNNING", "FAILED"]
    assert result.value["orders-source"].resource_id is None
    assert [(c.endpoint, c.cluster) for c in simulator.calls] == [("list", CLUSTER)]


async def test_status_of_one_connector_and_of_a_missing_one() -> None:
    backend, _ = backend_for(kc_scenario())

    found = await backend.connector_status("search-sink")
    missing = await backend.connector_status("ghost")

    assert found.ok and found.value.name == "search-sink" and found.value.type == "sink"
    assert (missing.outcome, missing.status_code) == (Outcome.NOT_FOUND, 404)
    assert missing.message == "No status found for connector ghost"


async def test_restart_202_carries_the_status_with_the_failed_tasks_restarting() -> None:
    backend, simulator = backend_for(kc_scenario())

    result = await backend.restart("billing-sink")

    assert (result.outcome, result.status_code) == (Outcome.ACCEPTED, 202)
    assert [t.state for t in result.value.tasks] == ["RESTARTING", "RESTARTING"]
    assert simulator.connector(CLUSTER, "billing-sink").restarts_accepted == 1


async def test_restart_restarts_only_what_failed_unless_told_otherwise() -> None:
    backend, simulator = backend_for(kc_scenario())

    degraded = await backend.restart("search-sink")
    stalled_only_failed = await backend.restart("stuck-source")
    stalled_everything = await backend.restart("stuck-source", only_failed=False)

    assert [t.state for t in degraded.value.tasks] == ["RUNNING", "RUNNING", "RESTARTING"]
    assert [t.state for t in stalled_only_failed.value.tasks] == ["RUNNING", "RUNNING"]
    assert stalled_everything.value.state == "RESTARTING"
    assert simulator.connector(CLUSTER, "stuck-source").restarts_accepted == 1


@pytest.mark.parametrize("status", [204, 200])
async def test_a_restart_answered_without_a_body_is_accepted(status: int) -> None:
    # A worker older than Kafka 3.0 ignores the flags and answers a bare restart.
    fault = {"match": {"endpoint": "restart"}, "action": {"status": status}}
    backend, _ = backend_for(kc_scenario(), faults=[fault])

    result = await backend.restart("billing-sink")

    assert (result.outcome, result.status_code, result.value) == (Outcome.ACCEPTED, status, None)


async def test_a_202_with_an_unreadable_body_is_still_accepted() -> None:
    fault = {"match": {"endpoint": "restart"}, "action": {"invalid_json": True}}
    backend, simulator = backend_for(kc_scenario(), faults=[fault])

    result = await backend.restart("billing-sink")

    assert (result.outcome, result.value) == (Outcome.ACCEPTED, None)
    assert "unreadable response" in result.message
    assert simulator.connector(CLUSTER, "billing-sink").restarts_accepted == 1


async def test_an_unreadable_list_is_a_server_error() -> None:
    fault = {"match": {"endpoint": "list"}, "action": {"invalid_json": True}}
    backend, _ = backend_for(kc_scenario(), faults=[fault])

    assert (await backend.list_connectors()).outcome is Outcome.SERVER_ERROR


async def test_409_during_a_rebalance_is_a_conflict_to_retry() -> None:
    backend, simulator = backend_for(kc_scenario(rebalances=[{"from": 0, "until": 60}]))

    result = await backend.restart("billing-sink")
    listed = await backend.list_connectors()

    assert (result.outcome, result.status_code) == (Outcome.CONFLICT, 409)
    assert "rebalance was underway" in result.message
    assert listed.ok, "reads are served during a rebalance"
    assert simulator.connector(CLUSTER, "billing-sink").restarts_accepted == 0


@pytest.mark.parametrize(
    ("status", "outcome", "message"),
    [
        (400, Outcome.REJECTED, "Bad Request"),
        (403, Outcome.FORBIDDEN, "Forbidden"),
        (404, Outcome.NOT_FOUND, "HTTP 404 Not Found"),
        (409, Outcome.CONFLICT, "rebalance"),
        (429, Outcome.RATE_LIMITED, ""),
        (500, Outcome.SERVER_ERROR, "Request timed out"),
        (503, Outcome.SERVER_ERROR, "Service Unavailable"),
    ],
)
async def test_every_status_code_is_classified(status: int, outcome: Outcome, message: str) -> None:
    backend, _ = backend_for(kc_scenario(), faults=[{"action": {"status": status}}])

    for result in (await backend.restart("orders-source"), await backend.list_connectors()):
        assert (result.outcome, result.status_code) == (outcome, status)
        assert message in result.message


async def test_an_unknown_connector_restart_is_not_found() -> None:
    backend, _ = backend_for(kc_scenario())

    result = await backend.restart("ghost")

    assert (result.outcome, result.message) == (Outcome.NOT_FOUND, "Unknown connector: ghost")


@pytest.mark.parametrize(
    ("auth", "outcome"),
    [
        (None, Outcome.UNAUTHORIZED),
        (("admin", "wrong"), Outcome.UNAUTHORIZED),
        (("admin", "s3cret"), Outcome.ACCEPTED),
    ],
)
async def test_basic_auth(auth: tuple[str, str] | None, outcome: Outcome) -> None:
    scenario = kc_scenario(basic_auth={"username": "admin", "password": "s3cret"})
    backend, _ = backend_for(scenario, auth=auth)

    result = await backend.list_connectors()

    assert result.outcome is outcome
    if outcome is Outcome.UNAUTHORIZED:
        assert result.message == "User cannot access the resource."


async def test_a_refused_worker_is_skipped_and_the_answering_one_asked_first() -> None:
    simulator = Simulator(Scenario.model_validate(kc_scenario()))
    transport = _DeadHosts(simulator)
    urls = [f"http://dead-1{PREFIX}", f"http://live{PREFIX}", f"http://dead-2{PREFIX}"]
    async with httpx.AsyncClient(transport=transport) as http:
        backend = KafkaConnectBackend(http, urls)
        first = await backend.list_connectors()
        second = await backend.connector_status("orders-source")
        restart = await backend.restart("orders-source", only_failed=False)

    assert first.ok and second.ok and restart.ok
    assert transport.refused == ["dead-1"], "after one refusal the live worker is asked first"


async def test_a_refused_connection_fails_over_even_for_a_full_restart() -> None:
    simulator = Simulator(Scenario.model_validate(kc_scenario()))
    async with httpx.AsyncClient(transport=_DeadHosts(simulator)) as http:
        backend = KafkaConnectBackend(http, [f"http://dead{PREFIX}", f"http://live{PREFIX}"])
        result = await backend.restart("billing-sink", only_failed=False)

    assert result.ok, "a refused connection proves the request never left"


async def test_when_every_worker_is_down_the_result_names_them_all() -> None:
    simulator = Simulator(Scenario.model_validate(kc_scenario()))
    async with httpx.AsyncClient(transport=_DeadHosts(simulator)) as http:
        backend = KafkaConnectBackend(http, [f"http://dead-a{PREFIX}", f"http://dead-b{PREFIX}"])
        result = await backend.list_connectors()

    assert (result.outcome, result.status_code) == (Outcome.NETWORK_ERROR, None)
    assert "dead-a" in result.message and "dead-b" in result.message


async def test_over_loopback_a_dead_worker_port_is_skipped() -> None:
    simulator = Simulator(Scenario.model_validate(kc_scenario()))
    async with served(simulator) as url, httpx.AsyncClient(timeout=5) as http:
        dead = f"http://127.0.0.1:{closed_port()}{PREFIX}"
        backend = KafkaConnectBackend(http, [dead, f"{url}{PREFIX}"])
        listed = await backend.list_connectors()
        restarted = await backend.restart("billing-sink")

    assert listed.ok and restarted.status_code == 202


async def test_over_loopback_a_reset_restart_is_repeated_on_the_next_worker_harmlessly() -> None:
    # The first worker restarts the failed tasks, then the connection is reset: the repeat on
    # the second worker finds nothing failed and restarts nothing more.
    fault = {"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"reset": True}}
    simulator = Simulator(Scenario.model_validate({**kc_scenario(), "faults": [fault]}))
    async with served(simulator) as url, httpx.AsyncClient(timeout=5) as http:
        backend = KafkaConnectBackend(http, [f"{url}{PREFIX}", f"{url}{PREFIX}"])
        result = await backend.restart("billing-sink")

    assert result.ok and [t.state for t in result.value.tasks] == ["RESTARTING", "RESTARTING"]
    assert [c.status_code for c in simulator.restarts(accepted_only=False)] == [202, 202]
    assert simulator.connector(CLUSTER, "billing-sink").restarts_accepted == 1


async def test_over_loopback_a_reset_full_restart_is_not_repeated() -> None:
    fault = {"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"reset": True}}
    simulator = Simulator(Scenario.model_validate({**kc_scenario(), "faults": [fault]}))
    async with served(simulator) as url, httpx.AsyncClient(timeout=5) as http:
        backend = KafkaConnectBackend(http, [f"{url}{PREFIX}", f"{url}{PREFIX}"])
        result = await backend.restart("stuck-source", only_failed=False)

    # The request may have reached the worker: reported as such, not repeated anywhere.
    assert result.outcome is Outcome.UNCONFIRMED
    assert "not sent again" in result.message
    assert len(simulator.restarts(accepted_only=False)) == 1


async def test_over_loopback_a_slow_worker_times_out_and_the_next_answers() -> None:
    fault = {"match": {"endpoint": "status"}, "when": {"count": 1}, "action": {"delay_seconds": 2}}
    simulator = Simulator(Scenario.model_validate({**kc_scenario(), "faults": [fault]}))
    async with served(simulator) as url, httpx.AsyncClient(timeout=0.3) as http:
        backend = KafkaConnectBackend(http, [f"{url}{PREFIX}", f"{url}{PREFIX}"])
        result = await backend.connector_status("orders-source")

    assert result.ok and result.value.state == "RUNNING"


def test_worker_urls_must_be_given_and_absolute() -> None:
    http = httpx.AsyncClient()
    with pytest.raises(ValueError, match="at least one worker URL"):
        KafkaConnectBackend(http, [])
    with pytest.raises(ValueError, match="not absolute"):
        KafkaConnectBackend(http, ["/kafka-connect/onprem"])
