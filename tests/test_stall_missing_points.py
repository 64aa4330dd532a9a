"""Stall verdicts on points the Metrics API did not answer (a probe, 2026-12-07): a busy sink
whose received_records came late beside a current lag, and a cluster's only busy source while the
cluster's data came late. Neither may be restarted: missing data is no evidence."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, Clock, World, daemon_config, sim_scenario
from .test_stalled import STALLED_RULE, run

RECEIVED = "io.confluent.kafka.connect/received_records"
LAG = "io.confluent.kafka.connect/records_lag_max"


class SteadyLag(httpx.AsyncBaseTransport):
    """The simulator's Metrics API with every sink's lag `lag` records higher: a busy sink keeps a
    few records of lag while it consumes (the probe's fake: 5), where the simulator's keeps none."""

    def __init__(self, inner: httpx.AsyncBaseTransport, lag: float) -> None:
        self._inner, self._lag = inner, lag

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path != "/v2/metrics/cloud/query" or response.status_code != 200 or b"records_lag_max" not in request.content:
            return response
        await response.aread()
        answer = response.json()
        for point in answer["data"]:
            point["value"] += self._lag
        return httpx.Response(200, json=answer, headers=response.headers)


def lagging_world(connectors: list[dict[str, Any]], **metrics_api: Any) -> World:
    clock = Clock()
    scenario = sim_scenario(connectors, restart={"delay_seconds": 5},
                            metrics_api={"rate_limit": None, "zero_points": "emit", **metrics_api})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    config = daemon_config([STALLED_RULE], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    daemon = Daemon(config, transport=SteadyLag(httpx.ASGITransport(app=create_app(simulator)), 5), now=clock.wall,
                    rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    return World(simulator, daemon, clock)


async def test_a_busy_sink_whose_received_records_come_late_is_not_restarted() -> None:
    # received_records 16 minutes behind (more than the delay and two 5-minute windows), its lag
    # (5) current: before, "sink received 0 records ... while its lag stayed up to 5" and a restart.
    w = lagging_world([{"name": "busy-sink", "type": "sink", "records_per_second": 5},
                       {"name": "busy-source", "records_per_second": 10}], query_delay_by_metric={RECEIVED: 960})
    with structlog.testing.capture_logs() as logs:
        await run(w, 2400)
    assert w.simulator.restarts() == [], "a busy sink was restarted on received_records points the API had not answered"
    assert w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="stalled") == 0
    unjudged = [e for e in logs if e["event"] == "stall_unjudged" and e["connector"] == "busy-sink"]
    assert unjudged and {e["reason"] for e in unjudged} == {"data_late"}
    assert "no received_records point" in unjudged[0]["detail"]
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="data_late") > 10
