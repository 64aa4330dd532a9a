"""The daemon's HTTP server under connections that never finish (issue 12, item 9): half-open and
trickling connections are cut off after server.request_timeout, connections beyond
server.max_connections are closed as they open, and refused tokens are counted but logged at most
once per interval."""

from __future__ import annotations

import asyncio
import time

import httpx
import structlog

from watchdog.asgi_server import start_server, stop_server
from watchdog.server import create_app

from .test_api import AUTH
from .test_api_bounds import world


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) is not None
    except (TimeoutError, ConnectionError):
        return False


async def test_half_open_and_trickling_connections_are_cut_off_and_capped() -> None:
    w, _ = world()
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    server, task = await start_server(app, "127.0.0.1", 0, max_connections=8, request_timeout=0.5)
    port = server.bound_port
    try:
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        started = time.monotonic()
        # Beyond the cap: closed as they open.
        refused = await asyncio.gather(*(_closed_within(r, 0.3) for r, _ in silent[8:]))
        assert all(refused), "connections beyond max_connections were kept open"
        # Within the cap but silent: closed once request_timeout has passed, not held for ever.
        cut = await asyncio.gather(*(_closed_within(r, 3.0) for r, _ in silent[:8]))
        assert all(cut) and time.monotonic() - started >= 0.4
        # A slowloris: a request line, then a header byte every 0.1 s.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

        async def trickle() -> None:
            for _ in range(40):
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(0.1)

        trickling = asyncio.create_task(trickle())
        assert await _closed_within(reader, 2.0), "a trickling request held its connection"
        trickling.cancel()
        await asyncio.gather(trickling, return_exceptions=True)
        for closing in [writer, *(w for _, w in silent)]:
            closing.close()
        # And the server still answers.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await stop_server(server, task)


async def test_refused_tokens_are_counted_each_but_logged_at_most_once_per_interval() -> None:
    w, http = world()
    with structlog.testing.capture_logs() as logs:
        for _ in range(50):
            assert (await http.get("/v1/connectors", headers={"Authorization": "Bearer wrong-token"})).status_code == 401
        assert (await http.get("/v1/connectors", headers=AUTH)).status_code == 200
    assert w.sample("watchdog_http_auth_failures_total") == 50
    refused = [e for e in logs if e["event"] == "http_request" and e.get("status") == 401]
    assert len(refused) == 1, f"{len(refused)} log lines for 50 refused tokens"
    assert "wrong-token" not in str(logs)


async def test_requests_to_a_disabled_api_are_throttled_in_the_log_too() -> None:
    from .test_api import world as api_world

    w, http = api_world(token=None)
    with structlog.testing.capture_logs() as logs:
        for _ in range(20):
            assert (await http.get("/v1/connectors")).status_code == 403
    assert w.sample("watchdog_http_auth_failures_total") == 20
    assert len([e for e in logs if e["event"] == "http_request"]) == 1
