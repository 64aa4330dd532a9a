"""When discovery refreshes: at start, then every `discovery.interval`; sooner after a refresh
that could not read everything, and at once when a reload changed the discovery settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from ..logs import get_logger, without_known_secrets
from ..tasks import cancel_and_wait
from ..triggers.streak import FailureStreak

log = get_logger("watchdog.discovery")

# After a refresh that failed or read only part, the next one comes after this long (or the
# interval, if shorter): a first refresh that met a 503 must not leave the fleet unwatched for
# five minutes. The rate limiter still paces every call.
RETRY_SECONDS = 30.0


class DiscoveryLoop:
    def __init__(self, refresh: Callable[[], Awaitable[bool]], interval: Callable[[], float],
                 now: Callable[[], datetime]) -> None:
        self._refresh = refresh  # True when everything selected could be read
        self._interval = interval
        # A refresh that crashes crashes at every retry (every 30 s): its traceback is said when
        # that starts, then every few minutes, and the end once (triggers/streak.py).
        self._crashes = FailureStreak(now)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._run(), name="discovery")

    def wake(self) -> None:
        """Refresh now (after a reload that changed what to discover)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])  # again until it ends (tasks.py)
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            attempt = self._crashes.attempt()
            try:
                complete = await self._refresh()
            except Exception as exc:
                # The loop outlives any refresh: a dead loop would freeze the fleet silently.
                error = without_known_secrets(f"{type(exc).__name__}: {exc}")[:300]  # starred before the cut
                said = attempt.failed(type(exc).__name__)  # another kind of crash is said at once
                if said is None:
                    log.debug("discovery_refresh_crashed", error=error)
                else:
                    log.exception("discovery_refresh_crashed", error=error, **said,
                                  note="the discovered clusters stay as they were; the next refresh tries again")
                complete = False
            else:
                ended = attempt.succeeded()
                if ended is not None:
                    log.info("discovery_refresh_crash_ended", **ended)
            interval = self._interval()
            delay = interval if complete else min(interval, RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
