"""One API key's 429 pause never holds the webhooks and restart requests of another key's clusters.

Two credentials: `prod` on key `main`, `other` on key `second`. A 429 pauses `second` for 258 s;
once `other`'s listing is older than its staleness bound, alerts naming `other` must be listed
first, and that listing cannot go before the pause ends. Before, each such webhook waited for it
holding one of the four request-body slots: four of them stopped every webhook and restart, for
every cluster, until the pause ended (clients timed out after 15 s; the daemon acted minutes
later). Now the caller is told at once (503 with Retry-After, which Alertmanager retries), and
`prod`'s requests go through as if nothing happened.

The pause is real time on the limiter's clock (258 s: nothing here waits for it); the listings'
ages are on the fake wall clock; every request must be answered within a couple of seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import structlog
import structlog.testing
from pydantic import SecretStr

from watchdog.config import Credential, build_config
from watchdog.server import create_app
from watchdog.triggers import poller as poller_module

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, World, in_process
from .test_api import AUTH, TOKEN, alert, payload

OTHER, OTHER_ID = "other", "lkc-other1"
SECOND_KEY, SECOND_SECRET = "OTHERKEY012345678", "other-secret-Zq8xV3nR7tLk2Pw9"
PAUSE = 258
ANSWERED_WITHIN = 3.0  # real seconds; before the fix every request here hung for the whole pause

RULES = [
    {"name": "heal", "trigger": {"type": "status", "interval": "60s", "confirm_polls": 1},
     "select": {"clusters": [CLUSTER], "include": ["*"]}},
    {"name": "heal-other", "trigger": {"type": "status", "interval": "10s", "confirm_polls": 1},
     "select": {"clusters": [OTHER], "include": ["*"]}},
    {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled"},
                                     "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
     "select": {"include": ["*"]}, "backoff": {"base": 60, "cap": 600, "jitter": 0}},
]


def two_keys() -> tuple[World, httpx.AsyncClient]:
    scenario = {
        "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}, {"id": SECOND_KEY, "secret": SECOND_SECRET}],
        "environments": [{"id": ENVIRONMENT, "clusters": [
            {"id": CLUSTER_ID, "connectors": [{"name": "orders-sink"}, {"name": "billing-sink"}]},
            {"id": OTHER_ID, "connectors": [{"name": "other-sink"}]},
        ]}],
    }
    data: dict[str, Any] = {
        "api": {"base_url": "http://sim"},
        "credentials": {"main": {}, "second": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID, "credential": "main"},
                     OTHER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": OTHER_ID, "credential": "second"}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "rules": RULES,
    }
    secrets = {
        "credentials": {"main": Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET)),
                        "second": Credential(api_key=SecretStr(SECOND_KEY), api_secret=SecretStr(SECOND_SECRET))},
        "server": {"auth_token": SecretStr(TOKEN)},
    }
    w = in_process(scenario, build_config(data, "test config", secrets=secrets), fake_time=True)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    return w, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


def other_alert(fingerprint: str) -> dict[str, Any]:
    body = alert(connector="other-sink", fingerprint=fingerprint)
    body["labels"]["kafka_cluster_id"] = OTHER_ID
    return body


async def paused_and_stale(w: World) -> None:
    """Both clusters listed; then `second` answers a poll with 429 (Retry-After: 258) and `other`'s
    listing ages past its bound (10 s interval + 10 s slack)."""
    assert w.clock is not None
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.pollers[OTHER].poll()
    w.simulator.set_faults([{"match": {"cluster": OTHER_ID, "endpoint": "list"}, "when": {"count": 1},
                             "action": {"status": 429, "headers": {"Retry-After": str(PAUSE)}}}])
    await w.daemon.pollers[OTHER].poll()
    assert w.daemon.gateways["second"].limiter.paused_for() > PAUSE - 5
    assert w.daemon.gateways["main"].limiter.paused_for() == 0
    w.clock.advance(30)


async def test_a_paused_key_holds_no_request_of_another_key_and_its_own_are_told_at_once() -> None:
    w, http = two_keys()
    await paused_and_stale(w)
    try:
        others = [http.post("/v1/alertmanager", json=payload(other_alert(f"fp{i}")), headers=AUTH) for i in range(4)]
        prod_restart = http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"}, headers=AUTH)
        prod_webhook = http.post("/v1/alertmanager", json=payload(alert(connector="billing-sink", fingerprint="fpp")),
                                 headers=AUTH)
        other_restart = http.post("/v1/restarts", json={"cluster": OTHER, "connector": "other-sink"}, headers=AUTH)
        *webhooks, restart, webhook, refused = await asyncio.wait_for(
            asyncio.gather(*others, prod_restart, prod_webhook, other_restart), ANSWERED_WITHIN)

        # prod's key is healthy: its restart and its alert are acted on as usual.
        assert restart.status_code == 202, restart.text
        assert webhook.status_code == 200 and webhook.json()["alerts"][0]["result"] == "restart_requested"
        await asyncio.wait_for(w.daemon.queue.join(), ANSWERED_WITHIN)
        assert sorted(c.connector for c in w.simulator.restarts(CLUSTER_ID)) == ["billing-sink", "orders-sink"]

        # other's callers are told at once that nothing was done, and when to come back.
        for answer in webhooks:
            assert answer.status_code == 503, answer.text
            assert PAUSE - 10 <= int(answer.headers["retry-after"]) <= PAUSE + 2  # the pause left (the limiter adds a rounding second)
            result = answer.json()["alerts"][0]
            assert (result["result"], result["cluster"], result["connector"]) == ("refused", OTHER, "other-sink")
            assert "could not be listed" in result["detail"] and "paused by a 429" in result["detail"]
            assert "second" in result["detail"]
        assert refused.status_code == 503 and PAUSE - 10 <= int(refused.headers["retry-after"]) <= PAUSE + 2
        assert "paused by a 429" in refused.json()["error"] and "nothing was done" in refused.json()["error"]
        assert w.simulator.restarts(OTHER_ID) == [] and w.daemon.queue.depth("second") == 0
        # One listing of `other` waits behind the pause for all of them, not one each.
        assert len([c for c in w.simulator.calls if c.endpoint == "list" and c.cluster == OTHER_ID]) == 2
    finally:
        await w.daemon.pollers[OTHER].close()


async def test_a_slow_listing_is_awaited_briefly_then_goes_on_for_the_next_send(monkeypatch: Any) -> None:
    # Not paused, only slow (an API that takes its time): the caller waits LISTING_WAIT_SECONDS at
    # most, gets 503, and the listing finishes behind it; Alertmanager's next send is acted on.
    monkeypatch.setattr(poller_module, "LISTING_WAIT_SECONDS", 0.1)
    w, http = two_keys()
    assert w.clock is not None
    w.daemon.queue.start()
    await w.daemon.pollers[OTHER].poll()
    w.clock.advance(30)
    w.simulator.set_faults([{"match": {"cluster": OTHER_ID, "endpoint": "list"}, "when": {"count": 1},
                             "action": {"delay_seconds": 0.5}}])
    try:
        with structlog.testing.capture_logs() as logs:
            first = await asyncio.wait_for(
                http.post("/v1/alertmanager", json=payload(other_alert("fp1")), headers=AUTH), ANSWERED_WITHIN)
        assert first.status_code == 503 and first.headers["retry-after"]
        assert "did not finish within 0.1 s" in first.json()["alerts"][0]["detail"]
        # Why, in the answer's `error` and its http_request line, as every other refusal says it:
        # the line said only `status=503`, each alert's reason in an answer nobody reads.
        assert first.json()["error"].startswith("1 of 1 alert(s) could not be acted on now (")
        assert "did not finish within 0.1 s" in first.json()["error"]
        line = next(e for e in logs if e["event"] == "http_request" and e.get("route") == "alertmanager")
        assert line["status"] == 503 and line["error"] == first.json()["error"], line
        assert w.simulator.restarts(OTHER_ID) == []
        await asyncio.sleep(0.8)  # the listing ends meanwhile
        again = await http.post("/v1/alertmanager", json=payload(other_alert("fp1")), headers=AUTH)
        assert again.status_code == 200 and again.json()["alerts"][0]["result"] == "restart_requested"
        await asyncio.wait_for(w.daemon.queue.join(), ANSWERED_WITHIN)
        assert [c.connector for c in w.simulator.restarts(OTHER_ID)] == ["other-sink"]
    finally:
        await w.daemon.pollers[OTHER].close()
