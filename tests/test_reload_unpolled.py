"""A cluster a reload leaves without a rule that polls it (its status rule turned off during an
incident, as the reload section of docs/operations.md suggests, with alert rules or requests by name
still acting there): no poll renews what its last one showed, so none of it may go on holding or
paging."""

from __future__ import annotations

import httpx
import structlog

from watchdog.config import Config
from watchdog.model import Health
from watchdog.server import create_app

from .support import CLUSTER, daemon_config, in_process, sim_scenario

TOKEN = "test-token-5d1c0e2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 60, "confirm_polls": 1}, "select": {"include": ["*"]}}
ON_ALERT = {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorDown"}}, "select": {"include": ["*"]}}
DOWN = {"initial": "FAILED", "recover_after_restarts": "never"}


def config(heal_enabled: bool) -> Config:
    return daemon_config([{**HEAL, "enabled": heal_enabled}, ON_ALERT], token=TOKEN)


async def test_a_cluster_no_longer_polled_is_held_by_no_breaker_and_shows_no_old_health() -> None:
    # Three of four connectors FAILED open the cluster's breaker; a reload turns the status rule
    # off. Its last poll's share kept the breaker open for good: every restart by name and every
    # alert there refused breaker_open ("3 of 4 watched connectors failing"), WatchdogBreakerOpen
    # paging, and watchdog_connectors showing 3 failed, for a picture no poll would renew.
    w = in_process(sim_scenario([*({"name": f"down-{i}", "script": DOWN} for i in range(3)), {"name": "orders"}]), config(True))
    daemon = w.daemon
    daemon._reload_config = lambda: config(False)
    daemon.queue.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(
        app=create_app(daemon.metrics.registry, daemon.probes, daemon.api_context())), base_url="http://daemon")
    try:
        await daemon.pollers[CLUSTER].poll()
        await daemon.queue.join()
        assert w.sample("watchdog_breaker_open", scope=CLUSTER) == 1
        assert w.sample("watchdog_connectors", cluster=CLUSTER, health=Health.FAILED.value) == 3
        with structlog.testing.capture_logs() as logs:
            assert await daemon.reload("test") is True
        assert [e["scope"] for e in logs if e["event"] == "breaker_closed"] == [CLUSTER]
        assert w.sample("watchdog_breaker_open", scope=CLUSTER) == 0
        assert {h.value: w.sample("watchdog_connectors", cluster=CLUSTER, health=h.value) for h in Health} == dict.fromkeys(
            (h.value for h in Health), 0)
        answer = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders"}, headers=AUTH)
        assert answer.status_code == 202 and answer.json()["decision"] == "restart", answer.text
        await daemon.queue.join()
        assert [c.connector for c in w.simulator.calls if c.endpoint == "restart"] == ["orders"]
    finally:
        await http.aclose()
        await daemon.stop()
