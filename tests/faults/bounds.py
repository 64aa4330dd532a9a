"""What the configured policy allows the daemon to do under a fault: upper bounds on calls and
jobs, and the minimum gap between restarts. Computed from the documented policy
(docs/configuration.md, "How a failing connector is handled" and "Rate limits", and
docs/rate-limits.md), not from the daemon's code and never from an observed run, so a change that
makes the daemon call more than its policy allows fails here.
"""

from __future__ import annotations

from collections.abc import Iterable

from watchdog.config import Backoff, RateLimitSettings
from watchdog.model import Outcome

# Outcomes retried with capped exponential backoff, `max_retries` times.
RETRIED_WITH_BACKOFF = frozenset({Outcome.SERVER_ERROR, Outcome.NETWORK_ERROR})


def restart_gap(attempts: int, backoff: Backoff) -> float:
    """Strimzi's gap after the n-th restart: min(base * (n^2 + n), cap). Jitter only adds."""
    return min(backoff.base * (attempts * attempts + attempts), backoff.cap) if attempts > 0 else 0.0


def max_jobs(duration: float, backoff: Backoff) -> int:
    """The most failure restarts one connector can get within `duration` seconds: the first at
    once, each next one gap(n) after the n-th."""
    jobs, elapsed = 1, 0.0
    while elapsed + restart_gap(jobs, backoff) <= duration:
        elapsed += restart_gap(jobs, backoff)
        jobs += 1
    return jobs


def max_tries(settings: RateLimitSettings, outcomes: Iterable[Outcome]) -> int:
    """Calls one restart job may make when its calls can end in `outcomes`: one, plus the
    retries each kind of failure is allowed (400, 401, 403, 404 are never retried)."""
    kinds = set(outcomes)
    tries = 1
    if kinds & RETRIED_WITH_BACKOFF:
        tries += settings.max_retries
    if Outcome.RATE_LIMITED in kinds:
        tries += settings.max_rate_limited_retries
    return tries


def max_calls_per_second(settings: RateLimitSettings) -> int:
    """The local ceiling is a token bucket of one second's worth of requests refilled at the
    configured rate: no one-second span can hold more than a full bucket plus one refill."""
    rate = settings.max_requests_per_second
    return int(max(1.0, rate) + rate)


def max_silence(settings: RateLimitSettings, poll_interval: float) -> float:
    """The longest the daemon may send nothing while polls are due: a 429 pause is capped at
    `max_pause`, and the poll after it comes at most one interval later."""
    return settings.max_pause + poll_interval
