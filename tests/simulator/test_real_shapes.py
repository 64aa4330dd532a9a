"""Situations Confluent Cloud produces that a watchdog must not misread (issue 11): tasks
awaiting a worker, unusable list entries, `type: "unknown"`, configuration errors, custom
connectors. Each is a scenario key or control call; these tests show the simulator plays it."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote, unquote

import pytest

from watchdog.simulator.doors import ApiRequest

from .support import AUTH, CLUSTER, Build, Harness, path, scenario


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()


def _one(build: Build, script: dict[str, Any] | None = None, **connector: Any) -> Harness:
    return build(scenario([{"name": "c", "script": script or {}, **connector}]))


async def _status(harness: Harness) -> dict[str, Any]:
    response = await harness.client.get(path(connector="c", operation="status"))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# -- DEGRADED with tasks awaiting a worker ---------------------------------------------------------


async def test_unassigned_tasks_show_degraded_without_an_error_then_running(build: Build) -> None:
    harness = _one(build, {"unassigned": {"from": 5, "until": 60, "tasks": 2}}, tasks=3)
    assert harness.state("c") == "RUNNING"
    harness.clock.advance(5)

    body = await _status(harness)

    assert body["connector"] == {"state": "DEGRADED", "worker_id": "c", "trace": ""}
    assert [t["state"] for t in body["tasks"]] == ["RUNNING", "UNASSIGNED", "UNASSIGNED"]
    assert all(t["msg"] == "" for t in body["tasks"])
    harness.clock.advance(55)
    assert (harness.state("c"), harness.tasks("c")) == ("RUNNING", ("RUNNING",) * 3)


async def test_unassigned_without_an_end_stays_and_survives_restarts(build: Build) -> None:
    harness = _one(build, {"unassigned": {"tasks": 1}}, tasks=2)
    response = await harness.client.post(path(connector="c", operation="restart"))
    assert response.status_code == 202
    harness.clock.advance(86_400)

    assert (harness.state("c"), harness.tasks("c")) == ("DEGRADED", ("RUNNING", "UNASSIGNED"))


def test_unassigned_can_be_switched_at_runtime(build: Build) -> None:
    harness = _one(build, tasks=2)

    harness.simulator.change_connector(CLUSTER, "c", {"unassigned": 2})
    assert (harness.state("c"), harness.tasks("c")) == ("DEGRADED", ("UNASSIGNED", "UNASSIGNED"))
    harness.simulator.change_connector(CLUSTER, "c", {"unassigned": 0})
    assert harness.state("c") == "RUNNING"


def test_unassigned_cannot_exceed_the_tasks(build: Build) -> None:
    with pytest.raises(ValueError, match="unassigned.tasks"):
        _one(build, {"unassigned": {"tasks": 3}}, tasks=2)


# -- list entries an answer may break ------------------------------------------------------------


@pytest.mark.parametrize(
    ("list_entry", "expected"),
    [
        ("status_null", {"status": None}),
        ("status_empty", {"status": {}}),
        ("status_missing", {}),
        ("connector_null", {"status": {"name": "c", "connector": None, "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "c", "msg": ""}], "type": "source"}}),
    ],
)
async def test_a_connector_can_come_broken_in_the_expanded_list(build: Build, list_entry: str, expected: dict[str, Any]) -> None:
    harness = build(scenario([{"name": "c", "list_entry": list_entry}, {"name": "fine"}]))

    listed = (await harness.client.get(path(), params={"expand": "status"})).json()

    assert listed["c"] == expected
    assert listed["fine"]["status"]["connector"]["state"] == "RUNNING"
    assert (await _status(harness))["connector"]["state"] == "RUNNING", "/status stays complete"


async def test_list_entries_can_be_broken_at_runtime(build: Build) -> None:
    harness = _one(build)
    harness.simulator.change_connector(CLUSTER, "c", {"list_entry": "status_null"})
    assert (await harness.client.get(path(), params={"expand": "status,id"})).json()["c"]["status"] is None
    harness.simulator.change_connector(CLUSTER, "c", {"list_entry": "complete"})
    assert (await harness.client.get(path(), params={"expand": "status"})).json()["c"]["status"]["connector"]["state"] == "RUNNING"


# -- FAILED for its configuration: the spec's own FAILED example -----------------------------------


async def test_config_error_shows_the_specs_failed_example(build: Build) -> None:
    harness = _one(build, {"initial": "CONFIG_ERROR"})

    listed = (await harness.client.get(path(), params={"expand": "status"})).json()["c"]["status"]
    body = await _status(harness)

    for status in (listed, body):
        assert status["connector"]["state"] == "FAILED"
        assert status["connector"]["trace"].startswith("There were some errors with your configuration:\n")
        assert status["tasks"] == []
    assert body["validation_errors"] == [
        "topics: Provided Kafka ApiKey is invalid", "kafka.api.secret: Provided Kafka ApiKey is invalid",
    ]


# -- type "unknown", custom connectors and the cloud-custom dataset ---------------------------------


async def test_a_connector_can_show_type_unknown_in_status_and_info(build: Build) -> None:
    harness = _one(build, shown_type="unknown")

    entry = (await harness.client.get(path(), params={"expand": "status,info"})).json()["c"]

    assert entry["status"]["type"] == entry["info"]["type"] == "unknown"
    assert entry["info"]["config"]["connector.class"] == "DatagenSource"


def _keys(value: Any) -> Any:
    """The shape of a JSON value: its objects' keys, nested (lists: the shape of their first item)."""
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keys(value[0])] if value else []
    return None


# The shapes of the Terraform provider's recorded answers (internal/testdata/connector/custom/
# read_created_connectors.json and read_provisioning_connector.json, config keys left out).
RECORDED_CUSTOM_ENTRY = {
    "status": {"name": None, "connector": {"state": None, "worker_id": None, "trace": None},
               "tasks": [{"id": None, "state": None, "worker_id": None, "msg": None}], "type": None,
               "errors_from_trace": [], "validation_errors": [], "override_message": None},
    "info": {"name": None, "type": None, "config": None, "tasks": [{"connector": None, "task": None}]},
    "id": {"id": None, "id_type": None},
    "extensions": {},
}
RECORDED_CUSTOM_PROVISIONING = {
    "name": None, "connector": {"state": None, "worker_id": None, "trace": None}, "tasks": [], "type": None,
    "errors_from_trace": [], "validation_errors": [], "override_message": None,
}


async def test_recorded_extras_give_the_shapes_of_confluents_recorded_answers(build: Build) -> None:
    connectors = [{"name": "c", "custom": True}, {"name": "p", "custom": True, "script": {"initial": "PROVISIONING"}},
                  {"name": "broken", "custom": True, "script": {"initial": "CONFIG_ERROR"}}, {"name": "managed"}]
    harness = build(scenario(connectors, recorded_extras=True))

    listed = (await harness.client.get(path(), params={"expand": "info,status,id"})).json()
    provisioning = (await harness.client.get(path(connector="p", operation="status"))).json()

    entry = listed["c"]
    entry["info"]["config"] = None
    assert _keys(entry) == RECORDED_CUSTOM_ENTRY
    assert _keys(provisioning) == RECORDED_CUSTOM_PROVISIONING and provisioning["connector"]["state"] == "PROVISIONING"
    assert listed["broken"]["status"]["validation_errors"], "a failing one says what its failure says"
    assert set(listed["managed"]) == {"status", "info", "id", "extensions"}
    assert set(listed["managed"]["status"]) == {"name", "connector", "tasks", "type"}, "as the recorded managed answer"


async def test_a_custom_connector_is_marked_in_its_config_and_has_a_clcc_id(build: Build) -> None:
    harness = build(scenario([{"name": "mine", "custom": True}, {"name": "managed"}]))

    listed = (await harness.client.get(path(), params={"expand": "info,id"})).json()

    assert listed["mine"]["info"]["config"]["confluent.connector.type"] == "CUSTOM"
    assert listed["mine"]["info"]["config"]["connector.class"] == "io.confluent.kafka.connect.datagen.DatagenConnector"
    assert listed["mine"]["id"]["id"].startswith("clcc-")
    assert "confluent.connector.type" not in listed["managed"]["info"]["config"]


async def test_custom_connectors_metrics_are_in_the_cloud_custom_dataset_only(build: Build) -> None:
    harness = build(scenario([{"name": "mine", "custom": True}, {"name": "managed"}]))
    harness.clock.advance(600)
    ids = {name: harness.simulator.connector(CLUSTER, name).id for name in ("mine", "managed")}
    query = {
        "aggregations": [{"metric": "io.confluent.kafka.connect/sent_records"}],
        "filter": {"op": "OR", "filters": [{"field": "resource.connector.id", "op": "EQ", "value": i} for i in ids.values()]},
        "granularity": "PT1M", "intervals": ["2026-01-01T00:00:00Z/PT5M"], "group_by": ["resource.connector.id"],
    }

    found = {}
    for dataset in ("cloud", "cloud-custom"):
        response = await harness.client.post(f"/v2/metrics/{dataset}/query", json=query)
        assert response.status_code == 200
        found[dataset] = {point["resource.connector.id"] for point in response.json()["data"]}

    assert found == {"cloud": {ids["managed"]}, "cloud-custom": {ids["mine"]}}


# -- names with '/', '.' and '..' ----------------------------------------------------------------

ODD_NAMES = ["a/b", ".", "..", "x/../y", "100% sure", "ümlaut"]


@pytest.mark.parametrize("name", ODD_NAMES)
async def test_each_name_is_reached_by_its_percent_encoded_path(build: Build, name: str) -> None:
    harness = build(scenario([{"name": n} for n in [*ODD_NAMES, "y"]]))
    segment = quote(name, safe="")
    segment = segment.replace(".", "%2E") if segment in (".", "..") else segment

    response = await harness.client.get(path(connector=segment, operation="status"))

    assert response.status_code == 200
    assert response.json()["name"] == name
    assert harness.simulator.calls[-1].connector == name


async def test_literal_dot_segments_are_removed_before_routing(build: Build) -> None:
    harness = build(scenario([{"name": "c"}]))
    raw = path(connector="c", operation="status").replace("/connectors/c/", "/connectors/x/../c/./")

    request = ApiRequest("GET", unquote(raw), authorization=_basic(), raw_path=raw)

    assert harness.simulator.handle(request).status == 200
    assert harness.simulator.calls[-1].connector == "c"


async def test_a_gateway_that_decodes_slashes_first_routes_a_dotted_name_elsewhere(build: Build) -> None:
    harness = build(scenario([{"name": "x/../y"}, {"name": "y", "script": {"initial": "FAILED"}}],
                             routing={"encoded_slash": "decode"}))

    response = await harness.client.post(path(connector=quote("x/../y", safe=""), operation="restart"))

    assert response.status_code == 202
    assert [c.connector for c in harness.simulator.restarts()] == ["y"], "the restart of x/../y reached y"
