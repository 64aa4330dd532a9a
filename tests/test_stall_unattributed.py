"""A Metrics API answer some of whose entries name no connector (no `resource.connector.id`: a
gateway or proxy rewriting the answer, a label renamed or null). Those points may be any of the
query's connectors': left out, a moving source whose last points came so read as "sent nothing"
and was restarted as stalled (found 2026-12-07 by a black-box probe). No connector of that query
is judged on such an answer."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.connect.metrics_api import MetricsApiClient
from watchdog.model import ConnectorKey
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, Clock, World, daemon_config, sim_scenario
from .test_stall_real_shapes import restarts, run, stalled_rule

SENT = "io.confluent.kafka.connect/sent_records"


class Unlabelled(httpx.AsyncBaseTransport):
    """The Metrics API's answer with the connector label taken off the points of `odd_ids` from the
    second window of the query's interval on (the first window's stay as they came)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.odd_ids: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if not request.url.path.endswith("/query") or response.status_code != 200:
            return response
        await response.aread()
        start = datetime.fromisoformat(json.loads(request.content)["intervals"][0].split("/")[0])
        body = response.json()
        for point in body["data"]:
            if point.get("resource.connector.id") in self.odd_ids and \
                    datetime.fromisoformat(point["timestamp"]) >= start + timedelta(seconds=300):
                del point["resource.connector.id"]
        return httpx.Response(200, json=body)


async def test_a_moving_source_whose_later_points_come_without_its_label_is_not_restarted_as_stalled() -> None:
    sources = [f"src-{n}" for n in range(1, 6)]
    connectors = [{"name": name, "records_per_second": 10} for name in sources]
    connectors.append({"name": "orders-sink", "type": "sink", "records_per_second": 10})
    clock = Clock()
    scenario = sim_scenario(connectors, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    config = daemon_config([stalled_rule()], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    transport = Unlabelled(httpx.ASGITransport(app=create_app(simulator)))
    daemon = Daemon(config, transport=transport, now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    w = World(simulator, daemon, clock)
    await w.daemon.pollers[CLUSTER].poll()
    transport.odd_ids = {w.daemon.engine.statuses[ConnectorKey(CLUSTER, "src-2")].resource_id or ""}

    with structlog.testing.capture_logs() as logs:
        await run(w, 2400)

    assert restarts(w, "src-2") == [], "a moving source whose points came unlabelled was restarted as stalled"
    assert all(restarts(w, name) == [] for name in [*sources, "orders-sink"])
    assert not [e for e in logs if e["event"] == "stall_check" and e.get("verdict") == "stalled"]
    warned = [e for e in logs if e["event"] == "stall_unjudged" and e["log_level"] == "warning"]
    # Every source of that query, said once each, with how many entries named no connector.
    assert sorted((e["connector"], e["reason"]) for e in warned) == [(name, "points_unreadable") for name in sources]
    for e in warned:
        assert re.fullmatch(rf"{SENT}: \d+ entries of its query's answer named no connector \(no string "
                            r"'resource.connector.id'\), and its points may be among them", e["detail"]), e["detail"]
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="points_unreadable") > 50
    verdicts = [e for e in logs if e["event"] == "stall_check" and e.get("connector") == "orders-sink"]
    assert verdicts and all(e["verdict"] == "moving" for e in verdicts), "the sinks' queries are judged as before"


async def test_an_answer_with_entries_naming_no_connector_says_so_for_every_connector_asked_about() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    body = {"data": [
        {"resource.connector.id": "lcc-a", "timestamp": "2026-01-01T00:00:00Z", "value": 5},
        {"timestamp": "2026-01-01T00:01:00Z", "value": 5},
        {"resource.connector.id": None, "timestamp": "2026-01-01T00:02:00Z", "value": 5},
        {"resource.connector.id": "lcc-b", "timestamp": "2026-01-01T00:00:00Z", "value": 7},
    ]}
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)), base_url="http://t")

    result = await MetricsApiClient(http).query(SENT, ["lcc-a", "lcc-b", "lcc-c"], start, start + timedelta(minutes=3))

    assert result.ok and result.value is not None
    assert result.value.unjudgeable() == ["lcc-a", "lcc-b", "lcc-c"]
    assert result.value.why_unreadable("lcc-c") == (
        "2 entries of its query's answer named no connector (no string 'resource.connector.id'), "
        "and its points may be among them")


async def test_entries_naming_no_connector_leave_only_their_own_batch_unjudgeable() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def answer(request: httpx.Request) -> httpx.Response:
        asked = json.loads(request.content)["filter"]
        ids = [f["value"] for f in asked["filters"]] if "filters" in asked else [asked["value"]]
        data: list[dict[str, Any]] = [{"resource.connector.id": i, "timestamp": "2026-01-01T00:00:00Z", "value": 1}
                                      for i in ids]
        if "lcc-a" in ids:
            data.append({"timestamp": "2026-01-01T00:01:00Z", "value": 1})
        return httpx.Response(200, json={"data": data})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://t")

    result = await MetricsApiClient(http, max_ids_per_query=2).query(
        SENT, ["lcc-a", "lcc-b", "lcc-c", "lcc-d"], start, start + timedelta(minutes=3))

    assert result.ok and result.value is not None
    assert result.value.unjudgeable() == ["lcc-a", "lcc-b"]
    assert result.value.why_unreadable("lcc-b").startswith("1 entry of its query's answer named no connector")
