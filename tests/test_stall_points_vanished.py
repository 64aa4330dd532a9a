"""A Metrics API answer that leaves out points it answered before for the same minutes (an empty
`{"data": []}` from a pipeline or gateway fault, a cut answer) tells of the API, not of the
connectors: before, every source and sink it left out was judged idle (an idle sink as healthy,
which ended a stalled sink's backoff), nothing was said but `stall_check_recovered`, and stall
detection was blind (a storm probe, 2026-12-06, run B)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, CLUSTER_ID, Clock, World, daemon_config, sim_scenario
from .test_stalled import CONNECTORS, STALLED_RULE, run

BUSY = [{"name": f"src-{n}", "records_per_second": 10} for n in range(3)] + [
    {"name": f"sink-{n}", "type": "sink", "records_per_second": 5} for n in range(2)]


class Leaving(httpx.AsyncBaseTransport):
    """The Metrics API whose answers, from `since` to `until` seconds after the start, hold no
    point for the connector ids `leave_out` picks (every one: an empty answer)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Clock, since: float, until: float,
                 leave_out: Callable[[str], bool]) -> None:
        self._inner, self._clock, self._leave_out = inner, clock, leave_out
        self._since, self._until = (clock.wall() + timedelta(seconds=t) for t in (since, until))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path != "/v2/metrics/cloud/query" or not self._since <= self._clock.wall() < self._until:
            return response
        await response.aread()
        answer = response.json()
        answer["data"] = [p for p in answer["data"] if not self._leave_out(str(p.get("resource.connector.id")))]
        return httpx.Response(200, json=answer, headers=response.headers)


def leaving_world(since: float, until: float, leave_out: Callable[[str], bool] = lambda _id: True,
                  connectors: list[dict[str, object]] = BUSY) -> World:
    clock = Clock()
    scenario = sim_scenario(connectors, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    config = daemon_config([STALLED_RULE], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    transport = Leaving(httpx.ASGITransport(app=create_app(simulator)), clock, since, until, leave_out)
    daemon = Daemon(config, transport=transport, now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    return World(simulator, daemon, clock)


async def test_an_empty_answer_after_points_is_said_and_judges_no_connector_idle() -> None:
    w = leaving_world(since=1800, until=2100)  # five checks answered `{"data": []}`, the first ones read points (from 1200 s)
    with structlog.testing.capture_logs() as logs:
        await run(w, 1800)
        idle_before = w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="idle")
        await run(w, 300)
    assert w.simulator.restarts() == [], "nothing stalled: nothing may be restarted"
    said = [e for e in logs if e["event"] == "stall_points_vanished"]
    # Once a spell at warning (with when it began), the other checks at debug: a spell that lasts
    # said a warning every minute.
    assert len(said) == 5 and all(e["connectors"] == 5 for e in said), said[:1]
    assert [e["log_level"] for e in said] == ["warning"] + ["debug"] * 4 and "since" in said[0]
    assert "answered no point for these connectors" in said[0]["note"]
    assert "no verdict for them while it answers so" in said[0]["note"]
    assert w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="idle") == idle_before, \
        "an answer that left the points out judged busy connectors idle"
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="points_vanished") == 25
    unjudged = {e["connector"] for e in logs if e["event"] == "stall_unjudged" and e["reason"] == "points_vanished"}
    assert unjudged == {"src-0", "src-1", "src-2", "sink-0", "sink-1"}


async def test_connectors_an_answer_leaves_out_are_not_judged_and_the_others_are() -> None:
    ids = {}

    def leave_out(resource_id: str) -> bool:
        return resource_id in ids.values()

    w = leaving_world(since=1800, until=2100, leave_out=leave_out)
    ids.update({name: w.simulator.connector(CLUSTER_ID, name).id for name in ("src-0", "sink-1")})
    with structlog.testing.capture_logs() as logs:
        await run(w, 2100)
    said = [e for e in logs if e["event"] == "stall_points_vanished"]
    assert said and all(e["connectors"] == 2 and e["first"] == ["sink-1", "src-0"] for e in said), said[:1]
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="points_vanished") == 10
    assert w.simulator.restarts() == []


async def test_connectors_that_stop_are_not_taken_for_vanished_points_and_are_restarted() -> None:
    # The simulator omits 0-valued points: a source that stops has no new point, while those it
    # had stay in the answers until they age out of the windows.
    w = leaving_world(since=0, until=0, connectors=CONNECTORS)
    with structlog.testing.capture_logs() as logs:
        await run(w, 1800)
    assert not [e for e in logs if e["event"] == "stall_points_vanished"]
    assert sorted({c.connector for c in w.simulator.restarts()}) == ["billing-sink", "orders-source"]
