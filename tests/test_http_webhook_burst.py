"""A burst of webhooks (Alertmanager in an incident: one alert group per connection, hundreds at
once, each waiting for its decision) does not lock the probes and the scrape out of the daemon's
port (docs/configuration.md, "Limits")."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from starlette.types import Receive, Scope, Send

from watchdog.asgi_server import start_server, stop_server
from watchdog.server import create_app

from .test_api import AUTH, alert, payload
from .test_api_bounds import world

CAP = 64  # server.max_connections's default
GROUPS = 200  # alert groups, one connection each, as Alertmanager sends them
HOLD = 3.0  # how long each webhook waits for its cluster's listing (at most 5 s in the daemon)
ROUNDS = 6  # of /healthz, /readyz and /metrics, 0.2 s apart, each on a new connection
RESEND = 0.25  # a refused group is sent again after this (Alertmanager: from 0.5 s, with jitter)


@asynccontextmanager
async def _logs() -> AsyncIterator[list[MutableMapping[str, Any]]]:
    with structlog.testing.capture_logs() as logs:
        yield logs


async def _alert_group(http: httpx.AsyncClient, n: int, probed: asyncio.Event, seen: Counter[str],
                       busy: list[tuple[float, httpx.Response]], refusals: list[float]) -> None:
    """One alert group, sent again after a refusal as Alertmanager does (faster), until answered
    or the probes are done."""
    body = payload(alert(connector=f"sink-{n % 5}", fingerprint=f"fp{n}"))
    deadline = time.monotonic() + 30.0
    while not probed.is_set() and time.monotonic() < deadline:
        try:
            answer = await http.post("/v1/alertmanager", json=body, headers=AUTH)
        except httpx.TransportError:
            seen["connection_refused"] += 1  # closed as it opened (the cap)
            refusals.append(time.monotonic())
        else:
            seen[str(answer.status_code)] += 1
            if answer.status_code != 503:
                return
            busy.append((time.monotonic(), answer))
            refusals.append(time.monotonic())
        await asyncio.sleep(RESEND)


async def test_probes_and_the_scrape_are_answered_while_a_burst_of_slow_webhooks_goes_on() -> None:
    # Before: each webhook held its connection while it waited for its decision (only 4 bodies
    # are decided at once, and a listing may take 5 s), so 64 of them held the whole cap, none
    # idle, and every new connection was closed as it opened: the kubelet's /healthz and /readyz,
    # Prometheus's /metrics. 300 alert groups refused the probes for 6.8 s; the shipped
    # readiness probe gives up after 15 s, liveness after 30 s.
    w, _ = world()
    ctx = w.daemon.api_context()
    real_ensure_listed = ctx.ensure_listed

    async def slow_listing(clusters: Iterable[str]) -> dict[str, str]:
        await asyncio.sleep(HOLD)
        return await real_ensure_listed(clusters)

    ctx.ensure_listed = slow_listing
    ctx.needs_listing = lambda clusters: True
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, ctx)
    server, task = await start_server(app, "127.0.0.1", 0, max_connections=CAP, request_timeout=10.0)
    port = server.bound_port
    seen: Counter[str] = Counter()
    busy: list[tuple[float, httpx.Response]] = []
    refusals: list[float] = []
    probes: list[tuple[str, int | str, float]] = []
    try:
        # Alertmanager from its pod's address (127.0.0.2, still loopback), the kubelet and
        # Prometheus from another (127.0.0.1): a new connection each, as they make them.
        one_each = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        manager = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=one_each, timeout=20.0,
                                    transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2", limits=one_each))
        kubelet = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=one_each, timeout=5.0)
        async with manager, kubelet, _logs() as logs:
            probed = asyncio.Event()
            groups = [asyncio.create_task(_alert_group(manager, n, probed, seen, busy, refusals)) for n in range(GROUPS)]
            await asyncio.sleep(0.5)  # the burst has come: the webhooks let in wait for their listing
            for _ in range(ROUNDS):
                for path in ("/healthz", "/readyz", "/metrics"):
                    started = time.monotonic()
                    try:
                        status: int | str = (await kubelet.get(path)).status_code
                    except httpx.TransportError as exc:
                        status = type(exc).__name__
                    probes.append((path, status, time.monotonic() - started))
                await asyncio.sleep(0.2)
            probing_ended = time.monotonic()
            probed.set()
            await asyncio.gather(*groups)
    finally:
        await stop_server(server, task)
    # The burst went on the whole time: webhooks were still being refused when the probing ended.
    assert refusals and refusals[-1] > probing_ended - 0.5, f"the burst was over before the probing: {seen}"
    failed = [p for p in probes if p[1] not in ((200, 503) if p[0] == "/readyz" else (200,))]
    assert not failed, f"{len(failed)} of {len(probes)} probes and scrapes not answered during the burst: {failed[:6]}"
    # The client and the server share this process's event loop here, 200 senders with them: a
    # kubelet's probe has 1 s (timeoutSeconds) on a pod's own CPU.
    slowest = max(p[2] for p in probes)
    assert slowest < 2.0, f"a probe took {slowest:.2f}s during the burst"
    # The webhooks beyond the bound were refused at once, in words saying what to do, and with
    # their connection closed (the retry dials anew); Alertmanager sends them again.
    assert busy, f"no webhook was answered busy: {seen}"
    refused = busy[0][1]
    assert refused.headers["connection"] == "close" and int(refused.headers["retry-after"]) > 0, refused.headers
    error = refused.json()["error"]
    assert error.startswith("busy: 32 webhooks are being answered already"), error
    assert "nothing was done; send again in a few seconds" in error, error
    assert seen["200"] >= 32, f"the webhooks let in were not answered: {seen}"
    # Said once per 10 s, not once per refusal (hundreds): one line, naming the bound.
    said = [e for e in logs if e["event"] == "http_requests_refused_busy"]
    assert len(said) == 1 and (said[0]["route"], said[0]["limit"]) == ("alertmanager", 32), said
    refusal_lines = {e["log_level"] for e in logs if e["event"] == "http_request" and e["status"] == 503}
    assert refusal_lines == {"debug"}, f"each refused webhook's own line at {refusal_lines}"



async def _read_within(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """What the server sent before it closed the connection (b"" if nothing); None if it kept it open."""
    try:
        return await asyncio.wait_for(reader.read(), seconds)
    except TimeoutError:
        return None
    except ConnectionError:
        return b""


async def test_a_probe_not_yet_read_is_not_closed_for_room_by_an_address_whose_requests_hold_the_rest() -> None:
    # At the cap, Alertmanager's address holding every other connection with a request in
    # progress (within the bound above, only for a moment: those beyond it being refused), and
    # the kubelet's connection just opened, its request head not read yet (so idle): a new
    # connection from Alertmanager's address closed the probe's for room, as the idle one that
    # had waited longest, and the probe failed "Server disconnected" (1 run in 30 of the test
    # above). Here the requests are held for as long as the test needs.
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/v1/alertmanager":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    server, task = await start_server(app, "127.0.0.1", 0, max_connections=8, request_timeout=10.0)
    port = server.bound_port
    opened: list[asyncio.StreamWriter] = []
    try:
        for _ in range(7):  # every slot but one: requests in progress
            _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
            writer.write(b"POST /v1/alertmanager HTTP/1.1\r\nHost: daemon\r\nContent-Length: 0\r\n\r\n")
            opened.append(writer)
        await asyncio.sleep(0.3)
        probe_reader, probe = await asyncio.open_connection("127.0.0.1", port)  # the kubelet's: nothing read yet
        opened.append(probe)
        await asyncio.sleep(0.1)
        late_reader, late = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        opened.append(late)
        late_answer = await _read_within(late_reader, 2.0)
        probe.write(b"GET /healthz HTTP/1.1\r\nHost: daemon\r\nConnection: close\r\n\r\n")
        answer = await _read_within(probe_reader, 5.0)
        release.set()
    finally:
        for writer in opened:
            writer.close()
        await stop_server(server, task)
    assert answer is not None and answer.startswith(b"HTTP/1.1 200 "), f"the probe was not answered: {answer!r}"
    # Refused for room: answered 503 busy before its request was read, then closed (not kept).
    assert late_answer is not None, "Alertmanager's connection beyond the cap was kept"
    assert late_answer.startswith(b"HTTP/1.1 503 "), f"refused without saying so: {late_answer!r}"
