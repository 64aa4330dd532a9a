"""Regressions for two rate-limiter bugs the fault matrix and the benchmarks found.

1. Every answer's X-RateLimit-Remaining was reduced by all requests still in flight, including
   those sent before it, which the server had already counted. The smallest estimate of a window
   is kept, so each answer that overtook an earlier one wasted a request of that window: with
   four requests in flight and uneven latency, 56-58 of 60 per window were used, not 59.
2. A Retry-After or X-RateLimit-Reset beyond max_pause was cut to max_pause for the pause, but
   the window end was left where the server put it, so every call still waited for the hours
   (or years) the header said.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
from pydantic import SecretStr

from bench import virtualtime
from watchdog.app import Daemon
from watchdog.config import Credential, RateLimitSettings, build_config
from watchdog.ratelimit import RateLimitHeaders, RateLimitState
from watchdog.simulator import Scenario, Simulator, create_app

from ..conftest import TEST_API_KEY, TEST_API_SECRET


def state(**settings: object) -> RateLimitState:
    return RateLimitState(RateLimitSettings.model_validate({"reserve": 0, "max_requests_per_second": 1000, **settings}))


def test_an_answer_that_overtakes_an_earlier_one_does_not_shrink_the_budget() -> None:
    limiter = state()
    first = limiter.on_send(0.00)
    second = limiter.on_send(0.01)
    # The server counted `first`, then `second`; the second answer arrives first.
    limiter.on_response(0.01, 0.05, 202, RateLimitHeaders(limit=10, remaining=8, reset=5), ticket=second)
    limiter.on_response(0.00, 0.06, 202, RateLimitHeaders(limit=10, remaining=9, reset=5), ticket=first)
    assert limiter.remaining_estimate(0.06) == 8


def test_requests_sent_after_the_answered_one_are_still_subtracted() -> None:
    limiter = state()
    first = limiter.on_send(0.00)
    limiter.on_send(0.01)  # not answered yet: `remaining` below cannot count it
    limiter.on_response(0.00, 0.05, 202, RateLimitHeaders(limit=10, remaining=9, reset=5), ticket=first)
    assert limiter.remaining_estimate(0.05) == 8


def test_a_retry_after_beyond_max_pause_holds_calls_for_max_pause_only() -> None:
    limiter = state(max_pause=60)
    ticket = limiter.on_send(0.0)
    pause = limiter.on_response(0.0, 0.0, 429, RateLimitHeaders(limit=10, remaining=0, retry_after=7200), ticket=ticket)
    assert pause is not None and pause.seconds == 60
    assert limiter.delay(30.0)[0] == 30.0
    assert limiter.delay(60.0) == (0.0, "")


def test_a_huge_reset_on_a_success_holds_calls_for_max_pause_only() -> None:
    limiter = state(max_pause=60)
    ticket = limiter.on_send(0.0)
    limiter.on_response(0.0, 0.0, 202, RateLimitHeaders(limit=10, remaining=0, reset=10**8), ticket=ticket)
    assert limiter.delay(1.0) == (59.0, "budget")
    assert limiter.delay(60.0) == (0.0, "")


def test_a_backlog_uses_every_request_the_window_allows_with_uneven_latency() -> None:
    """The daemon's defaults (reserve 1, four requests in flight) against 60 per 10 s with
    50-150 ms of latency: every full window carries 59 of the daemon's requests, and no 429."""

    async def backlog() -> list[int]:
        loop = asyncio.get_running_loop()
        scenario = {
            "seed": 3,
            "latency_seconds": [0.05, 0.15],
            "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}],
            "environments": [{"id": "env-a", "clusters": [{"id": "lkc-a", "connectors": [{"name": f"c{i:03d}"} for i in range(300)]}]}],
            "rate_limit": {"limit": 60, "window_seconds": 10, "headers": "always"},
        }
        simulator = Simulator(Scenario.model_validate(scenario), clock=loop.time)
        config = build_config(
            {
                "api": {"base_url": "http://sim"},
                "credentials": {"main": {}},
                "clusters": {"a": {"environment_id": "env-a", "kafka_cluster_id": "lkc-a"}},
                "breaker": {"max_failing_share": None, "max_restarts": None},
                "state": {"path": ":memory:"},
                "rules": [{"name": "all", "trigger": {"type": "schedule", "interval": "1d"}, "select": {"include": ["*"]}}],
            },
            "regression",
            secrets={"credentials": {"main": Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))}},
        )
        epoch = datetime(2026, 3, 1, tzinfo=timezone.utc)
        daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), clock=loop.time,
                        now=lambda: epoch + timedelta(seconds=loop.time()), rng=random.Random(1).random)
        assert await daemon.run_once() == 0
        assert not any(call.status_code == 429 for call in simulator.calls)
        per_window = Counter(int(call.t // 10) for call in simulator.calls)
        return [per_window[w] for w in sorted(per_window)]

    windows = virtualtime.run(backlog())
    assert sum(windows) == 301  # the list call, then 300 restarts
    assert windows[:-1] == [59] * (len(windows) - 1)
