"""The Confluent Cloud client against the simulator: every answer classified into an outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from watchdog.connect import ConfluentCloudBackend
from watchdog.connect.answers import error_message
from watchdog.connect.paths import path_segment
from watchdog.model import Outcome
from watchdog.simulator import Scenario, Simulator, create_app

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import CLUSTER_ID, ENVIRONMENT, served, sim_scenario

CONNECTORS = [
    {"name": "orders-source", "tasks": 2},
    {"name": "billing-sink", "type": "sink", "script": {"initial": "FAILED"}},
    {"name": "audit-sink", "type": "sink", "script": {"initial": "PAUSED"}},
    {"name": "crm-source", "script": {"initial": "PROVISIONING"}},
]


def backend_for(scenario: dict[str, Any], auth: tuple[str, str] = (TEST_API_KEY, TEST_API_SECRET)) -> tuple[ConfluentCloudBackend, Simulator]:
    simulator = Simulator(Scenario.model_validate(scenario))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(simulator)), base_url="http://sim", auth=auth)
    return ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID), simulator


async def test_one_list_call_returns_every_status_and_the_lcc_ids() -> None:
    backend, simulator = backend_for(sim_scenario(CONNECTORS, status_diagnostics=True))
    result = await backend.list_connectors()
    assert result.outcome is Outcome.ACCEPTED and result.status_code == 200
    assert set(result.value) == {"orders-source", "billing-sink", "audit-sink", "crm-source"}
    assert result.value["orders-source"].state == "RUNNING"
    assert [t.state for t in result.value["orders-source"].tasks] == ["RUNNING", "RUNNING"]
    assert result.value["billing-sink"].state == "FAILED"
    assert result.value["billing-sink"].trace, "the failure trace is captured"
    assert result.value["orders-source"].resource_id.startswith("lcc-")
    assert result.request_id
    assert [call.endpoint for call in simulator.calls] == ["list"]


async def test_single_status_and_restart_answers() -> None:
    backend, simulator = backend_for(sim_scenario(CONNECTORS))
    status = await backend.connector_status("billing-sink")
    assert status.ok and status.value.state == "FAILED"
    restart = await backend.restart("billing-sink")
    assert (restart.outcome, restart.status_code) == (Outcome.ACCEPTED, 202)
    assert len(simulator.restarts(connector="billing-sink")) == 1


@pytest.mark.parametrize(("connector", "message"), [("audit-sink", "PAUSED"), ("crm-source", "PROVISIONING")])
async def test_restart_refused_while_paused_or_provisioning(connector: str, message: str) -> None:
    backend, _ = backend_for(sim_scenario(CONNECTORS))
    result = await backend.restart(connector)
    assert (result.outcome, result.status_code) == (Outcome.REJECTED, 400)
    assert message in result.message


@pytest.mark.parametrize("shape", ["nested", "flat"])
async def test_both_error_shapes_are_read(shape: str) -> None:
    backend, _ = backend_for(sim_scenario(CONNECTORS, error_shape=shape))
    result = await backend.restart("no-such-connector")
    assert (result.outcome, result.status_code) == (Outcome.NOT_FOUND, 404)
    assert result.message == "resource not found"


async def test_bad_key_is_unauthorized() -> None:
    backend, _ = backend_for(sim_scenario(CONNECTORS), auth=(TEST_API_KEY, "wrong"))
    result = await backend.list_connectors()
    assert (result.outcome, result.message) == (Outcome.UNAUTHORIZED, "Unauthorized")


async def test_key_without_access_to_the_cluster_is_forbidden() -> None:
    scenario = sim_scenario(CONNECTORS)
    scenario["api_keys"][0]["clusters"] = ["lkc-other1"]
    scenario["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": []})
    backend, _ = backend_for(scenario)
    assert (await backend.restart("orders-source")).outcome is Outcome.FORBIDDEN


@pytest.mark.parametrize(("status", "outcome"), [(500, Outcome.SERVER_ERROR), (502, Outcome.SERVER_ERROR), (503, Outcome.SERVER_ERROR), (409, Outcome.REJECTED)])
async def test_injected_status_codes_are_classified(status: int, outcome: Outcome) -> None:
    backend, _ = backend_for(sim_scenario(CONNECTORS, faults=[{"action": {"status": status}}]))
    assert (await backend.restart("orders-source")).outcome is outcome


async def test_429_with_an_empty_body_carries_the_documented_headers() -> None:
    backend, _ = backend_for(sim_scenario(CONNECTORS, rate_limit={"limit": 1, "window_seconds": 60}))
    assert (await backend.list_connectors()).ok
    result = await backend.restart("orders-source")
    assert (result.outcome, result.status_code) == (Outcome.RATE_LIMITED, 429)
    assert result.headers.limit == 1 and result.headers.remaining == 0
    assert 0 < result.headers.reset <= 60 and result.headers.retry_after == result.headers.reset


async def test_malformed_rate_limit_headers_are_ignored() -> None:
    headers = {"Retry-After": "soon", "X-RateLimit-Reset": "-5", "X-RateLimit-Limit": "many"}
    backend, _ = backend_for(sim_scenario(CONNECTORS, faults=[{"action": {"status": 429, "headers": headers}}]))
    result = await backend.restart("orders-source")
    assert result.outcome is Outcome.RATE_LIMITED
    assert (result.headers.retry_after, result.headers.reset, result.headers.limit) == (None, None, None)


async def test_a_200_with_invalid_json_is_a_server_error_not_a_crash() -> None:
    backend, _ = backend_for(sim_scenario(CONNECTORS, faults=[{"match": {"endpoint": "list"}, "action": {"invalid_json": True}}]))
    result = await backend.list_connectors()
    assert result.outcome is Outcome.SERVER_ERROR
    assert "unreadable response" in result.message


async def test_a_list_of_names_only_says_the_expand_did_not_arrive() -> None:
    # The spec answers names only without `expand`; this is no Kafka Connect worker before 2.3,
    # which the message named to Confluent Cloud users.
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": ["orders-source", "billing-sink"]}}]
    backend, _ = backend_for(sim_scenario(CONNECTORS, faults=faults))
    result = await backend.list_connectors()
    assert result.outcome is Outcome.SERVER_ERROR
    assert result.message == ("unreadable response: expanded list is not an object but an array (of names?): Confluent "
                              "answers so when the request's ?expand did not reach it (a proxy dropping the query?)")


async def test_unknown_fields_and_states_are_tolerated() -> None:
    body = {"x": {"id": {"id": "lcc-1", "id_type": "ID"}, "extensions": {}, "status": {
        "name": "x", "type": "unknown", "connector": {"state": "SOMETHING_NEW", "worker_id": "x", "new_field": 1},
        "tasks": [{"id": "zero", "state": "WEIRD", "worker_id": "x"}], "override_message": "hi"}}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    backend = ConfluentCloudBackend(httpx.AsyncClient(transport=transport, base_url="http://x"), "env-1", "lkc-1")
    result = await backend.list_connectors()
    assert result.ok and result.value["x"].state == "SOMETHING_NEW" and result.value["x"].tasks[0].state == "WEIRD"


@pytest.mark.parametrize("action", [{"truncated": True}, {"reset": True}])
async def test_cut_connections_are_network_errors(action: dict[str, bool]) -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario(CONNECTORS, faults=[{"match": {"endpoint": "list"}, "action": action}])))
    async with served(simulator) as url, httpx.AsyncClient(base_url=url, auth=(TEST_API_KEY, TEST_API_SECRET)) as http:
        result = await ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID).list_connectors()
    assert result.outcome is Outcome.NETWORK_ERROR and result.status_code is None


async def test_a_read_that_times_out_is_a_network_error_and_a_restart_that_does_is_unconfirmed() -> None:
    # The simulator acts, then answers 2 s late: the restart was made. Sent again, an endpoint
    # that restarts and then hangs restarted the connector once per try (1 + max_retries).
    simulator = Simulator(Scenario.model_validate(sim_scenario(CONNECTORS, faults=[{"action": {"delay_seconds": 2}}])))
    async with served(simulator) as url, httpx.AsyncClient(base_url=url, auth=(TEST_API_KEY, TEST_API_SECRET), timeout=0.2) as http:
        backend = ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID)
        read = await backend.connector_status("orders-source")
        restart = await backend.restart("orders-source")
    assert (read.outcome, read.not_run) == (Outcome.NETWORK_ERROR, False)
    assert restart.outcome is Outcome.UNCONFIRMED and restart.status_code is None
    assert restart.message == ("no answer (ReadTimeout: nothing read within the read timeout (0.2s)) after the request may "
                               "have reached the API; not sent again; it may still run later (a hung server runs it "
                               "once it resumes). A poll cannot show a restart of a RUNNING connector: "
                               "`watchdog status` shows its state now")


async def test_a_restart_that_could_not_connect_is_a_network_error_the_api_cannot_have_run() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(base_url="https://api.confluent.cloud", transport=httpx.MockTransport(refuse)) as http:
        result = await ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID).restart("orders-source")
    assert (result.outcome, result.not_run, result.message) == (
        Outcome.NETWORK_ERROR, True, "ConnectError: connection refused")


@pytest.mark.parametrize(("status", "outcome"), [(504, Outcome.UNCONFIRMED), (502, Outcome.SERVER_ERROR),
                                                 (500, Outcome.SERVER_ERROR)])
async def test_a_restart_a_gateway_stopped_waiting_for_is_unconfirmed_other_5xx_were_not_taken(
    status: int, outcome: Outcome,
) -> None:
    # Confluent's restart is asynchronous (a 202 at once): its 500 says it was not taken, and is
    # tried again. A gateway's 504 says it stopped waiting for the API, which may have restarted it.
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"code": status, "message": "upstream request timeout"}})

    async with httpx.AsyncClient(base_url="https://api.confluent.cloud", transport=httpx.MockTransport(answer)) as http:
        backend = ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID)
        restart = await backend.restart("orders-source")
        read = await backend.connector_status("orders-source")
    assert (restart.outcome, restart.status_code, read.outcome) == (outcome, status, Outcome.SERVER_ERROR)
    if status == 504:
        assert restart.message == ("504 from a gateway: upstream request timeout; the API may have restarted it; "
                                   "not sent again; it may still run later (a hung server runs it once it resumes). "
                                   "A poll cannot show a restart of a RUNNING connector: `watchdog status` "
                                   "shows its state now")


def test_error_message_falls_back_to_text_and_reason() -> None:
    assert error_message(httpx.Response(502, text="<html>bad gateway</html>")) == "<html>bad gateway</html>"
    assert error_message(httpx.Response(429)) == "Too Many Requests"
    assert error_message(httpx.Response(400, json={"errors": [{"detail": "quota"}]})) == "quota"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Confluent's Error object has every field optional: the most telling one that is set.
        ({"errors": [{"id": "a", "status": "400", "code": "invalid_filter"}, {"title": "Bad Request"}, {}]},
         "invalid_filter; Bad Request"),
        ({"errors": [{"status": 403}]}, "403"),
        ({"error": "invalid API key"}, "invalid API key"),  # a gateway's {"error": "text"}
        ("Forbidden: key lacks CloudClusterAdmin", "Forbidden: key lacks CloudClusterAdmin"),  # a bare JSON string
        ({"errors": [{"detail": "  "}]}, "Unauthorized"),  # nothing said: the reason phrase
        # RFC 7807 (application/problem+json): its detail, else its title.
        ({"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "API key expired"}, "API key expired"),
        ({"title": "Key disabled", "status": 401, "detail": " "}, "Key disabled"),
        ({"status": 401}, "Unauthorized"),
    ],
)
def test_error_message_reads_every_legal_error_shape(body: object, message: str) -> None:
    assert error_message(httpx.Response(401, json=body)) == message


@pytest.mark.parametrize(
    ("name", "segment"),
    [("orders", "orders"), ("a/b", "a%2Fb"), (".", "%2E"), ("..", "%2E%2E"), ("x/../y", "x%2F..%2Fy"), ("a b%", "a%20b%25")],
)
def test_a_connector_name_is_one_path_segment_that_no_client_collapses(name: str, segment: str) -> None:
    assert path_segment(name) == segment
    # httpx removes literal dot segments: the encoded name must survive it.
    url = httpx.URL("http://sim/connect/v1/connectors/").join(f"{segment}/restart")
    assert url.raw_path.decode() == f"/connect/v1/connectors/{segment}/restart"
