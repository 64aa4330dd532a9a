"""The acceptance run for the queue: a burst of 200 restarts against a key limited to 20 per 2 s.

Real time, real loopback sockets, the real daemon (HTTP server included): no 429 when the
simulator sends X-RateLimit-* on every answer and at most two when it sends them on 429 only,
and /metrics must account for every restart. How long the burst takes is checked on the virtual
clock (bench/virtualtime.py), with loopback-like latency: within 10% of the 20 s the limit
allows. On the real clock that bound would measure the machine's load as much as the daemon.
"""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.ratelab import Case, run_daemon
from watchdog.app import Daemon
from watchdog.simulator import Scenario, Simulator

from .support import CLUSTER, daemon_config, served, sim_scenario

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
            statuses = await daemon.pollers[CLUSTER].list()
            assert statuses is not None
            await daemon.engine.on_schedule(daemon.config.rules[0], CLUSTER, statuses)  # what the rule's job does
            await daemon.queue.join()
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"http://127.0.0.1:{daemon.bound_port}/metrics")).text
        finally:
            await daemon.stop()

    refused = sum(1 for call in simulator.calls if call.status_code == 429)
    assert len(daemon.recorder.finished_jobs) == CONNECTORS
    assert {job.outcome.value for job in daemon.recorder.finished_jobs} == {"accepted"}
    assert len(simulator.restarts()) == CONNECTORS
    assert refused <= max_429, f"{refused} answers were 429"
    assert accepted_in_metrics(metrics) == CONNECTORS


@pytest.mark.parametrize(("headers", "max_429"), [("always", 0), ("on_429", 2)])
def test_the_burst_takes_no_longer_than_the_limit_allows_plus_10_percent(headers: str, max_429: int) -> None:
    case = Case(algorithm="fixed_aligned", headers=headers, limit=LIMIT, window=WINDOW, backlog=CONNECTORS,
                max_requests_per_second=100, max_concurrent_requests=4, latency=(0.001, 0.005))
    measured = run_daemon(case)  # the same daemon and simulator, on virtual time
    assert (measured.lost, measured.admitted) == (0, CONNECTORS + 1), "every restart (and the list call) admitted"
    assert measured.refused <= max_429, f"{measured.refused} answers were 429"
    assert measured.seconds <= IDEAL_SECONDS * 1.1, f"took {measured.seconds:.1f}s; the limit allows {IDEAL_SECONDS:.0f}s"


ALGORITHMS = ["fixed_aligned", "fixed_anchored", "sliding_log", "sliding_counter", "token_bucket", "gcra"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_requests_counted_out_of_order_take_no_429_with_headers_on_every_answer(algorithm: str) -> None:
    """Over a real network four requests in flight reach the server in any order: the answer to
    the last one sent may be the first counted. Taking every request sent before an answer as
    counted by it made a fixed window look as if it refilled mid-window, and the limiter then
    looked early and took a 429 (seen on the real clock on loopback)."""
    case = Case(algorithm=algorithm, headers="always", limit=LIMIT, window=WINDOW, backlog=CONNECTORS,
                max_requests_per_second=100, max_concurrent_requests=4, latency=(0.001, 0.005),
                arrival=(0.0, 0.02))
    measured = run_daemon(case)
    assert (measured.lost, measured.refused) == (0, 0), f"{measured.refused} answers were 429"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_requests_counted_out_of_order_cost_little_time_at_network_latency(algorithm: str) -> None:
    """The same 200 at the benchmark's 50-150 ms latency plus 0-20 ms of arrival jitter (the
    benchmark has none): measured 1.01 to 1.09 x the ideal. Learning other clients'
    use from answers counted out of order once took a sliding log to 2.70 and a sliding counter
    to 2.19 here, with no 429 to show for it; and an answer counted out of order, taken for a new
    period, once put every look at an anchored window's end up to a second late (1.24)."""
    case = Case(algorithm=algorithm, headers="always", limit=LIMIT, window=WINDOW, backlog=CONNECTORS,
                arrival=(0.0, 0.02))
    measured = run_daemon(case)
    assert (measured.lost, measured.refused) == (0, 0), f"{measured.refused} answers were 429"
    assert measured.ratio <= 1.15, f"took {measured.ratio:.2f} x the ideal"


@pytest.mark.parametrize("algorithm", ["fixed_aligned", "fixed_anchored", "sliding_log", "token_bucket", "gcra"])
def test_the_burst_without_rate_headers_takes_three_429s_and_little_more_than_the_ideal(algorithm: str) -> None:
    """Retry-After only, no X-RateLimit-* at all, at loopback latency (issue 10's setting): the
    first 429 crosses the unknown limit, the second measures the rate, the third is the creep
    toward a guessed ceiling finding the limit. After that one the rate goes back to what was
    measured, not down to the stretch the creep ended (which reads low: its pace rose over it,
    and its resume points are each up to a second late): 1.11 x the ideal where it took 1.26 to
    1.30. Not on a sliding counter: its first sample, right after its boundary, is a trickle
    (docs/benchmarks.md)."""
    case = Case(algorithm=algorithm, headers="never", limit=LIMIT, window=WINDOW, backlog=CONNECTORS,
                max_requests_per_second=100, max_concurrent_requests=4, latency=(0.001, 0.005))
    measured = run_daemon(case)
    assert measured.lost == 0
    assert measured.refused <= 3, f"{measured.refused} answers were 429"
    assert measured.ratio <= 1.15, f"took {measured.ratio:.3f} x the ideal"
