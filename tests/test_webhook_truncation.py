"""A webhook that Alertmanager cut to the receiver's `max_alerts` (truncatedAlerts > 0): the alerts
left out are never delivered while the group stays as it is, so the daemon says so and counts
them; the alerts it did get are acted on as usual."""

from __future__ import annotations

import pytest
import structlog

from watchdog.alerts import MAX_TRUNCATED_ALERTS

from .test_api import AUTH, alert, payload, polled, restart_calls, world

GROUP_KEY = '{}:{alertname="ConnectorStalled"}'


async def test_a_truncated_webhook_is_acted_on_warned_about_and_counted() -> None:
    w, http = world()
    await polled(w)
    body = payload(alert())  # the group held orders-sink and two more; max_alerts: 1 kept one
    body["truncatedAlerts"] = 2
    with structlog.testing.capture_logs() as logs:
        response = await http.post("/v1/alertmanager", json=body, headers=AUTH)
    await w.daemon.queue.join()
    assert response.status_code == 200 and response.json()["alerts"][0]["result"] == "restart_requested"
    assert restart_calls(w) == 1
    warnings = [e for e in logs if e["event"] == "webhook_alerts_truncated"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"
    assert warnings[0]["group_key"] == GROUP_KEY and warnings[0]["truncated"] == 2 and warnings[0]["delivered"] == 1
    assert "max_alerts" in warnings[0]["note"]
    registry = w.daemon.metrics.registry
    assert registry.get_sample_value("watchdog_webhook_truncated_alerts_total") == 2
    # A second truncated delivery adds to the count.
    await http.post("/v1/alertmanager", json=body, headers=AUTH)
    assert registry.get_sample_value("watchdog_webhook_truncated_alerts_total") == 4


async def test_an_untruncated_webhook_says_nothing_about_truncation() -> None:
    w, http = world()
    await polled(w)
    with structlog.testing.capture_logs() as logs:
        response = await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    assert response.status_code == 200
    assert not [e for e in logs if e["event"] == "webhook_alerts_truncated"]
    assert w.daemon.metrics.registry.get_sample_value("watchdog_webhook_truncated_alerts_total") == 0


@pytest.mark.parametrize(
    "count",
    ["1" + "0" * 400, "17" + "0" * 307, "1e308", "1000000001", "-1"],
    ids=["400-digit", "1.7e308", "float-1e308", "over-a-billion", "negative"],
)
async def test_a_truncated_count_no_alertmanager_sends_is_a_422_naming_the_field(count: str) -> None:
    # Before, 10**400 was a 500 (OverflowError adding it to the counter) and 1.7e308 twice left
    # watchdog_webhook_truncated_alerts_total at +Inf for good.
    w, http = world()
    body = f'{{"version":"4","status":"firing","alerts":[],"truncatedAlerts":{count}}}'.encode()
    for _ in range(2):
        response = await http.post("/v1/alertmanager", content=body,
                                   headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        assert [p["field"] for p in response.json()["problems"]] == ["truncatedAlerts"]
    registry = w.daemon.metrics.registry
    assert registry.get_sample_value("watchdog_webhook_truncated_alerts_total") == 0
    # The counter still counts what a real Alertmanager says.
    sane = payload()
    sane["truncatedAlerts"] = MAX_TRUNCATED_ALERTS
    assert (await http.post("/v1/alertmanager", json=sane, headers=AUTH)).status_code == 200
    assert registry.get_sample_value("watchdog_webhook_truncated_alerts_total") == MAX_TRUNCATED_ALERTS
