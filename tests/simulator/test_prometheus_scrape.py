"""A real Prometheus scrapes the simulated export endpoint with basic auth, as Confluent's own
example scrape configuration does (Metrics spec, export endpoint)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from watchdog.simulator import Scenario, Simulator, serve

from ..e2e.harness import PROMETHEUS, binary, free_port
from .support import AUTH, CLUSTER, scenario

pytestmark = pytest.mark.e2e


@pytest.fixture
async def simulator_url() -> AsyncIterator[tuple[Simulator, str]]:
    # Samples of 5 s, 5 s back: fresh enough for Prometheus' 5-minute lookback (with the real
    # 5-minute offset only range queries over the past would see them).
    settings = {"export_offset_seconds": 5, "export_sample_seconds": 5}
    connectors = [
        {"name": "orders-source", "records_per_second": 10},
        {"name": "stuck-sink", "type": "sink", "script": {"stall_at": 0}},
    ]
    simulator = Simulator(Scenario.model_validate(scenario(connectors, metrics_api=settings)))
    started, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(simulator, started=started, stop=stop))
    await asyncio.wait_for(started.wait(), 5)
    yield simulator, f"127.0.0.1:{simulator.bound_port}"
    stop.set()
    await task


async def test_prometheus_scrapes_the_export_with_basic_auth(
    simulator_url: tuple[Simulator, str], tmp_path: Path
) -> None:
    simulator, target = simulator_url
    ids = [simulator.connector(CLUSTER, name).id for name in ("orders-source", "stuck-sink")]
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "confluent-cloud",
                "honor_timestamps": True,
                "static_configs": [{"targets": [target]}],
                "scheme": "http",
                "basic_auth": {"username": AUTH[0], "password": AUTH[1]},
                "metrics_path": "/v2/metrics/cloud/export",
                "params": {"resource.connector.id": ids},
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [
            binary(PROMETHEUS),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as api:
            sent = await _wait_for_series(api, "confluent_kafka_connect_sent_records")
            lag = await _wait_for_series(api, "confluent_kafka_connect_records_lag_max")
            received = await _wait_for_series(api, "confluent_kafka_connect_received_records")
            targets = (await api.get("/api/v1/targets")).json()["data"]["activeTargets"]
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert [t["health"] for t in targets] == ["up"]
    # 10 records a second over a 5-second sample; the first sample may begin before the
    # simulator did.
    assert [s["metric"]["connector_id"] for s in sent] == [ids[0]]
    assert 0 < float(sent[0]["value"][1]) <= 50
    assert [float(s["value"][1]) for s in received] == [0.0]
    assert float(lag[0]["value"][1]) > 0
    assert simulator.calls and all(c.status_code == 200 for c in simulator.calls)


async def _wait_for_series(api: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    for _ in range(100):
        try:
            answer = (await api.get("/api/v1/query", params={"query": name})).json()
        except (httpx.TransportError, ValueError):
            answer = {}  # not listening yet, or "Service Unavailable" while it starts
        result = answer.get("data", {}).get("result", [])
        if result:
            return list(result)
        await asyncio.sleep(0.2)
    raise AssertionError(f"Prometheus never stored {name}")
