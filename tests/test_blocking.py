"""Blocking on active alerts, against a fake Alertmanager (the real one is in tests/e2e)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from watchdog.blocking import AlertBlocker
from watchdog.config import BlockingSettings
from watchdog.metrics import Metrics


class FakeAlertmanager:
    def __init__(self) -> None:
        self.alerts: list[dict] = []
        self.requests: list[httpx.Request] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json=self.alerts)


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def blocker(fake: FakeAlertmanager, clock: Clock | None = None, **settings) -> tuple[AlertBlocker, Metrics]:
    metrics = Metrics()
    config = BlockingSettings(alertmanager_url="http://alertmanager:9093", filters=['alertname=~"Incident|Outage"'], **settings)
    return AlertBlocker(config, metrics, transport=httpx.MockTransport(fake), clock=clock or Clock()), metrics


async def test_asks_for_active_unsilenced_uninhibited_alerts_with_the_filters() -> None:
    fake = FakeAlertmanager()
    b, _ = blocker(fake, receiver="pager")
    await b.refresh()
    params = fake.requests[0].url.params
    assert fake.requests[0].url.path == "/api/v2/alerts"
    assert (params["active"], params["silenced"], params["inhibited"]) == ("true", "false", "false")
    assert params.get_list("filter") == ['alertname=~"Incident|Outage"']
    assert params["receiver"] == "pager"


async def test_a_firing_alert_blocks_and_its_end_clears_the_block() -> None:
    fake = FakeAlertmanager()
    b, metrics = blocker(fake)
    fake.alerts = [{"labels": {"alertname": "Incident"}}]
    verdict = await b.refresh()
    assert verdict.blocked and "Incident" in verdict.reason and b.verdict().blocked
    fake.alerts = []
    assert not (await b.refresh()).blocked
    assert metrics.registry.get_sample_value("watchdog_blocking_checks_total", {"result": "blocked"}) == 1
    assert metrics.registry.get_sample_value("watchdog_blocking_checks_total", {"result": "clear"}) == 1


@pytest.mark.parametrize(("on_error", "blocked", "result"), [("block", True, "error_blocked"), ("allow", False, "error_allowed")])
async def test_unreachable_alertmanager_follows_on_error_and_is_counted(on_error: str, blocked: bool, result: str) -> None:
    fake = FakeAlertmanager()
    fake.down = True
    b, metrics = blocker(fake, on_error=on_error)
    verdict = await b.refresh()
    assert verdict.blocked is blocked and "unreachable" in verdict.reason
    assert metrics.registry.get_sample_value("watchdog_blocking_checks_total", {"result": result}) == 1


async def test_a_stale_answer_counts_as_an_error() -> None:
    fake, clock = FakeAlertmanager(), Clock()
    b, _ = blocker(fake, clock, cache_ttl=30, on_error="block")
    assert b.verdict().blocked, "before the first answer the daemon does not know: fail closed"
    await b.refresh()
    assert not b.verdict().blocked
    clock.t = 61
    assert b.verdict().blocked and "no fresh answer" in b.verdict().reason


async def test_a_garbled_answer_is_an_error() -> None:
    fake = FakeAlertmanager()
    b, _ = blocker(fake)
    fake.alerts = {"not": "a list"}  # type: ignore[assignment]
    verdict = await b.refresh()
    assert verdict.blocked and "not a list" in verdict.reason


@pytest.mark.parametrize(
    ("auth", "expected"),
    [({"auth": "basic", "username": "watchdog", "password": "am-password-7Kq"}, "Basic d2F0Y2hkb2c6YW0tcGFzc3dvcmQtN0tx"),
     ({"auth": "bearer", "bearer_token": "am-token-0123456789"}, "Bearer am-token-0123456789")],
    ids=["basic", "bearer"],
)
async def test_alertmanager_credentials_are_sent_from_their_own_settings(auth: dict, expected: str) -> None:
    # Credentials in alertmanager_url are refused (they would be printed and logged): blocking
    # has its own, from the environment or the secrets directory.
    fake = FakeAlertmanager()
    b, _ = blocker(fake, **auth)
    await b.refresh()
    assert fake.requests[0].headers["authorization"] == expected
    assert "@" not in str(fake.requests[0].url)


async def test_an_answer_past_the_timeout_names_the_blocking_setting() -> None:
    # An Alertmanager answering a byte at a time was cut off saying "(timeouts.total)", read as
    # api.timeouts.total, the Connect API's: the setting that bounds this call is blocking.timeout.
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(100):
            await asyncio.sleep(0.05)
            yield b" "

    async def slow(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    config = BlockingSettings(alertmanager_url="http://alertmanager:9093", timeout=0.3)
    verdict = await AlertBlocker(config, Metrics(), transport=httpx.MockTransport(slow), clock=Clock()).refresh()
    assert verdict.blocked and "no complete answer within 0.3s (blocking.timeout)" in verdict.reason, verdict.reason
