"""Answers that say the service, not one call, is out: 5xx in a row. The pause they impose holds
every caller of the key, as a 429's does (state.py, RateLimitState.on_response)."""

from __future__ import annotations

import math
from collections.abc import Callable

from ..config import RateLimitSettings
from .headers import Pause, RateLimitHeaders

# 5xx answers with Retry-After in a row from which the service, not a connector, is taken to be out: more than the
# four connectors' own 503s that must not hold the other connectors' restarts (tests/test_queue.py).
UNAVAILABLE_IN_A_ROW = 5
# Far past any cap (refusals.py says why a bound is needed at all).
_MAX_DOUBLINGS = 64


class Outage:
    def __init__(self, settings: RateLimitSettings, rng: Callable[[], float]) -> None:
        self.settings = settings
        self._rng = rng
        # 5xx answers with Retry-After in a row, requests answered together counted once, and
        # when the last arrived.
        self._streak = 0
        self._last_at = -math.inf

    def on_answer(self, sent_at: float, now: float, status: int, headers: RateLimitHeaders) -> Pause | None:
        """The pause every caller of the key must now respect, if any.

        A 5xx with Retry-After (a 503 in maintenance) says when the server expects to be back.
        Once UNAVAILABLE_IN_A_ROW calls in a row got one, each sent after the one before was
        answered, the whole service is out, not a few connectors' restarts: every caller of the
        key waits, as at a 429, and each such answer from then on holds them again, until an
        answer that is not a 5xx: for its Retry-After, or a capped exponential backoff with equal
        jitter where that is longer, as at 429s in a row (refusals.py), so that a server saying
        "5 s" for ten minutes is asked ever more rarely. Before, only the refused restart waited,
        every other one went out at the local ceiling and was answered 503 in turn (800 calls in
        200 s to a server that had asked for a minute), and each of 200 restarts spent its
        retries and ended server_error. Fewer in a row hold nothing."""
        if status < 500:
            self._streak = 0
        if status < 500 or headers.retry_after is None:
            # Without a hint, a poll of a failing cluster goes on at its interval, and each
            # restart backs off on its own (dispatch.py): the outage is said by the calls.
            return None
        if sent_at >= self._last_at:
            self._streak += 1
        self._last_at = max(self._last_at, now)
        if self._streak < UNAVAILABLE_IN_A_ROW:
            return None
        max_pause = self.settings.max_pause
        backoff = self.settings.backoff
        times = min(self._streak - UNAVAILABLE_IN_A_ROW, _MAX_DOUBLINGS)
        ceiling = min(backoff.cap, backoff.base * 2.0**times)
        asked, source = max(backoff.base, ceiling * (0.5 + 0.5 * self._rng())), "backoff"
        if headers.retry_after >= asked:
            asked, source = headers.retry_after, "retry_after"
        return Pause(min(asked, max_pause), source, capped_from=asked if asked > max_pause else None)
