"""Our own pacing: a GCRA that spaces requests evenly at a learned rate.

Spacing requests evenly below the server's sustained rate is the one sending pattern every common
limit algorithm admits (a fixed or anchored window, a sliding log or counter, a token bucket, a
GCRA): bursting a presumed window is safe only under some of them. The pacer has no burst
tolerance of its own; a burst goes out only when the server has said it can take it
(X-RateLimit-Remaining, see state.py).
"""

from __future__ import annotations

import math


class Pacer:
    def __init__(self) -> None:
        self.rate: float | None = None  # requests per second; None: not pacing
        self._tat = -math.inf  # theoretical arrival time of the next request
        self.last_sent = -math.inf

    def ready_at(self) -> float:
        """The earliest time the next request may go (-inf when not pacing)."""
        return self._tat if self.rate is not None else -math.inf

    def on_send(self, now: float, *, owed_at_most: float = math.inf) -> None:
        """Every request counts, paced or not (a burst the server allowed pushes the next paced
        request back as far as the burst used the rate): so the pace after a burst is the pace
        the server can sustain, not the pace plus the burst. But never more than `owed_at_most`
        seconds from now, nor less than one interval (share.py, _burst_owed_at_most: the
        server's window): whatever a burst it admitted spent comes back within a window on every
        algorithm, and a burst counted at a pace far under the key's rate put the next request
        hours away."""
        self.last_sent = max(self.last_sent, now)
        if self.rate is not None:
            interval = 1.0 / self.rate
            self._tat = min(max(self._tat, now) + interval, now + max(owed_at_most, interval))

    def set_rate(self, rate: float, *, not_before: float) -> None:
        """Pace at `rate` from now on; the next request goes no earlier than `not_before`."""
        previous = self.rate
        self.rate = rate
        if previous is None:
            # The first paced slot is an interval after our last request, not at once: where the
            # pace is learned mid-stream, that request was the last one the server allowed before
            # we knew (a sliding counter still weighs it, with the burst before it, on its next
            # window). Replaying the whole burst instead would idle a token bucket for a window.
            self._tat = max(not_before, self.last_sent + 1.0 / rate)
        else:
            # Keep the schedule already made, but spaced at the new interval from here on.
            self._tat = max(self._tat - 1.0 / previous + 1.0 / rate, not_before)
