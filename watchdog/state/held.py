"""`HeldTime`: how long a store's calls have held their caller, in all. Both stores are
synchronous on the daemon's event loop, so this is time in which nothing else ran there: no
listing, no answer to a webhook or a restart request. A caller that waited for something and
found it late asks this how much of its wait the state store took (triggers/listing_wait.py):
before, a leader whose store statements waited on a lock on a state table answered restart
requests 503 blaming its API key's rate-limit budget (an HA probe, 2026-12-07)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class HeldTime:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.seconds = 0.0  # in all, since the store was opened

    @contextmanager
    def holding(self) -> Iterator[None]:
        """A call of the store (a statement, a transaction, a connection made)."""
        started = self._clock()
        try:
            yield
        finally:
            self.seconds += self._clock() - started
