"""What the server's X-RateLimit-Remaining says may go now, kept honest between answers.

An answer's Remaining counts every request the server had seen when it answered; by the time we
send again, we have sent more (subtracted by ticket), and other clients on the same key may have
taken some too. Both are subtracted, the second at the rate other clients were seen to use the key:
Remaining falling faster than our own requests can explain, between two answers of one reset
period, is other clients' use.

Two facts about the server are learned from the answers, because they decide when it is safe to
look again once the budget is spent:

- `refills_early`: the budget was seen coming back before a Reset had passed (a token bucket, a
  sliding log or counter, a GCRA), or coming back only in part once it had (a sliding log or
  counter, whose earlier requests still count after the Reset), or a Reset was seen ending later
  than an earlier one of the same period (a bucket's time until full grows as it is spent; a
  window's end stays put). Only then may the next request go at our paced slot before the Reset;
  and there, once another client was seen racing us, even a Remaining with room is spent at our
  pace (its use cannot be told from the refill, see `others_rate`; share.py, KeyShare.shared).
- `return_rate`: units per second seen coming back within reset periods while we spent them.
  Before any pace is known, a spent Remaining on such a server is looked at again when one unit
  is back at that rate after our last request (state.py), not at a Reset that, for a token
  bucket or a GCRA, is the time until full.
- `others_rate`: requests per second other clients take, learned only on servers that refill at
  their Reset (within one reset period nothing comes back, so Remaining falling faster than our
  own requests explain is someone else's use), measured between two answers once every request
  of ours that may have been counted between them has answered (words.py). Once it comes to a
  request of each window more than `reserve` leaves them, a Remaining with room is spent at our
  pace, no longer at once, and the pace is what they leave (share.py, KeyShare.shared). On a server that
  refills gradually the two cannot be told apart from headers; there a 429 is the signal
  (estimate.py).
- `others_per_period`: the same use read per reset period (the limit less a word's Remaining less
  ours its period may have counted, made again once our requests around it have answered), where
  each of the last PERIODS_READ periods read about the same: the most of them. Read between
  answers, a burst lands within the spans read more often than its share of the time and reads
  high; read per period it does not, and one answer a period reads it, where `others_rate`
  needs two. Where it stands, it bounds `others_rate` both for the pace, which leaves them that
  much, and for whether the key is shared at all (share.py, others_per_second); and once they
  were seen taking that much of the current period none more of it is assumed gone (words.py,
  _theirs_left).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

# Other clients' use is averaged over at least this long before it is trusted, and forgotten at
# this pace: an EWMA whose weight is the observed span over this many seconds.
OTHERS_HORIZON = 30.0
# Other clients' use read per reset period stands for every period only where the periods read
# within this share of the most (or this many units) of one another (others_per_period).
PERIOD_SPREAD = 0.25
PERIODS_READ = 8
PERIOD_SPREAD_UNITS = 2.0


@dataclass(frozen=True, slots=True)
class Word:
    """What one answer said."""

    ticket: int  # the request it answered
    remaining: int
    sent_at: float  # when that request went out: the server counted it after this ...
    answered_at: float  # ... and before this
    until: float  # when its Reset has surely passed: after that the budget is unknown again
    ends_after: float  # its reset period lasts at least until here (whole-second Resets round up)
    ends_by: float  # ... and has surely ended by here
    # Concurrent requests reach a real server in any order, so "sent before" is not "counted
    # before". Ours from this ticket up to the answered one were still on their way when it went
    # out, and may have been counted after it ...
    oldest_in_flight: int
    sent_by_then: int  # ... and ours after this ticket went out after the answer: counted later

    def covers(self, answered_at: float) -> bool:
        """An answer that arrived at `answered_at` was counted within this word's reset period:
        before the earliest end its Reset allows."""
        return answered_at < self.ends_after


@dataclass(frozen=True, slots=True)
class Baseline:
    """An earlier word to measure a newer one against: the server counted the newer request
    after it, within its reset period, and surely counted this many of ours in between (the
    newer one included)."""

    word: Word
    surely_counted: int


class ServerBudget:
    def __init__(self) -> None:
        self.word: Word | None = None
        self.spoken = False  # the server has sent Remaining and Reset on a successful answer
        self.refills_early = False
        self.late_reset = False  # a look right at a spent word's Reset was refused (refusals.py)
        self.others_rate = 0.0
        self.return_rate: float | None = None  # units per second seen coming back while we spent them
        self._others_weight = 0.0  # seconds of observation behind others_rate, capped at the horizon
        # Other clients' use read per reset period (read_period): the key of the period being
        # read, its largest reading so far, and the readings of the periods closed since.
        self._period_key: object = None
        self._period_others: float | None = None
        self._closed_periods: deque[tuple[object, float, float]] = deque(maxlen=PERIODS_READ)


    def live(self, now: float) -> Word | None:
        word = self.word
        return word if word is not None and now < word.until else None

    def available(
        self, word: Word, now: float, ours_after: int, reserve: int, *, quota: int | None = None,
        theirs_left: float | None = None,
    ) -> int:
        """Requests that may still go at `now`, by the word, less ours since and theirs since,
        and less `reserve`, kept for other clients.

        `quota`: on a server that refills only at its Reset, the limit less `reserve` less ours
        the word's period may have counted (words.py), when known. `reserve` is a share of each
        period left to others; taken off every word instead, it stayed whole however much of it
        they had already used in the period, and a steady tool sending a third of 20 per 2 s
        left 2 to 3 units of each window unused (0.70 to 0.74 of what it left us, benchmark 1b).
        So the reserve is taken off only as far as the quota needs: never more of the period
        for us than the limit less the reserve, never less than before."""
        theirs = 0.0 if self.refills_early else self.others_rate * max(0.0, now - word.sent_at)
        if theirs_left is not None:
            theirs = min(theirs, theirs_left)
        left = word.remaining - ours_after - int(theirs + 0.999)
        if quota is None:
            return left - reserve
        return max(left - reserve, min(left, quota))

    def adopt(
        self, word: Word, ours_between: int, limit: int | None = None, *, baseline: Baseline | None,
        end_moved: bool = False,
    ) -> bool:
        """Take a newer word. `ours_between`: our requests sent after the previous word's and up
        to this one's that were not refused. `baseline`: an earlier word of the same reset period
        that this one was surely counted after, for telling whether budget came back (words.py
        picks it). `limit`: X-RateLimit-Limit, when known. `end_moved`: this word's reset period
        surely ends later than an earlier word's of the same period (words.py): no fixed window.

        Returns True when the budget came back since the previous word, in this period or a new
        one (more left than it said less every request of ours since). Only a return surely
        seen within one period, against the baseline, is a refill before the Reset: concurrent
        requests reach a real server in any order, a later request's answer may not yet count
        an earlier one still on its way, and taking every request sent before it as counted
        made a fixed window look as if it refilled mid-window (a real-clock run, four in flight
        on loopback: 17 left where 14 were expected)."""
        previous = self.word
        self.word = word
        self.spoken = True
        if previous is None:
            return False
        came_back = word.remaining > previous.remaining - ours_between
        if end_moved:
            # A fixed window's end stays where it is while it is spent; a bucket's time until
            # full grows with every request (a GCRA's likewise, a sliding log's once its oldest
            # request aged out). Unlike a return of budget, this needs no knowing which of our
            # concurrent requests each answer counted: with four in flight and a little jitter
            # on the way in, a token bucket's return hid in that doubt, it was taken for a fixed
            # window, and every burst waited out its time until full.
            self.refills_early = True
        if baseline is not None:
            back = word.remaining - (baseline.word.remaining - baseline.surely_counted)
            if back > 0:
                self.refills_early = True
                # The pace at which the server returned budget while we spent it (a bucket's
                # refill): a lower bound, counted over the longest time it may have taken.
                self.return_rate = back / max(word.answered_at - baseline.word.sent_at, 1e-3)
        # The earlier of two whole-second Resets bounds an end more tightly (by up to a second, half
        # of a 2 s window) when both name the same end:
        # - one period: nothing came back, or this answer arrived before the previous word's period
        #   can have ended. A return seen that early is an answer counted out of order (or a
        #   gradual refill); taken for a new period, every look at an anchored window's end under
        #   a little arrival jitter came up to a second late (1.24 x the ideal);
        # - and this word's own Reset allows that end. A sliding log's Reset is when its oldest
        #   request ages out; once that one is gone, the next-oldest names a later end, and a look
        #   at the old one found a slot we had spent since (a 429 with headers on every answer).
        same_period = not came_back or previous.covers(word.answered_at)
        if same_period and word.ends_after < previous.until < word.until and previous.until > word.sent_at:
            self.word = word = replace(word, until=previous.until)
        if limit is not None and word.sent_at >= previous.until and word.remaining < limit // 2 - self.others_rate:
            self.refills_early = True  # a new period, and most of the budget did not come back
        return came_back

    def tells_others(self, previous: Word, word: Word) -> bool:
        """Whether the fall of Remaining from `previous` to `word` is ours and others' use alone:
        one reset period (this answer arrived before the earliest end the previous word's Reset
        allows), on a server where nothing comes back within a period."""
        return previous.covers(word.answered_at) and not self.refills_early

    def forget(self) -> None:
        """After a 429: the word was wrong (another client, or a Reset that was no refill)."""
        self.word = None

    def learn_others(self, previous: Word, word: Word, ours_counted: int) -> None:
        """`ours_counted`: our requests the server counted after `previous` and up to `word`
        (which of them, words.py works out once all have answered)."""
        span = word.sent_at - previous.sent_at
        if span > 0:
            theirs = max(0.0, previous.remaining - word.remaining - ours_counted)
            self.others_rate, self._others_weight = _average(self.others_rate, self._others_weight, theirs, span)


    def read_period(self, key: object, reading: float, now: float, *, settled: bool = False) -> None:
        """Other clients' use of the reset period `key` as one word of it shows it: the limit
        less its Remaining less ours it may have counted (a lower bound: theirs after that word
        goes unseen). A period's largest reading stands for it once the next one opens.
        `settled`: a reading made again once our requests around the word have answered (words.py);
        it only raises that of a period already read."""
        if key == self._period_key:
            self._period_others = max(self._period_others or 0.0, reading)
        elif settled:
            for index, (closed_key, at, closed) in enumerate(self._closed_periods):
                if closed_key == key:
                    self._closed_periods[index] = (closed_key, at, max(closed, reading))
        else:
            if self._period_others is not None:
                self._closed_periods.append((self._period_key, now, self._period_others))
            self._period_key, self._period_others = key, reading

    def others_per_period(self) -> float | None:
        """The most other clients were seen taking of one reset period (read_period), where that
        is about what they take of every period: the last PERIODS_READ closed periods each read
        within PERIOD_SPREAD of the most (or PERIOD_SPREAD_UNITS). Else None. A tool whose bursts
        follow the clock fills a window anchored elsewhere with none, one or two of them (40 of
        60, then 0): the most read over the last 30 s, three such windows that held one each,
        left no unit for a second burst, and the anchored window at 60 per 10 s beside such a
        tool went from 0.632 to 0.592 of what it left."""
        if len(self._closed_periods) < PERIODS_READ:
            return None
        closed = [reading for _, _, reading in self._closed_periods]
        most = max(closed + ([self._period_others] if self._period_others is not None else []))
        if most - min(closed) > max(PERIOD_SPREAD_UNITS, most * PERIOD_SPREAD):
            return None
        return most

    def period_seen(self, key: object) -> float | None:
        """Other clients' use seen so far in the period `key`, if that is the one being read."""
        return self._period_others if key is not None and key == self._period_key else None


def _average(rate: float, weight: float, count: float, span: float) -> tuple[float, float]:
    """A rate averaged over the last OTHERS_HORIZON seconds of observation, updated with `count`
    events seen over `span` seconds. Returns the new rate and the seconds behind it."""
    if span >= OTHERS_HORIZON:
        return count / span, OTHERS_HORIZON
    total = min(weight + span, OTHERS_HORIZON)
    return (rate * (total - span) + count) / total, total
