"""End to end with the real thing: Prometheus scrapes the simulator's Metrics API export and the
daemon, an alert rule fires for a stalled connector, Alertmanager calls the webhook with a bearer
token, the daemon restarts the connector in the simulator, and the alert resolves. A second test
shows a blocking alert holding the restart and a silence lifting the block.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from watchdog.app import Daemon
from watchdog.simulator import Scenario, Simulator

from ..conftest import TEST_API_KEY, TEST_API_SECRET
from ..support import CLUSTER, CLUSTER_ID, daemon_config, served, sim_scenario
from .harness import Service, eventually, free_port, start_alertmanager, start_prometheus

pytestmark = pytest.mark.e2e

TOKEN = "e2e-token-7c9d41-a0b2"
STALLED, HEALTHY = "orders-source", "billing-source"


@dataclass
class Stack:
    simulator: Simulator
    daemon: Daemon
    prometheus: Service
    alertmanager: Service

    def sample(self, name: str, **labels: str) -> float:
        return self.daemon.metrics.registry.get_sample_value(name, labels) or 0.0

    def restarts(self) -> int:
        return len(self.simulator.restarts(connector=STALLED))


def scenario() -> dict[str, Any]:
    return sim_scenario(
        [
            # Moves data for 3 s, then stops while still RUNNING: a restart ends the stall.
            {"name": STALLED, "records_per_second": 20, "script": {"stall_at": 3}},
            {"name": HEALTHY, "records_per_second": 10},
        ],
        restart={"delay_seconds": 1},
        # One-second samples, one second back, no export limit: Prometheus sees a stall in
        # seconds instead of Confluent's minutes.
        metrics_api={"export_offset_seconds": 1, "export_sample_seconds": 1, "export_rate_limit": None},
    )


def rules(blocking: bool) -> dict[str, Any]:
    alerts: list[dict[str, Any]] = [{
        "alert": "ConnectorStalled",
        "expr": "confluent_kafka_connect_sent_records == 0",
        "for": "2s",
        "labels": {"severity": "warning"},
        "annotations": {"summary": "connector {{ $labels.connector_id }} sends no records"},
    }]
    if blocking:
        alerts.append({"alert": "ConfluentCloudIncident", "expr": "vector(1)", "labels": {"severity": "critical"}})
    return {"groups": [{"name": "connect", "interval": "1s", "rules": alerts}]}


def prometheus_config(simulator_target: str, daemon_target: str, alertmanager_target: str, ids: list[str]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_target]}]}]},
        "scrape_configs": [
            {
                "job_name": "confluent-cloud-connectors",
                "metrics_path": "/v2/metrics/cloud/export",
                "params": {"resource.connector.id": ids},
                "basic_auth": {"username": TEST_API_KEY, "password": TEST_API_SECRET},
                "honor_timestamps": True,
                "static_configs": [{"targets": [simulator_target]}],
            },
            {"job_name": "connect-watchdog", "static_configs": [{"targets": [daemon_target]}]},
        ],
    }


def alertmanager_config(daemon_url: str, repeat: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "connect-watchdog", "group_by": ["alertname", "connector_id"],
            "group_wait": "1s", "group_interval": "1s", "repeat_interval": repeat,
            "routes": [{"matchers": ['alertname="ConfluentCloudIncident"'], "receiver": "nobody"}],
        },
        "receivers": [
            {"name": "connect-watchdog", "webhook_configs": [{
                "url": f"{daemon_url}/v1/alertmanager", "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
            }]},
            {"name": "nobody"},
        ],
    }


@contextlib.asynccontextmanager
async def stack(tmp_path: Path, *, blocking: bool, repeat: str) -> AsyncIterator[Stack]:
    simulator = Simulator(Scenario.model_validate(scenario()))
    am_port = free_port()  # chosen first: the daemon's blocking config needs it before Alertmanager starts
    daemon_rules = [
        # Polling teaches the daemon each connector's lcc- id, the only name Confluent's metrics use.
        {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 2}, "select": {"include": ["*"]}},
        {"name": "restart-stalled", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled"},
                                                 "connector_label": "connector_id"},
         "select": {"include": ["*"]}, "backoff": {"base": 60, "cap": 600, "jitter": 0}},
    ]
    extra: dict[str, Any] = {}
    if blocking:
        extra["blocking"] = {"alertmanager_url": f"http://127.0.0.1:{am_port}", "filters": ['alertname="ConfluentCloudIncident"'],
                             "cache_ttl": 1, "on_error": "block"}
    async with served(simulator) as simulator_url:
        daemon = Daemon(daemon_config(daemon_rules, base_url=simulator_url, token=TOKEN, **extra))
        alertmanager = prometheus = None
        try:
            await daemon.start()
            daemon_url = f"http://127.0.0.1:{daemon.bound_port}"
            alertmanager_dir = tmp_path / "alertmanager"
            alertmanager_dir.mkdir()
            alertmanager = start_alertmanager(alertmanager_dir, alertmanager_config(daemon_url, repeat), port=am_port)
            await alertmanager.ready()
            ids = [simulator.connector(CLUSTER_ID, name).id for name in (STALLED, HEALTHY)]
            prometheus_dir = tmp_path / "prometheus"
            prometheus_dir.mkdir()
            prometheus = start_prometheus(
                prometheus_dir,
                prometheus_config(simulator_url.removeprefix("http://"), daemon_url.removeprefix("http://"),
                                  f"127.0.0.1:{am_port}", ids),
                rules(blocking),
            )
            await prometheus.ready()
            yield Stack(simulator, daemon, prometheus, alertmanager)
        finally:
            for service in (prometheus, alertmanager):
                if service is not None:
                    service.stop()
            await daemon.stop()


async def active_alerts(service: Service, name: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as http:
        alerts = (await http.get("/api/v2/alerts", params={"filter": f'alertname="{name}"', "active": "true"})).json()
    return [a for a in alerts if a["status"]["state"] == "active"]


async def test_a_stalled_connector_is_restarted_through_prometheus_and_alertmanager(tmp_path: Path) -> None:
    async with stack(tmp_path, blocking=False, repeat="1h") as s:
        async def restarted() -> bool:
            return s.restarts() >= 1

        await eventually(restarted, 45, "the stalled connector was not restarted")

        async def resolved() -> bool:
            return s.sample("watchdog_webhook_alerts_total", result="resolved") >= 1

        await eventually(resolved, 30, "the alert did not resolve after the restart")
        assert not await active_alerts(s.alertmanager, "ConnectorStalled")
        assert s.restarts() == 1, "one stall, one restart"
        assert s.sample("watchdog_restarts_total", cluster=CLUSTER, connector=STALLED, rule="restart-stalled",
                        trigger="alert", outcome="accepted") == 1
        assert s.sample("watchdog_http_requests_total", route="alertmanager", status_class="2xx") >= 2
        assert s.sample("watchdog_http_requests_total", route="alertmanager", status_class="4xx") == 0
        assert not s.simulator.connector(CLUSTER_ID, STALLED).stalled
        assert s.simulator.restarts(connector=HEALTHY) == []

        async with httpx.AsyncClient(base_url=s.prometheus.url) as http:
            targets = (await http.get("/api/v1/targets")).json()["data"]["activeTargets"]
        assert {t["labels"]["job"]: t["health"] for t in targets} == {"confluent-cloud-connectors": "up", "connect-watchdog": "up"}


async def test_a_blocking_alert_holds_the_restart_until_it_is_silenced(tmp_path: Path) -> None:
    async with stack(tmp_path, blocking=True, repeat="3s") as s:
        async def blocked() -> bool:
            return s.sample("watchdog_decisions_total", cluster=CLUSTER, rule="restart-stalled", trigger="alert",
                            decision="blocked") >= 2

        await eventually(blocked, 45, "the stalled connector's alert was never held by the incident")
        assert s.restarts() == 0, "no restart while the incident alert fires"
        assert s.sample("watchdog_blocking_checks_total", result="blocked") >= 1

        now = datetime.now(timezone.utc)
        silence = {
            "matchers": [{"name": "alertname", "value": "ConfluentCloudIncident", "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "e2e test", "comment": "incident handled; let the watchdog work",
        }
        async with httpx.AsyncClient(base_url=s.alertmanager.url) as http:
            assert (await http.post("/api/v2/silences", json=silence)).status_code == 200

        async def restarted() -> bool:
            return s.restarts() >= 1

        await eventually(restarted, 30, "the silence did not lift the block")
        assert s.sample("watchdog_blocking_checks_total", result="clear") >= 1


async def test_per_task_alerts_keep_the_budget_while_one_of_them_fires(tmp_path: Path) -> None:
    # A real Alertmanager's per-task alerts for one connector (no Prometheus: they are posted to
    # its API as Prometheus would). max_restarts 1: restarted once, then given up. Task 0's alert
    # resolves while task 1's fires on, re-sent every repeat_interval. Before, the resolution
    # cleared the connector's signal: a re-send later its count was reset, it was restarted again
    # and watchdog_connector_gave_up went back to 0.
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": STALLED, "id": "lcc-stalled1"}])))
    rule = {"name": "on-task-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorTaskFailed"},
                                                  "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
            "select": {"include": ["*"]}, "max_restarts": 1, "backoff": {"base": 1, "cap": 600, "jitter": 0}}
    async with served(simulator) as simulator_url:
        daemon = Daemon(daemon_config([rule], base_url=simulator_url, token=TOKEN))
        alertmanager = None
        try:
            await daemon.start()
            config = alertmanager_config(f"http://127.0.0.1:{daemon.bound_port}", "3s")
            config["route"]["group_by"] = ["connector"]
            alertmanager = start_alertmanager(tmp_path, config)
            await alertmanager.ready()

            def task(number: int, ends: datetime) -> dict[str, Any]:
                return {"labels": {"alertname": "ConnectorTaskFailed", "kafka_cluster_id": CLUSTER_ID, "connector": STALLED,
                                   "task": str(number)}, "endsAt": ends.isoformat()}

            def gave_up() -> float:
                return daemon.metrics.registry.get_sample_value(
                    "watchdog_connector_gave_up", {"cluster": CLUSTER, "connector": STALLED}) or 0.0

            async with httpx.AsyncClient(base_url=alertmanager.url, timeout=5) as http:
                later = datetime.now(timezone.utc) + timedelta(hours=1)
                assert (await http.post("/api/v2/alerts", json=[task(0, later), task(1, later)])).status_code == 200

                async def given_up() -> bool:
                    return gave_up() == 1

                await eventually(given_up, 30, "the connector never gave up")
                resolved = datetime.now(timezone.utc) - timedelta(seconds=1)
                assert (await http.post("/api/v2/alerts", json=[task(0, resolved)])).status_code == 200

                async def resolution_taken() -> bool:
                    return (daemon.metrics.registry.get_sample_value("watchdog_webhook_alerts_total",
                                                                     {"result": "resolved"}) or 0) >= 1

                await eventually(resolution_taken, 15, "task 0's resolution never came")
                await asyncio.sleep(8)  # task 1 re-sent at two repeat_intervals, past the gap
            assert gave_up() == 1, "task 1 still fires"
            assert len(simulator.restarts(connector=STALLED)) == 1
        finally:
            if alertmanager is not None:
                alertmanager.stop()
            await daemon.stop()
