"""Stall checks against what real Confluent Cloud answers (issue 11): connectors of type
"unknown", custom connectors (their metrics are in another dataset), an id the Metrics API
refuses inside a batch, a connector listed without its id, and windows longer than one query at
one-minute granularity allows. Runs last 40 minutes: a connector is judged once it has been
RUNNING for three 5-minute windows and the 5-minute delay."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from watchdog.app import Daemon
from watchdog.config import Credential
from watchdog.model import ConnectorKey
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, CLUSTER_ID, Clock, World, daemon_config, sim_scenario

STALL_AT = 300
DELAY = 300  # the shortest `delay`: the Metrics API's data is typically available within 5 minutes


def stalled_rule(**trigger: Any) -> dict[str, Any]:
    return {
        "name": "stalled", "select": {"include": ["*"]}, "backoff": {"base": 600, "cap": 3600, "jitter": 0},
        "trigger": {"type": "stalled", "interval": 60, "grace": 120, "window": 300, "delay": DELAY, **trigger},
    }


class WithoutIds(httpx.AsyncBaseTransport):
    """The connector list answered without the `id` expansion: no lcc- ids are learned."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path.endswith("/connectors") and response.status_code == 200:
            await response.aread()
            entries = {name: {k: v for k, v in entry.items() if k != "id"} for name, entry in response.json().items()}
            return httpx.Response(200, json=entries)
        return response


def world(connectors: list[dict[str, Any]], rule: dict[str, Any] | None = None, *, ids: bool = True) -> World:
    clock = Clock()
    scenario = sim_scenario(connectors, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    config = daemon_config([rule or stalled_rule()], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=create_app(simulator))
    daemon = Daemon(config, transport=transport if ids else WithoutIds(transport), now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    return World(simulator, daemon, clock)


async def run(w: World, seconds: int, between: Any = None) -> None:
    """Each minute: a poll, then (optionally) `between(w)`, then a stall check."""
    for _ in range(seconds // 60):
        await w.daemon.pollers[CLUSTER].poll()
        if between is not None:
            between(w)
        await w.daemon.run_stall_check("stalled")
        await w.daemon.queue.join()
        w.clock.advance(60)


def restarts(w: World, connector: str) -> list[float]:
    return [c.t for c in w.simulator.restarts(connector=connector)]


# -- 4. type "unknown" ------------------------------------------------------------------------------


async def test_a_connector_of_type_unknown_is_judged_by_its_connector_class() -> None:
    connectors = [
        # DatagenSource: the class says source.
        {"name": "unknown-source", "shown_type": "unknown", "records_per_second": 10, "script": {"stall_at": STALL_AT}},
        # Nothing in the class says which: it cannot be judged, and says so.
        {"name": "opaque", "shown_type": "unknown", "config": {"connector.class": "io.debezium.connector.mysql.MySqlConnector"},
         "script": {"stall_at": STALL_AT}},
    ]
    w = world(connectors)

    with structlog.testing.capture_logs() as logs:
        await run(w, 2400)

    assert len(restarts(w, "unknown-source")) == 1, "a stalled source of type unknown was never judged"
    assert restarts(w, "opaque") == []
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="type_unknown") > 10
    warned = [e for e in logs if e["event"] == "stall_unjudged" and e["log_level"] == "warning"]
    assert [(e["connector"], e["reason"]) for e in warned] == [("opaque", "type_unknown")], "logged once, not every check"


# -- points of the Metrics API's answer that cannot be read ----------------------------------------


class OddPoints(httpx.AsyncBaseTransport):
    """The Metrics API's answer with the points of `odd_ids` from the second window of the query's
    interval on replaced by `value` (or their timestamp by `timestamp`): what a changed API or a
    proxy rewriting its JSON might send. The first window's stay as they came."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, value: Any = None, timestamp: Any = None) -> None:
        self._inner = inner
        self._value, self._timestamp = value, timestamp
        self.odd_ids: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if not request.url.path.endswith("/query") or response.status_code != 200:
            return response
        await response.aread()
        start = datetime.fromisoformat(json.loads(request.content)["intervals"][0].split("/")[0])
        body = response.json()
        for point in body["data"]:
            if point["resource.connector.id"] in self.odd_ids and \
                    datetime.fromisoformat(point["timestamp"]) >= start + timedelta(seconds=300):
                if self._timestamp is not None:
                    point["timestamp"] = self._timestamp
                else:
                    point["value"] = self._value
        return httpx.Response(200, json=body)


@pytest.mark.parametrize(("odd", "lacked"), [
    ({"value": "10"}, 'value "10" is not a number'), ({"value": None}, "value null is not a number"),
    ({"value": -5}, "value -5 is negative, which no count is"),
    ({"timestamp": 1733446800}, "timestamp 1733446800 is not an ISO 8601 string"),
])
async def test_a_moving_source_whose_later_points_cannot_be_read_is_left_unjudged_not_restarted(
        odd: dict[str, Any], lacked: str) -> None:
    # A point that could not be read was left out without a word, and the windows summed what was
    # left: a healthy source whose last points came with a string or null value, a negative count
    # or an epoch timestamp read as "sent 10 records, then 0" and was restarted at every check its
    # backoff allowed (found 2026-12-06 against an independent fake of the Metrics API). A sink's
    # unreadable received records are the same.
    connectors = [{"name": "orders-source", "records_per_second": 10}, {"name": "orders-sink", "type": "sink",
                  "records_per_second": 10}, {"name": "clean-source", "records_per_second": 10}]
    clock = Clock()
    scenario = sim_scenario(connectors, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    config = daemon_config([stalled_rule()], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    transport = OddPoints(httpx.ASGITransport(app=create_app(simulator)), **odd)
    daemon = Daemon(config, transport=transport, now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    w = World(simulator, daemon, clock)
    await w.daemon.pollers[CLUSTER].poll()
    statuses = w.daemon.engine.statuses
    transport.odd_ids = {statuses[ConnectorKey(CLUSTER, name)].resource_id for name in ("orders-source", "orders-sink")}

    with structlog.testing.capture_logs() as logs:
        await run(w, 2400)

    assert restarts(w, "orders-source") == [], "a moving source whose later points could not be read was restarted"
    assert restarts(w, "orders-sink") == [] and restarts(w, "clean-source") == []
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="points_unreadable") > 10
    warned = [e for e in logs if e["event"] == "stall_unjudged" and e["log_level"] == "warning"]
    assert sorted((e["connector"], e["reason"]) for e in warned) == [
        ("orders-sink", "points_unreadable"), ("orders-source", "points_unreadable")], "said once each"
    (source,) = [e for e in warned if e["connector"] == "orders-source"]
    assert source["detail"].startswith("io.confluent.kafka.connect/sent_records: ") and source["detail"].endswith(lacked)
    verdicts = [e for e in logs if e["event"] == "stall_check" and e.get("connector") == "clean-source"]
    assert verdicts and all(e["verdict"] == "moving" for e in verdicts), "its clean neighbour is judged as before"


# -- 5. custom connectors and a 403 inside a batch ------------------------------------------------


async def test_a_healthy_custom_connector_is_not_called_stalled() -> None:
    connectors = [
        {"name": "custom-source", "custom": True, "records_per_second": 10},
        {"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}},
    ]
    w = world(connectors)

    await run(w, 2400)

    assert restarts(w, "custom-source") == [], "a healthy custom source was restarted as stalled"
    assert len(restarts(w, "orders-source")) == 1
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="custom_connector") > 10


async def test_an_id_the_metrics_api_refuses_does_not_cost_its_batch_its_verdicts() -> None:
    doomed = {"name": "doomed-source", "records_per_second": 10}
    w = world([{"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}}, doomed])

    def delete_after_the_poll(w: World) -> None:
        # Listed by every poll, gone by every stall check: the API answers 403 for its id.
        w.simulator.delete_connector(CLUSTER_ID, "doomed-source")

    def recreate(w: World) -> None:
        w.simulator.add_connector(CLUSTER_ID, doomed)

    checks = 40
    for _ in range(checks):
        await run(w, 60, between=delete_after_the_poll)
        recreate(w)

    times = restarts(w, "orders-source")
    assert len(times) == 1, "the stalled source shared a batch with a refused id and was never judged"
    assert STALL_AT + 600 + DELAY <= times[0] <= STALL_AT + 600 + DELAY + 120
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="forbidden") > 10
    refused = [c for c in w.simulator.calls if c.endpoint == "metrics_query" and c.status_code == 403]
    # Found by halving once; from then on the refused id is asked about alone: one 403 a check.
    # (Counted against the checks run: after its restart, orders-source is not queried until the
    # windows start after it, so the queries answered 200 no longer count the checks.)
    assert len(refused) <= checks + 1


async def test_a_metrics_key_refused_every_connector_costs_one_query_a_check_not_one_per_connector() -> None:
    # A Metrics API key without MetricsViewer on the cluster: every id is refused. Found by
    # halving at the first check; then each was asked about alone: 40 queries at every check (a
    # thousand connectors: more than the API's 300 a minute), for as long as the key lacked it.
    clock = Clock()
    sources = [{"name": f"source-{n}", "records_per_second": 10} for n in range(40)]
    scenario = sim_scenario(sources, metrics_api={"rate_limit": None})
    scenario["environments"][0]["clusters"].append({"id": "lkc-elsewhere", "connectors": []})
    scenario["api_keys"].append({"id": "METRICSKEY", "secret": "metrics-secret", "clusters": ["lkc-elsewhere"]})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    config = daemon_config([stalled_rule()], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    metrics_key = Credential(api_key=SecretStr("METRICSKEY"), api_secret=SecretStr("metrics-secret"))
    config = config.model_copy(update={"credentials": {**config.credentials, "metrics": metrics_key},
                                       "metrics_api": config.metrics_api.model_copy(update={"credential": "metrics"})})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    w = World(simulator, daemon, clock)

    def queries() -> list[Any]:
        return [c for c in simulator.calls if c.endpoint == "metrics_query"]

    await run(w, 120 + 3 * 300 + DELAY + 60)  # up to the first check that judges them (the grace before the windows)
    assert queries() and all(c.status_code == 403 for c in queries())
    first = len(queries())
    await run(w, 10 * 60)
    assert len(queries()) - first == 10, "one query a check for the ids refused before"
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="forbidden") == 40 * 11
    assert simulator.restarts() == []
    await daemon.stop()


async def test_a_connector_without_an_id_is_reported_unjudged_not_skipped_silently() -> None:
    # The list answer lacked the id expansion: the Metrics API cannot be asked about the source,
    # so its stall cannot be seen; that must show in the log and the metric, once per connector.
    w = world([{"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}}], ids=False)

    with structlog.testing.capture_logs() as logs:
        await run(w, 2400)

    assert [c for c in w.simulator.calls if c.endpoint == "metrics_query"] == [], "no id, nothing to ask"
    assert restarts(w, "orders-source") == []
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="no_id") > 10
    warned = [e for e in logs if e["event"] == "stall_unjudged" and e["log_level"] == "warning"]
    assert [(e["connector"], e["reason"]) for e in warned] == [("orders-source", "no_id")], "logged once, not every check"


# -- 6. windows longer than one-minute points allow per query -------------------------------------


async def test_a_window_over_two_hours_is_read_at_a_coarser_granularity() -> None:
    window = 4 * 3600
    # Stopping once the source has run for one window (`before`) and the grace period: it is
    # judged once it has been RUNNING through all three windows.
    stall_at = window + 3600
    w = world([{"name": "orders-source", "records_per_second": 10, "script": {"stall_at": stall_at}}],
              stalled_rule(window=f"{window}s", grace=600, interval=300))

    for _ in range((stall_at + 2 * window + 3600) // 300):
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.run_stall_check("stalled")
        await w.daemon.queue.join()
        w.clock.advance(300)

    queries = [c for c in w.simulator.calls if c.endpoint == "metrics_query"]
    assert queries and all(c.status_code == 200 for c in queries), "the Metrics API refused the stall queries"
    times = restarts(w, "orders-source")
    assert len(times) == 1, "a source stalled for two 4-hour windows was not restarted"
    assert stall_at + 2 * window + DELAY <= times[0] <= stall_at + 2 * window + DELAY + 600
