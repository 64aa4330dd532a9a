"""A database briefly read-only (`ALTER DATABASE ... SET default_transaction_read_only = on`, its
sessions cut, then RESET): a store session opened in the window keeps the setting as long as it
lives. The store kept it (it dropped a connection only on a lost one), so the replica won the lease,
failed to start leading ("cannot execute SELECT FOR SHARE in a read-only transaction"), stepped
down, every renew_interval for ever, while its /readyz said 200 ready."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bench.postgres import PostgresServer, take_lease
from watchdog.app import Daemon
from watchdog.config import Credential
from watchdog.config.leadership import LeaseTiming
from watchdog.config.loading import build_config
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.server import Probes
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state import StateStoreError
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


def _cut(server: PostgresServer, database: str, application: str) -> None:
    with server.connect() as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                      "AND application_name LIKE %s", (database, f"connect-watchdog {application}%"))


async def test_a_store_session_opened_while_the_database_was_read_only_is_made_again_and_the_replica_leads(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    data = {
        "api": {"base_url": "http://sim"}, "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"url": postgres_url,
                  "leader_election": {"lease_duration": 6, "renew_deadline": 2, "renew_interval": 0.2}},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 30}, "select": {"include": ["*"]}}],
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    config = build_config(data, "test", secrets={"credentials": {"main": credential},
                                                 "state": {"password": postgres_server.password}})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)))
    # The window: read-only, the store's session cut, and made again (a read) while it lasts.
    with postgres_server.connect() as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    _cut(postgres_server, database, "store")
    await asyncio.sleep(0.2)
    assert daemon.state.pending() == []
    with postgres_server.connect() as admin:
        admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
    with structlog.testing.capture_logs() as logs:
        await daemon.start(serve_http=False)
        try:
            await until(lambda: daemon.pollers[CLUSTER].listed_at is not None,
                        "the replica leads and polls once the database is writable", timeout=20)
            ready, detail = daemon.probes.readiness()
        finally:
            await daemon.stop()
    failed = [entry for entry in logs if entry["event"] == "leader_start_failed"]
    assert len(failed) <= 1, failed  # the session found read-only is dropped: the next start is fresh
    assert ready, detail
    assert detail["state_store"] == "ok" and detail["role"] == "leader"


def test_a_store_refused_as_read_only_connects_anew_for_its_next_write(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        with postgres_server.connect() as admin:
            admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        _cut(postgres_server, database, "store")
        time.sleep(0.2)
        assert store.pending() == []  # a session made while it is read-only
        with postgres_server.connect() as admin:
            admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        store.fence(take_lease(postgres_server, postgres_url), "test-replica")
        with pytest.raises(StateStoreError, match="read-only transaction"):
            store.withdraw_pending(["nothing"])
        store.withdraw_pending(["nothing"])  # writable again: "they work again when it is writable"
        assert store.problem is None


async def test_a_replica_that_cannot_start_leading_is_not_ready_and_says_why(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, lease table included
    elector = Elector(postgres_url, postgres_server.password, LeaseTiming(6.0, 2.0, 0.2),
                      LeadershipMetrics(CollectorRegistry()), identity="replica-a/1/k")
    probes = Probes()
    probes.config_loaded = True
    probes.not_leader = lambda: None if elector.leading else "this replica is not the leader"
    probes.lease_problem = lambda: elector.unreachable
    failing = True
    started: list[int] = []

    async def on_elected(epoch: int) -> None:
        if failing:
            raise StateStoreError("PostgreSQL database x: could not start a batch of writes: cannot execute "
                                  "SELECT FOR SHARE in a read-only transaction.")
        started.append(epoch)

    async def on_lost(reason: str) -> None:
        pass

    with structlog.testing.capture_logs() as logs:
        elector.start(on_elected, on_lost)
        try:
            await until(lambda: sum(e["event"] == "leader_start_failed" for e in logs) >= 2, "two failed starts")
            await until(lambda: not elector.leading, "stepped down")
            ready, detail = probes.readiness()
            assert not ready, detail
            assert detail["role"] == "standby"
            said = str(detail["state_store"])
            assert "could not start leading" in said and "read-only transaction" in said, said
            failing = False
            await until(lambda: bool(started), "a start that succeeds")
            assert probes.readiness()[0], probes.readiness()[1]
        finally:
            await elector.stop()
