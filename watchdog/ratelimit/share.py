"""Our share of the key, and the pace we keep at it.

`KeyShare` is mixed into `RateLimitState` (state.py), which decides when the next request may go.
This part says how much of the key is ours: whether another client shares it (shared,
contended), what that client takes where Remaining shows it (others_per_second), what `reserve`
leaves it, and from that the pace we keep (_repace), how much of a Remaining we keep in hand
(_held_back), how far a burst the server allowed holds the next request back
(_burst_owed_at_most) and when a spent word is looked at again (_reopens).
"""

from __future__ import annotations

import math

from ..config import RateLimitSettings
from .budget import ServerBudget, Word
from .estimate import RateEstimate
from .pacer import Pacer

# The safety margin under a learned sustained rate (see _repace for the sliding counter's).
MIN_MARGIN = 0.04
# Another client's use per window, measured from Remaining, within this factor of `reserve` is
# taken as the share the reserve already leaves it (shared).
RESERVE_READ_HIGH = 1.2
# Other clients' use per reset period, read whole (budget.others_per_period), is taken as this
# many units more, for the pace at what they leave: a steady tool's reading is exact, and paced at
# exactly what it left, it and we met at each window's end (one more 429 of ours at 60 per 10 s).
PERIOD_READ_MARGIN = 0.5


class KeyShare:
    # The state's parts this uses (RateLimitState sets them; state.py says what each holds).
    settings: RateLimitSettings
    limit: int | None
    pacer: Pacer
    estimate: RateEstimate
    budget: ServerBudget

    @property
    def contended(self) -> bool:
        """Another client was seen taking what the server's word left us (estimate.py keeps it)."""
        return self.estimate.contended

    @property
    def shared(self) -> bool:
        """Another client shares the key: it raced us (a 429 though the server's word left room),
        or, where the budget comes back only at its Reset, it was seen taking at least a unit of
        each window more than `reserve` leaves it (budget.others_rate, learned from Remaining
        falling faster than ours).

        Then a Remaining with room is spent at our pace, never at once. On a server that refills
        gradually the other client's use cannot be told from the refill (budget.py), and a burst
        races it to the refill. On a fixed window a burst of ours at the window's start takes
        what the other tool comes for later in it: a tool sending a third of 60 per 10 s evenly
        was refused 1,423 of its 1,781 requests beside us (the naive client: 1,522), and one
        sending its third in one burst per window 1,342 of 1,820, while we lost a race to it one
        window in four. Paced at what it leaves, 15 of 2,505 and 208 of 2,560, and one 429 of
        ours per 32 windows: issue 10's "leaves the other client its share". The cost is ours:
        the run takes longer, as it must if the other tool is to have its share. Once the other
        tool leaves, the periods read whole show it (others_per_second), and bursts come back."""
        if self.contended:
            return True
        if self.budget.refills_early:
            return False
        # A `reserve` already leaves them their share of each window (budget.available), so a
        # window may still be spent at once as far as it goes. The measured use reads a little
        # high (a tool sending 7 per 2 s read as 7.5), so a use within a fifth over the reserve
        # is taken as covered by it: a reserve of 20 at 60 per 10 s, the tool's share, was
        # otherwise paced, and left us 0.943 of what the tool left, not 1.000.
        others_per_window = self.others_per_second * self.estimate.window_floor
        return others_per_window >= max(self.reserve + 1.0, self.reserve * RESERVE_READ_HIGH)

    @property
    def others_per_second(self) -> float:
        """What other clients were seen taking of the key, where Remaining shows it (budget.py:
        a server that refills only at its Reset); 0 where it cannot.

        Read between two answers of one period (budget.others_rate), a burst lands within the
        span read more often than its share of the time (the span before our first answer of a
        window is never read): a tool sending 7 of 20 per 2 s at once read 3.0 to 4.7 per second
        where it sends 3.5. And that reading is made only where two answers fall in one period:
        once a tool that held nearly the whole key left, we, paced at the trickle it had left
        us, sent one request per period, and the reading stayed at the tool's 4.6 per second of
        a key of 1 for good. The key looked shared, each window was spent at that trickle, and
        200 restarts took 1,373 s after it left where the key allowed them in 130. So where each
        period is seen to hold about the same of theirs, the most they took of one reads it
        whole, and it reads 0 once they are gone."""
        others = self.budget.others_rate
        per_period = self.budget.others_per_period()
        if per_period is not None and self.estimate.window_floor > 0:
            others = min(others, (per_period + PERIOD_READ_MARGIN) / self.estimate.window_floor)
        return others

    @property
    def reserve(self) -> int:
        """The configured reserve, but never so large that a window allows nothing at all."""
        if self.limit is None:
            return self.settings.reserve
        return min(self.settings.reserve, self.limit - 1)

    def _reopens(self, word: Word) -> float:
        """When to look again after a spent word on a server whose Reset is not a refill: a
        unit's return after the Reset, at our pace or, alone on the key, at the rate its headers
        say (N per longest Reset) if that is faster. At the trickle learned beside a tool that
        held the key, one interval of our pace was a window more: once the tool had left, each
        window's burst waited out its Reset and then a minute again (bench/leave.py's second
        table, 60 per 60 s)."""
        rate = self.pacer.rate
        key_rate = self.estimate.from_headers(self.limit, self.reserve)
        if key_rate is not None and not self.shared:
            rate = max(rate or 0.0, key_rate)
        return word.until + (1.0 / rate if rate else 1.0)

    def _burst_owed_at_most(self) -> float:
        """How far past a request our pace may hold the next one (Pacer.on_send): a window, the
        longest the server's budget takes to come back, alone on the key. A burst the server
        allowed counts at the pace, and at the trickle learned beside a tool that had taken
        nearly the whole key (0.005 per second on a key of 1), the bucket's 60 that the first
        answer after it left showed free put the next request three hours away: 200 restarts
        took 6,025 s after it stopped where the key allowed them in 141, and 400 up to 42,353 s
        (docs/benchmarks.md 1c). Not while another client shares the key: what a burst of ours
        took before it was seen was that client's share, and is paid back whole at the pace,
        as it was (capped there too, the anchored window beside the runaway lost a race to it,
        and the key stayed shared after it left: 491 s where 214)."""
        if self.shared or self.estimate.window_floor <= 0:
            return math.inf
        return self.estimate.window_floor

    def _held_back(self) -> int:
        """Units of a Remaining kept in hand: the last one, until the sustained rate is known and
        unless the reserve already leaves it (a window spent to its last request is how a sliding
        counter is overrun at the next boundary: its previous window still weighs in full), and
        for good once another client has been seen racing us to it."""
        untrusted = self.pacer.rate is None and self.reserve == 0
        return 1 if untrusted or self.contended else 0

    def _repace(self, not_before: float) -> None:
        share = self._share()
        rate = self.estimate.rate(self.limit, self.reserve, share=share)
        if rate is None:
            return
        # A sliding counter's weighted count rounds against a client paced at exactly its rate:
        # where the budget is seen to come back gradually, the margin is at least 1 / (limit + 1).
        gradual = self.limit is not None and self.budget.refills_early
        margin = max(MIN_MARGIN, 1.0 / (self.limit + 1)) if gradual and self.limit else MIN_MARGIN
        if share is not None and rate >= share and self.shared:
            # Paced at what another client leaves on a server that refills only at its Reset:
            # there each answer's Remaining keeps us within the limit, and the pace only leaves
            # the other client room. The share, measured, already reads a little high (shared);
            # a margin under it too left us 0.892 of what a steady tool left at 20 per 2 s.
            margin = 0.0
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
        """Our share of the key's rate as the headers show it, when they can (budget.py): what
        other clients leave, and no more than the limit less `reserve`. Their use counts against
        the reserve first, as in a period's quota (budget.available): the reserve is kept for
        them, so taking both off left a tool of 7 per 20 per 2 s, with `reserve: 7`, and us 8.6
        of the 13 it left per window."""
        key_rate = self.estimate.from_headers(self.limit, 0)
        ours_at_most = self.estimate.from_headers(self.limit, self.reserve)
        if key_rate is None or ours_at_most is None:
            return None
        if self.budget.refills_early:
            return None  # others cannot be told from refill here (budget.py)
        # Their use read whole per period where it can be (others_per_second): read between
        # answers, the pace left a tool of 7 of 20 per 2 s sent at once 10 or 11 of its 13.
        return max(key_rate * 0.05, min(ours_at_most, key_rate - self.others_per_second))
