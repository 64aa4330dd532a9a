"""What the server layer answers before any route sees a request (a head h11 cannot read, a
request that never arrives whole, a connection beyond the cap), over a real socket: each says
its own cause, in JSON, and the client can read it."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from prometheus_client import CollectorRegistry

from watchdog.cli import main

from .support import until
from .test_api import AUTH
from .test_http_connections import counted_daemon_server, daemon_server

TOKEN = AUTH["Authorization"].removeprefix("Bearer ").encode()


def _exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, dict[str, str] | None]:
    """Send `data` whole (as curl or a proxy does), then read until the server closes: the
    answer's head and its JSON body (None when nothing came)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    return head, json.loads(body) if body else None


async def _answers(port: int, data: bytes) -> tuple[bytes, dict[str, str] | None]:
    return await asyncio.wait_for(asyncio.to_thread(_exchange, port, data), 8.0)


async def test_malformed_heads_are_answered_with_their_own_cause_not_a_tls_hint() -> None:
    # The probe's finding 3: each of these got `400 not a valid HTTP/1.1 request: this port speaks
    # plain HTTP (an https:// URL or a TLS handshake ...)`, and the 200 KB head's client got a reset.
    async with daemon_server(max_connections=8, request_timeout=5.0) as port:
        big_head, big = await _answers(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 200_000 + b"\r\n\r\n")
        no_host_head, no_host = await _answers(port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        two_cl_head, two_cl = await _answers(port, b"POST /v1/restarts HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                                   b"Content-Length: 50\r\n\r\n{}")
        # A header h11 quotes back in its own words: the token in it is not sent back.
        bad_value_head, bad_value = await _answers(
            port, b"GET /v1/connectors HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN + b"\x00\r\n\r\n")
        tls_head, tls = await _answers(port, bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\r\n\r\n")
    assert big_head.startswith(b"HTTP/1.1 431 ") and big is not None, big_head
    assert "request head" in big["error"] and "16384 bytes" in big["error"], big
    assert no_host_head.startswith(b"HTTP/1.1 400 ") and no_host is not None
    assert "Host" in no_host["error"], no_host
    assert two_cl_head.startswith(b"HTTP/1.1 400 ") and two_cl is not None
    assert "Content-Length" in two_cl["error"], two_cl
    assert bad_value_head.startswith(b"HTTP/1.1 400 ") and bad_value is not None
    assert "header line" in bad_value["error"] and TOKEN.decode() not in json.dumps(bad_value), bad_value
    for answer in (big, no_host, two_cl, bad_value):
        assert answer is not None and "TLS" not in answer["error"] and "https" not in answer["error"], answer
    assert tls_head.startswith(b"HTTP/1.1 400 ") and tls is not None and "TLS handshake" in tls["error"], tls
    for head in (big_head, no_host_head, two_cl_head, bad_value_head, tls_head):
        assert b"connection: close" in head.lower() and b"application/json" in head, head


async def _read_all(port: int, data: bytes) -> tuple[bytes, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if data:
            writer.write(data)
            await writer.drain()
        got = await asyncio.wait_for(reader.read(), 5.0)
    finally:
        writer.close()
    return got, loop.time() - started


def _counted(registry: CollectorRegistry, route: str, status_class: str | None = None) -> float:
    classes = [status_class] if status_class else ["2xx", "4xx", "5xx"]
    return sum(registry.get_sample_value("watchdog_http_requests_total", {"route": route, "status_class": c}) or 0.0
               for c in classes)


async def test_a_request_that_never_arrives_whole_is_answered_not_cut_without_a_word() -> None:
    # The probe's finding 5: a chunked body without its last chunk was closed after
    # request_timeout with zero bytes, which a proxy or Alertmanager reports as "server
    # disconnected". A connection that never began a request is still closed without a word: a
    # client reusing a kept-alive connection would read a 408 there as its request's answer.
    # A POST whose body did not arrive (a webhook, a restart) is answered 503 with Retry-After, not
    # 408: Alertmanager retries 5xx only, and took the 408 as final, the group waiting a whole
    # group_interval (probe of a real Alertmanager, F4); `watchdog restart --daemon` exits 75,
    # try later, on a 503. A head cut short (its route unknown) keeps the 408.
    auth = b"Authorization: " + AUTH["Authorization"].encode() + b"\r\n"
    async with counted_daemon_server(max_connections=8, request_timeout=0.5) as (port, registry):
        hook, hook_took = await _read_all(port, b"POST /v1/alertmanager HTTP/1.1\r\nHost: x\r\n" + auth
                                          + b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n")
        restart, restart_took = await _read_all(port, b"POST /v1/restarts HTTP/1.1\r\nHost: x\r\n" + auth
                                                + b"Content-Length: 40\r\n\r\n{\"cluster\":")
        head, head_took = await _read_all(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        silent, _ = await _read_all(port, b"")
        # What the daemon counts of them (watchdog_http_requests_total, by route and class) is
        # what the client was answered: the routes had counted their own 408 while the client got
        # the 503 (s76's fix of F4).
        await until(lambda: _counted(registry, "restarts") > 0, "the restart's route counted")
        assert _counted(registry, "alertmanager", "4xx") == 0 and _counted(registry, "restarts", "4xx") == 0
        assert _counted(registry, "alertmanager", "5xx") == 1 and _counted(registry, "restarts", "5xx") == 1
    for answer, took, code in ((hook, hook_took, 503), (restart, restart_took, 503), (head, head_took, 408)):
        status, _, rest = answer.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 %d " % code) and b"connection: close" in status.lower(), answer
        assert (b"retry-after: 1\r\n" in status.lower() + b"\r\n") is (code == 503), status
        error = json.loads(rest)["error"]
        assert "did not arrive whole within 0.5 s" in error and "nothing was done" in error, error
        assert 0.4 <= took < 3.0, took
    assert silent == b""


async def test_a_connection_refused_at_the_cap_is_answered_503_and_the_cli_says_try_later(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The probe's finding 9: a connection refused at server.max_connections was reset without a
    # word, and `watchdog restart --daemon` said "no answer came ... the restart may have been
    # queued" and exited 1, for a request that was never read.
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN.decode())
    async with daemon_server(max_connections=2, request_timeout=10.0) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]  # the cap, idle
        try:
            raw, _ = await _read_all(port, b"POST /v1/restarts HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")

            def cli() -> tuple[int, str]:
                code = main(["restart", "prod", "orders-sink", "--daemon", f"http://127.0.0.1:{port}"])
                return code, capsys.readouterr().err

            code, err = await asyncio.wait_for(asyncio.to_thread(cli), 20.0)
        finally:
            for _, writer in held:
                writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ") and b"retry-after: 5" in head.lower(), raw
    assert b"connection: close" in head.lower(), head
    error = json.loads(body)["error"]
    assert "server.max_connections (2)" in error and "nothing was done" in error, error
    assert code == 75, (code, err)
    assert "may have been queued" not in err and "nothing was done" in err, err


async def test_an_absolute_form_request_target_is_routed_by_its_path() -> None:
    # The probe's finding 7: `GET http://host/healthz` (a client speaking as to a forward proxy)
    # was answered 404 no such route; RFC 9112 3.2.2: a server MUST accept the absolute-form.
    async with daemon_server(max_connections=8, request_timeout=5.0) as port:
        healthz, _ = await _read_all(port, b"GET http://127.0.0.1:%d/healthz HTTP/1.1\r\nHost: elsewhere\r\n"
                                           b"Connection: close\r\n\r\n" % port)
        upper, _ = await _read_all(port, b"GET HTTP://daemon/readyz?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        restart, _ = await _read_all(port, b"POST https://daemon:9464/v1/restarts HTTP/1.1\r\nHost: x\r\n"
                                           b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        no_path, _ = await _read_all(port, b"GET http://daemon HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert healthz.startswith(b"HTTP/1.1 200 "), healthz
    assert upper.split(b" ")[1] in (b"200", b"503") and b"no such route" not in upper, upper
    assert restart.startswith(b"HTTP/1.1 401 "), restart  # the restart route, which wants its token
    assert no_path.startswith(b"HTTP/1.1 404 "), no_path  # the path "/" is no route
