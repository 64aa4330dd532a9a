"""The Metrics API lane's egress proxy refusing the daemon's credentials (407) is said as the
Connect API lane's is: one `proxy_refused` line at error naming the proxy and its variable (never
its password), the call not run, and the lane held (refusal.ProxyRefusal) until a call through the
proxy is answered. Before, the Metrics API client dropped what transfer.ProxyRefused says: the
stall check's line was a bare network error, the proxy never named, and the lane never held."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry

from watchdog.clients import METRICS_API_LANE
from watchdog.config import RateLimitSettings
from watchdog.connect import Gateway
from watchdog.connect.metrics_api import MetricsApiClient
from watchdog.metrics import Metrics
from watchdog.model import Outcome
from watchdog.ratelimit import RateLimiter

from .test_proxy_refused import PASSWORD, refusing_proxy  # noqa: F401 (the fixture, a 407 proxy on 127.0.0.1)

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                   "http_proxy", "https_proxy", "all_proxy", "no_proxy")
START, END = datetime(2026, 12, 8, 1, 0, tzinfo=timezone.utc), datetime(2026, 12, 8, 1, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(("scheme", "variable", "refused"), [
    ("http", "HTTP_PROXY", "the request"),  # forwarded http://: the proxy's 407 is an answer
    ("https", "HTTPS_PROXY", "the tunnel"),  # https:// (the Metrics API's): its CONNECT answered 407
])
async def test_a_407_on_the_metrics_api_lane_is_said_as_proxy_refused_and_holds_the_lane(
        scheme: str, variable: str, refused: str, refusing_proxy: str,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, f"http://watchdog:{quote(PASSWORD)}@127.0.0.1:{refusing_proxy}")
    gateway = Gateway(RateLimiter(METRICS_API_LANE, RateLimitSettings()), Metrics(CollectorRegistry()))
    async with httpx.AsyncClient(base_url=f"{scheme}://api.telemetry.example", timeout=5) as http:
        client = MetricsApiClient(http)
        with structlog.testing.capture_logs() as logs:
            result, _ = await gateway.call("prod", lambda: client.query(
                "io.confluent.kafka.connect/sent_records", ["lcc-1"], START, END))
    proxy = f"http://127.0.0.1:{refusing_proxy} ({variable})"
    assert result.outcome is Outcome.NETWORK_ERROR and result.not_run, result
    # Before: proxy_refused None, no `proxy_refused` line, the lane not held.
    assert result.proxy_refused == proxy, result
    assert f"the proxy {proxy} refused {refused}: 407 Proxy Authentication Required" in result.message, result.message
    said = [e for e in logs if e["event"] == "proxy_refused"]
    assert len(said) == 1 and said[0]["log_level"] == "error", [e["event"] for e in logs]
    assert said[0]["proxy"] == proxy and said[0]["credential"] == METRICS_API_LANE, said[0]
    assert said[0]["note"].startswith("the egress proxy answered 407 Proxy Authentication Required"), said[0]
    # The Metrics API lane carries no restart: its line must not say restarts stay queued.
    assert "no restart waits on this lane" in said[0]["note"] and "stays queued" not in said[0]["note"], said[0]
    assert gateway.proxy_refusal.holds(gateway.limiter.now())
    assert gateway.refused_note() is not None and gateway.refused_note().startswith(  # type: ignore[union-attr]
        f"held: the egress proxy refused its calls (407) {proxy}")
    assert all(PASSWORD not in str(e) for e in logs), logs
