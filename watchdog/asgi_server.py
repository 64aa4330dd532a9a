"""Run an ASGI app with uvicorn inside the daemon's own event loop.

uvicorn's `Server.serve()` installs SIGINT/SIGTERM handlers of its own and restores them on exit;
the daemon owns signal handling (it must drain its queue first), so they are turned off here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0)."""
        for server in self.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("server is not listening")


async def start_server(app: Any, host: str, port: int) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Start serving in the background and return once the socket is bound."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name=f"http-{host}:{port}")
    while not server.started:
        if task.done():
            task.result()  # re-raises the bind error, e.g. the port is taken
            raise RuntimeError(f"HTTP server on {host}:{port} stopped before it started")
        await asyncio.sleep(0.01)
    return server, task


async def stop_server(server: EmbeddedServer, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task
