"""Rate-limit pacing for one API credential, fed by the server's response headers.

Confluent Cloud limits requests per user and organisation-wide, does not publish the numbers, and
documents `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (RELATIVE seconds)
and `Retry-After` on 429 answers only. So the limiter:

- uses those headers from any response that carries them (some deployments send them always);
- learns the limit from the first 429 and the window length from the second, then paces under
  them even when successful answers carry no headers at all;
- pauses every caller (not only the one that was refused) after a 429;
- keeps a local ceiling (requests per second) that holds when nothing is known.

`RateLimitState` is the pure decision core: every method takes the monotonic time. `RateLimiter`
wraps it for asyncio callers with a concurrency cap and injected `clock`/`sleep`.

Assumption, written down because it matters: a relative reset or Retry-After of N seconds means
"after N seconds the window has reset". Servers send whole seconds, so they must round up for
that to hold; we therefore treat now + N as the latest the window can end, never earlier.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol

from .config import RateLimitSettings

# Two window ends closer than this are the same server window seen through whole-second rounding.
_ROUNDING = 1.0
# A learned window length within this of a whole number of seconds is taken to be that number.
_WHOLE_SECONDS_TOLERANCE = 0.3


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # seconds from the response
    retry_after: float | None = None  # seconds from the response

    @property
    def present(self) -> bool:
        return self.limit is not None or self.remaining is not None or self.reset is not None


def _non_negative_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def _non_negative_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3); anything else is ignored."""
    seconds = _non_negative_seconds(value)
    if seconds is not None or value is None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def parse_headers(
    headers: Mapping[str, str], now: datetime | None = None, *, prefix: str = "x-ratelimit-"
) -> RateLimitHeaders:
    """Read the rate-limit headers; malformed or negative values are ignored, never fatal.

    `prefix` names the family: Confluent Cloud's `X-RateLimit-*`, or the Metrics API's
    `rateLimit-*` (pass "ratelimit-"; header names are case-insensitive).
    """
    return RateLimitHeaders(
        limit=_non_negative_int(headers.get(f"{prefix}limit")) or None,  # a limit of 0 is nonsense
        remaining=_non_negative_int(headers.get(f"{prefix}remaining")),
        reset=_non_negative_seconds(headers.get(f"{prefix}reset")),
        retry_after=_retry_after(headers.get("retry-after"), now or datetime.now(timezone.utc)),
    )


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float
    source: str  # retry_after, reset, backoff
    capped_from: float | None = None  # what the server asked for, when it was over max_pause


class RateLimitState:
    """What we know about one credential's budget, and when the next request may go."""

    def __init__(self, settings: RateLimitSettings, *, rng: Callable[[], float] = random.random) -> None:
        self.settings = settings
        self._rng = rng
        self.limit: int | None = None
        self.window: float | None = None  # learned window length, seconds
        self.window_end: float | None = None  # latest time the current server window can end
        self.budget: int | None = None  # requests we may still send before window_end
        self.paused_until = 0.0
        self.consecutive_429 = 0
        # Tickets (numbered in send order) of the requests sent and not yet answered. An answer's
        # X-RateLimit-Remaining already counts every request the server saw before it, so only
        # the ones sent after it are still to be subtracted (see _adopt_window).
        self._inflight: set[int] = set()
        self._tickets = 0
        self._anchor: float | None = None  # the window end the previous 429 revealed
        self._sent_since_anchor = 0
        # Local ceiling: a token bucket holding up to one second's worth of requests.
        self._tokens = max(1.0, settings.max_requests_per_second)
        self._tokens_at = 0.0

    # -- reading ---------------------------------------------------------------------------------

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def reserve(self) -> int:
        """The configured reserve, but never so large that a window allows nothing at all."""
        if self.limit is None:
            return self.settings.reserve
        return min(self.settings.reserve, self.limit - 1)

    def remaining_estimate(self, now: float) -> int | None:
        self._roll(now)
        return self.budget

    def seconds_to_reset(self, now: float) -> float | None:
        return None if self.window_end is None else max(0.0, self.window_end - now)

    def delay(self, now: float) -> tuple[float, str]:
        """Seconds until a request may be sent (math.inf: until an answer arrives), and why."""
        if now < self.paused_until:
            return self.paused_until - now, "pause"
        self._roll(now)
        if self.inflight > 0:
            if self.limit is None:
                # Nothing known about the limit yet: one request at a time, so that crossing the
                # unknown limit costs exactly one 429 and not one per concurrent request.
                return math.inf, "unknown_limit"
            if self.budget is not None and self.budget <= 0 and self.window_end is None:
                # Limit known but not the window (headers on 429 only, one 429 seen so far): one
                # probe at a time; the next 429 reveals where the window ends.
                return math.inf, "probe"
        if self.budget is not None and self.budget <= 0 and self.window_end is not None:
            return self.window_end - now, "budget"
        ceiling = self._ceiling_delay(now)
        if ceiling > 0:
            return ceiling, "ceiling"
        return 0.0, ""

    # -- writing ---------------------------------------------------------------------------------

    def on_send(self, now: float) -> int:
        """Count a request going out; returns its ticket, to hand back with its answer."""
        self._roll(now)
        self._refill(now)
        self._tokens -= 1.0
        self._tickets += 1
        self._inflight.add(self._tickets)
        self._sent_since_anchor += 1
        if self.budget is not None:
            self.budget -= 1
        return self._tickets

    def on_response(
        self, sent_at: float, now: float, status: int, headers: RateLimitHeaders, *, ticket: int | None = None
    ) -> Pause | None:
        """Learn from an answer. Returns the pause every caller must now respect, if any.

        `ticket` (from on_send) says which request this answers; without it the limiter cannot
        tell which requests in flight the server had already counted and assumes none.
        """
        self._settle(ticket)
        if headers.limit is not None:
            self.limit = headers.limit
        if status == 429:
            return self._on_429(now, headers)
        self.consecutive_429 = 0
        if headers.remaining is not None and headers.reset is not None:
            # A reset further away than max_pause is capped like a pause: no header may hold
            # every call for hours.
            end = now + min(headers.reset, self.settings.max_pause)
            self._adopt_window(sent_at, end, headers.remaining, self._sent_after(ticket))
        return None

    def on_no_response(self, ticket: int | None = None) -> None:
        """The request failed before an answer (timeout, reset): it may or may not have counted."""
        self._settle(ticket)

    # -- internals -------------------------------------------------------------------------------

    def _settle(self, ticket: int | None) -> None:
        if ticket is not None and ticket in self._inflight:
            self._inflight.discard(ticket)
        elif self._inflight:
            self._inflight.discard(min(self._inflight))  # unnamed: the oldest one

    def _sent_after(self, ticket: int | None) -> int:
        """Requests in flight that were sent after the answered one: its Remaining cannot count them."""
        if ticket is None:
            return self.inflight
        return sum(1 for other in self._inflight if other > ticket)

    def _adopt_window(self, sent_at: float, end: float, remaining: int, unseen: int) -> None:
        # Requests sent before this one and still in flight reached the server first and are in
        # `remaining` already; subtracting them too would shrink every estimate, and since the
        # smallest estimate of a window is kept, each out-of-order answer would waste budget.
        available = remaining - self.reserve - unseen
        new_window = (
            self.window_end is None or sent_at >= self.window_end or end >= self.window_end + _ROUNDING
        )
        if new_window or self.window_end is None:
            self.window_end = end
            self.budget = available
        else:
            # Same window: answers can arrive out of order, so the smallest estimate is the safe one.
            self.window_end = min(self.window_end, end)
            self.budget = available if self.budget is None else min(self.budget, available)

    def _on_429(self, now: float, headers: RateLimitHeaders) -> Pause:
        self.consecutive_429 += 1
        hint = headers.reset if headers.reset is not None else headers.retry_after
        if hint is not None and hint > self.settings.max_pause:
            # Hours away: not a window we can learn from, and waiting for it would outlast the
            # capped pause. Look again once max_pause has passed.
            self._anchor, self._sent_since_anchor = None, 0
            self.window_end = now + self.settings.max_pause
        elif hint is not None:
            self._learn_window(now + hint)
            self.window_end = now + hint
        self.budget = 0
        pause = self._pause_for(headers)
        self.paused_until = max(self.paused_until, now + pause.seconds)
        return pause

    def _learn_window(self, end: float) -> None:
        """Two 429s in a row of windows reveal the window's length: the distance between their ends."""
        if self._anchor is not None and self.limit is not None:
            distance = end - self._anchor
            exhausted = self._sent_since_anchor >= max(1, self.limit - self.reserve)
            if distance >= _ROUNDING and exhausted:
                whole = round(distance)
                # Whole seconds when the evidence allows; otherwise round up, which under-uses
                # the budget a little but never overruns it.
                self.window = float(whole) if abs(distance - whole) <= _WHOLE_SECONDS_TOLERANCE else math.ceil(distance)
        self._anchor = end
        self._sent_since_anchor = 0

    def _pause_for(self, headers: RateLimitHeaders) -> Pause:
        max_pause = self.settings.max_pause
        if headers.retry_after is not None:
            asked, source = headers.retry_after, "retry_after"
        elif headers.reset is not None:
            asked, source = headers.reset, "reset"
        else:
            # No hint at all: capped exponential backoff with full jitter (Confluent's advice).
            backoff = self.settings.backoff
            ceiling = min(backoff.cap, backoff.base * 2 ** (self.consecutive_429 - 1))
            asked, source = max(backoff.base, ceiling * self._rng()), "backoff"
        if asked > max_pause:
            return Pause(max_pause, source, capped_from=asked)
        return Pause(asked, source)

    def _roll(self, now: float) -> None:
        """Start a new window when the current one has ended."""
        if self.window_end is None or now < self.window_end:
            return
        if self.limit is not None:
            self.budget = self.limit - self.reserve
        else:
            self.budget = None
        if self.window is not None:
            passed = math.floor((now - self.window_end) / self.window) + 1
            self.window_end += passed * self.window
        else:
            self.window_end = None

    def _refill(self, now: float) -> None:
        rate = self.settings.max_requests_per_second
        capacity = max(1.0, rate)
        self._tokens = min(capacity, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now

    def _ceiling_delay(self, now: float) -> float:
        self._refill(now)
        if self._tokens >= 1.0 - 1e-9:  # float rounding must not leave a caller waiting forever
            return 0.0
        return (1.0 - self._tokens) / self.settings.max_requests_per_second


class LimiterObserver(Protocol):
    def waited(self, credential: str, seconds: float, reason: str) -> None: ...
    def paused(self, credential: str, pause: Pause) -> None: ...
    def budget(self, credential: str, state: RateLimitState, now: float) -> None: ...


@dataclass
class Permit:
    sent_at: float
    ticket: int | None = None
    answered: bool = False


class RateLimiter:
    """The asyncio gate in front of every Connect API call made with one credential.

    Waiting uses asyncio timers, so the event loop's clock drives it; pass `clock=loop.time`
    (the default is the same monotonic clock) to run it under a virtual-time loop.
    """

    def __init__(
        self,
        credential: str,
        settings: RateLimitSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        observer: LimiterObserver | None = None,
    ) -> None:
        self.credential = credential
        self.state = RateLimitState(settings, rng=rng)
        self._clock = clock
        self._observer = observer
        self._concurrency = asyncio.Semaphore(settings.max_concurrent_requests)
        # One caller at a time computes its turn and waits for it; asyncio.Lock is FIFO, so
        # callers are served in arrival order and a 429 pause holds every one of them.
        self._turn = asyncio.Lock()
        self._answered = asyncio.Event()

    @asynccontextmanager
    async def permit(self) -> AsyncIterator[Permit]:
        async with self._concurrency:
            async with self._turn:
                await self._wait_for_turn()
                now = self._clock()
                ticket = self.state.on_send(now)
            permit = Permit(sent_at=now, ticket=ticket)
            try:
                yield permit
            finally:
                if not permit.answered:
                    self.state.on_no_response(permit.ticket)
                    self._answered.set()

    def observe(self, permit: Permit, status: int, headers: RateLimitHeaders) -> Pause | None:
        permit.answered = True
        now = self._clock()
        pause = self.state.on_response(permit.sent_at, now, status, headers, ticket=permit.ticket)
        self._answered.set()
        if self._observer is not None:
            if pause is not None:
                self._observer.paused(self.credential, pause)
            self._observer.budget(self.credential, self.state, now)
        return pause

    async def _wait_for_turn(self) -> None:
        started = self._clock()
        reason = ""
        while True:
            seconds, why = self.state.delay(self._clock())
            if seconds <= 0:
                break
            reason = reason or why
            # Wake early when an answer arrives: it can free a slot or reveal a new window.
            self._answered.clear()
            try:
                await asyncio.wait_for(self._answered.wait(), None if math.isinf(seconds) else seconds)
            except TimeoutError:
                pass
        waited = self._clock() - started
        if reason and self._observer is not None:
            self._observer.waited(self.credential, waited, reason)
