"""The fleet breaker and restarts queued on a key already known refused: an alert group whose
restarts land on a key that answered 401 seconds before opened the fleet breaker at error, naming
that key ("0 restarts in the last 60s, 20 queued to go (limit 20); those queued: 20 on API key
'orga'"), closed it 12 ms later as the jobs reached their turn and were parked, and the real
opening seconds later was said at warning, "said at error then" (probe_breaker F3, 2026-12-07).
Restarts that cannot go take no room: a key known refused is judged by its lane's state now, not
only once each job was parked at its turn (RestartQueue.may_go_now).

Two API keys, each with its own cluster, in the in-process simulator on virtual time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from bench import fixtures, virtualtime
from watchdog.app import Daemon
from watchdog.config import Credential, build_config
from watchdog.server import create_app
from watchdog.simulator import Scenario, Simulator

from .test_fleet_room_stuck_lanes import CLUSTERS, ENVIRONMENT, HEAL, KEYS, LIMIT, WINDOW

TOKEN = "fleet-room-refused-key-7a1c"
ALERT = {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorFailed"},
                                         "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
         "select": {"include": ["*"]}}


def scenario() -> Scenario:
    """Six connectors running in each organisation's cluster; org C's key refused from t=5 s."""
    return Scenario.model_validate({
        "seed": 1,
        "api_keys": [{"id": key, "secret": secret, "clusters": [lkc for lkc, owner in CLUSTERS.values() if owner == name]}
                     for name, (key, secret) in KEYS.items()],
        "environments": [{"id": ENVIRONMENT, "clusters": [
            {"id": lkc, "connectors": [{"name": f"{name}-{i}"} for i in range(6)]}
            for name, (lkc, _) in CLUSTERS.items()]}],
        "faults": [{"match": {"api_key": KEYS["orgc"][0]}, "action": {"status": 401}, "when": {"from": 5}}],
    })


def daemon(simulator: Simulator) -> Daemon:
    data: dict[str, Any] = {
        "api": {"base_url": "http://sim"},
        "credentials": {name: {} for name in KEYS},
        "clusters": {name: {"environment_id": ENVIRONMENT, "kafka_cluster_id": lkc, "credential": owner}
                     for name, (lkc, owner) in CLUSTERS.items()},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "rules": [HEAL, ALERT],
        "breaker": {"max_failing_share": None, "max_restarts": LIMIT, "window": WINDOW},
    }
    secrets = {"credentials": {name: Credential(api_key=SecretStr(key), api_secret=SecretStr(secret))
                               for name, (key, secret) in KEYS.items()},
               "server": {"auth_token": SecretStr(TOKEN)}}
    return fixtures.virtual_daemon(build_config(data, "test config", secrets=secrets), simulator)


async def alerts_onto_the_refused_key() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both clusters listed at t=0; org C's poll at t=10 meets the 401; at t=15 a group of six
    firing alerts for org C's connectors (more than the window's room of four)."""
    simulator = Simulator(scenario(), clock=asyncio.get_running_loop().time)
    d = daemon(simulator)
    d.queue.start()
    app = create_app(d.metrics.registry, d.probes, d.api_context())
    try:
        with structlog.testing.capture_logs() as logs:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
                await d.pollers["c-prod"].poll()
                await d.pollers["a-prod"].poll()
                await asyncio.sleep(10)
                await d.pollers["c-prod"].poll()
                await asyncio.sleep(5)
                body = {"version": "4", "status": "firing", "alerts": [{
                    "status": "firing", "startsAt": "2026-03-01T12:00:00Z",
                    "labels": {"alertname": "ConnectorFailed", "kafka_cluster_id": CLUSTERS["c-prod"][0],
                               "connector": f"c-prod-{i}"}} for i in range(6)]}
                answer = await http.post("/v1/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
                assert answer.status_code == 200, answer.text
                answered = list(answer.json()["alerts"])
                await asyncio.sleep(5)
    finally:
        await d.stop()
    return logs, answered


def test_alerts_onto_a_key_known_refused_do_not_flash_the_fleet_breaker_open() -> None:
    logs, answered = virtualtime.run(alerts_onto_the_refused_key())
    assert any(e["event"] == "api_key_refused" for e in logs), "org C's key was known refused first"
    assert [a["decision"] for a in answered] == ["restart"] * 6, answered
    opened = [(e["log_level"], e["reason"]) for e in logs if e["event"] == "breaker_opened" and e["scope"] == "fleet"]
    assert opened == [], opened


def flash_scenario() -> Scenario:
    """Org C's four connectors running, every restart of its key answered 429 (Retry-After 60),
    which nothing has shown yet; org A's six fail at t=10, each healed by one restart."""
    return Scenario.model_validate({
        "seed": 1,
        "api_keys": [{"id": key, "secret": secret, "clusters": [lkc for lkc, owner in CLUSTERS.values() if owner == name]}
                     for name, (key, secret) in KEYS.items()],
        "environments": [{"id": ENVIRONMENT, "clusters": [
            {"id": CLUSTERS["a-prod"][0], "connectors": [
                {"name": f"a-prod-{i}", "script": {"fail_at": 10, "recover_after_restarts": 1}} for i in range(6)]},
            {"id": CLUSTERS["c-prod"][0], "connectors": [{"name": f"c-prod-{i}"} for i in range(LIMIT)]}]}],
        "faults": [{"match": {"endpoint": "restart", "api_key": KEYS["orgc"][0]},
                    "action": {"status": 429, "headers": {"Retry-After": "60"}}}],
    })


async def a_flash_then_a_storm() -> list[dict[str, Any]]:
    """At t=1 four alerts onto org C (the window's room): the fleet breaker shows open until the
    first restart's 429 shows the lane stuck; org A's poll at t=15 then rations its six failures."""
    simulator = Simulator(flash_scenario(), clock=asyncio.get_running_loop().time)
    d = daemon(simulator)
    d.queue.start()
    app = create_app(d.metrics.registry, d.probes, d.api_context())
    try:
        with structlog.testing.capture_logs() as logs:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
                await d.pollers["c-prod"].poll()
                await d.pollers["a-prod"].poll()
                await asyncio.sleep(1)
                body = {"version": "4", "status": "firing", "alerts": [{
                    "status": "firing", "startsAt": "2026-03-01T12:00:00Z",
                    "labels": {"alertname": "ConnectorFailed", "kafka_cluster_id": CLUSTERS["c-prod"][0],
                               "connector": f"c-prod-{i}"}} for i in range(LIMIT)]}
                answer = await http.post("/v1/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
                assert answer.status_code == 200, answer.text
                await asyncio.sleep(14)
                await d.pollers["a-prod"].poll()
                await asyncio.sleep(5)
    finally:
        await d.stop()
    return logs


def test_an_opening_closed_within_seconds_does_not_demote_the_next_to_warning() -> None:
    """The opening at the webhook is what was known then (no 429 yet), and is said at error; it
    closes a moment later. Before, org A's storm opening 14 s later was said at warning, "said
    at error then": the one line that should page said the least."""
    logs = virtualtime.run(a_flash_then_a_storm())
    changes = [(e["event"], e.get("log_level")) for e in logs if e["event"] in ("breaker_opened", "breaker_closed")
               and e["scope"] == "fleet"]
    assert changes[:2] == [("breaker_opened", "error"), ("breaker_closed", "warning")], changes
    storm = [e for e in logs if e["event"] == "breaker_opened" and "API key 'orga'" in e["reason"]]
    assert storm and storm[0]["log_level"] == "error", storm[:1]


def test_flashes_forget_the_hours_error_once_an_hour_at_most() -> None:
    """A breaker flickering open and shut within seconds, again and again, pages at most twice an
    hour: the first flash's error is forgotten, the next flash's is not (through the engine's
    update_breaker, the fleet opened by restarts counted as sent: limit 4)."""
    logs = virtualtime.run(flicker())
    lines = [(e["event"], e["log_level"], "note" in e) for e in logs if e["event"] in ("breaker_opened", "breaker_closed")]
    assert lines == [("breaker_opened", "error", True), ("breaker_closed", "warning", True),
                     ("breaker_opened", "error", True), ("breaker_closed", "warning", False),
                     ("breaker_opened", "warning", True), ("breaker_closed", "warning", False)], lines


async def flicker() -> list[dict[str, Any]]:
    """The fleet breaker opened by LIMIT restarts counted as sent, closed a second later, three
    times 30 s apart."""
    d = daemon(Simulator(scenario(), clock=asyncio.get_running_loop().time))
    t0 = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    with structlog.testing.capture_logs() as logs:
        for flicker in range(3):
            at = t0 + timedelta(seconds=30 * flicker)
            for i in range(LIMIT):
                d.engine.breaker.record_restart(at - timedelta(milliseconds=i))
            d.engine.update_breaker(at)  # open: LIMIT sent
            for i in range(LIMIT):
                d.engine.breaker.take_back(at - timedelta(milliseconds=i))
            d.engine.update_breaker(at + timedelta(seconds=1))  # closed a second later
    await d.stop()
    return logs
