"""A group Alertmanager cut to the receiver's `max_alerts` is warned about once, not at every
re-send: `webhook_alerts_truncated` repeated at each group_interval (8 warnings for one group cut
by 2, in a probe), where `webhook_alerts_unmatched` says each alert once an hour. Said again when
the group's count changes, or after an hour; the counter still adds the count at every delivery
(docs/metrics.md)."""

from __future__ import annotations

import structlog

from .test_api import AUTH, alert, payload, polled, world


def _truncated(logs: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(e["log_level"], e["truncated"]) for e in logs if e["event"] == "webhook_alerts_truncated"]


async def test_a_truncated_group_sent_again_is_warned_about_once_then_again_when_its_count_changes() -> None:
    w, http = world(fake_time=True)
    await polled(w)
    body = payload(alert())
    body["truncatedAlerts"] = 2
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):  # Alertmanager's re-sends of the same group
            assert (await http.post("/v1/alertmanager", json=body, headers=AUTH)).status_code == 200
    assert _truncated(logs) == [("warning", 2), ("debug", 2), ("debug", 2)]
    registry = w.daemon.metrics.registry
    assert registry.get_sample_value("watchdog_webhook_truncated_alerts_total") == 6, "added at every delivery"

    body["truncatedAlerts"] = 5  # the group grew: news
    with structlog.testing.capture_logs() as logs:
        await http.post("/v1/alertmanager", json=body, headers=AUTH)
        other = dict(body, groupKey='{}:{alertname="Other"}')
        await http.post("/v1/alertmanager", json=other, headers=AUTH)
    assert _truncated(logs) == [("warning", 5), ("warning", 5)], "a new count, and another group, are said"

    assert w.clock is not None
    w.clock.advance(3601)
    with structlog.testing.capture_logs() as logs:
        await http.post("/v1/alertmanager", json=body, headers=AUTH)
    assert _truncated(logs) == [("warning", 5)], "said again after an hour"
