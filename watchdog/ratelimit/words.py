"""What the server's words say is left for us: each answer's Remaining and Reset, counted against
our own requests.

`ServerWords` is mixed into `RateLimitState` (state.py), which decides when the next request may
go; this part keeps the bookkeeping that reading a Remaining right needs. Requests are numbered
(tickets) in send order; concurrent requests reach a real server in any order, so which of ours
an answer's Remaining counted is known only within bounds: every request answered before it went
out, none sent after it, maybe some in flight with it (budget.Word). From that follow what may go
now (_available), the share of a reset period that is still ours when `reserve` is left to others
(_quota, _track_period), and other clients' use, learned once every request that may have been
counted between two words has answered (_learn_settled).
"""

from __future__ import annotations

from collections import deque
from itertools import takewhile
from typing import TYPE_CHECKING

from ..config import RateLimitSettings
from .budget import Baseline, ServerBudget, Word
from .estimate import RateEstimate

# How long after a Reset or a Retry-After the budget is looked at again (see _adopt_word).
RESET_SLACK_SECONDS = 0.05


class ServerWords:
    # The state's parts this uses (RateLimitState sets them; state.py says what each holds).
    settings: RateLimitSettings
    limit: int | None
    budget: ServerBudget
    estimate: RateEstimate
    _tickets: int
    _inflight: dict[int, int]
    _refused: set[int]
    _unanswered: set[int]
    _said: deque[Word]
    _told: dict[int, int]
    _unsettled: deque[tuple[Word, Word]]
    _unread: deque[tuple[object, Word, int]]
    _counted_answers: deque[float]
    _period_opened: tuple[int, int] | None
    _period_ends_after: float
    _period_surely_through: float
    reset_capped_from: float | None

    if TYPE_CHECKING:  # the state's own and KeyShare's, declared for the type checker
        @property
        def reserve(self) -> int: ...
        @property
        def inflight(self) -> int: ...
        def _held_back(self) -> int: ...

    def _ours_after(self, ticket: int, upto: int | None = None) -> int:
        """Our requests after `ticket` (up to `upto`) that the server counted (not refused)."""
        upto = self._tickets if upto is None else upto
        return upto - ticket - sum(1 for t in self._refused if ticket < t <= upto)

    def _available(self, word: Word, now: float) -> int:
        ours = self._ours_after(word.ticket) + self._maybe_uncounted(word)
        return self.budget.available(word, now, ours, self.reserve, quota=self._quota(), theirs_left=self._theirs_left(now))

    def _theirs_left(self, now: float) -> float | None:
        """What other clients may still take of the current reset period: the most they took of
        one recently, less what they were seen taking of this one (budget.read_period); None
        where it is not known."""
        seen = self.budget.period_seen(self._period_opened)
        most = self.budget.others_per_period()
        if seen is None or most is None:
            return None
        return max(0.0, most - seen)

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
        elif came_back and (word.sent_at >= previous.until or self._surely_new_period(previous, word)):
            answers, ended_after = self._counted_answers, self._period_ends_after
            if len(answers) == answers.maxlen and answers[0] >= ended_after:
                self._period_opened = None  # the answers that would tell are no longer kept
            else:
                # Not those whose own word showed them counted in the period before (_surely_same_period).
                through = self._period_surely_through
                since = takewhile(lambda answered: answered >= ended_after and answered > through, reversed(answers))
                self._period_opened = (self.inflight + sum(1 for _ in since), self._tickets)
            self._period_ends_after = word.ends_after
            return
        elif word.answered_at >= self._period_ends_after:
            if self._surely_same_period(word, came_back):
                self._period_surely_through = word.answered_at
            else:
                self._period_opened = None
        self._period_ends_after = max(self._period_ends_after, word.ends_after)

    def _surely_new_period(self, previous: Word, word: Word) -> bool:
        """On a server that refills only at its Reset, a request sent after the previous word
        arrived that says as much left or more is counted in a new period, whatever the previous
        Reset said: within one period Remaining only falls, by this request at least. Whole-second
        Resets put the previous word's sure end up to a second late, and a window's count of ours
        stayed unknown for a third of the windows of a 2 s key (_theirs_left then unknown too)."""
        return not self.budget.refills_early and word.sent_at >= previous.answered_at and word.remaining >= previous.remaining

    def _surely_same_period(self, word: Word, came_back: bool) -> bool:
        """A word answered after the earliest end its period allowed, yet surely counted in it:
        nothing came back, and a new period could not have left so little (the limit less ours
        it may have counted, those answered since that end and those on their way, less the
        most other clients took of a period lately). A 2 s window's last request is often
        answered a few milliseconds past that end; taken as unknown, the window's end kept a
        unit for another client whose whole burst had come (_theirs_left)."""
        most = self.budget.others_per_period()
        if came_back or self.limit is None or self._period_opened is None or most is None:
            return False
        since = sum(1 for answered in self._counted_answers if answered >= self._period_ends_after)
        return word.remaining < self.limit - (self.inflight + since) - most - 1

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
        while self._unread and self._unread[0][1].sent_by_then < oldest_out:
            key, word, ours = self._unread.popleft()
            if self.limit is not None and not self.budget.refills_early:
                # Settled: ours that its own answer shows counted after the word were not in it.
                after = sum(
                    1 for t in range(word.oldest_in_flight, word.sent_by_then + 1)
                    if t != word.ticket and t not in self._refused and self._told.get(t, word.remaining) < word.remaining
                )
                self.budget.read_period(key, max(0, self.limit - word.remaining - (ours - after)), word.answered_at, settled=True)
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
        asked = reset
        reset = min(reset, self.settings.max_pause)
        self.estimate.observe_reset(reset)
        previous = self.budget.word
        if previous is not None and ticket < previous.ticket and now < previous.until:
            return  # an older answer overtaken by a newer one: the newer one knows more
        self.reset_capped_from = asked if capped else None
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
        ours = self._period_ours()
        if ours is not None and self.limit is not None and not self.budget.refills_early:
            self.budget.read_period(self._period_opened, max(0, self.limit - remaining - ours), now)
            self._unread.append((self._period_opened, word, ours))
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
        if self._unread:
            oldest = min(oldest, self._unread[0][1].oldest_in_flight)
        self._refused = {t for t in self._refused if t >= oldest}
        self._unanswered = {t for t in self._unanswered if t >= oldest}
        self._told = {t: left for t, left in self._told.items() if t >= oldest}
