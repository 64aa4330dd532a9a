"""Serving a simulator on a real loopback socket for a test (no daemon involved)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from watchdog.simulator import Simulator, serve


@contextlib.asynccontextmanager
async def served(simulator: Simulator) -> AsyncIterator[str]:
    """Serve on 127.0.0.1 and a free port; yields the base URL, stops on exit."""
    started, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(simulator, "127.0.0.1", 0, started=started, stop=stop))
    await asyncio.wait_for(started.wait(), 5)
    try:
        yield f"http://127.0.0.1:{simulator.bound_port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
