"""The /_sim/ control and inspection endpoints."""

from __future__ import annotations

from .support import AUTH, CLUSTER, Build, client, path, scenario


async def test_calls_lists_every_connect_call_without_secrets(build: Build) -> None:
    harness = build()
    await harness.client.get(path())
    await harness.client.post(path(connector="orders-source", operation="restart"))

    response = await harness.client.get("/_sim/calls")

    assert response.status_code == 200
    calls = response.json()
    assert [(c["endpoint"], c["status_code"], c["api_key"]) for c in calls] == [
        ("list", 200, AUTH[0]),
        ("restart", 202, AUTH[0]),
    ]
    assert AUTH[1] not in response.text


async def test_control_endpoints_need_no_credentials_and_are_not_recorded(build: Build) -> None:
    harness = build()
    async with client(harness.simulator, auth=None) as anonymous:
        assert (await anonymous.get("/_sim/state")).status_code == 200
        assert (await anonymous.get("/_sim/calls")).json() == []


async def test_state_shows_every_connector_now(build: Build) -> None:
    harness = build(scenario([{"name": "c", "script": {"fail_at": 5}}]))
    harness.clock.advance(6)

    state = (await harness.client.get("/_sim/state")).json()

    assert state["t"] == 6
    first = state["connectors"][0]
    assert {
        k: first[k] for k in ("cluster", "name", "state", "phase", "tasks", "stalled", "records")
    } == {
        "cluster": CLUSTER,
        "name": "c",
        "state": "FAILED",
        "phase": "FAILED",
        "tasks": ["SYSTEM_ERROR"],
        "stalled": False,
        "records": 50,
    }
    assert first["id"].startswith("lcc-")
    assert [c["name"] for c in state["connectors"]] == ["c", "audit-sink"]


async def test_faults_can_be_posted_and_deleted(build: Build) -> None:
    harness = build()

    posted = await harness.client.post(
        "/_sim/faults", json=[{"match": {"endpoint": "list"}, "action": {"status": 503}}]
    )
    faulty = await harness.client.get(path())
    deleted = await harness.client.delete("/_sim/faults")
    healthy = await harness.client.get(path())

    assert (posted.status_code, posted.json()) == (200, {"faults": 1})
    assert faulty.status_code == 503
    assert deleted.status_code == 200
    assert healthy.status_code == 200


async def test_bad_fault_bodies_are_400_naming_the_field(build: Build) -> None:
    harness = build()

    unknown_key = await harness.client.post(
        "/_sim/faults", json=[{"action": {"status": 500, "colour": "red"}}]
    )
    not_a_list = await harness.client.post("/_sim/faults", json={"action": {"status": 500}})
    not_json = await harness.client.post("/_sim/faults", content=b"{nope")
    unknown_cluster = await harness.client.post(
        "/_sim/faults", json=[{"match": {"cluster": "lkc-nope"}, "action": {"status": 500}}]
    )

    assert unknown_key.status_code == 400
    [problem] = unknown_key.json()["detail"]
    assert problem["loc"] == [0, "action", "colour"]
    assert not_a_list.status_code == 400 and not_json.status_code == 400
    assert unknown_cluster.status_code == 400 and "lkc-nope" in unknown_cluster.json()["detail"]


async def test_connector_state_can_be_set(build: Build) -> None:
    harness = build()

    response = await harness.client.post(
        f"/_sim/connectors/{CLUSTER}/orders-source", json={"state": "FAILED"}
    )
    status = (await harness.client.get(path(connector="orders-source", operation="status"))).json()

    assert response.status_code == 200
    assert response.json()["state"] == "FAILED"
    assert status["connector"]["state"] == "FAILED"


async def test_connector_can_be_deleted_and_created(build: Build) -> None:
    harness = build()

    deleted = await harness.client.post(
        f"/_sim/connectors/{CLUSTER}/orders-source", json={"delete": True}
    )
    created = await harness.client.post(
        f"/_sim/connectors/{CLUSTER}/fresh-sink",
        json={"create": {"type": "sink", "tasks": 2, "script": {"initial": "PROVISIONING"}}},
    )
    names = (await harness.client.get(path())).json()

    assert (deleted.status_code, deleted.json()) == (200, None)
    assert created.status_code == 200
    assert (created.json()["state"], created.json()["type"]) == ("PROVISIONING", "sink")
    assert names == ["billing-sink", "fresh-sink"]


async def test_connector_script_and_stall_can_be_changed(build: Build) -> None:
    harness = build()

    scripted = await harness.client.post(
        f"/_sim/connectors/{CLUSTER}/orders-source", json={"script": {"fail_at": 1}}
    )
    stalled = await harness.client.post(
        f"/_sim/connectors/{CLUSTER}/orders-source", json={"stalled": True}
    )
    harness.clock.advance(1)

    assert scripted.status_code == stalled.status_code == 200
    assert stalled.json()["stalled"] is True
    assert harness.state("orders-source") == "FAILED"


async def test_bad_connector_changes_are_refused(build: Build) -> None:
    harness = build()
    url = f"/_sim/connectors/{CLUSTER}/orders-source"

    unknown = await harness.client.post(
        f"/_sim/connectors/{CLUSTER}/ghost", json={"state": "FAILED"}
    )
    unknown_cluster = await harness.client.post("/_sim/connectors/lkc-nope/x", json={"create": {}})
    misspelt = await harness.client.post(url, json={"stat": "FAILED"})
    nothing = await harness.client.post(url, json={})
    both = await harness.client.post(url, json={"delete": True, "state": "FAILED"})
    duplicate = await harness.client.post(url, json={"create": {}})
    degraded = await harness.client.post(url, json={"state": "DEGRADED"})

    assert unknown.status_code == unknown_cluster.status_code == 404
    assert "ghost" in unknown.json()["detail"]
    assert misspelt.status_code == 400
    assert misspelt.json()["detail"][0]["loc"] == ["stat"]
    assert (
        nothing.status_code
        == both.status_code
        == duplicate.status_code
        == degraded.status_code
        == 400
    )
    assert "already exists" in duplicate.json()["detail"]
