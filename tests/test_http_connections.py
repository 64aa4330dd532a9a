"""The daemon's HTTP server under many connections: refusals are logged at a bounded rate."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from watchdog import asgi_server
from watchdog.asgi_server import start_server, stop_server
from watchdog.server import create_app

from .test_api_bounds import world


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) is not None
    except (TimeoutError, ConnectionError):
        return False


async def test_refused_connections_are_logged_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asgi_server, "REFUSAL_LOG_INTERVAL", 0.5)
    w, _ = world()
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    server, task = await start_server(app, "127.0.0.1", 0, max_connections=2, request_timeout=10.0)
    port = server.bound_port
    opened: list[asyncio.StreamWriter] = []

    async def refused(count: int) -> None:
        for _ in range(count):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            opened.append(writer)
            assert await _closed_within(reader, 2.0), "a connection beyond max_connections was kept open"

    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(2):  # hold the two allowed connections
                opened.append((await asyncio.open_connection("127.0.0.1", port))[1])
            await refused(30)
            first = [e for e in logs if e["event"] == "http_connection_refused"]
            await asyncio.sleep(0.6)
            await refused(1)
        lines = [e for e in logs if e["event"] == "http_connection_refused"]
        assert len(first) == 1, f"{len(first)} log lines for 30 refused connections"
        assert len(lines) == 2 and lines[1]["refused_since_last_logged"] == 29
    finally:
        for writer in opened:
            writer.close()
        await stop_server(server, task)
