"""The rate limiter against a key whose limit changes mid-run, as Confluent may change it
unannounced: on a fake clock, a fixed-window server whose limit and window change at given times,
the X-RateLimit-* headers (and Retry-After) on 429 answers only, as Confluent documents them."""

import math

from watchdog.config import RateLimitSettings
from watchdog.ratelimit import RateLimitHeaders, RateLimitState


class ChangingKey:
    """A fixed window per key; `plan`: (from this time, limit, window seconds), in time order."""

    def __init__(self, plan: list[tuple[float, int, float]], *, headers_until: float = 0.0) -> None:
        self.plan = plan
        self.headers_until = headers_until  # X-RateLimit-* on every answer before this time
        self.count: dict[tuple[float, int], int] = {}
        self.refused: list[float] = []

    def answer(self, now: float) -> tuple[int, RateLimitHeaders]:
        _, limit, window = [step for step in self.plan if step[0] <= now][-1]
        index = math.floor(now / window)
        reset = math.ceil((index + 1) * window - now)
        used = self.count.get((window, index), 0)
        if used >= limit:
            self.refused.append(now)
            return 429, RateLimitHeaders(limit, 0, reset, reset)
        self.count[(window, index)] = used + 1
        if now < self.headers_until:
            return 202, RateLimitHeaders(limit, limit - used - 1, reset, None)
        return 202, RateLimitHeaders()


def backlog(key: ChangingKey, until: float, latency: float = 0.05) -> list[float]:
    """A backlog that never runs dry, sent one at a time as the limiter allows, until `until`.
    Returns when each admitted request was sent."""
    state = RateLimitState(RateLimitSettings(reserve=0, max_requests_per_second=1000), rng=lambda: 0.5)
    now, admitted = 0.0, []
    while now < until:
        wait, _ = state.delay(now)
        assert not math.isinf(wait)
        if wait > 0:
            now += wait
            continue
        ticket = state.on_send(now)
        status, headers = key.answer(now)
        state.on_response(now, now + latency, status, headers, ticket=ticket)
        if status != 429:
            admitted.append(now)
        now += latency
    return admitted


def rate_between(admitted: list[float], start: float, end: float) -> float:
    return sum(1 for t in admitted if start <= t < end) / (end - start)


def test_a_key_moved_to_a_shorter_window_is_used_at_its_new_rate() -> None:
    """600 per 60 s (10/s), then 60 per 10 s (6/s). The old window's 60 s, kept, capped every
    sample at the new limit per the old window: a third of the key, for good."""
    key = ChangingKey([(0.0, 600, 60.0), (600.0, 60, 10.0)])
    admitted = backlog(key, 1500.0)
    assert rate_between(admitted, 1200.0, 1500.0) > 5.0  # of 6
    assert sum(1 for t in key.refused if t >= 900.0) <= 2


def test_a_key_cut_and_then_given_its_limit_back_is_used_at_that_limit_again() -> None:
    """60 per 10 s, cut to 6 for twenty minutes, then given its 60 back. Only a 429 says the limit,
    and none comes below the cut's: held to 6 per 10 s, the key was used at a tenth for good."""
    key = ChangingKey([(0.0, 60, 10.0), (600.0, 6, 10.0), (1800.0, 60, 10.0)])
    admitted = backlog(key, 4800.0)
    assert rate_between(admitted, 4200.0, 4800.0) > 5.0  # of 6, within 40 minutes of the raise
    assert sum(1 for t in key.refused if t >= 1800.0) <= 3


def test_a_server_that_stops_sending_the_headers_on_success_is_paced_not_refused_every_window() -> None:
    """X-RateLimit-* on every answer for five minutes, then on 429 only (a gateway in front that
    stopped passing them on). Taken as a server that still describes its budget, the key was sent
    one unpaced request at a time and met a 429 in every window for good."""
    key = ChangingKey([(0.0, 20, 2.0)], headers_until=300.0)
    admitted = backlog(key, 1500.0)
    assert not [t for t in key.refused if t < 300.0]
    assert len([t for t in key.refused if t >= 300.0]) <= 3  # where 1 per window came: 600 in 1,200 s
    assert rate_between(admitted, 900.0, 1500.0) > 9.0  # of 10
