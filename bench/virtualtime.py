"""An asyncio event loop on virtual time: whenever nothing is ready to run, the clock jumps to the
next timer instead of waiting for it.

The daemon's rate limiter, restart queue and probes take an injected clock and wait with asyncio
timers, and the simulator takes an injected clock, so with both on `loop.time` a run of 5,000
restarts at 60 per 10 s (833 s of real time) takes a few seconds of CPU while every decision
the daemon makes, and every second the simulator counts, stays exactly what it would be.

What virtual time does not model: CPU time (code between two awaits takes no time at all) and
real I/O. It is meant for a closed world: the daemon talks to the simulator through
`httpx.ASGITransport`, in process. A run in which every task waits and no timer is set can never
end; that raises `VirtualTimeDeadlock` instead of hanging. Used by the benchmarks and by the
fault matrix in tests/faults/.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualTimeDeadlock(RuntimeError):
    """Every task is waiting, no timer is set, and nothing outside the loop can wake it."""


class _Clock:
    def __init__(self, start: float) -> None:
        self.now = start


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without blocking; where the loop would sleep until its next timer, moves the clock."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            raise VirtualTimeDeadlock("every task waits and no timer is set: this run can never end")
        # The loop asked to sleep exactly until its earliest timer: be there at once, and always
        # move (a timeout below the clock's float resolution would otherwise leave it in place).
        self._clock.now = max(self._clock.now + timeout, math.nextafter(self._clock.now, math.inf))
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 0.0) -> None:
        self._clock = _Clock(start)
        super().__init__(selector=_JumpingSelector(self._clock))

    def time(self) -> float:
        return self._clock.now


def run(main: Coroutine[Any, Any, T], *, start: float = 0.0) -> T:
    """Run `main` to completion on a fresh virtual-time loop, then close the loop cleanly."""
    loop = VirtualTimeLoop(start)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
