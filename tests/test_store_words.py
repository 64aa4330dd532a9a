"""What the daemon says of its state store and of a standby, in the words that fit: a PostgreSQL
database has no file, a database that refuses writes was reached, and a read sent to a standby
did nothing to be sent again (an HA probe: "its state file cannot be written" of a database
down, "the database cannot be reached" of one that answered, "nothing was done; send again
later" to GET /v1/restarts/{id})."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pydantic import SecretStr

from bench.postgres import PostgresServer, take_lease
from watchdog.app import Daemon
from watchdog.config import Credential
from watchdog.config.loading import build_config
from watchdog.server import create_app as serve
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state.postgres import PostgresStateStore

from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, TEST_API_KEY, TEST_API_SECRET, sim_scenario
from .test_api import AUTH, TOKEN
from .test_outage_outcomes import HOLDER, Leads, read_only
from .test_standby_answer import LEADER, standby_app


async def test_a_standby_answers_a_read_as_a_read_and_a_write_as_a_write() -> None:
    _, app = standby_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        reads = [await http.get("/v1/restarts/0123456789abcdef", headers=AUTH),
                 await http.get("/v1/connectors", headers=AUTH)]
        write = await http.post("/v1/restarts", json={"cluster": "prod", "connector": "orders-sink"}, headers=AUTH)
    for response in reads:
        assert response.status_code == 503 and response.json()["standby"] is True, response.text
        error = response.json()["error"]
        assert "only the leader knows this: ask it, or ask again later" in error and LEADER in error, error
        assert "nothing was done" not in error, error
    assert write.status_code == 503 and "nothing was done; send again later" in write.json()["error"]


async def test_a_request_the_database_cannot_record_is_refused_naming_the_database_not_a_file(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    data = {
        "api": {"base_url": "http://sim"}, "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0}, "state": {"url": postgres_url},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 30}, "select": {"include": ["*"]}}],
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    config = build_config(data, "test", secrets={"credentials": {"main": credential},
                                                 "state": {"password": postgres_server.password},
                                                 "server": {"auth_token": SecretStr(TOKEN)}})
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders-sink"}])))
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        store.fence(await asyncio.to_thread(take_lease, postgres_server, postgres_url, HOLDER), HOLDER)
        daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), state=store)
        daemon.leadership = Leads()
        daemon.queue.may_send = daemon.leadership.may_send
        app = serve(daemon.metrics.registry, daemon.probes, daemon.api_context())
        try:
            await daemon.pollers[CLUSTER].poll()
            with read_only(postgres_server, postgres_url):
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as http:
                    refused = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"},
                                              headers=AUTH)
        finally:
            await daemon.stop()
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert "its state database cannot be written" in error and "state file" not in error, error


async def test_a_database_that_refuses_the_leases_writes_is_said_to_take_no_writes(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    from prometheus_client import CollectorRegistry

    from watchdog.config.leadership import LeaseTiming
    from watchdog.leadership.elector import Elector
    from watchdog.leadership.metrics import LeadershipMetrics

    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, lease table included
    timing = LeaseTiming(lease_duration=10.0, renew_deadline=6.0, renew_interval=0.2)
    elector = Elector(postgres_url, postgres_server.password, timing, LeadershipMetrics(CollectorRegistry()),
                      identity="replica-a/1/k")

    async def nothing(*args: Any) -> None:
        pass

    try:
        with read_only(postgres_server, postgres_url):
            elector.start(nothing, nothing)
            async with asyncio.timeout(10):
                while elector.unreachable == "the database has not been reached yet":
                    await asyncio.sleep(0.05)
            said = elector.unreachable
    finally:
        await elector.stop()
    assert said is not None and said.startswith("the database takes no writes (ReadOnlySqlTransaction"), said
