"""Real rate-limiting gateways in front of the simulator: nginx's `limit_req` and HAProxy's
stick-table request rate, the two limiters most often put in front of an HTTP API, from Debian's
`nginx` and `haproxy` packages (installed by scripts/install-test-tools.sh).

The simulator behind them has no limit of its own: the gateway is the only limiter, and neither
its algorithm nor its answers are ours. What they do, from their own documentation and source:

- **nginx `limit_req`** (ngx_http_limit_req_module): a leaky bucket per key (here the
  Authorization header, i.e. per API key, as Confluent limits), `rate` requests per second with
  `burst` more queued or, with `nodelay`, admitted at once. A refused request does not count. Its
  429 (`limit_req_status 429`; the default is 503) carries no X-RateLimit-* header and no
  Retry-After, unless the configuration adds one: `retry_after` below adds a constant
  `Retry-After: 1`, as many deployments do with `add_header ... always`.
- **HAProxy** (`http-request track-sc0` + `sc_http_req_rate`): the number of requests of a key
  over a sliding period, HAProxy's freq_ctr (the current period's count plus the previous one's
  weighted by what is left of it: a sliding counter), and `http-request deny deny_status 429` above
  `limit`, the configuration of HAProxy's own rate-limiting guide. Every tracked request counts,
  **refused ones too**: a client that keeps asking while refused keeps itself refused. No rate
  header, no Retry-After unless added (`retry_after`).

Both listen on 127.0.0.1 only, on a free port, and log every answer (status, path, time) to a
file of their own: the 429s are counted from the gateway's log, not from what the client says.
Used by tests/e2e/test_real_gateways.py and `python -m bench gateways` (bench/gateways.py).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from watchdog.app import Daemon
from watchdog.simulator import Simulator, serve

from . import fixtures
from .clients import NaiveClient
from .processes import free_port, stop_process
from .ratelab import backlog_config, backlog_connectors, restart_paths

INSTALL_HINT = ("install Debian's nginx and haproxy packages (scripts/install-test-tools.sh does, as root; or "
                "`apt-get install --no-install-recommends nginx haproxy`)")
START_SECONDS = 10.0


@dataclass(frozen=True)
class Answer:
    at: float  # seconds since the epoch, as the gateway logged it
    status: int
    path: str


def _binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if found is None:
        pytest.fail(f"{name} was not found: {INSTALL_HINT}", pytrace=False)
    return found


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the gateway exited with {process.returncode}: {log.read_text()[-2000:]}", pytrace=False)
        try:
            httpx.get(f"http://127.0.0.1:{port}/__gateway_ready", timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    pytest.fail(f"the gateway did not listen on 127.0.0.1:{port} within {START_SECONDS:g} s", pytrace=False)


class Gateway(ABC):
    """A gateway process in its own temporary directory; each kind writes its configuration
    (`command`) and says where it logs its answers, one per line: time, status, path."""

    name = "gateway"
    rate: float  # requests per second the key sustains
    burst: int  # requests the key admits at once from rest
    log_time_unit = 1.0  # seconds per unit of the logged time

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"watchdog-{self.name}-"))
        self.output = self.root / "output.log"
        self.log = self.root / "access.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0

    @property
    def port(self) -> int:
        return self._port

    @abstractmethod
    def command(self, upstream_port: int) -> list[str]:
        """Write the configuration for a gateway on `self.port` in front of `upstream_port`;
        return the command line that runs it in the foreground."""

    def start(self, upstream_port: int) -> None:
        self._port = free_port()
        with self.output.open("wb") as output:
            self._process = subprocess.Popen(self.command(upstream_port), stdout=output, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
        _wait_listening(self._port, self._process, self.output)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, timeout=5)
        self._process = None

    def remove(self) -> None:
        """Its configuration and logs, once measured."""
        shutil.rmtree(self.root, ignore_errors=True)

    def answers(self) -> list[Answer]:
        found = []
        for line in self.log.read_text().splitlines() if self.log.exists() else []:
            parts = line.split()
            if len(parts) >= 3 and parts[1].isdigit():
                try:
                    found.append(Answer(float(parts[0]) * self.log_time_unit, int(parts[1]), parts[2]))
                except ValueError:
                    continue  # a line of its own (a warning at start), not an answer
        return found


class NginxLimitReq(Gateway):
    name = "nginx"

    def __init__(self, rate: int, burst: int, *, retry_after: bool = False) -> None:
        super().__init__()
        self.rate = float(rate)
        self.queue = burst
        self.burst = burst + 1  # what goes at once from rest: the request the bucket takes, and `burst` more
        self.retry_after = retry_after

    def command(self, upstream_port: int) -> list[str]:
        # A constant Retry-After on the 429s only: a named location serves them.
        error_page = "error_page 429 = @limited;" if self.retry_after else ""
        (self.root / "nginx.conf").write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {self.root}/nginx.pid;
error_log {self.root}/error.log warn;
events {{ worker_connections 256; }}
http {{
  client_body_temp_path {self.root}/body;
  proxy_temp_path {self.root}/proxy;
  fastcgi_temp_path {self.root}/fastcgi;
  uwsgi_temp_path {self.root}/uwsgi;
  scgi_temp_path {self.root}/scgi;
  log_format answers '$msec $status $uri';
  access_log {self.log} answers;
  limit_req_zone $http_authorization zone=key:1m rate={int(self.rate)}r/s;
  server {{
    listen 127.0.0.1:{self._port};
    location = /__gateway_ready {{ return 204; }}
    location @limited {{ add_header Retry-After 1 always; return 429; }}
    location / {{
      limit_req zone=key{f" burst={self.queue} nodelay" if self.queue else ""};
      limit_req_status 429;
      {error_page}
      proxy_pass http://127.0.0.1:{upstream_port};
    }}
  }}
}}
""")
        return [_binary("nginx"), "-p", str(self.root), "-c", str(self.root / "nginx.conf")]


class HaproxyRate(Gateway):
    name = "haproxy"
    log_time_unit = 0.001  # %[date(0,ms)]: milliseconds since the epoch

    def __init__(self, limit: int, period: int, *, retry_after: bool = False, limit_header: bool = False) -> None:
        super().__init__()
        self.log = self.output  # HAProxy logs to its standard output (no syslog in a test)
        self.limit = limit
        self.period = period
        self.rate = limit / period
        self.burst = limit
        self.retry_after = retry_after
        self.limit_header = limit_header

    def command(self, upstream_port: int) -> list[str]:
        added = "  http-after-response set-header Retry-After 1 if { status 429 }\n" if self.retry_after else ""
        if self.limit_header:
            added += (f"  http-after-response set-header X-RateLimit-Limit {self.limit} if {{ status 429 }}\n"
                      f"  http-after-response set-header X-RateLimit-Reset {self.period} if {{ status 429 }}\n")
        (self.root / "haproxy.cfg").write_text(f"""
global
  log stdout format raw local0
defaults
  mode http
  log global
  log-format "%[date(0,ms)] %ST %HP"
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend api
  bind 127.0.0.1:{self._port}
  http-request return status 204 if {{ path /__gateway_ready }}
  stick-table type string len 256 size 10k expire {self.period * 2}s store http_req_rate({self.period}s)
  http-request track-sc0 req.hdr(authorization)
  http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt {self.limit} }}
{added}  default_backend simulator
backend simulator
  server simulator 127.0.0.1:{upstream_port}
""")
        return [_binary("haproxy"), "-db", "-f", str(self.root / "haproxy.cfg")]



@dataclass(frozen=True)
class Run:
    gateway: str
    client: str
    backlog: int
    accepted: int  # restarts the simulator behind the gateway received
    refused: int  # 429s the gateway answered to restarts
    seconds: float  # first restart sent to last one admitted
    ideal: float  # the key's burst at once, then its rate

    @property
    def lost(self) -> int:
        return self.backlog - self.accepted

    @property
    def ratio(self) -> float:
        return self.seconds / self.ideal if self.ideal > 0 else float("nan")


def ideal_seconds(gateway: Gateway, requests: int) -> float:
    return max(0.0, requests - gateway.burst) / gateway.rate


@asynccontextmanager
async def behind(gateway: Gateway, backlog: int) -> AsyncIterator[tuple[Simulator, str]]:
    """The simulator (no limit of its own, `backlog` connectors in one cluster) on a free loopback
    port, the gateway in front of it, and the gateway's base URL."""
    simulator = Simulator(fixtures.scenario([backlog_connectors(backlog)]))
    started, stop = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve(simulator, "127.0.0.1", 0, started=started, stop=stop))
    await started.wait()
    assert simulator.bound_port is not None  # set by serve() before `started`
    try:
        await asyncio.to_thread(gateway.start, simulator.bound_port)
        yield simulator, f"http://127.0.0.1:{gateway.port}"
    finally:
        await asyncio.to_thread(gateway.stop)
        stop.set()
        await server


def _measure(gateway: Gateway, client: str, backlog: int) -> Run:
    restarts = [a for a in gateway.answers() if a.path.endswith("/restart")]
    admitted = [a.at for a in restarts if a.status != 429]
    start = min(a.at for a in restarts) if restarts else 0.0
    return Run(
        gateway.name, client, backlog, accepted=sum(1 for a in restarts if 200 <= a.status < 300),
        refused=sum(1 for a in restarts if a.status == 429),
        seconds=(max(admitted) - start) if admitted else float("inf"), ideal=ideal_seconds(gateway, len(admitted)),
    )


async def run_daemon(gateway: Gateway, backlog: int) -> Run:
    """`watchdog run --once` with a schedule rule selecting every connector, through the gateway."""
    try:
        async with behind(gateway, backlog) as (_, base_url):
            # Issue 10's setting: `reserve: 0`, and the local ceiling (10 per second by default)
            # raised, so that the gateway, not the ceiling, is the bound.
            daemon = Daemon(backlog_config(base_url, backlog, {"reserve": 0, "max_requests_per_second": 1000.0}))
            await daemon.run_once()
        return _measure(gateway, "daemon", backlog)
    finally:
        gateway.remove()


async def run_naive(gateway: Gateway, backlog: int) -> Run:
    """The Terraform-style client of bench/clients.py, through the gateway."""
    try:
        async with behind(gateway, backlog) as (_, base_url):
            async with httpx.AsyncClient(base_url=base_url, auth=fixtures.basic_auth()) as client:
                await NaiveClient(client).restart_all(restart_paths(backlog))
        return _measure(gateway, "naive", backlog)
    finally:
        gateway.remove()
