"""Request budgets per API key: the six rate-limit algorithms common in API gateways.

Confluent publishes neither the numbers nor the algorithm of its control-plane limits (research
note §3.1), so the simulator can play any of the usual ones, and the daemon's limiter is tested
against all of them (tests/simulator/test_rate_limit_algorithms.py, the property test in
tests/test_ratelimit_property.py, `python -m bench budget`). For `limit` N and `window_seconds` W:

=================  ===========================================  ===============================  ==============================
algorithm          admits a request when                        X-RateLimit-Remaining            X-RateLimit-Reset (whole s, up)
=================  ===========================================  ===============================  ==============================
fixed_aligned      fewer than N were admitted in its window;    N - admitted in this window      until the window ends
                   windows are [kW, (k+1)W) from t = 0
fixed_anchored     as fixed_aligned, but a window starts at     N - admitted in this window      until the window ends
                   the first request after the previous one
                   ended (Redis INCR + EXPIRE)
sliding_log        fewer than N were admitted in (t - W, t]     N - admitted in (t - W, t]       until the oldest of those
                                                                                                 ages out (one slot frees)
sliding_counter    prev * (1 - f) + cur < N, where cur and      ceil(N - prev * (1 - f) - cur)  until the current aligned
                   prev count the current and previous                                           window ends (NOT a refill:
                   aligned windows and f is the elapsed share                                    the previous window still
                   of the current one (Cloudflare, Kong, and                                     weighs on the next one)
                   Upstash's weighted approximation)
token_bucket       a token is left; the bucket holds N and      whole tokens left                until the bucket is full
                   refills N / W per second
gcra               t >= TAT - (W - W/N), TAT the theoretical    requests that could still go     until TAT: the state is
                   arrival time advanced W/N per admission      at once                          fully reset
                   (a leaky bucket as a meter: redis-cell,
                   throttled)
=================  ===========================================  ===============================  ==============================

A refused request gets `Retry-After`: the whole seconds (rounded up, at least 1) until a request
would be admitted if nothing else were sent. Rounding up keeps "wait that long" always enough, and
a whole-second header is what real servers send: the exact moment is never known to a client.

Every algorithm is deterministic in (its arrivals, their times). `OtherClient` adds traffic from
other tools on the same key at scheduled times, replayed in time order before each request of the
simulator's own clients, so both share one budget exactly as they would on a real server. Such a
tool may use part of the limit (steady, bursty) or ask for more than all of it (runaway: a loop
gone wrong, which takes nearly every unit the moment it comes free).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

Algorithm = Literal["fixed_aligned", "fixed_anchored", "sliding_log", "sliding_counter", "token_bucket", "gcra"]
ALGORITHMS: tuple[Algorithm, ...] = (
    "fixed_aligned", "fixed_anchored", "sliding_log", "sliding_counter", "token_bucket", "gcra",
)

# Float time must never round an instant across a boundary that the arithmetic put exactly on it.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    # X-RateLimit-Reset, exact: seconds from now (its meaning per algorithm: module docstring).
    reset: float
    # Retry-After of a refusal: whole seconds until a request would be admitted, at least 1.
    retry_after: int = 1
    # The same, exact: what only an oracle could know (benchmarks compute the ideal with it).
    wait_exact: float = 0.0

    @property
    def reset_seconds(self) -> int:
        """X-RateLimit-Reset as sent: whole seconds, rounded up."""
        return whole_seconds(self.reset)


def whole_seconds(seconds: float) -> int:
    """Rounded up, so that waiting this long is always enough; never negative."""
    return max(0, math.ceil(seconds - _EPSILON))


def _refusal(limit: int, reset: float, admitted_in: float) -> Verdict:
    return Verdict(
        False, limit, 0, max(reset, 0.0), max(1, whole_seconds(admitted_in)), max(admitted_in, 0.0)
    )


class Budget(Protocol):
    """One key's budget under one algorithm. `admit` counts the request when it is allowed."""

    def admit(self, t: float) -> Verdict: ...


class FixedAligned:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._index, self._used = 0, 0

    def admit(self, t: float) -> Verdict:
        index = math.floor(t / self.window + _EPSILON)
        if index != self._index:
            self._index, self._used = index, 0
        until_end = (index + 1) * self.window - t
        if self._used >= self.limit:
            return _refusal(self.limit, until_end, until_end)
        self._used += 1
        return Verdict(True, self.limit, self.limit - self._used, until_end)


class FixedAnchored:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._end: float | None = None
        self._used = 0

    def admit(self, t: float) -> Verdict:
        if self._end is None or t >= self._end - _EPSILON:
            self._end, self._used = t + self.window, 0
        until_end = self._end - t
        if self._used >= self.limit:
            return _refusal(self.limit, until_end, until_end)
        self._used += 1
        return Verdict(True, self.limit, self.limit - self._used, until_end)


class SlidingLog:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._admitted: deque[float] = deque()

    def admit(self, t: float) -> Verdict:
        while self._admitted and self._admitted[0] <= t - self.window + _EPSILON:
            self._admitted.popleft()
        if len(self._admitted) >= self.limit:
            oldest_out = self._admitted[0] + self.window - t
            return _refusal(self.limit, oldest_out, oldest_out)
        self._admitted.append(t)
        return Verdict(
            True, self.limit, self.limit - len(self._admitted),
            self._admitted[0] + self.window - t,
        )


class SlidingCounter:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._index, self._previous, self._current = 0, 0, 0

    def admit(self, t: float) -> Verdict:
        index = math.floor(t / self.window + _EPSILON)
        if index == self._index + 1:
            self._previous, self._current = self._current, 0
        elif index > self._index + 1:
            self._previous, self._current = 0, 0
        self._index = index
        elapsed = min(1.0, max(0.0, (t - index * self.window) / self.window))
        until_end = (index + 1) * self.window - t
        weighted = self._previous * (1.0 - elapsed) + self._current
        # Upstash's and Cloudflare's rule: refuse once the weighted count has reached the limit.
        if weighted >= self.limit - _EPSILON:
            return _refusal(self.limit, until_end, self._until_admitted(t, index))
        self._current += 1
        remaining = math.ceil(self.limit - weighted - 1 - _EPSILON)
        return Verdict(True, self.limit, max(0, remaining), until_end)

    def _until_admitted(self, t: float, index: int) -> float:
        """How long from `t` until prev * (1 - f) + cur < N."""
        start = index * self.window
        if self._current < self.limit:
            # Within this window, once enough of the previous one has weighed off.
            share = 1.0 - (self.limit - self._current) / self._previous
            return max(0.0, start + share * self.window - t)
        # Not in this window: in the next, this window's count weighs as `prev`.
        share = max(0.0, 1.0 - self.limit / self._current)
        return start + self.window + share * self.window - t


class TokenBucket:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._rate = limit / window
        self._tokens = float(limit)
        self._at = 0.0

    def admit(self, t: float) -> Verdict:
        self._tokens = min(float(self.limit), self._tokens + (t - self._at) * self._rate)
        self._at = t
        if self._tokens < 1.0 - _EPSILON:
            until_full = (self.limit - self._tokens) / self._rate
            return _refusal(self.limit, until_full, (1.0 - self._tokens) / self._rate)
        self._tokens -= 1.0
        until_full = (self.limit - self._tokens) / self._rate
        return Verdict(True, self.limit, math.floor(self._tokens + _EPSILON), until_full)


class Gcra:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._interval = window / limit
        self._tolerance = window - self._interval  # a burst of `limit` at once, then one per interval
        self._tat = 0.0

    def admit(self, t: float) -> Verdict:
        tat = max(self._tat, t)
        allowed_at = tat - self._tolerance
        if t < allowed_at - _EPSILON:
            return _refusal(self.limit, tat - t, allowed_at - t)
        self._tat = tat + self._interval
        remaining = math.floor((t + self._tolerance - self._tat) / self._interval + _EPSILON) + 1
        return Verdict(True, self.limit, max(0, min(self.limit, remaining)), max(0.0, self._tat - t))


_BUDGETS: dict[str, Callable[[int, float], Budget]] = {
    "fixed_aligned": FixedAligned,
    "fixed_anchored": FixedAnchored,
    "sliding_log": SlidingLog,
    "sliding_counter": SlidingCounter,
    "token_bucket": TokenBucket,
    "gcra": Gcra,
}


def budget(algorithm: str, limit: int, window: float) -> Budget:
    return _BUDGETS[algorithm](limit, window)


# -- other clients on the same key ----------------------------------------------------------------

Pattern = Literal["steady", "bursty", "runaway"]
PATTERNS: tuple[Pattern, ...] = ("steady", "bursty", "runaway")
# How much more than the limit a runaway may ask for: ten times is already a unit taken within a
# tenth of its period of coming free; more only makes the replay slower.
RUNAWAY_MAX_SHARE = 10.0
# (pattern, share of the limit per window), optionally with the time it leaves (OtherClient).
OtherSpec = tuple[Pattern, float] | tuple[Pattern, float, float | None]


@dataclass
class OtherClientLog:
    """What another tool on the key sent and what it was refused (it does not retry: a refused
    request is simply lost to it, so its use is exactly what the limit let it have)."""

    sent: int = 0
    refused: int = 0
    admitted_at: list[float] = field(default_factory=list)


class OtherClient:
    """Another tool using the key: `share` of the limit per window, from t = 0 until `until`
    (None: for good; a tool that leaves gives its share back, and the daemon should take it).

    steady: evenly spread, half a period off every window boundary; bursty: the whole share at
    once at a random moment of each window (seeded), as a cron job or a CI run would; runaway:
    spread as steady, but asking for more than the whole limit (share > 1, up to
    RUNAWAY_MAX_SHARE), as a retry loop that ignores 429s does. Whatever the algorithm, a unit
    that comes free is taken within window / (share x limit) seconds, so the daemon gets one only
    when its request lands in that gap. None of them retries: a refused request is lost to it.
    """

    def __init__(
        self, pattern: Pattern, per_window: int, window: float, rng: random.Random, *, until: float | None = None
    ) -> None:
        self.pattern, self.per_window, self.window = pattern, per_window, window
        self._rng = rng
        self._until = math.inf if until is None else until
        self.log = OtherClientLog()
        self._times = self._schedule()
        self.next_at = self._next()

    def _schedule(self) -> Iterator[float]:
        period = self.window / self.per_window
        index = 0
        while True:
            start = index * self.window
            if self.pattern != "bursty":
                for tick in range(self.per_window):
                    yield start + (tick + 0.5) * period
            else:
                at = start + self._rng.uniform(0.0, self.window * 0.9)
                for _ in range(self.per_window):
                    yield at
            index += 1

    def advance(self) -> None:
        self.next_at = self._next()

    def _next(self) -> float:
        at = next(self._times)
        return at if at < self._until else math.inf  # left: never due again


class KeyBudgets:
    """Every key's budget under one algorithm, shared with scheduled other clients per key."""

    def __init__(
        self,
        algorithm: str,
        limit: int,
        window: float,
        *,
        others: list[OtherSpec] = (),  # type: ignore[assignment]
        seed: int = 0,
    ) -> None:
        self.algorithm, self.limit, self.window = algorithm, limit, window
        self._others_spec = list(others)
        self._seed = seed
        self._budgets: dict[str, Budget] = {}
        self.others: dict[str, list[OtherClient]] = {}

    def admit(self, key: str, t: float) -> Verdict:
        budget_ = self._budget(key)
        self._replay_others(key, budget_, t)
        return budget_.admit(t)

    def _budget(self, key: str) -> Budget:
        found = self._budgets.get(key)
        if found is None:
            found = self._budgets[key] = budget(self.algorithm, self.limit, self.window)
            rng = random.Random(f"{self._seed}:{key}:others")
            self.others[key] = [
                OtherClient(pattern, max(1, round(share * self.limit)), self.window, rng, until=until[0] if until else None)
                for pattern, share, *until in self._others_spec
            ]
        return found

    def _replay_others(self, key: str, budget_: Budget, t: float) -> None:
        """Every other-client request due by `t`, in time order, before the one at `t`."""
        clients = self.others[key]
        while clients:
            client = min(clients, key=lambda c: c.next_at)
            if client.next_at > t:
                return
            client.log.sent += 1
            if budget_.admit(client.next_at).allowed:
                client.log.admitted_at.append(client.next_at)
            else:
                client.log.refused += 1
            client.advance()
