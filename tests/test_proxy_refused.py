"""An egress proxy that refuses the daemon's credentials (407) proves that nothing was forwarded:
the restarts of the lane wait, queued, no attempt counted, until a call through the proxy is
answered again, and one error line names the proxy and the variable it came from, never its
password (connect/transfer.py, connect/refusal.py).

Found by a probe (2026-12-07): a self-managed cluster behind `HTTP_PROXY=http://user:pass@proxy`,
the proxy's password rotated on the proxy (the pod's variable changes only at the next rollout):
every restart still queued went out, was answered 407 without being forwarded, and ended
`rejected` for good with an attempt counted (15 of 21), read as the worker refusing those
connectors. Through `HTTPS_PROXY` (a CONNECT refused 407) the same rotation lost nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import structlog

from bench import fixtures, virtualtime
from watchdog.app import Daemon
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.model import ConnectorKey, Outcome
from watchdog.simulator import Simulator

PASSWORD = "proxy-Rotated-Pa55-LEAK"
BACKLOG = 20
REFUSED_AT, FIXED_AT = 4.5, 60.0
CLUSTER = fixtures.cluster_name(0)
HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 30, "confirm_polls": 1},
        "select": {"include": ["*"]}}
PACE = {"max_concurrent_requests": 1, "max_requests_per_second": 1}


@pytest.fixture
async def refusing_proxy() -> AsyncIterator[str]:
    """A forward proxy on 127.0.0.1 that answers every request 407, forwarding none: yields its
    port."""

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n"
                     b"Content-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    try:
        yield str(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("scheme", "variable", "refused"), [
    ("http", "HTTP_PROXY", "the request"),  # forwarded http://: the proxy's 407 is an answer httpx hands over
    ("https", "HTTPS_PROXY", "the tunnel"),  # https://: its CONNECT answered 407 (already not run; now named)
])
@pytest.mark.parametrize("endpoint", ["restart", "list"])
async def test_a_407_from_the_proxy_is_a_call_not_run_that_names_the_proxy(
        endpoint: str, scheme: str, variable: str, refused: str, refusing_proxy: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, f"http://watchdog:{quote(PASSWORD)}@127.0.0.1:{refusing_proxy}")
    async with httpx.AsyncClient(timeout=5) as http:  # the environment's proxy, as the daemon's clients
        workers = KafkaConnectBackend(http, [f"{scheme}://connect-1.example:8083", f"{scheme}://connect-2.example:8083"])
        result = await (workers.restart("orders", only_failed=False) if endpoint == "restart"
                        else workers.list_connectors())
    # Before (http): `rejected`, 407, final, read as the worker refusing the connector.
    assert result.outcome is Outcome.NETWORK_ERROR and result.not_run, result
    proxy = f"http://127.0.0.1:{refusing_proxy} ({variable})"
    assert result.status_code is None and result.proxy_refused == proxy, result
    assert f"the proxy {proxy} refused {refused}: 407 Proxy Authentication Required" in result.message, result.message
    assert PASSWORD not in result.message and "watchdog:" not in result.message, result.message


def _restarts(simulator: Simulator, status: int | None = None) -> list[Any]:
    return [c for c in simulator.calls if c.endpoint == "restart" and (status is None or c.status_code == status)]


def test_a_proxy_refusing_the_backlog_holds_its_restarts_uncharged_until_a_call_goes_through() -> None:
    """20 FAILED connectors' restarts drain one a second; from 4.5 s to 60 s every call is
    answered 407 (a proxy's, whose password was rotated). The restart that met it is tried again
    later, none ends `rejected`, the others wait unsent with no attempt counted, and the first
    poll answered again sends each once."""

    async def run() -> dict[str, Any]:
        connectors = [{"name": f"conn-{i:02d}", "script": {"initial": "FAILED"}} for i in range(BACKLOG)]
        faults = [{"when": {"from": REFUSED_AT, "until": FIXED_AT}, "action": {"status": 407}}]
        simulator = Simulator(fixtures.scenario([connectors], faults=faults), clock=asyncio.get_running_loop().time)
        daemon: Daemon = fixtures.virtual_daemon(
            fixtures.config(1, [HEAL], breaker=fixtures.NO_BREAKER, rate_limit=PACE), simulator)
        daemon.queue.start()
        poller = daemon.pollers[CLUSTER]
        seen: dict[str, Any] = {}
        with structlog.testing.capture_logs() as logs:
            await poller.poll()  # t=0: 20 FAILED, 20 restarts queued
            await asyncio.sleep(30 - asyncio.get_running_loop().time())
            await poller.poll()  # t=30: answered 407 as well
            pending = daemon.queue.pending_jobs()
            seen["pending"] = [job.key.connector for job in pending]
            seen["messages"] = [job.message for job in pending]
            seen["attempts_while_held"] = [daemon.state.load(job.key).attempts for job in pending]
            await asyncio.sleep(FIXED_AT + 5 - asyncio.get_running_loop().time())
            await poller.poll()  # t=65: answered again
            await asyncio.wait_for(daemon.queue.join(), 120)
        seen["outcomes"] = {job.key.connector: job.outcome for job in daemon.recorder.finished_jobs}
        seen["attempts"] = {c: daemon.state.load(ConnectorKey(CLUSTER, c)).attempts for c in seen["pending"]}
        seen["logs"] = logs
        seen["refused"] = _restarts(simulator, 407)
        await daemon.queue.close(0)
        return seen

    seen = virtualtime.run(run())
    assert Outcome.REJECTED not in seen["outcomes"].values(), "before: the restart answered 407 ended rejected, final"
    assert len(seen["refused"]) == 1, f"{len(seen['refused'])} restarts sent into a proxy already refusing"
    assert seen["pending"] and seen["attempts_while_held"] == [0] * len(seen["pending"]), seen["attempts_while_held"]
    held = [m for m in seen["messages"] if m.startswith("held: the egress proxy refused its calls (407) ")]
    assert len(held) >= len(seen["messages"]) - 1, seen["messages"]  # but the one whose call met it, retried later
    assert "nothing was forwarded; it stays queued, not sent and no attempt counted" in held[0], held[0]
    assert {c: seen["outcomes"][c] for c in seen["pending"]} == {c: Outcome.ACCEPTED for c in seen["pending"]}
    assert seen["attempts"] == {c: 1 for c in seen["pending"]}, "one attempt each: the refused call charged none"
    said = [e for e in seen["logs"] if e["event"] == "proxy_refused"]
    assert len(said) == 1 and said[0]["log_level"] == "error", [e["event"] for e in seen["logs"]]
    assert said[0]["proxy"].startswith("(not one the environment names"), said[0]
    assert "refused the request: 407 Proxy Authentication Required" in said[0]["message"], said[0]
    again = [e for e in seen["logs"] if e["event"] == "proxy_accepted_again"]
    assert len(again) == 1


def test_the_proxys_refusal_is_said_ended_at_the_first_answered_poll_with_no_restart_held() -> None:
    # As the key's refusal (test_key_refused.py): its end line comes with the first call through
    # the proxy that is answered, a poll's, not at a held restart's turn; once. (Checked when the
    # key's was found said only at a held restart's turn: the proxy's already behaved.)

    async def run() -> list[tuple[int, str, Any]]:
        connectors = [{"name": "conn-00"}, {"name": "conn-01"}]
        faults = [{"when": {"from": 5, "until": 25}, "action": {"status": 407}}]
        simulator = Simulator(fixtures.scenario([connectors], faults=faults), clock=asyncio.get_running_loop().time)
        daemon = fixtures.virtual_daemon(fixtures.config(1, [HEAL]), simulator)  # its breaker as deployed
        daemon.queue.start()
        said: list[tuple[int, str, Any]] = []
        with structlog.testing.capture_logs() as logs:
            for at in range(10, 60, 10):
                await asyncio.sleep(at - asyncio.get_running_loop().time())
                daemon.engine.refresh_breaker()  # the daemon's heartbeat, every second between polls
                seen = len(logs)
                await daemon.pollers[CLUSTER].poll()
                said += [(at, e["event"], e.get("answered_by") or e.get("endpoint"))
                         for e in logs[seen:] if e["event"].startswith("proxy_")]
        assert not _restarts(simulator)
        await daemon.queue.close(0)
        return said

    assert virtualtime.run(run()) == [(10, "proxy_refused", "list"), (30, "proxy_accepted_again", "list")]
