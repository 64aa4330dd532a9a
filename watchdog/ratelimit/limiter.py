"""The asyncio gate in front of every call of one rate-limit lane (state.py decides)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from ..config import RateLimitSettings
from .headers import Pause, RateLimitHeaders
from .outage import RestartHold
from .shared_budget import SharedBudgets
from .state import RateLimitState

# A wait is counted (LimiterObserver.waited) at least this often while it lasts. Counted once it
# ended, a 429's 15-minute pause showed as no waiting at all in every scrape until it was over,
# and a wait cut short by the shutdown was never counted.
WAIT_COUNTED_EVERY = 5.0


class LimiterObserver(Protocol):
    def waited(self, credential: str, seconds: float, reason: str) -> None: ...
    def paused(self, credential: str, pause: Pause) -> None: ...
    def budget(self, credential: str, state: RateLimitState, clock: Callable[[], float]) -> None:
        """Show what `state` knows, read at each scrape (told once, when the limiter is made)."""


@dataclass
class Permit:
    sent_at: float
    # The state that sent it, which its answer goes to: a limiter joined to another's budget
    # (share_with) in the meantime answers its requests still out to the state that counted them.
    state: RateLimitState
    ticket: int | None = None
    answered: bool = False


class RateLimiter:
    """The asyncio gate in front of every API call of one rate-limit lane (an API key, a
    self-managed cluster, or the Metrics API).

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
        discover_limit: bool = True,
        shared_budgets: SharedBudgets | None = None,
    ) -> None:
        self.credential = credential
        self._settings, self._rng, self._discover_limit = settings, rng, discover_limit
        self.state = RateLimitState(settings, rng=rng, discover_limit=discover_limit)
        self._clock = clock
        # Restarts of a cluster answered only server errors without a hint wait (outage.py); fed
        # by the gateway, which sees every call's outcome, asked by the queue before each restart.
        self.restart_hold = RestartHold(settings, clock, rng)
        self._observer = observer
        self._concurrency = asyncio.Semaphore(settings.max_concurrent_requests)
        # One caller at a time computes its turn and waits for it; asyncio.Lock is FIFO, so
        # callers are served in arrival order and a 429 pause holds every one of them.
        self._turn = asyncio.Lock()
        self._answered = asyncio.Event()
        # The daemon's keys that the server may count in one budget (shared_budget.py): told of
        # every request of ours and how it ended.
        self._shared_budgets = shared_budgets
        if shared_budgets is not None:
            shared_budgets.add(credential)
        if observer is not None:
            observer.budget(credential, self.state, clock)

    @asynccontextmanager
    async def permit(self) -> AsyncIterator[Permit]:
        queued_at = self._clock()  # from here the caller waits on us: demand, not quiet (state.on_send)
        async with self._concurrency:
            async with self._turn:
                await self._wait_for_turn()
                now = self._clock()
                state = self.state
                ticket = state.on_send(now, queued_at=queued_at)
                if self._shared_budgets is not None:
                    self._shared_budgets.on_send(self.credential)
            permit = Permit(sent_at=now, state=state, ticket=ticket)
            try:
                yield permit
            finally:
                if not permit.answered:
                    ended = self._clock()
                    state.on_no_response(ended, permit.ticket)
                    if self._shared_budgets is not None:
                        self._shared_budgets.on_answer(self.credential, permit.sent_at, ended, status=None)
                    self._answered.set()

    def start_afresh(self) -> None:
        """Forget what was learned of the key (a join, share_with): a new state, as at the start.
        Requests still out answer to the state that sent them (Permit.state)."""
        self.state = RateLimitState(self._settings, rng=self._rng, discover_limit=self._discover_limit)
        self._answered.set()
        if self._observer is not None:
            self._observer.budget(self.credential, self.state, self._clock)

    def share_with(self, other: RateLimiter) -> None:
        """The server counts this key's requests in `other`'s budget (shared_budget.py): from now
        on both keys' calls go through one state, one turn and one set of slots, as the clusters
        of one key do. Requests still out answer to the state that sent them (Permit.state)."""
        if other is self or other.state is self.state:
            return
        waiting = self._answered
        self.state, self._turn, self._answered = other.state, other._turn, other._answered
        self._concurrency = other._concurrency
        waiting.set()  # callers waiting for their turn look again, at the shared state
        if self._observer is not None:
            self._observer.budget(self.credential, self.state, self._clock)

    def now(self) -> float:
        """The limiter's clock (the event loop's, or the one it was given)."""
        return self._clock()

    def paused_for(self) -> float:
        """Seconds for which a 429 (or an outage, state.pause_reason) still holds every caller
        (0 when none does)."""
        return max(0.0, self.state.paused_until - self._clock())

    def paused_by(self) -> str:
        """What holds every caller now: `a 429`, or `5xx answers with Retry-After` (an outage)."""
        return "5xx answers with Retry-After (the service is out)" if self.state.pause_reason == "outage" else "a 429"

    def observe(self, permit: Permit, status: int, headers: RateLimitHeaders, *, cluster: str | None = None) -> Pause | None:
        permit.answered = True
        now = self._clock()
        state = permit.state
        # A 429 arriving while a pause holds (requests in flight together, refused together) is
        # part of that pause, however it moves its end: three such counted as three pauses.
        held = state.paused_until > now
        pause = state.on_response(permit.sent_at, now, status, headers, ticket=permit.ticket, cluster=cluster)
        if self._shared_budgets is not None:
            self._shared_budgets.on_answer(self.credential, permit.sent_at, now, status=status,
                                           remaining=headers.remaining, reset=headers.reset)
        self._answered.set()
        # 429 pauses only (watchdog_ratelimit_pauses_total); an outage's shows in its wait reason.
        if self._observer is not None and pause is not None and not held and status == 429:
            self._observer.paused(self.credential, pause)
        return pause

    async def _wait_for_turn(self) -> None:
        while True:
            seconds, why = self.state.delay(self._clock())
            if seconds <= 0.0:
                return
            # Wake early when an answer arrives: it can free a slot or reveal a new window.
            self._answered.clear()
            began = self._clock()
            try:
                await asyncio.wait_for(self._answered.wait(), min(seconds, WAIT_COUNTED_EVERY))
            except TimeoutError:
                pass
            finally:
                # Counted slice by slice, each under its own reason, a cancelled one too.
                if self._observer is not None:
                    self._observer.waited(self.credential, self._clock() - began, why)
