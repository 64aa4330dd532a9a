"""A replica that loses the lead while it stops (the database out of reach past renew_deadline
while its queue drains): it stands by for good, and what it had not sent is a standby's to
recover (docs/high-availability.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import structlog
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bench.postgres import PostgresServer
from watchdog.app import Daemon
from watchdog.config import Credential
from watchdog.config.leadership import LeaseTiming
from watchdog.config.loading import build_config
from watchdog.engine import MANUAL_RULE
from watchdog.leadership import elector as elector_module
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.model import ConnectorKey, Trigger
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state.postgres import PostgresStateStore

from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    TEST_API_KEY,
    TEST_API_SECRET,
    sim_scenario,
    until,
)


async def test_a_replica_that_loses_the_lead_while_stopping_does_not_take_it_back(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: Any,
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, lease table included
    # The restart waits out a 429's pause when the stop begins: the drain waits for it. (A pause
    # that ends within the deadline: one past it ends the drain at once, nothing to wait for.)
    faults = [{"match": {"endpoint": "restart"}, "action": {"status": 429, "headers": {"Retry-After": "30"}}}]
    connectors = [{"name": "orders"}]
    simulator = Simulator(Scenario.model_validate(sim_scenario(connectors, faults=faults)))
    data = {
        "api": {"base_url": "http://sim"}, "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"url": postgres_url,
                  "leader_election": {"lease_duration": 6, "renew_deadline": 2, "renew_interval": 0.2}},
        "queue": {"shutdown_deadline": 40},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 30}, "select": {"include": ["*"]}}],
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    config = build_config(data, "test", secrets={"credentials": {"main": credential},
                                                 "state": {"password": postgres_server.password}})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)))
    await daemon.start(serve_http=False)
    try:
        await until(lambda: daemon.pollers[CLUSTER].listed_at is not None, "the first poll")
        daemon.engine.on_request(ConnectorKey(CLUSTER, "orders"), None, trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                 reason="asked by hand", known_missing=False)
        await until(lambda: any(c.endpoint == "restart" for c in simulator.calls), "the restart, answered 429")
    except BaseException:
        await daemon.stop()
        raise
    real_renew = elector_module.lease.renew

    async def cut_off(*args: Any) -> bool:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    # From the stop on, renewals fail (campaigns still reach the database: its own name is on the
    # lease, so this replica could take it straight back).
    monkeypatch.setattr(elector_module.lease, "renew", cut_off)
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(daemon.stop(), 20)
    monkeypatch.setattr(elector_module.lease, "renew", real_renew)
    events = [entry["event"] for entry in logs]

    assert "leadership_lost" in events, events
    assert "leader_stop_failed" not in events, [e for e in logs if e["event"] == "leader_stop_failed"]
    after = events[events.index("leadership_lost"):]
    assert "leader_elected" not in after, "a stopping replica took the lead back and started its triggers again"
    assert simulator.restarts() == []
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        left = [p.request.key.connector for p in store.pending()]
    assert left == ["orders"], "the restart not sent is left in the shared state for the next leader"


async def test_a_retired_elector_that_steps_down_campaigns_no_more(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: Any,
) -> None:
    """The stop's own guard, apart from how long the rest of the stop takes: once retired, a
    step-down is the end, though its own name on the lease would let it lead again at once."""
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass
    elector = Elector(postgres_url, postgres_server.password, LeaseTiming(6.0, 2.0, 0.2),
                      LeadershipMetrics(CollectorRegistry()), identity="replica-a/1/k")
    elected: list[int] = []
    lost: list[str] = []

    async def on_elected(epoch: int) -> None:
        elected.append(epoch)

    async def on_lost(reason: str) -> None:
        lost.append(reason)

    elector.start(on_elected, on_lost)
    try:
        await until(lambda: elected, "elected")
        real_renew = elector_module.lease.renew

        async def cut_off(*args: Any) -> bool:
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        elector.retire()
        monkeypatch.setattr(elector_module.lease, "renew", cut_off)
        await until(lambda: lost, "stepped down: no renewal within renew_deadline")
        monkeypatch.setattr(elector_module.lease, "renew", real_renew)
        await asyncio.sleep(1.0)  # campaigns at 0.2 s, had there been any
        assert elected == elected[:1] and not elector.leading
    finally:
        await elector.stop()
