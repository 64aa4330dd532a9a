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
  counter, whose earlier requests still count after the Reset). Only then may the next request go
  at our paced slot before the Reset, and only then must even a Remaining with room be spent at
  our pace: bursting a whole Remaining is safe where the budget comes back whole at the Reset (a
  fixed window), and overruns a sliding counter's next window.
- `others_rate`: requests per second other clients take, learned only on servers that refill at
  their Reset (within one reset period nothing comes back, so Remaining falling faster than our
  own requests explain is someone else's use). On a server that refills gradually the two cannot
  be told apart from headers; there a 429 is the signal (estimate.py).
"""

from __future__ import annotations

from dataclasses import dataclass

# Other clients' use is averaged over at least this long before it is trusted, and forgotten at
# this pace: an EWMA whose weight is the observed span over this many seconds.
OTHERS_HORIZON = 30.0


@dataclass(frozen=True, slots=True)
class Word:
    """What one answer said."""

    ticket: int  # the request it answered: the server had counted it and all before it
    remaining: int
    sent_at: float  # when that request went out (about when the server counted it)
    until: float  # when its Reset passes: after that the budget is unknown again


class ServerBudget:
    def __init__(self) -> None:
        self.word: Word | None = None
        self.spoken = False  # the server has sent Remaining and Reset on a successful answer
        self.refills_early = False
        self.late_reset = False  # a look right at a spent word's Reset was refused (state.py)
        self.others_rate = 0.0
        self._others_weight = 0.0  # seconds of observation behind others_rate, capped at the horizon


    def live(self, now: float) -> Word | None:
        word = self.word
        return word if word is not None and now < word.until else None

    def available(self, word: Word, now: float, ours_after: int, reserve: int) -> int:
        """Requests that may still go at `now`, by the word, less ours since and theirs since."""
        theirs = 0.0 if self.refills_early else self.others_rate * max(0.0, now - word.sent_at)
        return word.remaining - reserve - ours_after - int(theirs + 0.999)

    def adopt(self, word: Word, ours_between: int, limit: int | None = None) -> bool:
        """Take a newer word. `ours_between`: our requests the server counted after the previous
        word's and up to this one's. `limit`: X-RateLimit-Limit, when known.
        Returns True when the budget was seen coming back (more left than the previous word
        minus what we sent since)."""
        previous = self.word
        self.word = word
        self.spoken = True
        if previous is None:
            return False
        came_back = word.remaining > previous.remaining - ours_between
        if not came_back and word.until > previous.until > word.sent_at:
            # One reset period, two whole-second Resets: each bounds the same end from above,
            # and the earlier bound is the tighter one (up to a second, half of a 2 s window).
            self.word = word = Word(word.ticket, word.remaining, word.sent_at, previous.until)
        # Reset is whole seconds rounded up: a window may legitimately end up to a second before
        # `until`. Only what came back earlier than that is a refill before the Reset.
        same_period = word.sent_at < previous.until - 1.0
        if came_back and same_period:
            self.refills_early = True
        if limit is not None and word.sent_at >= previous.until and word.remaining < limit // 2 - self.others_rate:
            self.refills_early = True  # a new period, and most of the budget did not come back
        if same_period and not self.refills_early:
            self._learn_others(previous, word, ours_between)
        return came_back

    def forget(self) -> None:
        """After a 429: the word was wrong (another client, or a Reset that was no refill)."""
        self.word = None

    def _learn_others(self, previous: Word, word: Word, ours_between: int) -> None:
        span = word.sent_at - previous.sent_at
        if span > 0:
            theirs = max(0.0, previous.remaining - word.remaining - ours_between)
            self.others_rate, self._others_weight = _average(self.others_rate, self._others_weight, theirs, span)


def _average(rate: float, weight: float, count: float, span: float) -> tuple[float, float]:
    """A rate averaged over the last OTHERS_HORIZON seconds of observation, updated with `count`
    events seen over `span` seconds. Returns the new rate and the seconds behind it."""
    if span >= OTHERS_HORIZON:
        return count / span, OTHERS_HORIZON
    total = min(weight + span, OTHERS_HORIZON)
    return (rate * (total - span) + count) / total, total
