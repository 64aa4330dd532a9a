"""A real Alertmanager sending the webhook through a Service to two Ready replicas: the standby's
503 closes the connection, so Alertmanager's retry (Go's http.Transport dials anew after
`Connection: close`) is balanced afresh and reaches the leader at once. Without it the retries
went down the kept-alive connection to the standby for as long as that was kept (reproduced with
Alertmanager 0.25: 7 tries on the standby, the leader reached after 14 s).

The Service is a balancer that sends each new connection to the next backend, as kube-proxy's
IPVS round robin does (iptables mode picks at random: a retry then reaches the leader one time
in two, each on a new connection)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from watchdog.asgi_server import start_server, stop_server
from watchdog.server import create_app

from ..test_api import TOKEN, world
from .tools import tool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def test_alertmanagers_retry_after_a_standbys_503_reaches_the_leader(tmp_path: Path) -> None:
    binary = tool("prometheus-alertmanager", package="Debian's prometheus-alertmanager package")
    w, _ = world()
    ctx = w.daemon.api_context()
    ctx.not_leading = lambda: "this replica is not the leader"
    ctx.leader = lambda: "replica-b/1/k3y"
    standby_app = create_app(w.daemon.metrics.registry, w.daemon.probes, ctx)
    leader_got: list[float] = []

    async def webhook(request: Request) -> JSONResponse:
        await request.body()
        leader_got.append(time.monotonic())
        return JSONResponse({"status": "ok"})

    leader_app = Starlette(routes=[Route("/v1/alertmanager", webhook, methods=["POST"])])
    standby, standby_task = await start_server(standby_app, "127.0.0.1", 0, max_connections=16, request_timeout=10)
    leader, leader_task = await start_server(leader_app, "127.0.0.1", 0, max_connections=16, request_timeout=10)
    backends = [standby.bound_port, leader.bound_port]  # the first connection reaches the standby
    connections = 0

    async def balance(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        port = backends[connections % 2]
        connections += 1
        backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(_pipe(reader, backend_writer), _pipe(backend_reader, writer))

    service = await asyncio.start_server(balance, "127.0.0.1", 0)
    service_port = service.sockets[0].getsockname()[1]
    am_port = _free_port()
    (tmp_path / "am.yml").write_text(f"""
route: {{receiver: watchdog, group_wait: 0s, group_interval: 5m, repeat_interval: 1h}}
receivers:
  - name: watchdog
    webhook_configs:
      - url: http://127.0.0.1:{service_port}/v1/alertmanager
        http_config: {{authorization: {{credentials: {TOKEN}}}}}
""")
    log = (tmp_path / "am.log").open("w")
    alertmanager = subprocess.Popen([binary, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path}",
                                     f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                                    stdout=log, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{am_port}", timeout=5) as client:
            async with asyncio.timeout(20):
                while True:
                    try:
                        if (await client.get("/-/ready")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
            alert: list[dict[str, Any]] = [{"labels": {"alertname": "ConnectorStalled", "connector": "orders-sink"}}]
            sent = time.monotonic()
            assert (await client.post("/api/v2/alerts", json=alert)).status_code == 200
        deadline = time.monotonic() + 6
        while not leader_got and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert leader_got, "the webhook never reached the leader: its retries went to the standby"
        # Alertmanager's first retry comes about 0.5 s after the 503 (exponential backoff).
        assert leader_got[0] - sent < 3.0, f"the leader got the webhook {leader_got[0] - sent:.1f}s after it was sent"
        assert connections == 2, f"{connections} connections: the retry did not open a new one"
    finally:
        alertmanager.terminate()
        alertmanager.wait(timeout=10)
        log.close()
        service.close()
        await stop_server(standby, standby_task)
        await stop_server(leader, leader_task)
        print((tmp_path / "am.log").read_text()[-2000:])
