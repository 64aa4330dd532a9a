"""When the next request of one credential may go: the pure decision core of the rate limiter.

Confluent Cloud limits requests per key and organisation-wide, publishes neither its numbers nor
its algorithm, and documents X-RateLimit-Limit, -Remaining, -Reset (relative seconds) and
Retry-After on 429 answers only. The limiter therefore assumes no algorithm. What it relies on,
and why each holds against any of the common ones (simulator/ratelimit.py plays all six):

1. **A 429 holds every caller** of the credential, not only the refused one, for Retry-After,
   else X-RateLimit-Reset, else a capped exponential backoff with jitter (at most `max_pause`).
2. **X-RateLimit-Remaining is an upper bound on what may go now**, less the requests we sent after
   the answer that said it and those sent before it that it may not have counted (concurrent
   requests reach a real server in any order), and only until its Reset: never a promise that the
   whole limit comes back at Reset (a token bucket refills gradually, a sliding log one request at
   a time, a sliding counter's previous window still weighs on the next). After Reset the budget is
   unknown again. `reserve` units of it are left to other clients; on a server that refills only
   at its Reset, of each period as a whole: at most the limit less `reserve` is ours in a period
   whose count of ours is known (_track_period), whatever others already took of it.
3. **Once the sustained rate is known, requests are spaced evenly below it** (pacer.py, with a
   margin of at least 1/limit) whenever no Remaining says there is room: even spacing below the
   rate is the one pattern every algorithm admits. A Remaining with room is spent at once (what a
   server says it admits now it admits, and the pacer counts the burst), except on a server that
   refills gradually once another client was seen racing us there: then at the pace. The rate is
   learned from the headers when answers carry them, else from what was admitted between 429s
   while our requests used the pace (estimate.py), and adapts when another client takes part of
   the key. On a server seen to refill before its Reset, a spent Remaining is looked at again at
   our next paced slot: one request at a time, or with one answer still out when the pace is the
   server's own Limit per Reset and no other client was seen (the unit is back by then; waiting
   for every answer would space requests by the latency, not by the pace).
4. **While nothing is known, one request at a time**, so that crossing an unknown limit costs one
   429, not one per concurrent request. While the rate is not yet trusted and no `reserve` is
   set, the last unit of a Remaining is kept in hand: spending it before knowing when capacity
   returns is how a sliding counter is overrun.
5. **A local ceiling** (`max_requests_per_second`, a token bucket) always holds.

`RateLimitState` takes the monotonic time in every method and does no I/O: the asyncio wrapper is
limiter.py. Relative seconds in headers are taken as "after this long", never earlier: servers
send whole seconds and must round up for that to hold.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from itertools import takewhile

from ..config import RateLimitSettings
from .budget import Baseline, ServerBudget, Word
from .estimate import RateEstimate
from .headers import Pause, RateLimitHeaders
from .pacer import Pacer

# The safety margin under a learned sustained rate (see _repace for the sliding counter's).
MIN_MARGIN = 0.04
# How long after a Reset or a Retry-After the budget is looked at again (see _adopt_word).
RESET_SLACK_SECONDS = 0.05
# Recent words kept as baselines for telling a gradual refill (_baseline): a few windows' worth
# of answers at the rates the limiter meets, bounded so that each answer's search stays cheap.
SAID_KEPT = 64
# Answer times kept for counting ours in a reset period (_track_period): more than a period holds
# at the limits the limiter meets; a period with more answers than this is left unknown.
ANSWERS_KEPT = 1024
# Times this close count as reached: float rounding (8.9e-16 s has been seen) must neither leave a
# caller waiting on a clock that cannot represent the difference nor let a pause that is over in
# all but rounding skip the checks that follow it (every caller then went out at once).
ROUNDING_SECONDS = 1e-6


class RateLimitState:
    """What we know about one credential's budget, and when the next request may go."""

    def __init__(self, settings: RateLimitSettings, *, rng: Callable[[], float] = random.random) -> None:
        self.settings = settings
        self._rng = rng
        self.limit: int | None = None
        self.paused_until = 0.0
        self.consecutive_429 = 0  # fresh tries refused in a row, nothing admitted between
        self._resumed_at = 0.0  # when the last 429 was answered: requests sent before it share its refusal
        self.pacer = Pacer()
        self.estimate = RateEstimate()
        # Requests are numbered (tickets) in send order. An answer's Remaining counts every request
        # answered before it went out, none sent after it, and maybe some in flight with it (Word).
        self._tickets = 0
        # In flight: ticket -> the oldest ticket still unanswered when it went out (every ticket
        # below that one was answered, hence counted, before it was sent).
        self._inflight: dict[int, int] = {}
        self._refused: set[int] = set()  # refused tickets after the server's word: they did not count
        self._unanswered: set[int] = set()  # tickets after the word that failed: counted or not
        self._said: deque[Word] = deque(maxlen=SAID_KEPT)  # recent words: baselines (_baseline)
        self._told: dict[int, int] = {}  # ticket -> the Remaining its answer said (recent ones)
        # Pairs of successive words of one period whose fall of Remaining is ours and others' use,
        # waiting for every request that may have been counted between them to answer
        # (_learn_settled); bounded, should one request hang until its timeout (the oldest pairs
        # are then dropped, unlearned).
        self._unsettled: deque[tuple[Word, Word]] = deque(maxlen=SAID_KEPT)
        self._admitted = 0  # answers that were not 429
        self._free_since: float | None = None  # when the last request in flight was answered
        # For `reserve` on a server that refills only at its Reset (_available): when recent
        # answers that may have been counted arrived (refused ones cannot have been), and, when
        # the current word's reset period opened, how many of ours it may have counted and how
        # many tickets had been sent (None: unknown; _period_ours).
        self._counted_answers: deque[float] = deque(maxlen=ANSWERS_KEPT)
        self._period_opened: tuple[int, int] | None = None
        self._period_ends_after = -math.inf  # the earliest end of the last word's period, by every word of it
        self.budget = ServerBudget()
        # Local ceiling: a token bucket holding up to one second's worth of requests.
        self._tokens = max(1.0, settings.max_requests_per_second)
        self._tokens_at = 0.0

    # -- reading ---------------------------------------------------------------------------------

    @property
    def contended(self) -> bool:
        """Another client was seen taking what the server's word left us (estimate.py keeps it)."""
        return self.estimate.contended

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def reserve(self) -> int:
        """The configured reserve, but never so large that a window allows nothing at all."""
        if self.limit is None:
            return self.settings.reserve
        return min(self.settings.reserve, self.limit - 1)

    @property
    def pacing_rate(self) -> float | None:
        """Requests per second the limiter paces at when the server says nothing; None: unknown."""
        return self.pacer.rate

    def remaining_estimate(self, now: float) -> int | None:
        word = self.budget.live(now)
        return None if word is None else max(0, self._available(word, now))

    def seconds_to_reset(self, now: float) -> float | None:
        word = self.budget.live(now)
        return None if word is None else max(0.0, word.until - now)

    def delay(self, now: float) -> tuple[float, str]:
        """Seconds until a request may be sent (math.inf: until an answer arrives), and why."""
        reached = now + ROUNDING_SECONDS  # a time at or before this has come (ROUNDING_SECONDS)
        if reached < self.paused_until:
            return self.paused_until - now, "pause"
        word = self.budget.live(now)
        paced = self.pacer.rate is not None
        if word is not None:
            if self._available(word, now) > self._held_back():
                # The server said it can take this one now, so it goes: what a server admits at
                # once it admits, whatever its algorithm, and the pacer counts the burst (the
                # next paced slot moves back as far as the burst used the rate). Except where
                # the budget comes back gradually and another client was seen racing us for it:
                # there its use cannot be told from the refill (budget.py), and the Remaining
                # is spent at our pace. Paced always, a sliding log's whole window came back at
                # once and went out at 6 per second: 1.15 x the ideal where bursting it is 1.05.
                contested = self.budget.refills_early and self.contended
                ready = self.pacer.ready_at() if paced and contested else -math.inf
                if ready > reached:
                    return ready - now, "pace"
                return self._ceiling_delay(now)
            # Spent, as far as the server's last word goes. It comes back by that word's Reset;
            # on a server seen to refill before its Reset (a token bucket, a sliding counter),
            # possibly earlier: then our next paced slot, never before, is when to look.
            early = paced and self.budget.refills_early
            wake = min(word.until, self.pacer.ready_at()) if early else word.until
            returning = None if paced else self.budget.return_rate  # set only with refills_early
            if returning is not None and self.inflight == 0:
                # Not paced yet, but budget was seen coming back while we spent it (a bucket's
                # refill): one request at a time, a unit's return after our last request.
                wake = min(wake, self.pacer.last_sent + 1.0 / returning)
            if wake > reached:
                return wake - now, "budget"
            if early and self._pace_from_headers() and self.inflight <= 1:
                # Our paced slot has come, and the pace is the server's own limit per window
                # (less the margin): at that pace a gradual server has the unit back by now
                # whatever its last word said, so the slot is kept with one answer still out.
                # Waiting for every answer instead (the probe below) spaced requests by the
                # latency, not the pace: 9.0 where 9.5 per second was due. Not once another
                # client was seen racing us: then its use, not our pace, decides.
                return self._ceiling_delay(now)
        elif self.budget.late_reset and self.budget.word is not None and reached < self._reopens(self.budget.word):
            # This server refused a look right at a spent word's Reset before (a sliding
            # counter's previous window still weighs in full there): look a paced slot later.
            return self._reopens(self.budget.word) - now, "budget"
        elif paced and (self.budget.refills_early or not self.budget.spoken):
            # Between words (none yet, or the last one's Reset has passed): our own pace, except
            # on a server that sends Remaining and refills only at its Reset: there the budget
            # is back whole, and the next answer will say how much.
            ready = self.pacer.ready_at()
            if ready > reached:
                return ready - now, "pace"
            return self._ceiling_delay(now)
        if self.inflight > 0:
            # Nothing known about what may go: one request at a time, so that crossing an unknown
            # limit (or looking again after a spent budget) costs one 429, not one per caller.
            return math.inf, "unknown_limit" if self.limit is None else "probe"
        return self._ceiling_delay(now)

    # -- writing ---------------------------------------------------------------------------------

    def on_send(self, now: float, *, queued_at: float | None = None) -> int:
        """Count a request going out; returns its ticket, to hand back with its answer.
        `queued_at`: when its caller asked to send. From the last answer to then, with nothing in
        flight, we had nothing to send (estimate.py, on_no_demand); None: not known, taken as no
        gap."""
        if queued_at is not None and not self._inflight and self._free_since is not None:
            self.estimate.on_no_demand(self._free_since, min(now, queued_at))
        self._refill(now)
        self._tokens -= 1.0
        self._tickets += 1
        self._inflight[self._tickets] = min(self._inflight, default=self._tickets)
        self.pacer.on_send(now)
        return self._tickets

    def on_response(
        self, sent_at: float, now: float, status: int, headers: RateLimitHeaders, *, ticket: int | None = None
    ) -> Pause | None:
        """Learn from an answer. Returns the pause every caller must now respect, if any.

        `ticket` (from on_send) says which request this answers; without it the oldest request
        in flight is taken to be the one answered.
        """
        ticket, oldest_unanswered = self._settle(ticket, now)
        if headers.remaining is not None:
            self._told[ticket] = headers.remaining
        if headers.limit is not None:
            self.limit = headers.limit
        if status == 429:
            return self._on_429(sent_at, now, headers, ticket)
        self._counted_answers.append(now)
        self.consecutive_429 = 0
        self._admitted += 1
        if headers.remaining is not None and headers.reset is not None:
            self._adopt_word(ticket, oldest_unanswered, headers.remaining, headers.reset, sent_at, now)
        self._learn_settled()
        self.estimate.on_admitted()
        self.estimate.creep(now, self.limit, pace=self.pacer.rate)
        self._repace(now)
        return None

    def on_no_response(self, now: float, ticket: int | None = None) -> None:
        """The request failed before an answer (timeout, reset): it may or may not have counted
        (for a period's count of ours, _track_period, as if counted when it failed)."""
        ticket, _ = self._settle(ticket, now)
        self._unanswered.add(ticket)
        self._counted_answers.append(now)  # failed on the way back, maybe: counted or not
        self._learn_settled()

    # -- internals -------------------------------------------------------------------------------

    def _settle(self, ticket: int | None, now: float) -> tuple[int, int]:
        """The ticket answered at `now`, and the oldest ticket unanswered when it was sent."""
        if ticket is None or ticket not in self._inflight:
            ticket = min(self._inflight) if self._inflight else self._tickets
        oldest_unanswered = self._inflight.pop(ticket, ticket)
        if not self._inflight:
            self._free_since = now
        return ticket, oldest_unanswered

    def _reopens(self, word: Word) -> float:
        """When to look again after a spent word on a server whose Reset is not a refill."""
        return word.until + (1.0 / self.pacer.rate if self.pacer.rate else 1.0)

    def _held_back(self) -> int:
        """Units of a Remaining kept in hand: the last one, until the sustained rate is known and
        unless the reserve already leaves it (a window spent to its last request is how a sliding
        counter is overrun at the next boundary: its previous window still weighs in full), and
        for good once another client has been seen racing us to it."""
        untrusted = self.pacer.rate is None and self.reserve == 0
        return 1 if untrusted or self.contended else 0

    def _ours_after(self, ticket: int, upto: int | None = None) -> int:
        """Our requests after `ticket` (up to `upto`) that the server counted (not refused)."""
        upto = self._tickets if upto is None else upto
        return upto - ticket - sum(1 for t in self._refused if ticket < t <= upto)

    def _available(self, word: Word, now: float) -> int:
        ours = self._ours_after(word.ticket) + self._maybe_uncounted(word)
        return self.budget.available(word, now, ours, self.reserve, quota=self._quota())

    def _quota(self) -> int | None:
        """What of the limit we may still take in this reset period while leaving `reserve` to
        others, when the server refills only at its Reset and the limit and our count in the
        period are known (budget.py); else None."""
        ours = self._period_ours()
        if self.limit is None or ours is None or self.budget.refills_early:
            return None
        return self.limit - self.reserve - ours

    def _period_ours(self) -> int | None:
        """Ours the current word's reset period may have counted: those it may have counted when
        it opened, and every request sent since."""
        if self._period_opened is None:
            return None
        counted, tickets = self._period_opened
        return counted + self._tickets - tickets

    def _track_period(self, previous: Word | None, word: Word, came_back: bool) -> None:
        """Keep count of ours that the new word's reset period may have counted.

        A word sent after the previous one's Reset surely passed, and that shows the budget back
        (`came_back`, budget.py), opens a new period (on a server that refills only at its Reset:
        _quota). Nothing back after a Reset is a server whose Reset came early (or others took
        it all): the same period, maybe, and a new count there would spend the reserve.

        Ours the new period may count are those answered after the earliest end the last period
        allowed, and those still on their way: one answered before that was counted before it.
        From then on each request sent adds one (_period_ours).

        A word surely counted in the same period (answered before the earliest end any word of it
        allowed) keeps the count and may move that end later: whole-second Resets of 2 and then
        1, a few milliseconds apart, pin a 2 s window's end to those milliseconds, where the last
        word's alone left a second of doubt, the count unknown, and the reserve whole again (6
        of the 13 a window left us). Any other word leaves the count unknown, as does the first
        word after a 429 (which forgets the previous one); the earliest end still moves later
        with it, which holds for whatever period the word is in, since periods follow one another."""
        if previous is None:
            self._period_opened = None
        elif word.sent_at >= previous.until and came_back:
            answers, ended_after = self._counted_answers, self._period_ends_after
            if len(answers) == answers.maxlen and answers[0] >= ended_after:
                self._period_opened = None  # the answers that would tell are no longer kept
            else:
                since = takewhile(lambda answered: answered >= ended_after, reversed(answers))  # in time order
                self._period_opened = (self.inflight + sum(1 for _ in since), self._tickets)
            self._period_ends_after = word.ends_after
            return
        elif word.answered_at >= self._period_ends_after:
            self._period_opened = None
        self._period_ends_after = max(self._period_ends_after, word.ends_after)

    def _maybe_uncounted(self, word: Word) -> int:
        """Our requests sent before the word's, still on their way when it went out, and not
        known to be in its count: a real server may have counted them after it. One whose
        answer said more was left than the word says was counted before it."""
        return sum(
            1 for t in range(word.oldest_in_flight, word.ticket)
            if t not in self._refused and self._told.get(t, -1) <= word.remaining
        )

    def _baseline(self, ticket: int, oldest_unanswered: int, answered_at: float) -> Baseline | None:
        """The oldest recent word this answer can be measured against: its request went out
        after that word arrived (so the server counted it later), and it arrived before that
        word's period can have ended. The longest span tells a gradual refill most surely: each
        comparison leaves out the requests whose order is unknown, a few at most."""
        for word in self._said:
            if word.sent_by_then < ticket and word.covers(answered_at):
                # Ours surely counted between: sent after that word arrived and answered before
                # this one went out (neither refused nor failed), and this one.
                between = range(word.sent_by_then + 1, oldest_unanswered)
                counted = sum(1 for t in between if t not in self._refused and t not in self._unanswered)
                return Baseline(word, 1 + counted)
        return None

    def _learn_settled(self) -> None:
        """Learn other clients' use from each pair of words once every request of ours that may
        have been counted between them has answered. Concurrent requests reach a real server in
        any order, so at the time of an answer which of ours it counted is unknown; afterwards
        their own answers tell: on a server where nothing comes back within a period, each
        admission leaves a Remaining of its own, and ours between the two words are those whose
        Remaining lies between theirs. Counted at once instead, sixteen in flight reordered
        passed for another client taking most of the key, and a sliding counter of 42 per 42 s
        was paced at 5% of it (9.7 x the ideal)."""
        oldest_out = min(self._inflight, default=self._tickets + 1)
        while self._unsettled and self._unsettled[0][1].sent_by_then < oldest_out:
            previous, word = self._unsettled.popleft()
            if self.budget.refills_early:
                continue  # a return within the period was seen since: the fall is no measure
            self.budget.learn_others(previous, word, self._ours_counted_between(previous, word))

    def _ours_counted_between(self, previous: Word, word: Word) -> int:
        """Ours the server counted after `previous` and up to `word`, by where each one's own
        Remaining falls (_learn_settled); one whose answer said none, or that failed, is taken
        as counted there (the lower estimate of others' use)."""
        counted = 1  # the word's own request
        for ticket in range(previous.oldest_in_flight, word.sent_by_then + 1):
            if ticket in (previous.ticket, word.ticket) or ticket in self._refused:
                continue
            told = self._told.get(ticket)
            if told is None or word.remaining < told < previous.remaining:
                counted += 1
        return counted

    def _end_moved(self, word: Word) -> bool:
        """This word's reset period surely ends later than that of a recent word it is surely in
        the same period as (counted before that period's earliest end): budget.py."""
        return any(said.covers(word.answered_at) and word.ends_after > said.ends_by for said in self._said)

    def _adopt_word(
        self, ticket: int, oldest_unanswered: int, remaining: int, reset: float, sent_at: float, now: float
    ) -> None:
        # A Reset further away than max_pause is capped like a pause: no header may hold every
        # call for hours. A capped Reset says nothing about where the period ends.
        capped = reset > self.settings.max_pause
        reset = min(reset, self.settings.max_pause)
        self.estimate.observe_reset(reset)
        previous = self.budget.word
        if previous is not None and ticket < previous.ticket and now < previous.until:
            return  # an older answer overtaken by a newer one: the newer one knows more
        ours_between = self._ours_after(previous.ticket, ticket) if previous is not None else 0
        baseline = self._baseline(ticket, oldest_unanswered, now)
        # A little after the Reset, never on it: whole-second arithmetic can put a look exactly on
        # the boundary, where a sliding counter's previous window still weighs in full.
        until = now + min(reset + RESET_SLACK_SECONDS, self.settings.max_pause)
        word = Word(
            ticket, remaining, sent_at, answered_at=now, until=until, ends_after=sent_at + reset - 1.0,
            ends_by=now + reset, oldest_in_flight=oldest_unanswered, sent_by_then=self._tickets,
        )
        # Once a gradual refill is known, the 64 recent words need not be searched for one.
        end_moved = not capped and not self.budget.refills_early and self._end_moved(word)
        came_back = self.budget.adopt(word, ours_between, self.limit, baseline=baseline, end_moved=end_moved)
        self._track_period(previous, word, came_back)
        if previous is not None and self.budget.word is not None and self.budget.tells_others(previous, self.budget.word):
            self._unsettled.append((previous, self.budget.word))
        self._said.append(word)
        if came_back and self.estimate.spent_seen:
            self.estimate.refill_seen = True  # spent, then back: the longest Reset is the window
        if self.budget.word is not None and self._available(self.budget.word, now) <= self._held_back():
            self.estimate.spent_seen = True  # spent, as far as we ever spend it
        # Kept while a baseline, the word's own uncounted requests or an unsettled pair may still
        # need them.
        oldest = min(oldest_unanswered, self._said[0].ticket)
        if self._unsettled:
            oldest = min(oldest, self._unsettled[0][0].oldest_in_flight)
        self._refused = {t for t in self._refused if t >= oldest}
        self._unanswered = {t for t in self._unanswered if t >= oldest}
        self._told = {t: left for t, left in self._told.items() if t >= oldest}

    def _on_429(self, sent_at: float, now: float, headers: RateLimitHeaders, ticket: int) -> Pause:
        if sent_at >= self._resumed_at:
            # A fresh try refused again; requests refused together in one burst count once.
            self.consecutive_429 += 1
        self._resumed_at = max(self._resumed_at, now)
        pause = self._pause_for(headers)
        # A hinted pause ends a little after the hint, for the same reason as a Reset (_adopt_word).
        slack = RESET_SLACK_SECONDS if pause.source != "backoff" and pause.capped_from is None else 0.0
        self.paused_until = max(self.paused_until, now + pause.seconds + slack)
        self._refused.add(ticket)
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
            # last unit of every word stays in hand, so that a race needs two of theirs.
            self.estimate.on_contention(now, self.pacer.rate)
            self._repace(self.paused_until)
            return pause
        if headers.reset is not None:
            self.estimate.observe_reset(min(headers.reset, self.settings.max_pause))
        # For learning, where capacity returns in the server's frame: its Retry-After counts from
        # when it refused, i.e. when the request arrived, not when its answer reached us.
        self.estimate.on_refusal(
            now, sent_at + pause.seconds, self._admitted, refused_at=sent_at, limit=self.limit, reserve=self.reserve
        )
        self._repace(self.paused_until)
        return pause

    def _repace(self, not_before: float) -> None:
        rate = self.estimate.rate(self.limit, self.reserve, share=self._share())
        if rate is None:
            return
        # A sliding counter's weighted count rounds against a client paced at exactly its rate:
        # where the budget is seen to come back gradually, the margin is at least 1 / (limit + 1).
        gradual = self.limit is not None and self.budget.refills_early
        margin = max(MIN_MARGIN, 1.0 / (self.limit + 1)) if gradual and self.limit else MIN_MARGIN
        paced = rate * (1.0 - margin)
        if self.limit is not None and self.estimate.measured is not None and self.reserve:
            # The reserve is per window of `limit`: leave the same share of a learned rate.
            paced *= (self.limit - self.reserve) / self.limit
        if paced != self.pacer.rate:
            self.pacer.set_rate(paced, not_before=not_before)

    def _pace_from_headers(self) -> bool:
        """The pace comes from the server's own Limit and Reset (not from 429s alone), and no
        other client shares what the headers describe."""
        return self.estimate.from_headers(self.limit, self.reserve) is not None and not self.contended

    def _share(self) -> float | None:
        """Our share of the key's rate as the headers show it, when they can (budget.py)."""
        limit_rate = self.estimate.from_headers(self.limit, self.reserve)
        if limit_rate is None:
            return None
        if self.budget.refills_early:
            return None  # others cannot be told from refill here (budget.py)
        return max(limit_rate * 0.05, limit_rate - self.budget.others_rate)

    def _pause_for(self, headers: RateLimitHeaders) -> Pause:
        max_pause = self.settings.max_pause
        backoff = self.settings.backoff
        hint = headers.retry_after if headers.retry_after is not None else headers.reset
        if hint is not None:
            asked, source = hint, "retry_after" if headers.retry_after is not None else "reset"
            if self.consecutive_429 >= 2:
                # Refused again and again with nothing admitted between (another tool holding the
                # whole key, a server that sends Retry-After: 1 whatever happens): the hint is a
                # floor, and the exponential backoff grows above it, so that a key we cannot use
                # sees a 429 from us ever more rarely, not once per hint.
                grown = min(backoff.cap, backoff.base * 2 ** (self.consecutive_429 - 2))
                if grown > asked:
                    asked, source = grown, "backoff"
        else:
            # No hint at all: capped exponential backoff with jitter (Confluent's advice). Equal
            # jitter, not full: this pause holds every caller of the key, so there is nothing to
            # decorrelate, and each pause after a refusal must be reliably longer than the last
            # until it outlasts the server's window (full jitter kept drawing short ones, and the
            # job at the head of the queue spent its retries on them).
            # A key already seen shut for longer starts there: each too-short pause is a 429.
            ceiling = min(backoff.cap, max(backoff.base * 2 ** (self.consecutive_429 - 1), self.estimate.window_floor))
            asked, source = max(backoff.base, ceiling * (0.5 + 0.5 * self._rng())), "backoff"
        if asked > max_pause:
            return Pause(max_pause, source, capped_from=asked)
        return Pause(asked, source)

    def _refill(self, now: float) -> None:
        rate = self.settings.max_requests_per_second
        capacity = max(1.0, rate)
        self._tokens = min(capacity, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now

    def _ceiling_delay(self, now: float) -> tuple[float, str]:
        self._refill(now)
        if self._tokens >= 1.0 - 1e-9:  # float rounding must not leave a caller waiting forever
            return 0.0, ""
        return (1.0 - self._tokens) / self.settings.max_requests_per_second, "ceiling"
