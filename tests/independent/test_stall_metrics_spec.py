"""The daemon's stall check against the independent Metrics API fake (fake_metrics.py, written
from Confluent's Metrics v2 spec): every query it sends is one the spec accepts, and every legal
answer shape gives the same verdicts: a source that stops is restarted once, one that moves never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.app import Daemon

from ..support import CLUSTER, CLUSTER_ID, Clock, daemon_config
from .fake_confluent import Fake, entry
from .fake_confluent import app as connect_app
from .fake_metrics import MetricsFake
from .fake_metrics import app as metrics_app

STALL_AT = timedelta(minutes=5)
RULE = {"name": "stalled", "select": {"include": ["*"]}, "backoff": {"base": 600, "cap": 3600, "jitter": 0},
        "trigger": {"type": "stalled", "interval": 60, "grace": 120, "window": 300, "delay": 300}}


class Hosts(httpx.AsyncBaseTransport):
    """The Metrics API host to its fake, everything else to the Confluent fake."""

    def __init__(self, connect: httpx.AsyncBaseTransport, metrics: httpx.AsyncBaseTransport) -> None:
        self._connect, self._metrics = connect, metrics

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        chosen = self._metrics if request.url.host == "metrics" else self._connect
        return await chosen.handle_async_request(request)


def series(clock: Clock) -> Any:
    stall = clock.epoch + STALL_AT

    def points(metric: str, connector_id: str, moment: datetime) -> float | None:
        if metric.endswith("/sent_records"):
            if connector_id == "lcc-move":
                return 12.0
            if connector_id == "lcc-stall":
                return 12.0 if moment < stall else None
        return None

    return points


def world(**options: Any) -> tuple[Daemon, Fake, MetricsFake, Clock]:
    clock = Clock()
    fake = Fake()
    fake.connectors[CLUSTER_ID] = {name: entry(name, "RUNNING", [(0, "RUNNING")], lcc)
                                   for name, lcc in (("mover", "lcc-move"), ("staller", "lcc-stall"))}
    metrics = MetricsFake(series(clock), clock.wall, **options)
    config = daemon_config([RULE], metrics_api={"base_url": "http://metrics", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    transport = Hosts(httpx.ASGITransport(app=connect_app(fake)), httpx.ASGITransport(app=metrics_app(metrics)))
    daemon = Daemon(config, transport=transport, now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    return daemon, fake, metrics, clock


async def run(daemon: Daemon, clock: Clock, seconds: int) -> None:
    for _ in range(seconds // 60):
        await daemon.pollers[CLUSTER].poll()
        await daemon.run_stall_check("stalled")
        await daemon.queue.join()
        clock.advance(60)


@pytest.mark.parametrize("options", [
    {},
    {"newest_first": False},
    {"grouped": True},
    {"page_groups": 1},
    {"ints": True, "extra": {"unit": "records"}},
], ids=["spec-order", "oldest-first", "grouped", "one-group-a-page", "ints-and-extra-fields"])
async def test_a_stalled_source_is_restarted_once_and_a_moving_one_never(options: dict[str, Any]) -> None:
    daemon, fake, metrics, clock = world(**options)
    await run(daemon, clock, 2400)
    assert metrics.refused == [], "the daemon sent a query the spec refuses"
    assert metrics.queries, "no query reached the Metrics API"
    restarted = [p.rsplit("/", 2)[-2] for p in fake.restarts()]
    assert restarted == ["staller"]




@pytest.mark.parametrize("grouped", [False, True], ids=["flat", "grouped"])
async def test_a_stalled_sink_is_restarted_once_a_moving_and_an_idle_one_never(grouped: bool) -> None:
    clock = Clock()
    fake = Fake()
    fake.connectors[CLUSTER_ID] = {name: entry(name, "RUNNING", [(0, "RUNNING")], lcc, type="sink")
                                   for name, lcc in (("sink-move", "lcc-smove"), ("sink-stall", "lcc-sstall"),
                                                     ("sink-idle", "lcc-sidle"))}
    stall = clock.epoch + STALL_AT

    def points(metric: str, connector_id: str, moment: datetime) -> float | None:
        if metric.endswith("/received_records"):  # the stalled sink: points of 0 (a legal shape too)
            return {"lcc-smove": 7.0, "lcc-sstall": 7.0 if moment < stall else 0.0}.get(connector_id)
        if metric.endswith("/records_lag_max"):
            return {"lcc-smove": 3.0, "lcc-sstall": 3.0 if moment < stall else 90.0, "lcc-sidle": 0.0}.get(connector_id)
        return None

    metrics = MetricsFake(points, clock.wall, grouped=grouped)
    config = daemon_config([RULE], metrics_api={"base_url": "http://metrics", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    daemon = Daemon(config, transport=Hosts(httpx.ASGITransport(app=connect_app(fake)),
                                            httpx.ASGITransport(app=metrics_app(metrics))),
                    now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    await run(daemon, clock, 2400)
    assert metrics.refused == [], "the daemon sent a query the spec refuses"
    assert [p.rsplit("/", 2)[-2] for p in fake.restarts()] == ["sink-stall"]

@pytest.mark.parametrize(("options", "shape"), [
    ({"rate_limited": 1}, "a 429 with both rateLimit-* scopes"),
    ({"rate_limited": 1, "bare_429": True}, "a 429 without any header"),
    ({"forbidden": {"lcc-move"}}, "a 403 for the moving source's id"),
])
async def test_the_stalled_source_is_still_restarted_through_429s_and_a_403_for_another_id(
    options: dict[str, Any], shape: str
) -> None:
    daemon, fake, metrics, clock = world(**options)
    await run(daemon, clock, 2400)
    assert [p.rsplit("/", 2)[-2] for p in fake.restarts()] == ["staller"], shape
    assert all(status == 403 for status, _ in metrics.refused), "the daemon sent a query the spec refuses"


async def test_an_answer_without_the_connector_label_fails_the_check_and_restarts_nothing() -> None:
    daemon, fake, metrics, clock = world(omit_label=True)
    with capture_logs() as logs:
        await run(daemon, clock, 2400)
    assert fake.restarts() == []
    failed = [e for e in logs if e["event"] == "stall_check_failed" and e["log_level"] == "warning"]
    assert failed and "without a string 'resource.connector.id'" in failed[0]["message"]


async def test_a_once_pass_says_its_stalled_rule_judged_nothing() -> None:
    # The stall began 14 minutes ago, well inside the windows a running daemon would read: a
    # one-shot pass has seen each connector once, so it cannot judge, and must say so rather
    # than exit 0 in silence (before: no query, no restart, no line above debug).
    stall = datetime.now(UTC) - timedelta(minutes=14)

    def points(metric: str, connector_id: str, moment: datetime) -> float | None:
        return 12.0 if connector_id == "lcc-move" or moment < stall else None

    fake = Fake()
    fake.connectors[CLUSTER_ID] = {name: entry(name, "RUNNING", [(0, "RUNNING")], lcc)
                                   for name, lcc in (("mover", "lcc-move"), ("staller", "lcc-stall"))}
    metrics = MetricsFake(points, lambda: datetime.now(UTC))
    config = daemon_config([RULE], metrics_api={"base_url": "http://metrics"})
    daemon = Daemon(config, transport=Hosts(httpx.ASGITransport(app=connect_app(fake)),
                                            httpx.ASGITransport(app=metrics_app(metrics))))
    with capture_logs() as logs:
        code = await daemon.run_once()
    assert code == 0
    assert fake.restarts() == []
    said = [e for e in logs if e["event"] == "once_stall_unjudged"]
    assert [(e["rule"], e["log_level"]) for e in said] == [("stalled", "warning")]
    assert "run the daemon" in said[0]["note"]
