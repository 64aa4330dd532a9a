"""A fixed-window request budget per API key.

Confluent publishes no numbers for its control-plane limits (research note §3.1), so the limit
and window come from the scenario. Windows start at t = 0, the simulator's start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    # Whole seconds until the window resets, rounded up so that waiting this long is always
    # enough (X-RateLimit-Reset and Retry-After are relative seconds, research note §3.1).
    reset_seconds: int


class FixedWindowLimiter:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (window index, requests admitted)

    def admit(self, key: str, t: float) -> Verdict:
        """Count one request at simulator time `t`, unless the key's window is spent."""
        window = math.floor(t / self.window_seconds)
        # At least 1: float rounding must never tell a client to retry at once into a spent window.
        reset = max(1, math.ceil((window + 1) * self.window_seconds - t))
        current, used = self._windows.get(key, (window, 0))
        if current != window:
            used = 0
        if used >= self.limit:
            return Verdict(False, self.limit, 0, reset)
        self._windows[key] = (window, used + 1)
        return Verdict(True, self.limit, self.limit - used - 1, reset)
