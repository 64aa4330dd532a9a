"""An egress proxy named by the environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY; NO_PROXY), as
curl, Confluent's CLI and its Terraform provider take it. Every client of ours was built with an
explicit transport, and httpx reads the proxy variables only for transports it builds itself: a
daemon behind an egress proxy could not reach the API at all (watchdog/clients.py).

A real forward proxy on loopback (a thread serving HTTP/1.1, forwarding each absolute-form request
to the simulator served on another loopback port) stands for the corporate proxy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import structlog
import yaml

from watchdog.app import Daemon
from watchdog.clients import environment_proxy
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.logs import configure_logging
from watchdog.model import Decision, Outcome
from watchdog.simulator import Scenario, Simulator

from .support import CLOUD, CLUSTER, SELF_MANAGED, daemon_config, served, sim_scenario

SCHEDULE = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["orders"]}}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "transfer-encoding", "te", "upgrade"}


@contextlib.contextmanager
def forward_proxy() -> Iterator[tuple[str, list[str]]]:
    """A forward proxy on 127.0.0.1 and a free port: yields its URL and the list of the request
    lines it forwarded (method and absolute URL)."""
    seen: list[str] = []

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            seen.append(f"{self.command} {self.path}")
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host", "content-length"}}
            with httpx.Client(trust_env=False, timeout=10) as upstream:
                answer = upstream.request(self.command, self.path, headers=headers, content=body)
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in HOP_BY_HOP | {"content-length", "content-encoding"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, format: str, *args: object) -> None:  # quiet in test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


async def run_once() -> tuple[Simulator, Daemon, int]:
    """`watchdog run --once` with one schedule rule against a simulator on loopback."""
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    async with served(simulator) as base_url:
        daemon = Daemon(daemon_config([SCHEDULE], base_url=base_url))
        return_code = await daemon.run_once()
    return simulator, daemon, return_code


async def test_every_api_call_goes_through_the_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with forward_proxy() as (proxy_url, seen):
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        simulator, daemon, code = await run_once()
    assert code == 0 and [job.outcome for job in daemon.recorder.finished_jobs] == [Outcome.ACCEPTED]
    restarts = [c for c in simulator.calls if c.endpoint == "restart"]
    assert len(restarts) == 1
    assert len(seen) == len(simulator.calls) >= 2, "every call the simulator answered came through the proxy"
    assert any(line.startswith("POST http://127.0.0.1:") and line.endswith("/connectors/orders/restart") for line in seen)


async def test_no_proxy_sends_the_calls_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    with forward_proxy() as (proxy_url, seen):
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        simulator, daemon, code = await run_once()
    assert code == 0 and len([c for c in simulator.calls if c.endpoint == "restart"]) == 1
    assert seen == []


async def test_without_a_proxy_nothing_goes_through_one() -> None:
    with forward_proxy() as (_, seen):
        simulator, _, code = await run_once()
    assert code == 0 and len([c for c in simulator.calls if c.endpoint == "restart"]) == 1
    assert seen == []


def test_the_started_line_names_the_proxy_for_the_api_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://watchdog:s3cret-proxy-password@proxy.corp.example:3128")
    assert environment_proxy("https://api.confluent.cloud") == "http://proxy.corp.example:3128"
    monkeypatch.setenv("NO_PROXY", "confluent.cloud")
    assert environment_proxy("https://api.confluent.cloud") is None
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp.example:3128")  # no scheme: http://, as httpx reads it
    assert environment_proxy("https://api.confluent.cloud") == "http://proxy.corp.example:3128"
    assert environment_proxy("http://connect.internal:8083") is None, "HTTPS_PROXY is not for http:// targets"


async def test_the_daemon_logs_the_proxy_it_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://watchdog:s3cret-proxy-password@proxy.corp.example:3128")
    daemon = Daemon(daemon_config([], base_url="https://api.confluent.cloud"))
    with structlog.testing.capture_logs() as logs:
        await daemon.start(serve_http=False)
    await daemon.stop()
    (started,) = [e for e in logs if e["event"] == "started"]
    assert started["proxy"] == "http://proxy.corp.example:3128"
    assert "s3cret" not in repr(logs)


@pytest.mark.parametrize("proxy", ["http://watchdog:Pa55/w0rd-LEAK@proxy.corp.example:3128",
                                   "http://watchdog:Pa55?w0rd-LEAK@proxy.corp.example:3128",
                                   "ftp://watchdog:Pa55w0rd-LEAK@proxy.corp.example:3128",
                                   "socks5://watchdog:Pa55w0rd-LEAK@proxy.corp.example:1080"],  # no socksio in the lock
                         ids=["slash", "question-mark", "scheme", "socks"])
def test_a_proxy_url_the_daemon_cannot_use_is_refused_without_quoting_it(
    proxy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    credentials_env: None,
) -> None:
    # Before: check-config said valid, and run (or restart) stopped with httpx's traceback,
    # "Invalid port: 'Pa55'": half the proxy's password on stderr.
    from watchdog.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"credentials": {"main": {}}, "state": {"path": ":memory:"},
                                      "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}}}))
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    for command in (["check-config"], ["restart", "prod", "orders"], ["run", "--once"]):
        code = main([*command, "--config", str(config)])
        shown = capsys.readouterr()
        assert code == 2, shown
        assert "HTTPS_PROXY: not a proxy URL the daemon can use" in shown.err, shown.err
        assert "Pa55" not in shown.out + shown.err and "LEAK" not in shown.out + shown.err


def test_the_demo_refuses_a_proxy_it_cannot_use_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: httpx's traceback, "Invalid port: 'Pa55'".
    from watchdog.cli import main

    monkeypatch.setenv("HTTPS_PROXY", "http://watchdog:Pa55/w0rd-LEAK@proxy.corp.example:3128")
    assert main(["demo", "--duration", "1", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "HTTPS_PROXY: not a proxy URL the daemon can use" in err and "Pa55" not in err, err


def test_reading_the_state_file_needs_no_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], credentials_env: None,
) -> None:
    # status and history from the state file make no call: a proxy they could not use is none of their business.
    from watchdog.cli import main
    from watchdog.state import SqliteStateStore

    SqliteStateStore(str(tmp_path / "state.db")).close()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"credentials": {"main": {}}, "state": {"path": str(tmp_path / "state.db")},
                                      "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}}}))
    monkeypatch.setenv("HTTPS_PROXY", "http://watchdog:Pa55/w0rd-LEAK@proxy.corp.example:3128")
    for command in (["status"], ["history"]):
        assert main([*command, "--config", str(config)]) == 0  # the config's state file
        assert "HTTPS_PROXY" not in capsys.readouterr().err


@pytest.mark.parametrize("bundle", ["missing", "directory", "no certificate"])
def test_a_ca_bundle_the_daemon_cannot_read_is_named_before_anything_starts(
    bundle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    credentials_env: None,
) -> None:
    # httpx loads SSL_CERT_FILE into every client: check-config said valid, and run stopped with a
    # FileNotFoundError (or SSLError) traceback. Built with it, the proxy check itself ended
    # check-config in that traceback: it is not blamed on the proxy either.
    from watchdog.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"credentials": {"main": {}}, "state": {"path": ":memory:"},
                                      "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}}}))
    path = tmp_path / "bundle.pem"
    if bundle == "directory":
        path.mkdir()
    elif bundle == "no certificate":
        path.write_text("not a certificate\n")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    for command in (["check-config"], ["restart", "prod", "orders"], ["run", "--once"]):
        code = main([*command, "--config", str(config)])
        shown = capsys.readouterr()
        assert code == 2, shown
        assert "invalid environment: SSL_CERT_FILE: not a file of CA certificates" in shown.err, shown.err
        assert "Traceback" not in shown.err and "HTTPS_PROXY" not in shown.err, shown.err


PROXY_PASSWORD = "proxy-Pa55w0rd-LEAK"


@contextlib.asynccontextmanager
async def echoing_proxy(mode: str) -> AsyncIterator[str]:
    """A proxy on 127.0.0.1 that refuses every request with what it was sent as its
    Proxy-Authorization line: in its status line (`status`), its 407 page (`page`), or alone as
    no HTTP (`no-http`). Yields its URL with our user and password in it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        [auth] = [line for line in head.split(b"\r\n") if line.lower().startswith(b"proxy-authorization:")]
        page = b"<html><title>407 refused " + auth + b"</title></html>"
        writer.write({
            "status": b"HTTP/1.1 407 Refused " + auth + b"\r\nContent-Length: 0\r\n\r\n",
            "page": b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Type: text/html\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(page), page),
            "no-http": auth + b"\r\n\r\n",
        }[mode])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://watchdog:{quote(PROXY_PASSWORD)}@127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


# An https:// call's CONNECT answer is read up to its status line only: its page is never quoted.
@pytest.mark.parametrize(("backend", "mode"), [(CLOUD, "status"), (CLOUD, "no-http"), (SELF_MANAGED, "status"),
                                               (SELF_MANAGED, "page"), (SELF_MANAGED, "no-http")])
async def test_a_proxy_that_echoes_its_credentials_gets_them_neither_logged_nor_kept(
        backend: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # httpcore sends the proxy URL's user and password as Proxy-Authorization, below the request's
    # own headers: what starred out our Authorization header did not know them, and a proxy
    # echoing that line ("ProxyError: 407 Refused Proxy-Authorization: Basic ...", its 407 page,
    # h11's "illegal status line: ...") had it in the restart's message, the history and the log.
    token = base64.b64encode(f"watchdog:{PROXY_PASSWORD}".encode()).decode()
    stream = io.StringIO()
    async with echoing_proxy(mode) as proxy:
        # https:// calls go through the proxy as a CONNECT tunnel, http:// ones as forwarded requests.
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        base_url = "https://api.example" if backend == CLOUD else "http://connect.example:8083"
        daemon = Daemon(daemon_config([], base_url=base_url, backend=backend))
        configure_logging("DEBUG", "json", stream)
        # What `watchdog restart` prints and the restart API answers: the listing's failure.
        decision, _, detail = await daemon.restart_now(CLUSTER, "orders", reason="test")
    logged = stream.getvalue()
    assert decision is Decision.MISSING and "Proxy-Authorization: Basic ***" in detail, detail
    for secret in (token, PROXY_PASSWORD, f"watchdog:{PROXY_PASSWORD}"):
        assert secret not in logged, logged
        assert secret not in detail, detail


async def test_the_log_stars_out_the_proxys_credentials_whatever_puts_them_there(monkeypatch: pytest.MonkeyPatch) -> None:
    # The log knows the config's secrets (a server writing our Authorization header into a
    # redirect's Location had it logged otherwise); the proxy's, sent by httpx all the same, were
    # not among them.
    from watchdog.logs import get_logger

    monkeypatch.setenv("HTTPS_PROXY", f"http://watchdog:{quote(PROXY_PASSWORD)}@proxy.corp.example:3128")
    token = base64.b64encode(f"watchdog:{PROXY_PASSWORD}".encode()).decode()
    daemon = Daemon(daemon_config([], base_url="https://api.example"))
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    get_logger("test").info("api_redirected", to=f"https://sso.example/login?auth=Basic {token}", said=PROXY_PASSWORD)
    await daemon.stop()
    logged = stream.getvalue()
    assert '"to": "https://sso.example/login?auth=Basic ***"' in logged and '"said": "***"' in logged, logged


async def test_a_restart_whose_tunnel_the_proxy_refused_never_left_and_is_tried_again() -> None:
    # HTTPS_PROXY set for the Cloud API, and NO_PROXY missing the self-managed workers' hosts: the
    # proxy refuses each CONNECT to them (403), so no request ever reached a worker. A restart of
    # every instance (asked for by name, by an alert or a stall) was taken for one that may have
    # reached a worker: `unconfirmed`, "no answer ... after the request may have reached it; not
    # sent again", not sent to the next worker and never tried again.
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}") as http:
            workers = KafkaConnectBackend(http, ["https://connect-1.example:8083", "https://connect-2.example:8083"])
            result = await workers.restart("orders", only_failed=False)
    finally:
        server.close()
        await server.wait_closed()

    assert result.outcome is Outcome.NETWORK_ERROR, result  # retried by the queue: nothing was sent
    assert "connect-1.example" in result.message and "connect-2.example" in result.message, result.message
    assert "ProxyError: 403 Forbidden" in result.message and "may have reached" not in result.message


@pytest.mark.parametrize(("token", "api"), [(None, "off: no server.auth_token"), ("a-token-of-16-chars-or-more", "on")])
async def test_the_started_line_says_whether_the_api_takes_requests(token: str | None, api: str) -> None:
    # Without a token the API answers 403 to every request, the runbook's `status --daemon` run in
    # the pod included, and nothing said so until someone needed it at 3 a.m. (a probe of the
    # shipped Kubernetes setup, whose Secret had no token).
    daemon = Daemon(daemon_config([], base_url="https://api.confluent.cloud", token=token))
    with structlog.testing.capture_logs() as logs:
        await daemon.start(serve_http=False)
    await daemon.stop()
    (started,) = [e for e in logs if e["event"] == "started"]
    assert str(started["api"]).startswith(api), started
