"""Alertmanager's credentials never reach a blocking reason or a log line, even when a request
cannot be built from them: httpx's LocalProtocolError for an illegal header value quotes the
header, i.e. `Bearer <token>`. The config refuses such tokens; the blocker must not depend on it."""

from __future__ import annotations

import asyncio
import base64
import urllib.parse
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import structlog
from pydantic import SecretStr

from watchdog.blocking import AlertBlocker
from watchdog.config import BlockingSettings
from watchdog.metrics import Metrics

TOKEN = "TOPSECRET-am-token\ninjected: 1"


@pytest.fixture
async def listening() -> AsyncIterator[str]:
    """A TCP server on loopback that takes connections: the request is built and refused by the
    HTTP layer itself, as against a real Alertmanager."""
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def with_token(url: str, token: str, **settings: object) -> BlockingSettings:
    valid = BlockingSettings(alertmanager_url=url, auth="bearer", bearer_token="placeholder-token-0123", **settings)
    # As if it had got past the config's checks: model_copy does not validate.
    return valid.model_copy(update={"bearer_token": SecretStr(token)})


def leaks(text: str) -> bool:
    return "TOPSECRET" in text or "injected" in text


async def test_a_token_with_a_newline_is_in_no_reason_and_no_log_line(listening: str) -> None:
    blocker = AlertBlocker(with_token(listening, TOKEN, cache_ttl=0.01), Metrics())
    with structlog.testing.capture_logs() as logs:
        verdict = await blocker.refresh()
        assert verdict.blocked and not leaks(verdict.reason), verdict.reason
        blocker.start()  # and from the refresh loop
        await blocker.first_check()
        await blocker.close()
    assert verdict.reason.startswith("request to Alertmanager not sent: LocalProtocolError: a header or the URL the "
                                     "watchdog built is not valid HTTP: check blocking.alertmanager_url and the "
                                     "credentials of blocking.auth for control characters"), verdict.reason
    assert not leaks(blocker.verdict().reason)
    assert logs and not [event for event in logs if leaks(repr(event))], logs


async def test_an_error_that_quotes_the_token_anyway_is_scrubbed(listening: str) -> None:
    # The last line of defence: any other error text holding the secret, as it is or as a repr
    # quotes it, is scrubbed before it becomes a reason or a log line (and before it is cut short).
    quoted = [f"boom: {TOKEN}", f"boom: {TOKEN!r}", f"boom: {TOKEN.encode()!r}", "x" * 290 + TOKEN]

    def failing(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(quoted.pop(0) if quoted else "plain")

    blocker = AlertBlocker(with_token("http://am:9093", TOKEN, cache_ttl=0.001), Metrics(),
                           transport=httpx.MockTransport(failing))
    with structlog.testing.capture_logs() as logs:
        blocker.start()
        deadline = asyncio.get_running_loop().time() + 5
        while quoted:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.001)
        await blocker.close()
    crashes = [event for event in logs if event["event"] == "blocking_refresh_crashed"]
    assert len(crashes) >= 4 and any("***" in event["problem"] for event in crashes)
    assert not [event for event in logs if leaks(repr(event)) or "TOPSECR" in repr(event)], logs


PASSWORD = "TOPSECRET-am-password-7Kq2"


def refusing(reason: Callable[[httpx.Request], str]) -> httpx.MockTransport:
    """An Alertmanager (or a proxy before it) that answers 400 with a reason of its own."""
    return httpx.MockTransport(lambda request: httpx.Response(400, json=reason(request)))


async def check_once(transport: httpx.MockTransport, password: str = PASSWORD) -> tuple[str, list[dict[str, object]]]:
    settings = BlockingSettings(alertmanager_url="http://am:9093", auth="basic", username="watchdog",
                                password=SecretStr(password))
    blocker = AlertBlocker(settings, Metrics(), transport=transport)
    with structlog.testing.capture_logs() as logs:
        verdict = await blocker.refresh()
    await blocker.close()
    return verdict.reason, logs


async def test_a_refusal_that_repeats_the_basic_auth_header_is_scrubbed() -> None:
    # Before: "... bad request, sent Basic d2F0Y2hkb2c6VE9QU0VDUkVULWFt...": the password, base64 encoded.
    token = base64.b64encode(f"watchdog:{PASSWORD}".encode()).decode()
    reason, logs = await check_once(refusing(lambda request: f"bad request, sent {request.headers['authorization']}"))
    assert "bad request, sent Basic ***" in reason, reason
    assert token[:12] not in reason + repr(logs)


async def test_a_refusal_whose_reason_is_cut_inside_the_password_keeps_none_of_it() -> None:
    # The reason is cut to 200 characters: cut before scrubbing, a password across the cut kept
    # its first part ("xxx... TOPSECRET-am...").
    reason, logs = await check_once(refusing(lambda request: "x" * 190 + " " + PASSWORD + " y"))
    assert "TOPSECRET" not in reason + repr(logs), reason
    assert reason.startswith("Alertmanager refused the query"), reason


async def test_a_short_password_is_starred_where_it_stands_alone_and_leaves_the_filters_quoted_whole() -> None:
    # Every occurrence was starred, whatever its length: with a password `prod`, Alertmanager's
    # reason quoting the filter it refused read `env="***uction"`, and the operator was left
    # guessing which filter it was.
    reason, _ = await check_once(refusing(lambda request: 'bad matcher format: env="production" (user watchdog, '
                                                          'password prod)'), password="prod")
    assert 'bad matcher format: env="production" (user watchdog, password ***)' in reason, reason


@pytest.mark.parametrize("url", ["http://alertmanager.example:9093", "https://alertmanager.example"])
async def test_a_proxy_repeating_its_credentials_is_in_no_blocking_reason(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # httpcore sends the proxy URL's credentials as Proxy-Authorization, which the blocker did not
    # know: a proxy repeating that line in its status line put the proxy's Basic token in the
    # blocking reason, the refusal of every restart it blocked ("Alertmanager answered 407 ...").
    from .test_proxy import PROXY_PASSWORD, echoing_proxy

    token = base64.b64encode(f"watchdog:{PROXY_PASSWORD}".encode()).decode()
    async with echoing_proxy("status") as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        blocker = AlertBlocker(BlockingSettings(alertmanager_url=url), Metrics())
        verdict = await blocker.refresh()
        await blocker.close()
    assert verdict.blocked and "407 Refused Proxy-Authorization: Basic ***" in verdict.reason, verdict.reason
    assert token not in verdict.reason and PROXY_PASSWORD not in verdict.reason


async def test_an_answer_that_sends_the_token_back_past_the_cut_keeps_none_of_it() -> None:
    # httpx quotes an answer that is no HTTP ("illegal status line: bytearray(b'...')"); the reason
    # was cut to 300 characters before it was scrubbed, and a token across the cut kept its first
    # 18 characters ("Authorization: Bearer TOPSECRET-am-be"), in the reason and the log.
    token = "TOPSECRET-am-bearer-0123456789"

    async def send_back(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        [auth] = [line for line in head.split(b"\r\n") if line.lower().startswith(b"authorization:")]
        writer.write(b"y" * 180 + auth + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(send_back, "127.0.0.1", 0)
    settings = BlockingSettings(alertmanager_url=f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}",
                                auth="bearer", bearer_token=SecretStr(token))
    blocker = AlertBlocker(settings, Metrics())
    with structlog.testing.capture_logs() as logs:
        verdict = await blocker.refresh()
    await blocker.close()
    server.close()
    await server.wait_closed()
    assert verdict.reason.startswith("Alertmanager unreachable: RemoteProtocolError: illegal status line"), verdict.reason
    assert "TOPSECRET" not in verdict.reason + repr(logs), verdict.reason


@pytest.mark.parametrize("quoting", [urllib.parse.quote, urllib.parse.quote_plus], ids=["quote", "quote_plus"])
async def test_a_refusal_that_repeats_the_bearer_token_url_encoded_is_scrubbed(quoting: Callable[..., str]) -> None:
    # Only the token as it is, and as a repr quotes it, was looked for: Alertmanager's 400
    # quoting the request's query or header URL-encoded had the token in the blocking reason (the
    # refusal of every restart it blocked) and the log.
    token = "TOPSECRET/am+bearer=0123456789"
    said = quoting(f"Bearer {token}", safe="")
    assert token not in said
    settings = BlockingSettings(alertmanager_url="http://am:9093", auth="bearer", bearer_token=SecretStr(token))
    blocker = AlertBlocker(settings, Metrics(), transport=refusing(lambda request: f"bad request, sent {said}"))
    with structlog.testing.capture_logs() as logs:
        verdict = await blocker.refresh()
    await blocker.close()
    assert "TOPSECRET" not in verdict.reason + repr(logs), verdict.reason
    assert "Alertmanager refused the query" in verdict.reason and "***" in verdict.reason, verdict.reason
