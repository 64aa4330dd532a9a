"""A concurrency limit per API key: at most N of the key's requests in progress at once.

Confluent "enforces multiple kinds of limits, including request-rate and concurrency limits"
(research note §3.1) and publishes the numbers of neither. A request refused for concurrency is
answered 429 at once, like a rate-limited one, and is not counted by the rate limit (a gateway
checks the slot first). A request holds its slot from the moment the server counts it until its
answer leaves (the scenario's latency): the engine says when (`Admission.on_answered`).

What such a 429 carries is not documented. By default it carries `Retry-After: 1` and the key's
X-RateLimit-* as its last admitted request left them (where the rate limit sends its headers on
429s), so the answer says Remaining > 0 beside a 429: odd, but legal, and exactly what a client
that reads Remaining as a promise must survive. Both are scenario options (scenario.py).
"""

from __future__ import annotations

import heapq


class InFlight:
    """The answer times of each key's requests in progress."""

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        self._ends: dict[str, list[float]] = {}

    def full(self, key: str, t: float) -> bool:
        """Whether a request of `key` counted at `t` finds every slot taken."""
        ends = self._ends.setdefault(key, [])
        while ends and ends[0] <= t:
            heapq.heappop(ends)
        return len(ends) >= self.max_in_flight

    def hold(self, key: str, until: float) -> None:
        """A request of `key` admitted: its slot is taken until its answer leaves at `until`."""
        heapq.heappush(self._ends.setdefault(key, []), until)
