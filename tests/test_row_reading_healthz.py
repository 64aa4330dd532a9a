"""/healthz (the kubelet's liveness probe, 1 s timeout), the webhooks and the lease's renewal are
served while GET /v1/connectors reads a big store (api/row_reading.py: a page at a time).

A soak probe under name churn (deleted connectors keep a row for state.forget_vanished_after)
found each reading held the whole event loop from its first row to its last: at 20,297 rows on
PostgreSQL, /healthz waited 1 to 2.4 s (5,500 rows: 0.3 s). Here the probe comes once the reading
has begun, and must be answered before the reading ends."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from watchdog.app import Daemon
from watchdog.model import ConnectorKey, ConnectorState, Health
from watchdog.server import create_app
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as create_sim_app
from watchdog.state import SqliteStateStore

from .support import CLUSTER, World, daemon_config, sim_scenario
from .test_api import AUTH, CONNECTORS, RULES, TOKEN, polled

SEEN = datetime(2026, 3, 1, 11, 0, tzinfo=timezone.utc)
ROWS = 20_000  # the probe's 20,297


async def test_healthz_is_answered_while_a_big_reading_of_the_connectors_is_under_way(tmp_path: Path) -> None:
    # Before: the probe was answered only once the whole reading was done.
    with SqliteStateStore(tmp_path / "state.db") as sqlite:
        simulator = Simulator(Scenario.model_validate(sim_scenario(CONNECTORS)))
        w = World(simulator, Daemon(daemon_config(RULES, token=TOKEN), transport=httpx.ASGITransport(
            app=create_sim_app(simulator)), state=sqlite), None)
        await polled(w)
        with sqlite.batch():
            for n in range(ROWS):
                sqlite.observe_status(ConnectorKey(CLUSTER, f"auto-deploy-{n:05d}"), "RUNNING", SEEN - timedelta(seconds=n),
                                      ConnectorState(health=Health.HEALTHY))
        events: list[str] = []
        places = w.daemon.cluster_places
        health_checks: list[asyncio.Task[Any]] = []

        def reading_begins() -> Any:
            if not health_checks:  # the reading has begun: the probe comes now, as the kubelet's would
                health_checks.append(asyncio.ensure_future(probe()))
            return places()

        async def probe() -> None:
            assert (await http.get("/healthz")).status_code == 200
            events.append("healthz answered")

        w.daemon.cluster_places = reading_begins  # type: ignore[method-assign]
        ctx = w.daemon.api_context()
        polls_failing = ctx.polls_failing

        def reading_done() -> list[dict[str, Any]]:  # asked for as soon as the rows are read
            events.append("connectors read")
            return polls_failing()

        ctx.polls_failing = reading_done
        app = create_app(w.daemon.metrics.registry, w.daemon.probes, ctx)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
        answer = await http.get("/v1/connectors", headers=AUTH)
        assert answer.status_code == 200 and answer.json()["rows_selected"] == ROWS + 3
        await health_checks[0]
        assert events == ["healthz answered", "connectors read"], events
        await w.daemon.queue.close(1, 1)
