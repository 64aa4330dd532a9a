"""A stall that shows only while the Metrics API's data is late (an ingestion backlog) or while its
answers leave out points they held before is caught by the first check whose data is in: a check
that could not judge a cluster's connectors for that reason does not count its windows as judged,
so the next one stretches `before` back over them (stall.catch_up), as after a 429 spell. Before,
the late checks' windows were recorded as judged, and the stalled source read `idle` for good (a
soak probe, session 78, finding 1)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, CLUSTER_ID, Clock, World, daemon_config, sim_scenario
from .test_stall_points_vanished import Leaving
from .test_stalled import STALLED_RULE, Backlog, restarts, run, world

# The probe's rule: a stall shows, with 1-minute windows 5 minutes late, in one or two checks only.
QUICK = {**STALLED_RULE, "trigger": {"type": "stalled", "interval": 60, "grace": 120, "window": 60, "delay": 300}}
STALL_AT = 1200
SOURCES: list[dict[str, Any]] = [
    {"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}},
    {"name": "steady-source", "records_per_second": 10},
    {"name": "busy-source", "records_per_second": 10},
]
# Caught up on the first check after the spell, and restarted then (plus the queue's delay).
SPELL_END = STALL_AT + 660


def _leaving(since: float, until: float, connectors: list[dict[str, Any]]) -> World:
    """The simulator's Metrics API answering `{"data": []}` from `since` to `until` s, under QUICK."""
    clock = Clock()
    scenario = sim_scenario(connectors, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    config = daemon_config([QUICK], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    transport = Leaving(httpx.ASGITransport(app=create_app(simulator)), clock, since, until, lambda _id: True)
    daemon = Daemon(config, transport=transport, now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    return World(simulator, daemon, clock)


def _caught(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "stall_check_caught_up"]


async def test_a_stall_shown_only_while_the_data_was_late_is_restarted_once_the_data_is_in() -> None:
    # From two minutes before the stall, no minute is ingested until 11 minutes after it: the
    # checks that would show orders-source moving, then 0 for two windows, read late data.
    w = world(SOURCES, backlog=(STALL_AT - 120, SPELL_END), rule=QUICK)
    with structlog.testing.capture_logs() as logs:
        await run(w, 2700)
    times = restarts(w, "orders-source")
    assert len(times) == 1, f"the stall shown while the data was late: {times}"
    assert SPELL_END <= times[0] <= SPELL_END + 120, times
    assert restarts(w, "steady-source") == [] and restarts(w, "busy-source") == [], "busy sources are moving over the span"
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="data_late") > 0, "the spell was late data"
    [caught] = _caught(logs)
    assert caught["clusters"] == [CLUSTER] and caught["partial"] is False
    decided = [e for e in logs if e["event"] == "decision" and e.get("connector") == "orders-source"]
    assert [e["decision"] for e in decided] == ["restart"], decided
    assert " (the last of them in " in decided[0]["detail"], "judged on the stretched `before`"
    assert not w.simulator.connector(CLUSTER_ID, "orders-source").stalled, "the restart ended the stall"
    await w.daemon.stop()


async def test_a_stall_shown_only_while_answers_left_its_points_out_is_restarted_after() -> None:
    # The Metrics API answers `{"data": []}` for the cluster for 5 checks that would show the
    # stall (stall_points_vanished): before, those checks' windows counted as judged.
    sources = [{**s, "script": {"stall_at": 1500}} if s["name"] == "orders-source" else s for s in SOURCES]
    w = _leaving(since=1500 + 360, until=1500 + 660, connectors=sources)
    with structlog.testing.capture_logs() as logs:
        await run(w, 2700)
    times = restarts(w, "orders-source")
    assert len(times) == 1, f"the stall shown while the answers were empty: {times}"
    assert times[0] >= 1500 + 660, times
    assert restarts(w, "steady-source") == [] and restarts(w, "busy-source") == []
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="points_vanished") > 0
    assert len(_caught(logs)) == 1
    await w.daemon.stop()


async def test_a_stall_shown_while_the_data_was_late_is_restarted_by_the_next_daemon(tmp_path: Path) -> None:
    # The soak's case: the daemon stops (a crash, a rolling update) inside the backlog, and the
    # next one, on the same state file, reads the windows kept there (`stall_judged`). Before,
    # they were the last late check's, and the stall was never restarted.
    clock = Clock()
    scenario = sim_scenario(SOURCES, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    since, until = (clock.wall() + timedelta(seconds=t) for t in (STALL_AT - 120, SPELL_END))
    transport = Backlog(httpx.ASGITransport(app=create_app(simulator)), clock, since, until)

    def daemon() -> Daemon:
        config = daemon_config([QUICK], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                               rate_limit={"max_requests_per_second": 10000}, state={"path": str(tmp_path / "w.db")})
        started = Daemon(config, transport=transport, now=clock.wall, rng=lambda: 0.5)
        started.queue.start()
        started._ensure_metrics_lane()
        return started

    w = World(simulator, daemon(), clock)
    await run(w, STALL_AT + 300)  # stopped inside the backlog, before the stall shows
    await w.daemon.stop()  # and started again at once (a rolling update): the running times are taken back
    w.daemon = daemon()
    with structlog.testing.capture_logs() as logs:
        await run(w, 1200)
    times = restarts(w, "orders-source")
    assert len(times) == 1 and SPELL_END <= times[0] <= SPELL_END + 120, times
    assert restarts(w, "steady-source") == [] and restarts(w, "busy-source") == []
    assert [e["clusters"] for e in _caught(logs)] == [[CLUSTER]]
    await w.daemon.stop()
