"""The daemon's HTTP server under many or slow connections: refusals are logged at a bounded
rate, and slow senders hold their own connection only."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from watchdog import asgi_server
from watchdog.asgi_server import start_server, stop_server
from watchdog.server import Probes, create_app

from .test_api import AUTH, payload
from .test_api_bounds import world


@asynccontextmanager
async def daemon_server(max_connections: int, request_timeout: float) -> AsyncIterator[int]:
    """The daemon's HTTP server on 127.0.0.1 with these limits; yields its port."""
    async with counted_daemon_server(max_connections, request_timeout) as (port, _):
        yield port


@asynccontextmanager
async def counted_daemon_server(max_connections: int, request_timeout: float) -> AsyncIterator[tuple[int, CollectorRegistry]]:
    """daemon_server, yielding its port and the registry its requests are counted in."""
    w, _ = world()
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    server, task = await start_server(app, "127.0.0.1", 0, max_connections=max_connections, request_timeout=request_timeout,
                                      count_answer=w.daemon.metrics.count_unrouted_answer)
    try:
        yield server.bound_port, w.daemon.metrics.registry
    finally:
        await stop_server(server, task)


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) is not None
    except (TimeoutError, ConnectionError):
        return False


async def test_refused_connections_are_logged_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asgi_server, "REFUSAL_LOG_INTERVAL", 0.5)
    opened: list[asyncio.StreamWriter] = []

    async def refused(port: int, count: int) -> None:
        for _ in range(count):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            opened.append(writer)
            assert await _closed_within(reader, 2.0), "a connection beyond max_connections was kept open"

    async with daemon_server(max_connections=2, request_timeout=10.0) as port:
        try:
            with structlog.testing.capture_logs() as logs:
                for _ in range(2):  # hold the two allowed connections
                    opened.append((await asyncio.open_connection("127.0.0.1", port))[1])
                await refused(port, 30)
                first = [e for e in logs if e["event"] == "http_connection_refused"]
                await asyncio.sleep(0.6)
                await refused(port, 1)
        finally:
            for writer in opened:
                writer.close()
    lines = [e for e in logs if e["event"] == "http_connection_refused"]
    assert len(first) == 1, f"{len(first)} log lines for 30 refused connections"
    assert len(lines) == 2 and lines[1]["refused_since_last_logged"] == 29


async def test_connections_refused_at_the_cap_are_counted_as_the_503s_they_got() -> None:
    """The 503 a connection gets at server.max_connections is an answer of the daemon's port:
    before, watchdog_http_requests_total left it out, so a port refusing clients showed none."""
    opened: list[asyncio.StreamWriter] = []
    async with counted_daemon_server(max_connections=2, request_timeout=10.0) as (port, registry):
        try:
            for _ in range(2):  # hold the two allowed connections, each with a request begun
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: daemon\r\n")
                opened.append(writer)
            for _ in range(3):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                opened.append(writer)
                answer = await asyncio.wait_for(reader.read(), 2.0)
                assert answer.startswith(b"HTTP/1.1 503 "), answer[:40]
            refused = registry.get_sample_value("watchdog_http_requests_total", {"route": "other", "status_class": "5xx"})
        finally:
            for writer in opened:
                writer.close()
    assert refused == 3


async def test_clients_sending_their_bodies_slowly_do_not_hold_up_anyone_else() -> None:
    slow: list[asyncio.StreamWriter] = []
    async with daemon_server(max_connections=16, request_timeout=30.0) as port:
        try:
            # Six authenticated requests (more than the four body slots) that promise 1,000 bytes
            # and send one.
            for path in ["/v1/alertmanager", "/v1/restarts"] * 3:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(f"POST {path} HTTP/1.1\r\nHost: daemon\r\nAuthorization: {AUTH['Authorization']}\r\n"
                             "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode())
                await writer.drain()
                slow.append(writer)
            await asyncio.sleep(0.3)  # every one of them is in its handler by now
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=20.0) as http:
                started = time.monotonic()
                webhook = await http.post("/v1/alertmanager", json=payload())
                restart = await http.post("/v1/restarts", json={"cluster": "nope", "connector": "orders-sink"})
                took = time.monotonic() - started
        finally:
            for writer in slow:
                writer.close()
    assert webhook.status_code == 200 and restart.status_code == 404
    # Before, both waited for the slow ones to be cut off at request_timeout (30 s here): a third
    # of that leaves a slow machine room and still tells the two apart.
    assert took < 10.0, f"a webhook and a restart took {took:.1f}s behind six slow bodies"


async def test_idle_connections_from_one_address_do_not_lock_out_the_probes_or_the_webhook() -> None:
    # The flood comes from 127.0.0.2 (still loopback: the server listens on 127.0.0.1 only), the
    # probes and Alertmanager from 127.0.0.1, as the kubelet's and a pod's addresses differ.
    body = json.dumps(payload()).encode()
    flood: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    async with daemon_server(max_connections=8, request_timeout=10.0) as port:

        async def from_flood(first: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
            if first:
                writer.write(first)
                await writer.drain()
            return reader, writer

        try:
            # One request in progress (an authenticated body half sent), two request heads half
            # sent, five silent sockets: the cap is full, for as long as request_timeout (10 s).
            in_progress = await from_flood(f"POST /v1/alertmanager HTTP/1.1\r\nHost: daemon\r\nAuthorization: "
                                           f"{AUTH['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                                           + body[:5])
            flood += [in_progress, *[await from_flood(b"GET /healthz HTTP/1.1\r\nHo") for _ in range(2)]]
            flood += [await from_flood() for _ in range(5)]
            await asyncio.sleep(0.2)
            # More from the same address: it holds the most already, so it only displaces itself.
            extra = await from_flood()
            assert await _closed_within(extra[0], 1.0), "the flooding address got a ninth connection"
            extra[1].close()
            # A new connection per request, as the kubelet's probes make. Locked out, each would
            # fail at once ("Server disconnected"), not slowly.
            fresh = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=fresh, timeout=10.0) as http:
                assert (await http.get("/healthz")).status_code == 200
                assert (await http.get("/readyz")).json()["status"] in ("ready", "not_ready")
                assert (await http.post("/v1/alertmanager", json=payload(), headers=AUTH)).status_code == 200
            # The request in progress was not the one closed for room: it is answered once it arrives.
            in_progress[1].write(body[5:])
            await in_progress[1].drain()
            answer = await asyncio.wait_for(in_progress[0].readuntil(b"\r\n\r\n"), 3.0)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:40]
        finally:
            for _, writer in flood:
                writer.close()


class _LargeAnswer:
    """A /metrics answer far larger than a loopback socket's buffers (up to 4 MB each way), as a
    fleet of 14,000 connectors makes one (5 MB)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("watchdog_test_large", "an answer larger than the sockets' buffers", labels=["blob"])
        family.add_metric(["x" * 10_000_000], 1)
        yield family


async def test_scrapes_whose_answer_is_never_read_do_not_lock_out_the_probes_or_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Anyone who can reach the port (/metrics needs no token) asks for /metrics and never reads
    # the answer. Each answer sat in the daemon's memory for as long as its socket stayed open,
    # and once the connection's keep-alive ran out (closed, not yet flushed) it left the cap's
    # count but not uvicorn's: every request after that, /healthz, /readyz, webhooks and
    # restarts, was answered 503 "Exceeded concurrency limit" until the reader went away.
    monkeypatch.setattr(asgi_server, "KEEP_ALIVE_SECONDS", 0.2)
    w, _ = world()
    w.daemon.metrics.registry.register(_LargeAnswer())  # type: ignore[arg-type]
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    server, task = await start_server(app, "127.0.0.1", 0, max_connections=4, request_timeout=3.0)
    port = server.bound_port
    readers: list[socket.socket] = []
    try:
        for _ in range(4):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # takes what it is sent slowly, or never
            sock.bind(("127.0.0.2", 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            await asyncio.get_running_loop().sock_sendall(sock, b"GET /metrics HTTP/1.1\r\nHost: daemon\r\n\r\n")
            readers.append(sock)
        # Every answer written, and every keep-alive run out (the connections closed, unflushed).
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not (
            len(server.server_state.connections) == 4 and all(c.transport.is_closing() for c in server.server_state.connections)
        ):
            await asyncio.sleep(0.05)
        fresh = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=fresh, timeout=5.0) as http:
            healthz = await http.get("/healthz")
            readyz = await http.get("/readyz")
            restart = await http.post("/v1/restarts", json={"cluster": "nope", "connector": "sink-1"}, headers=AUTH)
        assert healthz.status_code == 200, healthz.text
        assert readyz.status_code in (200, 503) and "status" in readyz.json(), readyz.text
        assert restart.status_code == 404, restart.text
        # And the answers nobody reads are let go once request_timeout has passed: the memory they
        # held (10 MB each here) and their sockets.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and server.server_state.connections:
            await asyncio.sleep(0.1)
        held = sum(c.transport.get_write_buffer_size() for c in server.server_state.connections)
        assert not server.server_state.connections, f"{len(server.server_state.connections)} connections kept, {held} bytes"
    finally:
        for sock in readers:
            sock.close()
        await stop_server(server, task)


async def test_scrapes_asked_for_at_once_are_collected_and_written_out_once_not_once_each() -> None:
    # /metrics needs no token. Each scrape collected every series on the event loop and wrote
    # them out in a thread of its own: against a daemon of 14,000 connectors (5 MB), 8 scrapes at
    # once held /healthz 3.2 s and 60 more than 5 s (the liveness probe's timeout is 3 s), each
    # thread writing out the same samples. Scrapes that come while one is being written out now
    # share the next one, whose samples are collected after they came.
    collected = 0

    class Counted:
        def collect(self) -> Iterator[GaugeMetricFamily]:
            nonlocal collected
            collected += 1
            family = GaugeMetricFamily("watchdog_test_scraped", "series enough to take a while", labels=["n"])
            for i in range(20_000):
                family.add_metric([str(i)], i)
            yield family

    registry = CollectorRegistry()
    registry.register(Counted())  # type: ignore[arg-type]
    app = create_app(registry, Probes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        plain = [http.get("/metrics", headers={"Accept-Encoding": "identity"}) for _ in range(30)]
        gzipped = [http.get("/metrics", headers={"Accept-Encoding": "gzip"}) for _ in range(30)]
        answers = await asyncio.gather(*plain, *gzipped)
        assert all(a.status_code == 200 for a in answers)
        assert {a.headers.get("content-encoding") for a in answers[:30]} == {None}
        assert {a.headers.get("content-encoding") for a in answers[30:]} == {"gzip"}
        assert all(b'watchdog_test_scraped{n="19999"} 19999.0' in a.content for a in answers)  # httpx decodes gzip
        # Two writings of each kind at most (one under way, one for those that came meanwhile),
        # where there were 60.
        assert collected <= 4, f"{collected} collections for 60 scrapes at once"
        # A scrape asked for after the others' answers is collected anew.
        before = collected
        assert (await http.get("/metrics")).status_code == 200 and collected == before + 1


async def test_requests_that_are_not_http_are_answered_in_json_counted_and_logged_at_a_bounded_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # `curl https://daemon:9464/...`, a Prometheus job with `scheme: https`, a TLS scanner: each
    # such connection made uvicorn write its own warning, "Invalid HTTP request received.", with
    # no client and no cause, answered in plain text and counted nowhere; a request asking to
    # upgrade to WebSocket (served as plain HTTP anyway) wrote two more, advising to install a
    # WebSocket library. Anyone may send them, as often as they like.
    w, _ = world()
    await w.daemon.start()
    port = w.daemon.bound_port
    hello = bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\r\n\r\n"  # a TLS ClientHello's start
    try:
        with structlog.testing.capture_logs() as logs, caplog.at_level("WARNING", logger="uvicorn.error"):
            answers = []
            for _ in range(30):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(hello)
                await writer.drain()
                answers.append(await asyncio.wait_for(reader.read(), 5.0))
                writer.close()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                upgrades = [await http.get("/healthz", headers={"Connection": "Upgrade", "Upgrade": "websocket"})
                            for _ in range(3)]
    finally:
        await w.daemon.stop()
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ") and b"application/json" in head, head
        assert "plain HTTP" in json.loads(body)["error"]
    assert all(u.status_code == 200 for u in upgrades)
    assert not [r.getMessage() for r in caplog.records if r.name == "uvicorn.error"]
    lines = [e for e in logs if e["event"] == "http_request_invalid"]
    assert len(lines) == 1 and lines[0]["client"] == "127.0.0.1", lines
    assert w.sample("watchdog_http_requests_total", route="other", status_class="4xx") == 30
