"""Stopping tasks for certain.

Python 3.11's `asyncio.wait_for` swallows a cancellation that arrives as the thing it awaits
completes (fixed in 3.12; the image runs 3.11): the task goes on as if never cancelled. Every
wait of the daemon's workers, polls, discovery and lease goes through one (the rate limiter's
wait for an answer, the lease's statements), so a task cancelled once may not end: a worker went
on and then waited on its empty lane for good, and the replica that lost the lead never stood by.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

# How long to wait for cancelled tasks before cancelling again those still running.
RECANCEL_SECONDS = 0.1


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel the tasks and wait until each has ended, cancelling again any that went on. Their
    results and exceptions are read, never raised."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
    await asyncio.gather(*tasks, return_exceptions=True)
