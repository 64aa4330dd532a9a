"""What a 429 does: the pause it imposes on every caller of the key, and what it teaches.

`Refusals` is mixed into `RateLimitState` (state.py). A 429 holds every caller for Retry-After,
else X-RateLimit-Reset, else a capped exponential backoff (_pause_for), and tries refused in a
row wait longer each time, whatever the hint (refusal_streak: one admitted answer between takes
a step off, two in a row end it). A 429 although the server's last word left room is another
client racing us (estimate.on_contention), any other is a moment the key was saturated, from
which the sustained rate is learned (estimate.on_refusal), except over a stretch spent mostly in
a pause of ours grown past the server's hint (estimate.on_held_back). After either, the server's
last word is forgotten: the budget is unknown until an answer says it again. A pause whose first
try alone got in, our next refused within the hint after it, is the key giving back one unit per
pause: until that 429's Reset our requests keep the pause's cycle (_keep_cadence).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import RateLimitSettings, RetryBackoff
from .budget import ServerBudget, Word
from .climb import doubled
from .estimate import RateEstimate
from .headers import Pause, RateLimitHeaders
from .inflight import InFlightCap
from .pacer import Pacer
from .words import RESET_SLACK_SECONDS


class Refusals:
    # The state's parts this uses (RateLimitState sets them; state.py says what each holds).
    settings: RateLimitSettings
    limit: int | None
    paused_until: float
    pause_reason: str
    consecutive_429: int
    refusal_streak: int
    _admitted_since_429: bool
    _clean_resumes: int
    _first_in_at: float | None
    cadence: tuple[float, float] | None
    pacer: Pacer
    estimate: RateEstimate
    budget: ServerBudget
    _rng: Callable[[], float]
    _resumed_at: float
    _refused: set[int]
    _said: deque[Word]
    _unsettled: deque[tuple[Word, Word]]
    _admitted: int
    _admitted_at_429: int
    inflight_cap: InFlightCap

    if TYPE_CHECKING:  # KeyShare's and ServerWords', declared for the type checker
        @property
        def reserve(self) -> int: ...
        def _held_back(self) -> int: ...
        def _available(self, word: Word, now: float) -> int: ...
        def _repace(self, not_before: float) -> None: ...

    def _on_429(
        self, sent_at: float, now: float, headers: RateLimitHeaders, ticket: int, *, crowd: int = 1, most_at_send: int = 1
    ) -> Pause:
        hint = _hint(headers)
        clean = False
        if sent_at >= self._resumed_at:
            # A fresh try refused again; requests refused together in one burst count once.
            self.consecutive_429 += 1
            self.refusal_streak += 1
            first_in = self._first_in_at
            if first_in is not None and hint is not None and sent_at - first_in < hint:
                # The pause's first try got in, and this one, ours too, went within the hint
                # after it: our own second request of one window, whoever else is there.
                self._clean_resumes += 1
                clean = True
            else:
                self._clean_resumes = 0  # refused first, or later: the key may still be held
        self._first_in_at = None
        self._admitted_since_429 = False
        self._resumed_at = max(self._resumed_at, now)
        pause = self._pause_for(headers)
        # A hinted pause ends a little after the hint, for the same reason as a Reset (_adopt_word).
        slack = RESET_SLACK_SECONDS if pause.at_hint else 0.0
        if now + pause.seconds + slack >= self.paused_until:
            self.pause_reason = "pause"
        last_resume = self.paused_until
        self.paused_until = max(self.paused_until, now + pause.seconds + slack)
        self._keep_cadence(clean, last_resume, headers, pause, now)
        self._refused.add(ticket)
        if headers.remaining is not None and headers.remaining > 0 and crowd > 1:
            # The 429 itself says the rate budget had room, and others of ours were in flight
            # beside it (`crowd`: the most at once while it was): the server's concurrency limit
            # refused it, not its rate limit. Fewer go at once (inflight.py); the rate, and the
            # server's last word of its budget, stand. Read as a race for the budget, each such
            # 429 cut the pace: at 2 in progress allowed on a key of 60 per 10 s, answers taking
            # 0.5 to 1.5 s, from 6 to 2.4 per second in 70 s; and each one that forgot the last
            # word sent the daemon back to its pace where the word left room to spend at once.
            # Alone in flight, such a 429 is read as any other: a server may send the Remaining
            # of one limit beside the 429 of another (per second and per hour), and only a 429 at
            # our pace measures that one.
            self.inflight_cap.on_crowded(crowd, most_at_send)
            self._repace(self.paused_until)
            return pause
        last = self.budget.word
        if last is not None and sent_at >= last.until and last.remaining <= self.reserve + self._held_back():
            self.budget.late_reset = True  # refused right after a spent word's Reset: no refill there
        word = self.budget.live(now)
        raced = word is not None and ticket > word.ticket and self._available(word, now) >= 0
        # The server's last word was wrong (another client, or a Reset that was not a refill):
        # after the pause the budget is unknown until an answer says it again.
        self.budget.forget()
        self._said.clear()
        self._unsettled.clear()
        self.estimate.spent_seen = True
        if raced:
            # Refused although the last word left room for it: someone else took that request
            # between the word and ours. Not a sign that our pace is too fast; from now on the
            # last unit of every word stays in hand, so that a race needs two of theirs. Or the
            # server's concurrency limit refused it, which no word says: fewer go at once too
            # (inflight.py).
            self.estimate.on_contention(now, self.pacer.rate)
            self.inflight_cap.on_crowded(crowd, most_at_send)
            self._repace(self.paused_until)
            return pause
        if headers.reset is not None:
            self.estimate.observe_reset(min(headers.reset, self.settings.max_pause))
        held_back = False
        if pause.source == "backoff" and hint is not None:
            # The server said its capacity is back after `hint`; we hold out longer, because
            # tries keep being refused. What the key admits over that time is unasked, so the
            # stretch that ends here is no sample of its rate where this pause is most of it:
            # one try per pause of up to a minute, beside a tool that held the key, read as the
            # key's rate, left a trickle to regrow from once the tool had gone.
            self.estimate.on_held_back(sent_at + hint, sent_at + pause.seconds)
            held_back = True
        # For learning, where capacity returns in the server's frame: its Retry-After counts from
        # when it refused, i.e. when the request arrived, not when its answer reached us.
        self.estimate.on_refusal(
            now, sent_at + pause.seconds, self._admitted, refused_at=sent_at, limit=self.limit, reserve=self.reserve,
            held_back=held_back, at_hint=pause.at_hint,
        )
        self._repace(self.paused_until)
        return pause

    def _keep_cadence(self, clean: bool, last_resume: float, headers: RateLimitHeaders, pause: Pause, now: float) -> None:
        """After a 429 at `now` (whose pause is `pause`; the one before ended at `last_resume`):
        where that pause ended at the server's hint, its first try, and only it, got in since the
        last 429, and our next was refused within the hint after it (`clean`), right now the key
        gives back one unit per cycle (from the last pause's end to this one's), whatever our pace
        says. Until the 429's X-RateLimit-Reset (when its budget period ends) no two of our
        requests go closer than that: each try at our pace in between would only meet the next
        429. Not at the run's first 429: there was no pause to resume from. A sliding
        counter of 100 per 27 s that our own burst filled as its window opened, with 8 of ours in
        the window before, gave back one unit per 3.4 s for the 23 s left of that window; at our
        pace (1.6 per second) every try after the first of each pause was refused, 8 429s in a
        row, each cutting the pace by a tenth (tests/test_runaway_property.py). Where no Reset
        says when the period ends, nothing is kept: the cadence could outlive the trickle, and the
        pace's own cut (DECREASE) stays the answer there."""
        one_in = self._admitted == self._admitted_at_429 + 1
        self._admitted_at_429 = self._admitted
        cycle = self.paused_until - last_resume
        if clean and one_in and last_resume > 0.0 and headers.reset is not None and pause.at_hint and cycle > 0:
            self.cadence = (cycle, now + min(headers.reset, self.settings.max_pause))

    def _pause_for(self, headers: RateLimitHeaders) -> Pause:
        max_pause = self.settings.max_pause
        backoff = self.settings.backoff
        hint = _hint(headers)
        if hint is not None:
            asked, source = hint, "retry_after" if headers.retry_after is not None else "reset"
            if self.refusal_streak >= 2:
                # Refused again and again, nothing or little admitted between (another tool holding
                # the key, a server that sends Retry-After: 1 whatever happens): the hint is a
                # floor, and the exponential backoff grows above it, so that a key we cannot use
                # sees a 429 from us ever more rarely, not once per hint. From the third, at
                # least the longest window seen: the hint has twice not held, and doubling up
                # from one second cost four 429s in the first five seconds beside a tool that
                # took each unit of a key of 60 per 60 s as it came back.
                floor = self.estimate.window_floor if self.refusal_streak >= 3 else 0.0
                grown = min(backoff.cap, max(backoff.base * doubled(self.refusal_streak - 2), floor))
                if grown > asked:
                    asked, source = grown, "backoff"
        else:
            # No hint at all: capped exponential backoff with jitter (Confluent's advice). Equal
            # jitter, not full: this pause holds every caller of the key, so there is nothing to
            # decorrelate, and each pause after a refusal must be reliably longer than the last
            # until it outlasts the server's window (full jitter kept drawing short ones, and the
            # job at the head of the queue spent its retries on them).
            # A key already seen shut for longer starts there: each too-short pause is a 429.
            # Counted from the last admitted answer (consecutive_429), not refusal_streak: here
            # the backoff is our only guess of when capacity returns, and an answer admitted says
            # it did. Kept longer, a token bucket of 8 per 48 s alone, with no hint, took 14 429s
            # to learn its rate where 11 (tests/test_ratelimit_property.py allows 12).
            asked = equal_jitter_pause(backoff, self.consecutive_429 - 1, self._rng(), floor=self.estimate.window_floor)
            source = "backoff"
        if asked > max_pause:
            return Pause(max_pause, source, capped_from=asked)
        return Pause(asked, source)


def _hint(headers: RateLimitHeaders) -> float | None:
    """How long the server asked us to wait: Retry-After, else X-RateLimit-Reset; None if neither."""
    return headers.retry_after if headers.retry_after is not None else headers.reset


def equal_jitter_pause(backoff: RetryBackoff, doublings: int, draw: float, *, floor: float = 0.0) -> float:
    """A capped exponential backoff with equal jitter: `backoff.base` doubled `doublings` times (or
    `floor`, if longer), at most `backoff.cap`; half of it for sure, the other half drawn (`draw`
    in [0, 1)); never under `backoff.base`. The one formula of every pause that holds the key's
    callers without a hint: 429s in a row here, 5xx in a row in outage.py."""
    ceiling = min(backoff.cap, max(backoff.base * doubled(doublings), floor))
    return max(backoff.base, ceiling * (0.5 + 0.5 * draw))
