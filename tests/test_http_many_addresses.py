"""The daemon's HTTP server at its connection cap when the cap is held by many client addresses,
one slow connection each: the kubelet's probes, Alertmanager and the API still get in."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx

from watchdog.asgi_server import start_server, stop_server
from watchdog.server import create_app

from .test_api import AUTH, payload
from .test_api_bounds import world

CAP = 64
TRICKLERS = 70  # one connection each, from 127.0.0.2 up: more addresses than the cap has slots


async def _trickle(port: int, address: str, until: float, opened: Counter[str]) -> None:
    """A request head sent a header line at a time, never finished; reopened when cut (as the
    probe's slowloris.py did, faster)."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
        except OSError:
            await asyncio.sleep(0.05)
            continue
        opened["opened"] += 1
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: daemon\r\n")
            while time.monotonic() < until:
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1), 0.3) == b"":
                        break  # closed by the server: open another
                except TimeoutError:
                    continue
        except ConnectionError:
            pass
        finally:
            writer.close()


async def test_probes_webhook_and_api_get_in_while_trickling_connections_from_many_addresses_hold_the_cap() -> None:
    # 64 addresses trickling one request head each (a header line a second, reopened when cut)
    # closed every new connection from any other address at once: /healthz, /readyz, the webhook
    # and the API were locked out, and the kubelet restarted the pod in a loop. A rule only let an
    # address take room from one holding more connections than it does, and each held one.
    w, _ = world()
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    server, task = await start_server(app, "127.0.0.1", 0, max_connections=CAP, request_timeout=10.0)
    port = server.bound_port
    body = json.dumps(payload()).encode()
    opened: Counter[str] = Counter()
    until = time.monotonic() + 4.0
    tricklers: list[asyncio.Task[None]] = []
    in_progress: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    try:
        # A request in progress (an authenticated body half sent) from an address of its own,
        # opened first: it has waited longest, and is never the one closed for room.
        in_progress = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.1.2", 0))
        in_progress[1].write(f"POST /v1/alertmanager HTTP/1.1\r\nHost: daemon\r\nAuthorization: {AUTH['Authorization']}"
                             f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:5])
        await in_progress[1].drain()
        tricklers = [asyncio.create_task(_trickle(port, f"127.0.0.{2 + i}", until, opened)) for i in range(TRICKLERS)]
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and len(server.server_state.connections) < CAP:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        held_at_probes: list[int] = []
        answers: list[str] = []
        fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection per request, as the kubelet's
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=fresh, timeout=3.0) as http:
            while time.monotonic() < until - 0.5:
                held_at_probes.append(len(server.server_state.connections))
                for method, path in (("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/v1/alertmanager")):
                    try:
                        answer = await http.request(method, path, headers=AUTH, json=payload() if method == "POST" else None)
                        answers.append(f"{path} {answer.status_code}")
                    except httpx.HTTPError as exc:
                        answers.append(f"{path} {type(exc).__name__}")
                await asyncio.sleep(0.1)
        # The request in progress was not closed for room: it is answered once it arrives.
        in_progress[1].write(body[5:])
        await in_progress[1].drain()
        head = await asyncio.wait_for(in_progress[0].readuntil(b"\r\n\r\n"), 3.0)
    finally:
        for t in tricklers:
            t.cancel()
        await asyncio.gather(*tricklers, return_exceptions=True)
        if in_progress is not None:
            in_progress[1].close()
        await stop_server(server, task)
    assert min(held_at_probes) >= CAP - 2, f"the cap was not held while probing: {held_at_probes}"
    failed = [a for a in answers if not a.endswith((" 200", "/readyz 503"))]
    assert answers and not failed, f"{len(failed)} of {len(answers)} probes failed: {Counter(failed)}"
    assert head.startswith(b"HTTP/1.1 200 "), head[:40]
    assert opened["opened"] > TRICKLERS  # the tricklers were cut and came back
