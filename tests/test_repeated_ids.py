"""A listing that gives two connectors one lcc- id (an upstream or gateway repeating an `id`: the
spec's own example is `lcc-xxxxx`; a caching gateway mixing entries). The id is the Metrics API's
and the alerts' only key for a connector: both were judged on that one id's series, and both
restarted as stalled, the one whose own data was never read included; nothing said the id came
twice (session 75's probe, F-MED-1). Now neither is judged by that id while it repeats
(`stall_unjudged` reason `id_not_unique`), an alert naming it acts on neither, and it is said
once (`connector_ids_repeated`, naming the id, the connectors and the cluster)."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.server import create_app
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as create_simulator

from .support import CLUSTER, Clock, World, daemon_config, in_process, sim_scenario
from .test_api import AUTH, RULES, TOKEN, alert, payload
from .test_stall_real_shapes import STALL_AT, restarts, run, stalled_rule


class RepeatedId(httpx.AsyncBaseTransport):
    """The connector list answered with `copy`'s entry carrying `source`'s lcc- id, while `on`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, source: str, copy: str) -> None:
        self._inner, self._source, self._copy = inner, source, copy
        self.on = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if self.on and request.url.path.endswith("/connectors") and response.status_code == 200:
            await response.aread()
            entries = response.json()
            entries[self._copy] = {**entries[self._copy], "id": entries[self._source]["id"]}
            return httpx.Response(200, json=entries)
        return response


def stall_world(connectors: list[dict[str, Any]], source: str, copy: str) -> tuple[World, RepeatedId]:
    """test_stall_real_shapes.world, its list answers passing through RepeatedId."""
    clock = Clock()
    scenario = sim_scenario(connectors, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    config = daemon_config([stalled_rule()], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    transport = RepeatedId(httpx.ASGITransport(app=create_simulator(simulator)), source, copy)
    daemon = Daemon(config, transport=transport, now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    return World(simulator, daemon, clock), transport


def _said(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "connector_ids_repeated"]


async def test_two_connectors_listed_with_one_id_are_not_judged_on_its_series() -> None:
    # stalls-a stops; moving-b moves, but the listing gives it stalls-a's id; moving-c has its own
    # (a query in which some connector moves: none at all reads as the API's data late).
    connectors = [{"name": "stalls-a", "records_per_second": 10, "script": {"stall_at": STALL_AT}},
                  {"name": "moving-b", "records_per_second": 10}, {"name": "moving-c", "records_per_second": 10}]
    w, _ = stall_world(connectors, "stalls-a", "moving-b")

    with structlog.testing.capture_logs() as logs:
        await run(w, 2400)

    assert restarts(w, "moving-b") == [], "restarted on another connector's series"
    assert restarts(w, "stalls-a") == [], "judged on a series the listing gives two connectors"
    assert restarts(w, "moving-c") == []
    [said] = _said(logs)
    assert said["log_level"] == "warning"
    assert (said["cluster"], said["connectors"]) == (CLUSTER, ["moving-b", "stalls-a"]), said
    assert said["id"].startswith("lcc-"), said
    unjudged = {(e["connector"], e["reason"]) for e in logs if e["event"] == "stall_unjudged"}
    assert unjudged == {("moving-b", "id_not_unique"), ("stalls-a", "id_not_unique")}, unjudged
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="id_not_unique") > 10


async def test_once_the_listing_gives_each_its_own_id_again_they_are_judged_and_it_is_said() -> None:
    connectors = [{"name": "stalls-a", "records_per_second": 10, "script": {"stall_at": STALL_AT}},
                  {"name": "moving-b", "records_per_second": 10}, {"name": "moving-c", "records_per_second": 10}]
    w, transport = stall_world(connectors, "stalls-a", "moving-b")

    with structlog.testing.capture_logs() as logs:
        await run(w, 120)
        transport.on = False
        await run(w, 2280)

    assert restarts(w, "moving-b") == []
    assert len(restarts(w, "stalls-a")) == 1, "judged on its own series once its id is its own again"
    assert [e["log_level"] for e in _said(logs)] == ["warning", "info"], _said(logs)


def _entry(name: str, the_id: str) -> dict[str, Any]:
    return {"id": {"id": the_id, "id_type": "ID"},
            "info": {"name": name, "type": "sink", "config": {"connector.class": "S3_SINK"}},
            "status": {"name": name, "type": "sink", "connector": {"state": "RUNNING", "worker_id": name},
                       "tasks": [{"id": 0, "state": "RUNNING", "worker_id": name}]}}


async def test_an_alert_naming_a_repeated_id_restarts_neither_and_says_why() -> None:
    w = in_process(sim_scenario([{"name": "sink-a", "id": "lcc-aaa"}, {"name": "sink-b", "id": "lcc-bbb"}]),
                   daemon_config([RULES[1]], token=TOKEN))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    w.daemon.queue.start()
    w.simulator.set_faults([{"match": {"endpoint": "list"}, "action": {"status": 200, "body": {
        "sink-a": _entry("sink-a", "lcc-aaa"), "sink-b": _entry("sink-b", "lcc-aaa")}}}])
    await w.daemon.pollers[CLUSTER].list()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")

    answers = []
    for labels in ({"cluster": True}, {"cluster": False}):
        sent = alert(connector="lcc-aaa", fingerprint=f"fp-{labels['cluster']}")
        if not labels["cluster"]:
            sent["labels"] = {"alertname": "ConnectorStalled", "connector": "lcc-aaa"}
        answer = await http.post("/v1/alertmanager", json=payload(sent), headers=AUTH)
        answers.append(answer.json()["alerts"][0])
    await w.daemon.queue.join()

    assert w.simulator.restarts() == [], "one of two connectors restarted by an id the listing gives both"
    for answer in answers:
        assert answer["result"] == "unmatched", answer
        assert answer["detail"] == (f"'lcc-aaa' is the lcc- id the listing of {CLUSTER} gives more than one connector "
                                    "(sink-a, sink-b): it names none of them while it repeats (connector_ids_repeated)"), answer
    # Listed with an id each again, the alert names its connector.
    w.simulator.set_faults([])
    await w.daemon.pollers[CLUSTER].list()
    again = await http.post("/v1/alertmanager", json=payload(alert(connector="lcc-aaa", fingerprint="fp-3")), headers=AUTH)
    await w.daemon.queue.join()
    assert (again.json()["alerts"][0]["result"], again.json()["alerts"][0]["connector"]) == ("restart_requested", "sink-a")
