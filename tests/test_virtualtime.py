"""bench/virtualtime.py, the loop the benchmarks and the rate-limit property tests run the daemon
on: a run that can never end says where its tasks wait, and an exception that is not an
`Exception` (pytest-timeout's, raised inside whichever task was running) ends the run as itself.

Before, pytest-timeout's `Failed: Timeout >120.0s` killed a restart worker of a test that took
121 s under coverage, and the run failed 1 s of virtual time later as a deadlock, pointing at
the limiter instead of at the test's length (the fresh-clone CI on 72ae2a3).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench import virtualtime


class _Interrupt(BaseException):
    """Stands for pytest's `Failed` (an OutcomeException, not an Exception) or a KeyboardInterrupt."""


def test_an_hour_of_timers_takes_no_real_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(asyncio.sleep(seconds) for seconds in (60, 600, 3600)))
        return loop.time()

    started = time.monotonic()
    assert virtualtime.run(main(), start=10.0) == 3610.0
    assert time.monotonic() - started < 5


def test_a_run_that_can_never_end_names_the_task_and_the_line_it_waits_at() -> None:
    async def waits_forever() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        await asyncio.create_task(waits_forever(), name="restart-worker-main")

    with pytest.raises(virtualtime.VirtualTimeDeadlock) as raised:
        virtualtime.run(main())
    waiting = str(raised.value)
    assert f"restart-worker-main at {__file__}:" in waiting  # the worker's own await
    assert "asyncio/locks.py" in waiting.split("restart-worker-main at ")[1]  # and, within it, the Event's wait


def test_a_task_ended_by_an_exception_that_is_not_an_exception_ends_the_run_as_itself() -> None:
    """As pytest-timeout's SIGALRM raises `Failed` in a worker: the worker ends, and the main
    task, waiting for the work it would have done, waits for good."""
    async def worker(done: asyncio.Event) -> None:
        await asyncio.sleep(1)
        raise _Interrupt("Timeout >120.0s")

    async def main() -> None:
        done = asyncio.Event()
        asyncio.create_task(worker(done), name="restart-worker-main")
        await done.wait()

    with pytest.raises(_Interrupt, match="Timeout"):
        virtualtime.run(main())


def test_an_ordinary_exception_of_a_task_is_left_to_whoever_awaits_it() -> None:
    """The daemon's own error handling is what the benchmarks measure: a task's ValueError is its
    awaiter's to handle, and the run goes on."""
    async def fails() -> None:
        await asyncio.sleep(1)
        raise ValueError("handled by the caller")

    async def main() -> str:
        try:
            await asyncio.create_task(fails())
        except ValueError as exc:
            return str(exc)
        return "not raised"

    assert virtualtime.run(main()) == "handled by the caller"
