"""The HTTP API of a leader whose lease renewal is late: its event loop was held (the process
starved of CPU, a long recovery) past renew_deadline, and the renewal that follows is on its way.

The leader never stepped down, and a restart refused by its queue in that gap makes it step down
and lead again under a new epoch (tests/test_ha_lapse.py). An HTTP request is no such refusal:
nothing was left "to the leader" by answering it. Counted as one, a /readyz probe, a restart
request or an Alertmanager webhook arriving while the loop was held made the replica step down
and recover its whole backlog again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import httpx
from pydantic import SecretStr

from bench.postgres import PostgresServer
from watchdog.app import Daemon
from watchdog.config import Credential
from watchdog.config.loading import build_config
from watchdog.leadership import elector as elector_module
from watchdog.leadership.elector import Elector
from watchdog.server import create_app as serve
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

TOKEN = "t0ken-t0ken-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _daemon(postgres_server: PostgresServer, url: str, simulator: Simulator) -> Daemon:
    data = {
        "api": {"base_url": "http://sim"}, "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"url": url, "leader_election": {"lease_duration": 6, "renew_deadline": 2, "renew_interval": 0.2}},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 30}, "select": {"include": ["*"]}}],
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    config = build_config(data, "test", secrets={"credentials": {"main": credential},
                                                 "state": {"password": postgres_server.password},
                                                 "server": {"auth_token": SecretStr(TOKEN)}})
    return Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)))


def _renewals(monkeypatch: Any) -> asyncio.Event:
    """Set at each renewal's answer: awaited, the election loop is asleep until its next one."""
    renewed = asyncio.Event()
    real_renew = elector_module.lease.renew

    async def renew(*args: Any) -> bool:
        held = await real_renew(*args)
        renewed.set()
        return held

    monkeypatch.setattr(elector_module.lease, "renew", renew)
    return renewed


def _leader_on_postgres(
    postgres_server: PostgresServer, url: str, monkeypatch: Any,
) -> tuple[Simulator, Daemon, Elector, asyncio.Event, httpx.AsyncClient]:
    """The simulator and a daemon electing itself on PostgreSQL (schema made first, lease table included), its
    renewals signalled, and a client of its HTTP API in process."""
    with PostgresStateStore(url, password=postgres_server.password):
        pass
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = _daemon(postgres_server, url, simulator)
    elector = daemon.leadership
    assert isinstance(elector, Elector)
    renewed = _renewals(monkeypatch)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=serve(daemon.metrics.registry, daemon.probes,
                                                                     daemon.api_context())), base_url="http://daemon")
    return simulator, daemon, elector, renewed, http


async def _sent_while_late(renewed: asyncio.Event, *requests: Coroutine[Any, Any, httpx.Response]) -> list[httpx.Response]:
    """The requests, arrived while the event loop is held past renew_deadline (2 s) right after a
    renewal (the process starved of CPU, or its loop held): let go, the loop answers them before
    the next renewal, late and on its way, comes back."""
    renewed.clear()
    await renewed.wait()  # the election loop is asleep until its next renewal
    waiting = [asyncio.create_task(request) for request in requests]
    time.sleep(2.5)
    return list(await asyncio.gather(*waiting))


async def test_requests_answered_while_the_renewal_is_late_do_not_make_the_leader_step_down(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: Any,
) -> None:
    simulator, daemon, elector, renewed, http = _leader_on_postgres(postgres_server, postgres_url, monkeypatch)
    await daemon.start(serve_http=False)
    try:
        await until(lambda: elector.leading and daemon.pollers[CLUSTER].listed_at is not None, "leading, polled")
        epoch = elector.epoch
        ready, late = await _sent_while_late(
            renewed, http.get("/readyz"),
            http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders"}, headers=AUTH))
        readiness = ready.json()
        await asyncio.sleep(1.0)  # renewals at 0.2 s
        assert elector.leading and elector.epoch == epoch, (
            "the replica stepped down and led again: answering HTTP requests counted as a refused send")
        assert readiness["role"] == "leader", readiness
        # Nothing recorded, so nothing to send; said as it is, and the client sends again.
        assert late.status_code == 503 and "renew" in late.json()["error"], late.text
        assert "Retry-After" in late.headers and late.json().get("standby") is not True
        again = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders"}, headers=AUTH)
        assert again.status_code == 202, again.text
        await until(lambda: len(simulator.restarts()) == 1, "the restart sent once the lease was renewed")
    finally:
        await http.aclose()
        await daemon.stop()


async def test_a_leader_whose_renewal_is_late_serves_reads_without_stepping_down(
    postgres_server: Any, postgres_url: str, monkeypatch: Any,
) -> None:
    """The reads a leader serves (GET /v1/restarts/{id}, which `watchdog restart --daemon` follows,
    and GET /v1/connectors) are served while its renewal is late: they send nothing."""
    simulator, daemon, elector, renewed, http = _leader_on_postgres(postgres_server, postgres_url, monkeypatch)
    await daemon.start(serve_http=False)
    try:
        await until(lambda: elector.leading and daemon.pollers[CLUSTER].listed_at is not None, "leading, polled")
        accepted = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders"}, headers=AUTH)
        assert accepted.status_code == 202, accepted.text
        await until(lambda: len(simulator.restarts()) == 1, "the restart sent")
        epoch = elector.epoch
        followed, listed = await _sent_while_late(
            renewed, http.get(f"/v1/restarts/{accepted.json()['id']}", headers=AUTH), http.get("/v1/connectors", headers=AUTH))
        assert (followed.status_code, listed.status_code) == (200, 200), (followed.text, listed.text)
        await asyncio.sleep(1.0)
        assert elector.leading and elector.epoch == epoch
    finally:
        await http.aclose()
        await daemon.stop()


async def test_a_leader_whose_write_is_fenced_does_not_name_itself_as_the_leader(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    """The lease moved on before this replica's next renewal could see it (another replica took it,
    or a database failover that lost its last commits rolled it back and another replica won it):
    the request's write is fenced. The 503 named this very replica as the leader, and
    `watchdog restart --daemon` told its user to run the command in this pod."""
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = _daemon(postgres_server, postgres_url, simulator)
    elector = daemon.leadership
    assert isinstance(elector, Elector)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=serve(daemon.metrics.registry, daemon.probes,
                                                                     daemon.api_context())), base_url="http://daemon")
    await daemon.start(serve_http=False)
    try:
        await until(lambda: elector.leading and daemon.pollers[CLUSTER].listed_at is not None, "leading, polled")
        with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as admin:
            admin.execute("UPDATE leader_lease SET holder = 'other/1/k', epoch = epoch + 1, "
                          "expires_at = clock_timestamp() + interval '60 s'")
        refused = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders"}, headers=AUTH)
        assert refused.status_code == 503 and refused.json()["standby"] is True, refused.text
        assert elector.identity not in refused.text, refused.text
        assert refused.json()["leader"] in (None, "other/1/k")
        await until(lambda: elector.holder == "other/1/k", "the next campaign reads who leads")
        standby = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders"}, headers=AUTH)
        assert standby.status_code == 503 and standby.json()["leader"] == "other/1/k", standby.text
    finally:
        await http.aclose()
        await daemon.stop()
    assert simulator.restarts() == []


async def test_a_webhook_fenced_part_way_does_not_say_that_nothing_was_done(monkeypatch: Any) -> None:
    """Each alert is decided and recorded on its own: the lease moving on after the first of two
    (its write committed, the second's fenced) left the first recorded, its restart the next
    leader's. The 503 and its log line said "nothing was done"."""
    from watchdog.engine.alert_intake import AlertIntake
    from watchdog.state import Fenced

    from .test_api import AUTH, alert, payload, polled, world

    w, http = world()
    await polled(w)
    decided: list[str] = []
    real = AlertIntake._on_alert

    def on_alert(self: Any, one: Any, *args: Any) -> Any:
        if decided:
            raise Fenced("write refused: this replica leads under epoch 3, the lease is at epoch 4 (held by other)")
        decided.append(one.identity)
        return real(self, one, *args)

    monkeypatch.setattr(AlertIntake, "_on_alert", on_alert)
    answer = await http.post("/v1/alertmanager", headers=AUTH, json=payload(
        alert(connector="orders-sink", fingerprint="fp1"), alert(connector="billing-sink", fingerprint="fp2")))
    assert decided == ["fp1"]
    assert [p.request.key.connector for p in w.daemon.state.pending()] == ["orders-sink"]
    assert answer.status_code == 503 and answer.json()["standby"] is True
    assert "nothing was done" not in answer.json()["error"], answer.json()["error"]
    assert "recorded" in answer.json()["error"]
