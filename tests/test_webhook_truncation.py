"""A webhook that Alertmanager cut to the receiver's `max_alerts` (truncatedAlerts > 0): the alerts
left out are never delivered while the group stays as it is, so the daemon says so and counts
them; the alerts it did get are acted on as usual."""

from __future__ import annotations

import structlog

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
