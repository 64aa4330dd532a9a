"""Stall verdicts on points the Metrics API did not answer (a probe, 2026-12-07): a busy sink
whose received_records came late beside a current lag, a cluster's only busy source while the
cluster's data came late, and a cluster whose answers stayed empty past the `points_vanished`
memory. None of them may be restarted, judged idle or counted as read: missing data is no
evidence."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, Clock, World, daemon_config, sim_scenario
from .test_stall_points_vanished import leaving_world
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


async def test_the_only_busy_source_of_a_cluster_whose_data_is_late_is_not_restarted() -> None:
    # The whole cluster's minutes 16 minutes behind: the one busy source moved in `before`, then no
    # point for it nor for the sink's lag. One mover was not enough for `data_late`: restarted.
    w = lagging_world([{"name": "busy-source", "records_per_second": 10},
                       {"name": "busy-sink", "type": "sink", "records_per_second": 5}], query_delay_seconds=960)
    with structlog.testing.capture_logs() as logs:
        await run(w, 2400)
    assert w.simulator.restarts() == [], "the cluster's only busy source was restarted on late data"
    decided = [e for e in logs if e["event"] == "decision" and e.get("trigger") == "stalled"]
    assert decided == []
    late = [e for e in logs if e["event"] == "stall_unjudged" and e["connector"] == "busy-source"]
    assert late and late[0]["reason"] == "data_late" and "no data point" in late[0]["detail"]


async def test_the_only_source_of_a_cluster_that_stalls_while_the_clusters_data_is_current_is_restarted() -> None:
    w = lagging_world([{"name": "busy-source", "records_per_second": 10, "script": {"stall_at": 600}},
                       {"name": "busy-sink", "type": "sink", "records_per_second": 5}], zero_points="omit")
    with structlog.testing.capture_logs() as logs:
        await run(w, 2400)
    assert [c.connector for c in w.simulator.restarts()] == ["busy-source"]
    decided = [e for e in logs if e["event"] == "decision" and e.get("trigger") == "stalled"]
    assert [e["decision"] for e in decided] == ["restart"]
    assert ", then no data point in " in decided[0]["detail"], "the API answered no point: not '0'"


async def test_answers_that_stay_empty_keep_connectors_unjudged_say_so_once_and_count_no_read() -> None:
    # `{"data": []}` from 1800 s for 40 minutes: past the three 5-minute windows the guard lasted.
    w = leaving_world(since=1800, until=1800 + 2400)
    with structlog.testing.capture_logs() as logs:
        await run(w, 1800)
        idle_before = w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="idle")
        read_before = w.sample("watchdog_stall_check_reads_total", cluster=CLUSTER, result="read")
        await run(w, 2400)
    assert w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="idle") == idle_before, \
        "busy connectors judged idle on answers that stayed empty"
    assert w.sample("watchdog_stall_check_reads_total", cluster=CLUSTER, result="read") == read_before
    assert w.sample("watchdog_stall_check_reads_total", cluster=CLUSTER, result="failed") == 40
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="points_vanished") == 40 * 5
    warned = [e for e in logs if e["event"] == "stall_points_vanished" and e["log_level"] == "warning"]
    assert len(warned) == 1 and warned[0]["since"].endswith(" UTC") and "said once" in warned[0]["note"], warned
    # Points return: the cluster is read (and judged) again.
    await run(w, 600)
    assert w.sample("watchdog_stall_check_reads_total", cluster=CLUSTER, result="read") > read_before
    assert w.simulator.restarts() == []
