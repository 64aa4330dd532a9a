"""How many of our requests may be in flight at once on one lane: learned from 429s, not only
configured (`max_concurrent_requests` stays the most).

Confluent enforces "request-rate and concurrency limits" (research note §3.1) and publishes the
numbers of neither. A concurrency limit refuses a request while too many of the key's requests
are in progress, whatever the rate budget says: its 429 comes although the budget had room, and
may say so (Remaining > 0). Read as a rate refusal, or as another client racing us
(estimate.on_contention), each such 429 cut our pace and none cut what actually broke the
limit, our requests in flight at once: alone on a key of 60 per 10 s that allowed one request in
progress at a time, with answers taking 0.5 to 1.5 s and 16 in flight allowed, 200 restarts took
42 429s and 324 s, where one at a time takes them in about 200 s (`python -m bench concurrency`).

So a 429 that was not the rate budget's, of a request that had others of ours in flight beside
it, caps how many go at once: one fewer than the most of ours in flight while it was (not when
it was sent: one sent alone may reach the server after one sent later, and be the one refused),
and one fewer again for each more of that crowd refused (4 sent together, 3 refused: 1). Which
429s (refusals.py): one whose own Remaining says there was room, which leaves the pace and the
server's last word as they were, and one the server's last word left room for, which also
costs the pace a race's cut. Safe whatever caused it: against another client it only spaces our
requests out. The cap is tried one higher after REGROW_FIRST answers admitted at it, and each
cut that follows such a try doubles that count (up to REGROW_MOST): a concurrency limit is
"generally fixed", so one 429 per doubling, and a cap cut by a client that has gone comes back.
With the default 4 in flight, that run now takes 5 429s in 1.005 x the time one at a time takes.
"""

from __future__ import annotations

# Answers admitted at the cap before one more in flight is tried, after the first cut; doubled by
# each cut that follows a try, up to REGROW_MOST: 5,000 restarts at a limit of one in progress
# cost 7 tries, a 429 each, besides the first burst's.
REGROW_FIRST = 32
REGROW_MOST = 4096


class InFlightCap:
    """The most of our requests in flight at once: the configured number until a 429 says less."""

    def __init__(self, configured: int) -> None:
        self.configured = configured
        self.cap: int | None = None  # None: no cut, the configured number holds
        self._regrow_after = REGROW_FIRST
        self._admitted_at_cap = 0
        self._tried = False  # the cap was raised since its last cut

    @property
    def most(self) -> int:
        return self.configured if self.cap is None else self.cap

    def on_crowded(self, crowd: int, most_at_send: int) -> None:
        """A 429 that was not the rate budget's (the server's word, or the 429's own Remaining,
        left room), of a request with `crowd` of ours in flight at once, at most, while it was
        (itself included: state.py counts it), sent while `most_at_send` could be."""
        if crowd < 2:
            return  # alone in flight all along: not ours at once that broke it
        cut = crowd - 1
        if most_at_send > self.most:
            # Sent before the last cut, in the crowd that earned it: each more of that crowd
            # refused is one fewer the server took at once (4 sent together, 3 refused: 1).
            cut = min(cut, self.most - 1)
        cut = max(1, cut)
        if cut >= self.most:
            return
        if self._tried:
            self._regrow_after = min(REGROW_MOST, self._regrow_after * 2)
        self.cap, self._admitted_at_cap, self._tried = cut, 0, False

    def on_admitted(self, crowd: int) -> None:
        """An answer admitted, of a request with `crowd` of ours in flight at once, at most,
        while it was."""
        if self.cap is None or crowd < self.cap:
            return  # not at the cap: says nothing of one more
        self._admitted_at_cap += 1
        if self._admitted_at_cap >= self._regrow_after:
            self.cap, self._admitted_at_cap, self._tried = self.cap + 1, 0, True
            if self.cap >= self.configured:
                self.cap = None
