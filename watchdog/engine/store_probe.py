"""`StoreProbe`: while a failed write of the shared state store stands and restarts wait for it
(dispatch.STORE_WAIT_SECONDS), a write of nothing on a doubling gap, so that the store's failure
clears as soon as the database is back rather than at the next unrelated write."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..state import StateStore, StateStoreError
from .core import WallClock

# Seconds between the writes of nothing while restarts wait for a failed store: the first, doubled
# at each try, up to the cap (the 30 s sign of life's).
STORE_PROBE_FIRST = 1.0
STORE_PROBE_CAP = 30.0


class StoreProbe:
    def __init__(self, state: StateStore, now: WallClock) -> None:
        self._state = state
        self._now = now
        # The gap to the next try, and when that is due; None while the store has no failure.
        self._gap: float | None = None
        self._at: datetime | None = None

    def __call__(self) -> None:
        """A write of nothing (mark_alive) 1 s after the failure was first met, then 2, 4... up to
        STORE_PROBE_CAP seconds, at the turns of the restarts that wait (the queue asks then):
        `problem` clears only with a write that works, and with nothing else writing (a poll every
        60 s; alert rules only: the 30 s sign of life) restarts a 1 s database failover had held
        waited up to a minute. Spaced out: a database out of reach may hold the event loop for its
        connect timeout at each try."""
        if self._state.problem is None:
            self._gap = None
            return
        now = self._now()
        if self._gap is not None and self._at is not None and now < self._at:
            return
        self._gap = STORE_PROBE_FIRST if self._gap is None else min(self._gap * 2, STORE_PROBE_CAP)
        self._at = now + timedelta(seconds=self._gap)
        if self._gap == STORE_PROBE_FIRST:
            return  # the failure was just met: the first try a second from now
        try:
            self._state.mark_alive(now)
        except StateStoreError:
            pass  # still failing: `problem` stands, and says why
