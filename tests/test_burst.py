"""The acceptance run for the queue: a burst of 200 restarts against a key limited to 20 per 2 s.

Real time, real loopback sockets, the real daemon (HTTP server included): the run must finish
within 10% of the 20 s the limit allows, with no 429 when the simulator sends X-RateLimit-* on
every answer and at most two when it sends them on 429 only, and /metrics must account for
every restart.
"""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from watchdog.app import Daemon
from watchdog.simulator import Scenario, Simulator

from .support import daemon_config, served, sim_scenario

CONNECTORS = 200
LIMIT, WINDOW = 20, 2.0
IDEAL_SECONDS = CONNECTORS / LIMIT * WINDOW


def accepted_in_metrics(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "watchdog_restarts_total" and sample.labels["outcome"] == "accepted":
                total += sample.value
    return total


@pytest.mark.parametrize(("headers", "max_429"), [("always", 0), ("on_429", 2)])
async def test_a_burst_of_200_restarts_uses_the_limit_without_overrunning_it(headers: str, max_429: int) -> None:
    scenario = sim_scenario(
        [{"name": f"connector-{i:03d}"} for i in range(CONNECTORS)],
        rate_limit={"limit": LIMIT, "window_seconds": WINDOW, "headers": headers},
    )
    simulator = Simulator(Scenario.model_validate(scenario))
    burst = {"name": "burst", "trigger": {"type": "schedule", "interval": "1d"}, "select": {"include": ["*"]}}
    async with served(simulator) as url:
        config = daemon_config(
            [burst], base_url=url,
            rate_limit={"reserve": 0, "max_requests_per_second": 100, "max_concurrent_requests": 4},
        )
        daemon = Daemon(config)
        await daemon.start()
        try:
            started = time.monotonic()
            await daemon._run_schedule_rule("burst")
            await daemon.queue.join()
            elapsed = time.monotonic() - started
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"http://127.0.0.1:{daemon.bound_port}/metrics")).text
        finally:
            await daemon.stop()

    refused = sum(1 for call in simulator.calls if call.status_code == 429)
    assert len(daemon.recorder.finished_jobs) == CONNECTORS
    assert {job.outcome.value for job in daemon.recorder.finished_jobs} == {"accepted"}
    assert len(simulator.restarts()) == CONNECTORS
    assert refused <= max_429, f"{refused} answers were 429"
    assert elapsed <= IDEAL_SECONDS * 1.1, f"took {elapsed:.1f}s; the limit allows {IDEAL_SECONDS:.0f}s"
    assert accepted_in_metrics(metrics) == CONNECTORS
