"""Another client's use of a fixed window read per window (budget.read_period), driven on an
injected clock against the simulator's own budgets: one request of ours at a time, answered
50 ms later (docs/benchmarks.md 1, "Why the two misses that are the daemon's own").

On a window aligned on the clock, 20 per 2 s, beside a tool sending its 7 in one burst per
window, its use read between our answers over-read the burst (the pace then left 10 or 11 of its
13), and each window's end kept a unit for a tool whose whole burst had come.
"""

from __future__ import annotations

import random

import pytest

from watchdog.config import RateLimitSettings
from watchdog.ratelimit import RateLimitHeaders, RateLimitState
from watchdog.ratelimit.budget import ServerBudget
from watchdog.simulator.ratelimit import Budget, FixedAligned

LATENCY = 0.05


def state() -> RateLimitState:
    settings = {"reserve": 0, "max_requests_per_second": 1000, "max_concurrent_requests": 4}
    return RateLimitState(RateLimitSettings.model_validate(settings))


class Run:
    """Our requests sent whenever the limiter allows, one at a time, and another client's at
    `theirs` (seconds), against one server budget, until `until`."""

    def __init__(self, server: Budget, theirs: list[float], until: float, start: float = 0.0) -> None:
        self.limiter = state()
        self.ours: list[float] = []  # when each admitted request of ours was sent
        self.refused: list[float] = []  # ... and each refused one
        self.theirs_refused: list[float] = []
        pending = sorted(theirs)
        now = start

        def tool_until(t: float) -> None:
            while pending and pending[0] <= t:
                at = pending.pop(0)
                if not server.admit(at).allowed:
                    self.theirs_refused.append(at)

        while now < until:
            wait, _ = self.limiter.delay(now)
            sent = now + wait
            tool_until(sent)
            if sent >= until:
                break
            ticket = self.limiter.on_send(sent)
            verdict = server.admit(sent)
            tool_until(sent + LATENCY)
            headers = RateLimitHeaders(
                limit=verdict.limit, remaining=verdict.remaining, reset=verdict.reset_seconds,
                retry_after=None if verdict.allowed else verdict.retry_after,
            )
            self.limiter.on_response(sent, sent + LATENCY, 202 if verdict.allowed else 429, headers, ticket=ticket)
            (self.ours if verdict.allowed else self.refused).append(sent)
            now = sent + LATENCY

    def per_window(self, window: float, first: int, last: int) -> float:
        """Ours admitted per window of the clock, from window `first` to `last` (included)."""
        count = sum(1 for t in self.ours if first * window <= t < (last + 1) * window)
        return count / (last - first + 1)


def bursts(count: int, window: float, windows: int, seed: int, within: float = 0.9) -> list[float]:
    """A tool sending `count` at once at a random moment of the first `within` of each window."""
    draw = random.Random(seed)
    return [k * window + draw.random() * within * window for k in range(windows) for _ in range(count)]


def test_beside_a_bursty_tool_on_an_aligned_window_we_take_what_it_leaves_but_the_unit_in_hand() -> None:
    run = Run(FixedAligned(20, 2.0), bursts(7, 2.0, 150, seed=3), until=300.0)
    # The tool leaves 13 of each window. Paced at what its use read between our answers left
    # (it reads 3.0 to 4.7 per second where it sends 3.5), with a unit kept for it at each
    # window's end after its burst had come, we took 11.8; each part of the change alone gives
    # 11.9 to 12.2 here.
    assert run.per_window(2.0, 50, 149) >= 12.3
    assert not [t for t in run.theirs_refused if t >= 100.0]  # and the tool keeps its share
    # The pace: what the most it took of a window, and half a unit, leave (RateLimitState._share).
    assert run.limiter.pacing_rate == pytest.approx((20 - 7 - 0.5) / 2.0)


def test_a_tool_seen_taking_its_burst_of_a_window_is_assumed_to_take_no_more_of_it() -> None:
    theirs = bursts(7, 2.0, 39, seed=3) + [78.5] * 7  # the last window's burst half a second in
    run = Run(FixedAligned(20, 2.0), theirs, until=79.2)
    limiter = run.limiter
    # At the end of the last window, after the tool's burst: what its Remaining says is ours
    # but the unit in hand, none kept for the tool although its rate times the time since the
    # answer says one more of its requests may have come.
    word = limiter.budget.word
    assert word is not None and limiter.budget.others_rate > 0
    assert limiter.remaining_estimate(word.answered_at + 0.1) == word.remaining
    assert limiter.budget.others_per_period() == 7  # each window read whole, once our requests answered


def test_where_windows_hold_none_one_or_two_bursts_no_window_reading_stands_for_all() -> None:
    """A window anchored at our first request, and a tool whose bursts follow the clock: some of
    our windows hold two of its bursts, some none, and the most read per window would leave no
    room for a second. There the use read between answers is kept."""
    def read(readings: list[float]) -> float | None:
        budget = ServerBudget()
        for period, reading in enumerate(readings):
            budget.read_period(period, reading, now=10.0 * period)
        return budget.others_per_period()

    assert read([20, 20, 40, 0, 20, 20, 40, 20, 20]) is None
    assert read([7, 6, 7, 7, 7, 6, 7, 7, 7]) == 7  # one burst a window, a reading a unit short now and then
    assert read([7, 7, 7]) is None  # too few periods to tell
