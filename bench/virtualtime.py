"""An asyncio event loop on virtual time: whenever nothing is ready to run, the clock jumps to the
next timer instead of waiting for it.

The daemon's rate limiter, restart queue and probes take an injected clock and wait with asyncio
timers, and the simulator takes an injected clock, so with both on `loop.time` a run of 5,000
restarts at 60 per 10 s (833 s of real time) takes a few seconds of CPU while every decision
the daemon makes, and every second the simulator counts, stays exactly what it would be.

What virtual time does not model: CPU time (code between two awaits takes no time at all) and
real I/O. It is meant for a closed world: the daemon talks to the simulator through
`httpx.ASGITransport`, in process. A run in which every task waits and no timer is set can never
end; that raises `VirtualTimeDeadlock` instead of hanging, naming where each task waits. Used by
the benchmarks and by the fault matrix in tests/faults/.

An exception that is not an `Exception` (pytest-timeout's `Failed: Timeout`, raised by its
SIGALRM handler inside whichever task was running; a KeyboardInterrupt) ends a task without
anyone awaiting it seeing why: the restart worker it killed left the queue waiting for good, and
the run failed 1 s later as a `VirtualTimeDeadlock` (the fresh-clone CI on 72ae2a3: a test
that took 121 s under coverage, over the suite's 120 s timeout). Such an exception now ends the
run itself, raised from `run`.
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
            raise VirtualTimeDeadlock("every task waits and no timer is set: this run can never end; "
                                      + _where_tasks_wait())
        # The loop asked to sleep exactly until its earliest timer: be there at once, and always
        # move (a timeout below the clock's float resolution would otherwise leave it in place).
        self._clock.now = max(self._clock.now + timeout, math.nextafter(self._clock.now, math.inf))
        return []


def _where_tasks_wait() -> str:
    """Each waiting task and the lines it waits at (its chain of awaits, innermost last), for the
    deadlock's message."""
    waits = []
    for task in asyncio.all_tasks():
        lines: list[str] = []
        awaited: Any = task.get_coro()
        while getattr(awaited, "cr_frame", None) is not None:
            frame = awaited.cr_frame
            lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")
            awaited = getattr(awaited, "cr_await", None)
        waits.append(f"{task.get_name()} at {' > '.join(lines[-3:]) or 'its start'}")
    return "waiting: " + ("; ".join(sorted(waits)) or "no task")


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 0.0) -> None:
        self._clock = _Clock(start)
        super().__init__(selector=_JumpingSelector(self._clock))
        self.escaped: BaseException | None = None  # what ended a task that is not an Exception
        self.set_task_factory(self._watched_task)

    def time(self) -> float:
        return self._clock.now

    def _watched_task(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self.escaped is not None:
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, Exception):
            self.escaped = exc
            self.stop()


def run(main: Coroutine[Any, Any, T], *, start: float = 0.0) -> T:
    """Run `main` to completion on a fresh virtual-time loop, then close the loop cleanly."""
    loop = VirtualTimeLoop(start)
    ended = False
    try:
        asyncio.set_event_loop(loop)
        try:
            result = loop.run_until_complete(main)
        except RuntimeError:
            if loop.escaped is not None:  # the loop was stopped for it (_on_task_done)
                raise loop.escaped from None
            raise
        ended = True
        return result
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        except VirtualTimeDeadlock:
            # Tasks left waiting by what ended the run (a timeout that killed one of them) may not
            # end when cancelled: the run's own exception is the one to see, not this one.
            if ended:
                raise
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
