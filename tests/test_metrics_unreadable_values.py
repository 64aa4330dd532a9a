"""A Metrics API answer none of whose points can be read says what they lacked. Values null, strings
or NaN were reported as points with "no ISO 8601 timestamp and count" though every timestamp was
valid ISO 8601: the value was what could not be read, and the words sent an operator to the wrong
field (found 2026-12-07 by a black-box probe). The query still fails: no verdict on such an answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from watchdog.connect.metrics_api import MetricsApiClient
from watchdog.model import Outcome

SENT = "io.confluent.kafka.connect/sent_records"
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("value", "lacked"), [
    ("null", "value null is not a number"),
    ('"10"', 'value "10" is not a number'),
    ("NaN", "value nan is not finite"),
])
async def test_an_answer_whose_values_cannot_be_read_says_the_value_not_the_timestamp(value: str, lacked: str) -> None:
    points = ",".join(f'{{"resource.connector.id": "lcc-{c}", "timestamp": "2026-01-01T00:0{m}:00Z", "value": {value}}}'
                      for c in "abc" for m in range(3))
    body = f'{{"data": [{points}]}}'.encode()
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(
        200, content=body, headers={"content-type": "application/json"})), base_url="http://t")

    result = await MetricsApiClient(http).query(SENT, ["lcc-a", "lcc-b", "lcc-c"], START, START + timedelta(minutes=3))

    assert result.outcome is Outcome.SERVER_ERROR and result.value is None
    assert result.message == ("unreadable response: none of its 9 data entries could be read as points of a connector "
                              f"(9 whose points could not be read, the first: {lacked})")
