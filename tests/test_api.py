"""The webhook and restart API: authentication, input limits, and what each request leads to.

Every refused request is also checked against the simulator's record: nothing reached the
Connect API.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from watchdog import release
from watchdog.model import ConnectorKey, Outcome
from watchdog.queue import Phase
from watchdog.server import create_app

from .support import (
    CLUSTER,
    CLUSTER_ID,
    World,
    daemon_config,
    in_process,
    sim_cluster,
    sim_scenario,
    until,
)

TOKEN = "test-token-5d1c0e2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONNECTORS = [
    {"name": "orders-sink", "id": "lcc-orders1"},
    {"name": "billing-sink"},
    {"name": "paused-sink", "script": {"initial": "PAUSED"}},
    {"name": "tmp-sink"},
]
RULES = [
    {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"], "exclude": ["tmp-*"]},
     "backoff": {"base": 60, "cap": 600, "jitter": 0}},
    {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled"}, "cluster_label": "kafka_cluster_id",
                                      "connector_label": "connector"},
     "select": {"include": ["*"], "exclude": ["tmp-*"]}, "backoff": {"base": 60, "cap": 600, "jitter": 0}},
]


def world(
    token: str | None = TOKEN, *, rules: list[dict[str, Any]] | None = None, fake_time: bool = False, **config: Any
) -> tuple[World, httpx.AsyncClient]:
    rules = rules if rules is not None else RULES if token else RULES[:1]
    w = in_process(sim_scenario(CONNECTORS), daemon_config(rules, token=token, **config), fake_time=fake_time)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    return w, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


async def polled(w: World) -> None:
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()


def alert(status: str = "firing", connector: str = "orders-sink", starts: datetime | None = None, fingerprint: str = "fp1") -> dict[str, Any]:
    starts = starts or datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    return {
        "status": status, "labels": {"alertname": "ConnectorStalled", "kafka_cluster_id": CLUSTER_ID, "connector": connector},
        "annotations": {"summary": "orders-sink stopped moving data"}, "startsAt": starts.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {"version": "4", "groupKey": "{}:{alertname=\"ConnectorStalled\"}", "truncatedAlerts": 0, "status": status,
            "receiver": "watchdog", "groupLabels": {"alertname": "ConnectorStalled"}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": list(alerts),
            "notification_reason": "new_alert", "routeLabels": {}}


def restart_calls(w: World) -> int:
    return len([c for c in w.simulator.calls if c.endpoint == "restart"])


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": f"Basic {TOKEN}"}, 401),
     ({"Authorization": f"Bearer {TOKEN}x"}, 401), ({"Authorization": "Bearer"}, 401)],
)
@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/alertmanager"), ("POST", "/v1/restarts"), ("GET", "/v1/connectors"), ("GET", "/v1/restarts/abc")])
async def test_requests_without_the_token_are_refused_and_reach_nothing(headers, status, method, path) -> None:
    w, http = world()
    await polled(w)
    before = len(w.simulator.calls)
    body = payload(alert()) if path == "/v1/alertmanager" else {"cluster": CLUSTER, "connector": "orders-sink"}
    response = await http.request(method, path, headers=headers, json=body if method == "POST" else None)
    assert response.status_code == status
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert len(w.simulator.calls) == before
    assert TOKEN not in response.text


async def test_without_a_configured_token_the_api_is_disabled() -> None:
    w, http = world(token=None)
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"}, headers=AUTH)
    assert response.status_code == 403
    assert "WATCHDOG_SERVER__AUTH_TOKEN" in response.json()["error"]


async def test_open_endpoints_need_no_token() -> None:
    w, http = world()
    assert (await http.get("/metrics")).status_code == 200
    assert (await http.get("/healthz")).status_code == 200
    # /readyz, asked without a token as a kubelet asks: not ready (503, saying why) until a real
    # start() has loaded the config and polled every cluster, then ready. Never a 401.
    before = await http.get("/readyz")
    assert before.status_code == 503 and before.json()["status"] == "not_ready"
    await w.daemon.start(serve_http=False)
    try:
        async with asyncio.timeout(60):
            while (ready := await http.get("/readyz")).status_code != 200:
                assert ready.status_code == 503, ready.text
                await asyncio.sleep(0.05)
        assert ready.json() == {"status": "ready", "config_loaded": True, "clusters_not_yet_polled": [],
                                "state_store": "ok", "role": "leader", "leader": None,
                                "version": release.build().version, "revision": release.build().revision,
                                "config_digest": w.daemon.config.digest()}
    finally:
        await w.daemon.stop()


# -- input limits -----------------------------------------------------------------------------


async def test_oversized_bodies_are_refused() -> None:
    w, http = world()
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    response = await http.post("/v1/alertmanager", content=big, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert restart_calls(w) == 0


async def test_oversized_bodies_without_a_content_length_are_refused() -> None:
    w, http = world()

    async def chunks():
        for _ in range(40):
            yield b" " * 65536

    response = await http.post("/v1/restarts", content=chunks(), headers=AUTH)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"cluster": "prod"}', 422, "connector"),
        (b'{"cluster": "prod", "connector": "orders-sink", "force": true}', 422, "force"),
        (b'{"cluster": 7, "connector": "orders-sink"}', 422, "cluster"),
        (b'[]', 422, "(body)"),
    ],
)
async def test_malformed_restart_requests_get_a_reason(body: bytes, status: int, expected: str) -> None:
    w, http = world()
    response = await http.post("/v1/restarts", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == status
    assert expected in response.text
    assert restart_calls(w) == 0


async def test_malformed_webhook_payloads_get_a_reason() -> None:
    _, http = world()
    # A version other than "4" is read where its shape is (tests/test_webhook_version.py); none at all is not.
    no_version = {key: value for key, value in payload(alert()).items() if key != "version"}
    response = await http.post("/v1/alertmanager", json=no_version, headers=AUTH)
    assert response.status_code == 422 and "version" in response.text
    no_start = payload({**alert(), "startsAt": "yesterday"})
    response = await http.post("/v1/alertmanager", json=no_start, headers=AUTH)
    assert response.status_code == 422 and "alerts[0].startsAt" in response.text


@pytest.mark.parametrize(
    ("cluster", "connector", "status", "expected"),
    [("staging", "orders-sink", 404, "unknown cluster"), (CLUSTER, "tmp-sink", 422, "not watched"),
     (CLUSTER, "ghost-sink", 404, "not found")],
)
async def test_only_watched_connectors_of_configured_clusters_can_be_restarted(cluster, connector, status, expected) -> None:
    w, http = world()
    await polled(w)
    before = restart_calls(w)
    response = await http.post("/v1/restarts", json={"cluster": cluster, "connector": connector}, headers=AUTH)
    assert response.status_code == status and expected in response.json()["error"]
    assert restart_calls(w) == before


# -- the restart API --------------------------------------------------------------------------


async def test_restart_request_is_accepted_and_its_outcome_can_be_followed() -> None:
    w, http = world()
    await polled(w)
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER_ID, "connector": "orders-sink", "reason": "deploy"}, headers=AUTH)
    assert response.status_code == 202
    created = response.json()
    assert created["decision"] == "restart" and created["cluster"] == CLUSTER
    assert response.headers["location"] == f"/v1/restarts/{created['id']}"
    await w.daemon.queue.join()
    followed = (await http.get(f"/v1/restarts/{created['id']}", headers=AUTH)).json()
    assert followed["state"] == "finished" and followed["job"]["outcome"] == "accepted" and followed["job"]["status_code"] == 202
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"]


async def test_a_restart_waiting_out_a_429_pause_says_so_when_followed() -> None:
    """A 429 with Retry-After pauses every call of the key, up to rate_limit.max_pause (15
    minutes): the restart answered so, and one asked for meanwhile, each read back `pending` with
    no message for as long (`watchdog restart --daemon`: 'still queued after 60s' and nothing
    more, as if the daemon were stuck). Each now says it waits for the key's pause and how long
    is left; the note goes once it has gone."""
    faults = [{"match": {"endpoint": "restart", "connector": "billing-sink"}, "when": {"count": 1},
               "action": {"status": 429, "headers": {"Retry-After": "2"}}}]
    w = in_process(sim_scenario(CONNECTORS, faults=faults), daemon_config(RULES, token=TOKEN))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(
        app=create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon")
    await polled(w)
    asked = [(await http.post("/v1/restarts", json={"cluster": CLUSTER_ID, "connector": "billing-sink", "reason": "a"},
                              headers=AUTH)).json()]
    await until(lambda: any(call.status_code == 429 for call in w.simulator.calls), "the 429")
    asked.append((await http.post("/v1/restarts", json={"cluster": CLUSTER_ID, "connector": "orders-sink", "reason": "b"},
                                  headers=AUTH)).json())
    waiting = [(await http.get(f"/v1/restarts/{r['id']}", headers=AUTH)).json() for r in asked]
    assert [r["state"] for r in waiting] == ["pending", "pending"]
    for r in waiting:
        assert r["job"]["message"].startswith("waiting: every call of its API key is paused for "), r
        assert 1 <= int(r["job"]["message"].split("paused for ")[1].split(" s more")[0]) <= 3
    await asyncio.wait_for(w.daemon.queue.join(), 10)
    done = [(await http.get(f"/v1/restarts/{r['id']}", headers=AUTH)).json() for r in asked]
    assert [(r["job"]["outcome"], r["job"]["message"]) for r in done] == [("accepted", ""), ("accepted", "")]
    await w.daemon.queue.close(0)


async def test_restart_of_a_paused_connector_is_decided_not_sent() -> None:
    w, http = world()
    await polled(w)
    created = (await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "paused-sink"}, headers=AUTH)).json()
    assert created["decision"] == "transient" and created["state"] == "skipped"
    assert restart_calls(w) == 0


async def test_readers_of_the_connectors_at_once_share_one_reading() -> None:
    # GET /v1/connectors (`watchdog status --daemon`) reads every connector's state and writes
    # the answer out on the event loop: 0.5 s for 14,000 connectors (7 MB), and 8 readers at
    # once, each doing it in turn before the loop could look at anything else, held /healthz
    # 4.1 s (the liveness probe gives up after 3 s). Readers that come while a reading is
    # awaited share it, read after they came.
    w, _ = world()
    await polled(w)
    readings = 0
    rows = w.daemon.connector_reading  # in steps since s73 (api/row_reading.py): still one reading

    async def counted(query: Any) -> dict[str, Any]:
        nonlocal readings
        readings += 1
        return await rows(query)

    w.daemon.connector_reading = counted  # type: ignore[method-assign]
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    answers = await asyncio.gather(*(http.get("/v1/connectors", headers=AUTH) for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1 and answers[0].json()["connectors"]
    assert readings == 1, f"{readings} readings for 20 readers at once"
    # One who comes after those answers gets a reading of its own.
    assert (await http.get("/v1/connectors", headers=AUTH)).status_code == 200 and readings == 2


async def test_connectors_lists_watched_connectors_with_their_state() -> None:
    w, http = world()
    await polled(w)
    rows = (await http.get("/v1/connectors", headers=AUTH)).json()["connectors"]
    names = {row["connector"]: row for row in rows}
    assert set(names) == {"orders-sink", "billing-sink", "paused-sink"}
    assert names["paused-sink"]["health"] == "transient" and names["orders-sink"]["gave_up"] is False


async def test_connectors_says_a_deleted_connector_is_gone_as_the_status_table_does() -> None:
    # Before: the API's row of a connector deleted since kept `health: healthy`,
    # `seen_state: RUNNING` (for state.forget_vanished_after, 3 days); only the CLI's table
    # worked out "gone" from seen_at, so a system reading the API saw it healthy.
    w, http = world(fake_time=True)
    await polled(w)
    w.clock.advance(60)
    w.simulator.delete_connector(sim_cluster(), "billing-sink")
    await polled(w)
    rows = {row["connector"]: row for row in (await http.get("/v1/connectors", headers=AUTH)).json()["connectors"]}
    assert rows["billing-sink"]["gone"] is True and rows["billing-sink"]["seen_state"] == "RUNNING"
    assert rows["orders-sink"]["gone"] is False and rows["paused-sink"]["gone"] is False


async def test_unknown_request_id_is_404() -> None:
    _, http = world()
    assert (await http.get("/v1/restarts/nope", headers=AUTH)).status_code == 404


async def test_shutting_down_answers_503_so_alertmanager_retries() -> None:
    """From the moment a real stop() begins (here: while it waits for a restart on the wire),
    the webhook answers 503 with Retry-After, so that Alertmanager sends the group again to the
    daemon that comes next, and the alert's restart is not taken on by one that is leaving."""
    slow = [{"match": {"endpoint": "restart"}, "action": {"delay_seconds": 1.0}}]
    w = in_process(sim_scenario(CONNECTORS, faults=slow), daemon_config(RULES, token=TOKEN))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(w.daemon.metrics.registry, w.daemon.probes,
                                                                         w.daemon.api_context())), base_url="http://daemon")
    await polled(w)
    requested = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "billing-sink"}, headers=AUTH)
    assert requested.status_code == 202
    async with asyncio.timeout(30):
        while not w.simulator.calls or w.simulator.calls[-1].endpoint != "restart":
            await asyncio.sleep(0.01)  # billing-sink's restart is on the wire (answered after 1 s)
    stopping = asyncio.create_task(w.daemon.stop())
    async with asyncio.timeout(30):
        while not w.daemon.stopping:
            await asyncio.sleep(0.01)
    answer = await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    assert not stopping.done(), "stop() was still draining when the alert came"
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0
    await stopping
    assert [c.connector for c in w.simulator.restarts()] == ["billing-sink"], "the alert's restart was not taken on"


# -- the Alertmanager webhook -----------------------------------------------------------------


async def test_a_firing_alert_restarts_the_connector_it_names() -> None:
    w, http = world()
    await polled(w)
    response = await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    assert response.status_code == 200
    (result,) = response.json()["alerts"]
    assert result["result"] == "restart_requested" and result["connector"] == "orders-sink"
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"]
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders-sink", rule="on-alert", trigger="alert", outcome="accepted") == 1


async def test_the_connector_label_may_carry_the_lcc_id() -> None:
    w, http = world()
    await polled(w)
    response = await http.post("/v1/alertmanager", json=payload(alert(connector="lcc-orders1")), headers=AUTH)
    assert response.json()["alerts"][0]["connector"] == "orders-sink"


async def test_resent_alerts_do_not_restart_twice() -> None:
    w, http = world()
    await polled(w)
    results = []
    for _ in range(5):  # Alertmanager re-sends every repeat_interval, and HA peers send too
        response = await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
        results.append(response.json()["alerts"][0]["decision"])
    await w.daemon.queue.join()
    for _ in range(3):
        response = await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
        results.append(response.json()["alerts"][0]["decision"])
    assert results == ["restart"] + ["duplicate"] * 4 + ["backoff"] * 3
    assert restart_calls(w) == 1
    assert w.sample("watchdog_webhook_alerts_total", result="duplicate") == 4


async def test_a_new_episode_inside_the_backoff_is_refused() -> None:
    w, http = world()
    await polled(w)
    await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    await w.daemon.queue.join()
    later = alert(starts=datetime(2026, 3, 1, 12, 5, tzinfo=timezone.utc))
    result = (await http.post("/v1/alertmanager", json=payload(later), headers=AUTH)).json()["alerts"][0]
    assert (result["result"], result["decision"]) == ("refused", "backoff")
    assert restart_calls(w) == 1


async def test_resolved_alert_cancels_its_queued_restart() -> None:
    w, http = world()
    await w.daemon.pollers[CLUSTER].poll()  # queue not started: the restart stays queued
    fired = (await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)).json()["alerts"][0]
    assert fired["result"] == "restart_requested"
    resolved = (await http.post("/v1/alertmanager", json=payload(alert(status="resolved"), status="resolved"), headers=AUTH)).json()
    assert resolved["alerts"][0]["result"] == "cancelled"
    w.daemon.queue.start()
    await w.daemon.queue.join()
    assert restart_calls(w) == 0
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders-sink", rule="on-alert", trigger="alert", outcome="cancelled") == 1


async def test_a_resolved_alert_withdraws_its_restart_while_a_429_pause_holds_it() -> None:
    # During a 429's pause the workers have taken their jobs from the lane and wait for budget (up
    # to max_pause). An alert that resolved then was answered `resolved` and its restart went out
    # when the pause ended: only a job still in the lane could be withdrawn.
    faults = [{"match": {"endpoint": "restart", "connector": "billing-sink"}, "when": {"count": 1},
               "action": {"status": 429, "headers": {"Retry-After": "1"}}}]
    w = in_process(sim_scenario(CONNECTORS, faults=faults), daemon_config(RULES, token=TOKEN))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    await w.daemon.pollers[CLUSTER].poll()
    w.daemon.queue.start()
    asked = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "billing-sink"}, headers=AUTH)
    assert asked.status_code == 202
    billing = w.daemon.queue.pending_job(ConnectorKey(CLUSTER, "billing-sink"))
    assert billing is not None
    await until(lambda: billing.rate_limited == 1, "billing-sink's restart answered 429: the key paused")
    fired = (await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)).json()["alerts"][0]
    assert fired["result"] == "restart_requested"
    job = w.daemon.queue.pending_job(ConnectorKey(CLUSTER, "orders-sink"))
    assert job is not None
    await until(lambda: job.phase is Phase.WAITING, "a worker took the alert's restart and waits out the pause")

    resolved = (await http.post("/v1/alertmanager", json=payload(alert(status="resolved"), status="resolved"),
                                headers=AUTH)).json()["alerts"][0]
    await asyncio.wait_for(w.daemon.queue.join(), 10)
    await w.daemon.queue.close(0)

    assert (resolved["result"], resolved["detail"]) == ("cancelled", "withdrew 1 queued restart(s)")
    assert [c.connector for c in w.simulator.restarts()] == ["billing-sink"], "the resolved alert's restart went out"
    assert job.outcome is Outcome.CANCELLED
    status = (await http.get(f"/v1/restarts/{fired['request_id']}", headers=AUTH)).json()
    assert (status["state"], status["job"]["outcome"]) == ("finished", "cancelled")
    # Why, kept with the record (it was empty: probe_ledger F3).
    assert status["job"]["message"].startswith("withdrawn before it was sent: the alert that asked for it resolved"), status
    [record] = [r for r in w.daemon.state.history(ConnectorKey(CLUSTER, "orders-sink"), 5)]
    assert record.outcome is Outcome.CANCELLED and "the alert that asked for it resolved" in record.message, record


async def test_a_resolved_alert_does_not_withdraw_a_restart_an_api_request_was_told_is_its_own() -> None:
    # The operator asks for a restart while the alert's is queued: answered 202 `duplicate`, the
    # queued job being theirs too. The alert then resolved and withdrew the job: nothing
    # restarted, and the operator's request ended `cancelled`, though docs/alerts-and-api.md says a
    # restart asked for through the API is never withdrawn by an alert.
    w, http = world()
    await w.daemon.pollers[CLUSTER].poll()  # queue not started: the restart stays queued
    fired = (await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)).json()["alerts"][0]
    assert fired["result"] == "restart_requested"
    asked = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"}, headers=AUTH)
    assert (asked.status_code, asked.json()["decision"]) == (202, "duplicate")

    resolved = (await http.post("/v1/alertmanager", json=payload(alert(status="resolved"), status="resolved"),
                                headers=AUTH)).json()["alerts"][0]
    w.daemon.queue.start()
    await w.daemon.queue.join()

    assert resolved["result"] == "resolved"
    assert resolved["detail"] == "the queued restart stays: requests of other triggers (manual) wait on it"
    assert restart_calls(w) == 1, "the operator's restart was withdrawn with the alert's"
    status = (await http.get(f"/v1/restarts/{asked.json()['id']}", headers=AUTH)).json()
    assert (status["state"], status["job"]["outcome"]) == ("finished", "accepted")


async def test_a_restart_asked_for_by_name_while_a_poll_s_is_queued_goes_out_once_the_connector_looks_healthy() -> None:
    # A poll queued a restart of a failed connector; the operator asks for one by name (answered
    # 202 `duplicate`: the queued one is theirs); the next poll sees the connector RUNNING, and the
    # poll's restart is dropped at its turn. The operator's went with it: nothing restarted.
    connectors = [{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    w = in_process(sim_scenario(connectors), daemon_config(RULES, token=TOKEN))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    await w.daemon.pollers[CLUSTER].poll()  # the poll's restart queued; the queue not started
    asked = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"}, headers=AUTH)
    assert (asked.status_code, asked.json()["decision"]) == (202, "duplicate")
    w.simulator.set_state(sim_cluster(), "orders-sink", "RUNNING")
    await w.daemon.pollers[CLUSTER].poll()

    w.daemon.queue.start()
    await w.daemon.queue.join()

    assert restart_calls(w) == 1, "the restart asked for by name was dropped with the poll's"
    status = (await http.get(f"/v1/restarts/{asked.json()['id']}", headers=AUTH)).json()
    assert (status["state"], status["job"]["outcome"]) == ("finished", "accepted")


async def test_an_alert_answered_duplicate_keeps_the_poll_s_restart_it_relies_on_when_the_connector_looks_healthy() -> None:
    # A poll queued a restart of a FAILED connector. It runs again but moves nothing (a stall):
    # the stall alert fires and is answered `duplicate` (the queued restart is its restart too),
    # and the next poll sees it RUNNING. At its turn the poll's restart was dropped, "healthy
    # again", and Alertmanager does not send the alert again before its repeat_interval (hours).
    connectors = [{"name": "orders-sink", "id": "lcc-orders1", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    w = in_process(sim_scenario(connectors), daemon_config(RULES, token=TOKEN))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    await w.daemon.pollers[CLUSTER].poll()  # the poll's restart queued; the queue not started
    w.simulator.set_state(sim_cluster(), "orders-sink", "RUNNING")
    fired = (await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)).json()["alerts"][0]
    assert fired["result"] == "duplicate"
    await w.daemon.pollers[CLUSTER].poll()  # seen RUNNING

    w.daemon.queue.start()
    await w.daemon.queue.join()

    assert restart_calls(w) == 1, "the restart the duplicate alert relied on was dropped"


async def test_an_alert_answered_duplicate_is_restarted_when_a_reload_disables_the_rule_that_queued_the_restart() -> None:
    # A poll queued a restart of a FAILED connector; its alert fires and is answered `duplicate`
    # (the queued restart is its restart too). A reload then disables the status rule: at its
    # turn the job was dropped ("its rule 'heal' was disabled"), though the alert's own rule
    # still wanted it, and Alertmanager does not send the alert again before its repeat_interval.
    connectors = [{"name": "orders-sink", "id": "lcc-orders1", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    w = in_process(sim_scenario(connectors), daemon_config(RULES, token=TOKEN))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    await w.daemon.pollers[CLUSTER].poll()  # the poll's restart queued; the queue not started
    fired = (await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)).json()["alerts"][0]
    assert fired["result"] == "duplicate"
    rules = [r.model_copy(update={"enabled": r.name != "heal"}) for r in w.daemon.config.rules]
    w.daemon.config = w.daemon.config.model_copy(update={"rules": rules})  # as a reload swaps it in
    w.daemon.engine.set_config(w.daemon.config)

    w.daemon.queue.start()
    await w.daemon.queue.join()

    assert restart_calls(w) == 1, "the restart the still-firing alert relied on was dropped with the poll's"


def task_alert(task: str, fingerprint: str, status: str = "firing") -> dict[str, Any]:
    """An alert per failing task of orders-sink: two of them name the same connector."""
    body = alert(status=status, fingerprint=fingerprint)
    body["labels"]["task"] = task
    return body


@pytest.mark.parametrize("together", [True, False], ids=["one-webhook", "two-webhooks"])
async def test_a_resolved_alert_leaves_the_restart_another_firing_alert_waits_on(together: bool) -> None:
    # A fires (task 1) and its restart is queued (the queue is held, as during a 429 pause).
    # Then B (task 0) fires and is answered `duplicate`, and A resolves; Alertmanager sorts a
    # group by labels, so one webhook [B firing, A resolved] is what it sends. Before, A's
    # resolution withdrew the job: nothing was restarted although B still fired, and
    # Alertmanager would not send B again for its repeat_interval (hours).
    w, http = world()
    await w.daemon.pollers[CLUSTER].poll()  # queue not started: the restart stays queued
    a, b = task_alert("1", "fp-a"), task_alert("0", "fp-b")
    fired = (await http.post("/v1/alertmanager", json=payload(a), headers=AUTH)).json()["alerts"][0]
    assert fired["result"] == "restart_requested"
    a_resolved = task_alert("1", "fp-a", status="resolved")
    if together:
        answer = await http.post("/v1/alertmanager", json=payload(b, a_resolved), headers=AUTH)
        results = answer.json()["alerts"]
    else:
        first = await http.post("/v1/alertmanager", json=payload(b), headers=AUTH)
        answer = await http.post("/v1/alertmanager", json=payload(a_resolved, status="resolved"), headers=AUTH)
        results = first.json()["alerts"] + answer.json()["alerts"]
    assert answer.status_code == 200
    assert [(r["fingerprint"], r["result"]) for r in results] == [("fp-b", "duplicate"), ("fp-a", "resolved")]
    assert "1 other firing alert(s) wait on it" in results[1]["detail"]
    w.daemon.queue.start()
    await w.daemon.queue.join()
    assert restart_calls(w) == 1, "B still fires: the restart it relies on must be sent"
    status = (await http.get(f"/v1/restarts/{fired['request_id']}", headers=AUTH)).json()
    assert (status["state"], status["job"]["outcome"]) == ("finished", "accepted")
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders-sink", rule="on-alert",
                    trigger="alert", outcome="cancelled") == 0


async def test_the_restart_is_withdrawn_once_every_alert_waiting_on_it_resolved() -> None:
    w, http = world()
    await w.daemon.pollers[CLUSTER].poll()  # queue not started: the restart stays queued
    a, b = task_alert("1", "fp-a"), task_alert("0", "fp-b")
    await http.post("/v1/alertmanager", json=payload(a), headers=AUTH)
    await http.post("/v1/alertmanager", json=payload(b), headers=AUTH)  # duplicate
    first = (await http.post("/v1/alertmanager", json=payload(task_alert("1", "fp-a", "resolved"), status="resolved"),
                             headers=AUTH)).json()["alerts"][0]
    assert first["result"] == "resolved"
    last = (await http.post("/v1/alertmanager", json=payload(task_alert("0", "fp-b", "resolved"), status="resolved"),
                            headers=AUTH)).json()["alerts"][0]
    assert (last["result"], last["detail"]) == ("cancelled", "withdrew 1 queued restart(s)")
    w.daemon.queue.start()
    await w.daemon.queue.join()
    assert restart_calls(w) == 0
    assert w.daemon.state.pending() == []
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders-sink", rule="on-alert",
                    trigger="alert", outcome="cancelled") == 1


async def test_alerts_no_rule_matches_or_for_unknown_targets_are_ignored() -> None:
    w, http = world()
    await polled(w)
    other = {**alert(), "labels": {"alertname": "DiskFull", "kafka_cluster_id": CLUSTER_ID, "connector": "orders-sink"}}
    unknown_cluster = {**alert(fingerprint="fp2"), "labels": {"alertname": "ConnectorStalled", "kafka_cluster_id": "lkc-nope", "connector": "x"}}
    excluded = alert(connector="tmp-sink", fingerprint="fp3")
    ghost = alert(connector="ghost-sink", fingerprint="fp4")
    results = (await http.post("/v1/alertmanager", json=payload(other, unknown_cluster, excluded, ghost), headers=AUTH)).json()["alerts"]
    assert [r["result"] for r in results] == ["unmatched"] * 4
    assert "not configured" in results[1]["detail"] and "not selected" in results[2]["detail"]
    assert results[3]["detail"].startswith("connector 'ghost-sink' was not found in cluster")
    await w.daemon.queue.join()
    assert restart_calls(w) == 0


async def test_firing_alerts_a_rule_took_but_that_name_no_watched_connector_are_logged() -> None:
    # Before: nothing in the log but `http_request status=200`; only the answer Alertmanager
    # throws away said why the connector was not restarted (here, the label was renamed).
    w, http = world()
    await polled(w)
    renamed = {**alert(), "labels": {"alertname": "ConnectorStalled", "kafka_cluster_id": CLUSTER_ID, "connector_name": "orders-sink"}}
    ghosts = [alert(connector=f"ghost-{i}", fingerprint=f"g{i}") for i in range(7)]
    other = {**alert(fingerprint="o"), "labels": {"alertname": "DiskFull", "connector": "orders-sink"}}
    with structlog.testing.capture_logs() as logs:
        response = await http.post("/v1/alertmanager", json=payload(renamed, *ghosts, other), headers=AUTH)
        await http.post("/v1/alertmanager", json=payload(other, alert()), headers=AUTH)
    assert response.status_code == 200
    lines = [e for e in logs if e["event"] == "webhook_alerts_unmatched"]
    assert len(lines) == 1 and lines[0]["log_level"] == "warning", lines
    assert lines[0]["count"] == 8 and len(lines[0]["first"]) == 5  # an alert no rule took is not counted
    assert lines[0]["first"][0] == {"fingerprint": "fp1", "detail": "alert lacks the connector label 'connector'"}
    assert "nothing was restarted" in lines[0]["note"]


async def test_unmatched_alerts_sent_again_are_not_said_again_within_the_hour() -> None:
    # Alertmanager sends a firing group again at every group_interval it changes in and every
    # repeat_interval: 500 alerts of deleted connectors, one group each (group_by: ['...']), sent
    # three times against watchdog run on the simulator, made 1,500 webhook_alerts_unmatched
    # warnings, each saying again what the one before had said.
    w, http = world(fake_time=True)
    await polled(w)
    assert w.clock is not None
    ghosts = [alert(connector=f"ghost-{i}", fingerprint=f"g{i}") for i in range(20)]

    async def send_each_alone() -> list[dict[str, Any]]:
        with structlog.testing.capture_logs() as logs:
            for ghost in ghosts:
                await http.post("/v1/alertmanager", json=payload(ghost), headers=AUTH)
        return [e for e in logs if e["event"] == "webhook_alerts_unmatched"]

    first = await send_each_alone()
    assert [e["log_level"] for e in first] == ["warning"] * 20, "each alert said the first time"
    w.clock.advance(300)
    again = await send_each_alone()
    assert [e["log_level"] for e in again] == ["debug"] * 20, "each said again five minutes later"
    assert again[0]["said_within_the_hour"] == 1 and again[0]["count"] == 1
    # One alert whose reason changes (its cluster no longer listed) is news; the others not.
    with structlog.testing.capture_logs() as logs:
        await http.post("/v1/alertmanager", json=payload(*ghosts[:5], {**ghosts[5], "labels": {
            **ghosts[5]["labels"], "connector_name": "x", "connector": ""}}), headers=AUTH)
    [mixed] = [e for e in logs if e["event"] == "webhook_alerts_unmatched"]
    assert mixed["log_level"] == "warning" and mixed["count"] == 6 and mixed["said_within_the_hour"] == 5
    assert mixed["first"] == [{"fingerprint": "g5", "detail": "alert lacks the connector label 'connector'"}]
    w.clock.advance(3600)
    assert [e["log_level"] for e in await send_each_alone()] == ["warning"] * 20, "said again after an hour"


async def test_firing_alerts_no_rule_takes_are_said_in_one_line() -> None:
    # The rule asks for severity critical; Prometheus sends Critical. The alert reached the daemon
    # (200), nothing was restarted, and nothing but `http_request status=200` said so: the answer
    # that said `unmatched`, with no detail at all, is thrown away by Alertmanager.
    rule = {**RULES[1], "trigger": {**RULES[1]["trigger"], "match_re": {"severity": "critical"}}}
    w, http = world(rules=[rule], fake_time=True)
    await polled(w)
    critical = alert()
    critical["labels"]["severity"] = "Critical"
    others = [{**alert(fingerprint=f"d{i}"), "labels": {"alertname": "DiskFull\n" + "x" * 200}} for i in range(6)]
    with structlog.testing.capture_logs() as logs:
        results = (await http.post("/v1/alertmanager", json=payload(critical, *others), headers=AUTH)).json()["alerts"]
        await http.post("/v1/alertmanager", json=payload(alert(status="resolved"), status="resolved"), headers=AUTH)
    assert results[0]["result"] == "unmatched" and restart_calls(w) == 0
    assert results[0]["detail"] == "no enabled alert rule matches its labels (alertname 'ConnectorStalled')"
    lines = [e for e in logs if e["event"] == "webhook_alerts_no_rule"]
    assert len(lines) == 1 and lines[0]["log_level"] == "info" and lines[0]["count"] == 7, "one line, firing alerts only"
    assert [f["fingerprint"] for f in lines[0]["first"]] == ["fp1", "d0", "d1", "d2", "d3"]
    assert lines[0]["first"][1]["detail"] == f"no enabled alert rule matches its labels (alertname 'DiskFull\\n{'x' * 91}'...)"
    assert not [e for e in logs if e["event"] == "webhook_alerts_unmatched"], "a rule took none of them"
    # At most one line a minute (a route sending every alert, one group each, would make a line an
    # alert); the alerts not said are counted in the next one.
    assert w.clock is not None
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            await http.post("/v1/alertmanager", json=payload(critical), headers=AUTH)
            w.clock.advance(20)
        await http.post("/v1/alertmanager", json=payload(critical), headers=AUTH)
    lines = [e for e in logs if e["event"] == "webhook_alerts_no_rule"]
    assert [(e["count"], e["not_said_since_last_line"]) for e in lines] == [(1, 3)]


async def test_an_alert_with_only_an_lcc_id_finds_its_cluster() -> None:
    w, http = world()
    await polled(w)
    bare = {**alert(), "labels": {"alertname": "ConnectorStalled", "connector": "lcc-orders1"}}
    result = (await http.post("/v1/alertmanager", json=payload(bare), headers=AUTH)).json()["alerts"][0]
    assert (result["result"], result["cluster"], result["connector"]) == ("restart_requested", CLUSTER, "orders-sink")


async def test_an_alert_of_a_deleted_connectors_lcc_id_restarts_not_the_one_created_again_under_its_name() -> None:
    # orders-sink deleted and created again between two polls (Terraform replacing it), as
    # lcc-orders2. Its old id's stall alert (on the Metrics API's connector id), which
    # Alertmanager sends again until it resolves, restarted the new connector: the old id stayed
    # tied to the name, one entry kept for good per connector so replaced.
    w, http = world()
    await polled(w)
    w.simulator.delete_connector(CLUSTER_ID, "orders-sink")
    w.simulator.add_connector(CLUSTER_ID, {"name": "orders-sink", "id": "lcc-orders2"})
    await polled(w)
    bare = {**alert(connector="lcc-orders1"), "labels": {"alertname": "ConnectorStalled", "connector": "lcc-orders1"}}
    results = [(await http.post("/v1/alertmanager", json=payload(one), headers=AUTH)).json()["alerts"][0]
               for one in (alert(connector="lcc-orders1"), bare)]
    await w.daemon.queue.join()
    assert [(r["result"], r["detail"]) for r in results] == [
        ("unmatched", "connector 'lcc-orders1' was not found in cluster 'prod' at the last listing"),
        ("unmatched", "alert lacks the cluster label 'kafka_cluster_id' and 'lcc-orders1' is not a known lcc- id"),
    ]
    assert [c.connector for c in w.simulator.restarts()] == [], "the new connector was restarted for the old one's alert"
    # The new id finds it.
    new = (await http.post("/v1/alertmanager", json=payload(alert(connector="lcc-orders2", fingerprint="fp2")),
                           headers=AUTH)).json()["alerts"][0]
    assert (new["result"], new["connector"]) == ("restart_requested", "orders-sink")


async def test_an_alert_rules_budget_comes_back_once_its_alert_stayed_resolved_for_the_gap() -> None:
    # No status rule polls the connector: only the alert says whether it fails. Before, its count
    # never reset, and after `max_restarts` incidents (weeks apart, each healed) every later alert
    # was refused `budget_spent`, for good.
    rule = {**RULES[1], "max_restarts": 2}
    w, http = world(rules=[rule], fake_time=True)
    w.daemon.queue.start()

    async def send(status: str, fingerprint: str) -> dict[str, Any]:
        await w.daemon.pollers[CLUSTER].poll()
        body = payload(alert(status=status, fingerprint=fingerprint), status=status)
        answer = (await http.post("/v1/alertmanager", json=body, headers=AUTH)).json()["alerts"][0]
        await w.daemon.queue.join()
        return answer

    decisions = []
    for week in range(4):
        decisions.append((await send("firing", f"week{week}"))["decision"])
        w.clock.advance(600)  # the restart healed it: the alert resolves
        await send("resolved", f"week{week}")
        w.clock.advance(7 * 86400)
    assert decisions == ["restart"] * 4
    assert restart_calls(w) == 4
    # Within the gap after a resolution the count holds: the same connector failing again at once
    # is a flap, and its second restart waits for gap(1) = 2 minutes.
    assert (await send("firing", "again"))["decision"] == "restart"
    w.clock.advance(60)
    await send("resolved", "again")
    w.clock.advance(30)
    assert (await send("firing", "flap"))["decision"] == "backoff"


async def test_an_alert_rule_that_spent_its_budget_marks_the_connector_gave_up() -> None:
    # As a status rule does: the flag, its metric (WatchdogConnectorGaveUp) and one `gave_up` line.
    # Before, an alert (or stall) rule's connector that used its max_restarts showed none of them.
    rule = {**RULES[1], "max_restarts": 1}
    w, http = world(rules=[rule], fake_time=True)
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()

    async def send(status: str = "firing") -> dict[str, Any]:
        body = payload(alert(status=status), status=status)
        answer = (await http.post("/v1/alertmanager", json=body, headers=AUTH)).json()["alerts"][0]
        await w.daemon.queue.join()
        return answer

    def gave_up() -> float:
        return w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="orders-sink")

    with structlog.testing.capture_logs() as logs:
        assert (await send())["decision"] == "restart"
        w.clock.advance(3600)  # the restart did not help: the alert still fires after the gap
        assert (await send())["decision"] == "budget_spent"
        again = await send()
        assert again["decision"] == "budget_spent"
    # Each alert after it says why (before, `budget_spent` with an empty detail).
    assert again["detail"].startswith("given up on: 1 restart attempt(s) without a fix (max_restarts); left to a "
                                      "person until the alert has stayed resolved for "), again
    assert gave_up() == 1
    assert [(e["connector"], e["attempts"]) for e in logs if e["event"] == "gave_up"] == [("orders-sink", 1)]
    listed = (await http.get("/v1/connectors", headers=AUTH)).json()["connectors"]
    assert [c["gave_up"] for c in listed if c["connector"] == "orders-sink"] == [True]
    await send("resolved")  # healed by hand: the flag goes with the alert
    assert gave_up() == 0


async def test_an_alert_still_firing_keeps_the_budget_when_another_for_the_connector_resolves() -> None:
    # Per-task alerts for one connector (as a real Alertmanager sent them, repeat_interval 4s):
    # max_restarts 1 spent, gave up; task 0's alert resolved while task 1's still fired. The
    # resolution cleared the connector's signal: watchdog_connector_gave_up 0 (each task its own
    # group, group_by [..., task]), and at task 1's next re-send its count was reset and it was
    # restarted again (restart_count_reset).
    rule = {**RULES[1], "max_restarts": 1}
    w, http = world(rules=[rule], fake_time=True)
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()

    async def send(*alerts: dict[str, Any]) -> list[tuple[str, str, str | None]]:
        answers = (await http.post("/v1/alertmanager", json=payload(*alerts), headers=AUTH)).json()["alerts"]
        await w.daemon.queue.join()
        return [(a["fingerprint"], a["result"], a["decision"]) for a in answers]

    def gave_up() -> float:
        return w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="orders-sink")

    assert (await send(task_alert("0", "task0"), task_alert("1", "task1")))[0][1] == "restart_requested"
    w.clock.advance(3600)
    assert {d for _, _, d in await send(task_alert("0", "task0"), task_alert("1", "task1"))} == {"budget_spent"}
    assert gave_up() == 1
    w.clock.advance(60)
    with structlog.testing.capture_logs() as logs:
        answer = (await http.post("/v1/alertmanager", json=payload(task_alert("0", "task0", "resolved"), status="resolved"),
                                  headers=AUTH)).json()["alerts"]
        assert gave_up() == 1, "task 1 still fires"
        assert answer[0]["result"] == "resolved"
        assert answer[0]["detail"] == "1 other firing alert(s) still name orders-sink: its restart count is kept"
        for _ in range(3):  # task 1 fires on: re-sent at each repeat_interval
            w.clock.advance(3600)
            assert await send(task_alert("1", "task1")) == [("task1", "refused", "budget_spent")]
    assert restart_calls(w) == 1 and gave_up() == 1
    assert not [e for e in logs if e["event"] in ("restart_count_reset", "gave_up")], "the flag never dropped"
    # Task 1 resolves too: the signal clears, and after the gap the budget is back.
    await send(task_alert("1", "task1", "resolved"))
    assert gave_up() == 0
    w.clock.advance(3600)
    assert await send(task_alert("1", "task1")) == [("task1", "restart_requested", "restart")]


async def test_an_alert_that_fires_again_and_stays_held_keeps_the_budget() -> None:
    # One alert: restarted, resolved, firing again within the gap (held: backoff) and firing on.
    # The resolution had started the quiet time, and the alert held since changed nothing: an
    # hour later its re-send found the connector "quiet" for the gap, reset the count, and
    # restarted it past max_restarts 1.
    rule = {**RULES[1], "max_restarts": 1}
    w, http = world(rules=[rule], fake_time=True)
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()

    async def send(status: str = "firing") -> str:
        body = payload(alert(status=status), status=status)
        answer = (await http.post("/v1/alertmanager", json=body, headers=AUTH)).json()["alerts"][0]
        await w.daemon.queue.join()
        return answer["decision"] or answer["result"]

    assert await send() == "restart"
    w.clock.advance(60)
    assert await send("resolved") == "resolved"
    w.clock.advance(30)
    assert await send() == "budget_spent"
    w.clock.advance(3600)
    assert await send() == "budget_spent"
    assert restart_calls(w) == 1


async def test_a_resolution_that_comes_after_a_restart_of_the_daemon_is_taken(tmp_path: Path) -> None:
    # An alert rule only (docs/alerts-and-api.md's example: nothing polled, the cluster listed for
    # firing alerts alone). The alert restarted the connector; a rollout (a ConfigMap edit)
    # restarted the daemon; the alert resolved. The new daemon had listed nothing, so the resolution
    # was `unmatched` ("not found in its cluster at the last listing"), logged nowhere, and
    # Alertmanager sends it once: the connector stayed awaiting it for good, its count never reset,
    # and a day later the next incident was refused budget_spent (max_restarts 1) and the connector
    # marked gave-up.
    rule = {**RULES[1], "max_restarts": 1}
    config = daemon_config([rule], token=TOKEN, state={"path": str(tmp_path / "state.db")})

    def daemon() -> tuple[World, httpx.AsyncClient]:
        w = in_process(sim_scenario(CONNECTORS), config, fake_time=True)
        app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
        w.daemon.queue.start()
        return w, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")

    async def send(w: World, http: httpx.AsyncClient, status: str) -> dict[str, Any]:
        body = payload(alert(status=status), status=status)
        answer = (await http.post("/v1/alertmanager", json=body, headers=AUTH)).json()["alerts"][0]
        await w.daemon.queue.join()
        return answer

    first, http = daemon()
    assert (await send(first, http, "firing"))["result"] == "restart_requested"
    await first.daemon.queue.close(1.0)
    first.daemon.state.close()
    second, http = daemon()  # the rollout
    assert second.clock is not None
    second.clock.advance(600)
    assert (await send(second, http, "resolved"))["result"] == "resolved"
    assert not second.daemon.state.load(ConnectorKey(CLUSTER, "orders-sink")).awaiting_resolution
    assert second.simulator.calls == [], "a resolution asks nothing of the API"
    assert not [s for m in second.daemon.metrics.registry.collect() for s in m.samples
                if s.labels.get("connector") == "orders-sink"], "nor makes series for what no listing showed"
    second.clock.advance(86400)
    assert (await send(second, http, "firing"))["decision"] == "restart"
    await second.daemon.queue.close(1.0)
    second.daemon.state.close()


@pytest.mark.parametrize("failure", ["CONFIG_ERROR", "USER_ACTIONABLE_ERROR"])
async def test_an_alert_about_a_connector_whose_status_names_a_configuration_error_restarts_nothing(failure: str) -> None:
    # A status rule reports such a connector and leaves it alone (no restart fixes a bad config
    # or bad data); an alert rule, restart_user_errors false as well, restarted it ten times.
    connectors = [{"name": "orders-sink", "script": {"initial": failure, "recover_after_restarts": "never"}}]
    answers = []
    for opted_in in (False, True):
        rule = {**RULES[1], "restart_user_errors": opted_in}
        w = in_process(sim_scenario(connectors), daemon_config([rule], token=TOKEN), fake_time=True)
        app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
        w.daemon.queue.start()
        answers.append((await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)).json()["alerts"][0])
        await w.daemon.queue.join()
        assert restart_calls(w) == (1 if opted_in else 0)
    assert answers[0]["decision"] == "user_error" and answers[0]["result"] == "refused"
    assert "restart_user_errors" in answers[0]["detail"]
    assert answers[1]["decision"] == "restart", "a rule that opts in still restarts it"


async def test_a_restart_of_a_connector_named_wrong_is_offered_the_listed_names_close_to_it() -> None:
    # The API's 404 (and so `watchdog restart --daemon`) for `orders-snik` said the connector was
    # not found at the last listing, and nothing of `orders-sink`, listed beside it.
    w, http = world()
    await polled(w)
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-snik"}, headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == (f"connector 'orders-snik' was not found in cluster '{CLUSTER}' at the last "
                                         "listing; did you mean 'orders-sink'?")
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "zzz"}, headers=AUTH)
    assert response.status_code == 404 and "did you mean" not in response.json()["error"]
    assert restart_calls(w) == 0


async def test_a_restart_queued_for_a_connector_replaced_before_its_turn_is_not_sent_to_the_new_one() -> None:
    # The old connector's stall alert queued its restart; while the restart waited its turn (live:
    # a 503's Retry-After of 20 s, or a 429's pause), orders-sink was deleted and created again
    # (Terraform replacing it), and a poll listed the new one, lcc-orders2, RUNNING. The restart
    # went to lcc-orders2, charged to its budget (attempt 1), nothing saying it was meant for
    # lcc-orders1: the very alert arriving then would have been `unmatched`.
    w, http = world()
    await w.daemon.pollers[CLUSTER].poll()  # the queue not started: the restart waits its turn
    answer = (await http.post("/v1/alertmanager", json=payload(alert(connector="lcc-orders1")), headers=AUTH)).json()
    assert answer["alerts"][0]["result"] == "restart_requested"
    w.simulator.delete_connector(CLUSTER_ID, "orders-sink")
    w.simulator.add_connector(CLUSTER_ID, {"name": "orders-sink", "id": "lcc-orders2"})
    with structlog.testing.capture_logs() as logs:
        await polled(w)
    assert w.simulator.restarts() == [], "the new connector was restarted for the old one's alert"
    (finished,) = [e for e in logs if e["event"] == "restart_finished"]
    assert (finished["outcome"], finished["message"]) == ("dropped", (
        "replaced: the connector it was asked for (lcc-orders1) was deleted and created again under its name "
        "as lcc-orders2 since; its rule decides again for the new one"))
    assert w.daemon.state.load(ConnectorKey(CLUSTER, "orders-sink")).attempts == 0


async def test_a_restart_asked_for_by_name_still_goes_to_the_connector_created_again_under_it() -> None:
    # A person (or a schedule) names the connector, not one lcc- id: the connector under that
    # name when the turn comes is the one meant.
    w, http = world()
    await w.daemon.pollers[CLUSTER].poll()
    asked = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"}, headers=AUTH)
    assert asked.status_code == 202
    w.simulator.delete_connector(CLUSTER_ID, "orders-sink")
    w.simulator.add_connector(CLUSTER_ID, {"name": "orders-sink", "id": "lcc-orders2"})
    await polled(w)
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"]


@pytest.mark.parametrize("seen_gone", [True, False], ids=["a-poll-saw-it-gone", "replaced-between-polls"])
async def test_the_old_ids_resolution_lets_a_connector_created_again_under_its_name_earn_a_fresh_budget(
        seen_gone: bool) -> None:
    # orders-sink's stall alert (on its lcc- id) used the rule's whole budget; the team replaced
    # the connector (deleted, created again as lcc-orders2, which runs), and the old alert
    # resolved. The resolution named lcc-orders1, which no longer named anything: it was taken for
    # a connector called "lcc-orders1", and orders-sink awaited it for good. Its gave-up flag
    # stayed, its count never reset, and a week later the new connector's first alert was refused
    # `budget_spent` (live: 1.5 minutes after the resolution, as long after as one likes).
    rule = {**RULES[1], "max_restarts": 1}
    w, http = world(rules=[rule], fake_time=True)
    w.daemon.queue.start()

    async def send(status: str, connector: str, fingerprint: str) -> dict[str, Any]:
        await w.daemon.pollers[CLUSTER].poll()
        body = payload(alert(status=status, connector=connector, fingerprint=fingerprint), status=status)
        answer = (await http.post("/v1/alertmanager", json=body, headers=AUTH)).json()["alerts"][0]
        await w.daemon.queue.join()
        return answer

    assert (await send("firing", "lcc-orders1", "old"))["decision"] == "restart"
    w.clock.advance(600)
    assert (await send("firing", "lcc-orders1", "old"))["decision"] == "budget_spent"
    w.simulator.delete_connector(CLUSTER_ID, "orders-sink")
    if seen_gone:
        await w.daemon.pollers[CLUSTER].poll()
    w.simulator.add_connector(CLUSTER_ID, {"name": "orders-sink", "id": "lcc-orders2"})
    resolved = await send("resolved", "lcc-orders1", "old")
    assert (resolved["result"], resolved["connector"]) == ("resolved", "orders-sink")
    key = ConnectorKey(CLUSTER, "orders-sink")
    assert not w.daemon.state.load(key).gave_up
    w.clock.advance(7 * 86400)
    assert (await send("firing", "lcc-orders2", "new"))["decision"] == "restart"
    assert restart_calls(w) == 2
