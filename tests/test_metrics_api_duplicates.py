"""Points an answer repeats (the same connector and minute twice, on one page or across pages):
one value per connector and minute is kept. Summed, they doubled what a decision's detail says a
connector sent ("source sent 200 records in 19:19-19:20" where 100 were sent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

from watchdog.connect.metrics_api import MetricsApiClient

START = datetime(2026, 1, 1, tzinfo=UTC)
SENT = "io.confluent.kafka.connect/sent_records"


def point(connector_id: str, stamp: str, value: float) -> dict[str, Any]:
    return {"timestamp": stamp, "value": value, "resource.connector.id": connector_id}


PAGES: list[dict[str, Any]] = [
    {"data": [point("lcc-a", "2026-01-01T00:00:00Z", 100), point("lcc-a", "2026-01-01T00:01:00Z", 100),
              # The same minute again, written in another zone (as the probe's gateway did) and without one.
              point("lcc-a", "2026-01-01T05:31:00+05:30", 100), point("lcc-a", "2026-01-01T00:00:00", 100),
              point("lcc-b", "2026-01-01T00:00:00Z", 40)],
     "meta": {"pagination": {"page_size": 1, "next_page_token": "p2"}}},
    # Page 2 repeats lcc-a's 00:01 and lcc-b's 00:00, the latter with another value.
    {"data": [point("lcc-a", "2026-01-01T00:01:00Z", 100), point("lcc-a", "2026-01-01T00:02:00Z", 100),
              point("lcc-b", "2026-01-01T00:00:00Z", 60), point("lcc-b", "2026-01-01T00:01:00Z", 50)],
     "meta": {"pagination": {"page_size": 1}}},
]


async def test_points_an_answer_repeats_are_counted_once_and_said_at_debug() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=PAGES[calls - 1])

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://telemetry")
    with structlog.testing.capture_logs() as logs:
        result = await MetricsApiClient(http).query(SENT, ["lcc-a", "lcc-b"], START, START + timedelta(minutes=3))

    assert result.ok and result.value is not None, result.message
    shown = {i: [(when.strftime("%H:%M"), value) for when, value in points]
             for i, points in result.value.points.items()}
    # Before: lcc-a 500 records in 3 minutes (00:00 three times, 00:01 twice), lcc-b 150.
    assert shown == {"lcc-a": [("00:00", 100.0), ("00:01", 100.0), ("00:02", 100.0)],
                     # Two values for one minute: the larger is kept (a count only grows as late
                     # data is ingested; and it reads as moving, never as a stop).
                     "lcc-b": [("00:00", 60.0), ("00:01", 50.0)]}
    assert sum(value for _, value in result.value.points["lcc-a"]) == 300.0
    assert result.value.unjudgeable() == [], "a repeated point is no unreadable one"
    said = [entry for entry in logs if entry["event"] == "metrics_points_repeated"]
    assert [entry["log_level"] for entry in said] == ["debug"]
    assert said[0]["repeated"] == 4 and said[0]["values_differed"] == 1 and said[0]["metric"] == SENT
    assert said[0]["connectors"] == ["lcc-a", "lcc-b"]
    assert not [entry for entry in logs if entry["log_level"] != "debug"], "said at debug only"


async def test_an_answer_without_repeats_says_nothing() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [point("lcc-a", "2026-01-01T00:00:00Z", 1),
                                                  point("lcc-a", "2026-01-01T00:01:00Z", 1)]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://telemetry")
    with structlog.testing.capture_logs() as logs:
        result = await MetricsApiClient(http).query(SENT, ["lcc-a"], START, START + timedelta(minutes=3))

    assert result.ok and result.value is not None and len(result.value.points["lcc-a"]) == 2
    assert not [entry for entry in logs if entry["event"] == "metrics_points_repeated"]
