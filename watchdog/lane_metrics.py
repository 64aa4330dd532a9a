"""The metrics of a rate-limit lane (a credential, or a self-managed cluster's own lane): its API
calls, the limiter's budget, waits and pauses, and its restart queue's depth. Mixed into Metrics
(metrics.py), on the same registry; it is also the limiter's observer (ratelimit.LimiterObserver)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .ratelimit import Pause, RateLimitState

# 3xx: a redirect the client did not follow (no Location, a 304, another host's): the call failed.
API_STATUS_CLASSES = ("2xx", "3xx", "4xx", "429", "5xx", "error")
ENDPOINTS = ("list", "status", "restart", "error_recommendations", "metrics_query", "list_environments", "list_clusters")
WAIT_REASONS = ("pause", "outage", "budget", "pace", "ceiling", "unknown_limit", "probe", "concurrency")
PAUSE_SOURCES = ("retry_after", "reset", "backoff")


class LaneMetrics:
    def _make_lane_metrics(self, r: CollectorRegistry) -> None:
        self.api_requests = Counter(
            "watchdog_api_requests",
            "Connect API calls by endpoint and status class (error: no answer).",
            ["credential", "endpoint", "status_class"],
            registry=r,
        )
        self.api_redirects = Counter(
            "watchdog_api_redirects",
            "HTTP redirects followed (Confluent's compatibility policy asks clients to), by status code.",
            ["credential", "status_code"],
            registry=r,
        )
        self.api_latency = Histogram(
            "watchdog_api_request_duration_seconds",
            "Connect API call latency.",
            ["endpoint"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.ratelimit_remaining = Gauge(
            "watchdog_ratelimit_remaining",
            "Requests the current window still allows, as far as the limiter knows (NaN: unknown).",
            ["credential"],
            registry=r,
        )
        self.ratelimit_limit = Gauge(
            "watchdog_ratelimit_limit", "The server's limit per window, once known (NaN: unknown).", ["credential"], registry=r
        )
        self.ratelimit_reset = Gauge(
            "watchdog_ratelimit_reset_seconds",
            "Seconds until the current rate-limit window resets (NaN: unknown).",
            ["credential"],
            registry=r,
        )
        self.ratelimit_pacing = Gauge(
            "watchdog_ratelimit_pacing_rate",
            "Requests per second the limiter spaces calls at, below the rate it learned the key "
            "sustains (NaN: not learned yet; until then one call at a time, or what Remaining allows).",
            ["credential"],
            registry=r,
        )
        self.ratelimit_paused = Gauge(
            "watchdog_ratelimit_paused_seconds",
            "Seconds for which a 429's pause (or a 5xx's Retry-After) still holds every call of the key (0: none).",
            ["credential"],
            registry=r,
        )
        self.ratelimit_wait = Counter(
            "watchdog_ratelimit_wait_seconds",
            "Time calls spent waiting for rate-limit budget, by reason.",
            ["credential", "reason"],
            registry=r,
        )
        self.ratelimit_pauses = Counter(
            "watchdog_ratelimit_pauses",
            "Pauses of every queued call after a 429, by where the pause length came from.",
            ["credential", "source"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "watchdog_queue_depth", "Restart jobs queued or in flight.", ["credential"], registry=r
        )

    def init_credential(self, credential: str) -> None:
        for endpoint in ENDPOINTS:
            for status_class in API_STATUS_CLASSES:
                self.api_requests.labels(credential, endpoint, status_class)
        for reason in WAIT_REASONS:
            self.ratelimit_wait.labels(credential, reason)
        for source in PAUSE_SOURCES:
            self.ratelimit_pauses.labels(credential, source)
        for gauge in (self.ratelimit_remaining, self.ratelimit_limit, self.ratelimit_reset, self.ratelimit_pacing):
            gauge.labels(credential).set(math.nan)
        self.ratelimit_paused.labels(credential).set(0)
        self.queue_depth.labels(credential).set(0)

    def forget_credential(self, credential: str) -> None:
        """A lane no cluster uses any more (a removed self-managed cluster's): its series go."""
        for metric in (self.api_requests, self.api_redirects, self.ratelimit_remaining, self.ratelimit_limit,
                       self.ratelimit_reset, self.ratelimit_pacing, self.ratelimit_paused, self.ratelimit_wait,
                       self.ratelimit_pauses, self.queue_depth):
            metric.remove_by_labels({"credential": credential})

    # -- rate-limiter observer (see ratelimit.LimiterObserver) -----------------------------------

    def waited(self, credential: str, seconds: float, reason: str) -> None:
        self.ratelimit_wait.labels(credential, reason).inc(max(0.0, seconds))

    def paused(self, credential: str, pause: Pause) -> None:
        self.ratelimit_pauses.labels(credential, pause.source).inc()

    def budget(self, credential: str, state: RateLimitState, clock: Callable[[], float]) -> None:
        """Show a limiter's budget as it is at each scrape. Set at each answer instead, a
        window's Remaining and its seconds to Reset stayed on /metrics as the last answer left
        them (`reset_seconds` 2.05 two and a half seconds later, and for as long as no call
        went out), long after the window had passed and the limiter itself knew nothing."""
        def paused() -> float:
            return max(0.0, state.paused_until - clock())

        # While a pause holds every call, nothing may go: Remaining is 0, whatever the budget's
        # last word. A 429 makes the limiter forget that word (it was wrong), so with the headers
        # on 429s only, as Confluent sends them, both gauges read NaN for the whole pause, and
        # no series said the key was paused, nor until when.
        shown: tuple[tuple[Gauge, Callable[[], float | None]], ...] = (
            (self.ratelimit_remaining, lambda: 0 if paused() else _at_least_0(state.remaining_estimate(clock()))),
            (self.ratelimit_paused, paused),
            (self.ratelimit_limit, lambda: state.limit),
            (self.ratelimit_reset, lambda: state.seconds_to_reset(clock())),
            (self.ratelimit_pacing, lambda: state.pacing_rate),
        )
        for gauge, read in shown:
            gauge.labels(credential).set_function(functools.partial(_nan_if_unknown, read))


def _at_least_0(value: int | None) -> int | None:
    return None if value is None else max(0, value)


def _nan_if_unknown(read: Callable[[], float | None]) -> float:
    value = read()
    return math.nan if value is None else float(value)
