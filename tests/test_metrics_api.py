"""The Metrics API client against the simulator: batching into OR filters, parsing the points,
following pages, classifying errors and reading the lower-case rateLimit-* headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from watchdog.connect.metrics_api import MetricsApiClient, rate_limit_headers
from watchdog.model import Outcome
from watchdog.simulator import Scenario, Simulator, create_app

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .simulator.serving import served

ENVIRONMENT, CLUSTER = "env-abc123", "lkc-prod01"
START = datetime(2026, 1, 1, tzinfo=UTC)  # the simulator's t = 0 in these tests
SENT = "io.confluent.kafka.connect/sent_records"
RECEIVED = "io.confluent.kafka.connect/received_records"
LAG = "io.confluent.kafka.connect/records_lag_max"


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def metrics_scenario(connectors: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    return {
        "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}],
        "environments": [
            {"id": ENVIRONMENT, "clusters": [{"id": CLUSTER, "connectors": connectors}]}
        ],
        **settings,
    }


def setup(
    connectors: list[dict[str, Any]], *, elapsed: float = 600, batch: int = 100, **settings: Any
) -> tuple[MetricsApiClient, Simulator, list[dict[str, Any]]]:
    """A client and a simulator `elapsed` seconds after START; the list collects request bodies."""
    clock = Clock()
    simulator = Simulator(
        Scenario.model_validate(metrics_scenario(connectors, **settings)),
        clock=clock,
        epoch=START.timestamp(),
    )
    clock.t += elapsed
    bodies: list[dict[str, Any]] = []
    app = create_app(simulator)

    async def record(request: httpx.Request) -> None:
        bodies.append(json.loads(request.content))

    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://telemetry",
        auth=(TEST_API_KEY, TEST_API_SECRET),
        event_hooks={"request": [record]},
    )
    return MetricsApiClient(http, max_ids_per_query=batch), simulator, bodies


def ids_of(simulator: Simulator, *names: str) -> list[str]:
    return [simulator.connector(CLUSTER, name).id for name in names]


def minutes(points: list[tuple[datetime, float]]) -> list[tuple[str, float]]:
    return [(when.strftime("%H:%M"), value) for when, value in points]


async def test_points_come_per_connector_oldest_first() -> None:
    connectors = [
        {"name": "orders-source", "records_per_second": 1},
        {"name": "stuck-source", "records_per_second": 1, "script": {"stall_at": 120}},
    ]
    client, simulator, _ = setup(connectors, metrics_api={"zero_points": "emit"})
    orders, stuck = ids_of(simulator, "orders-source", "stuck-source")

    result = await client.query(SENT, [orders, stuck], START, START + timedelta(minutes=5))

    assert (result.outcome, result.status_code) == (Outcome.ACCEPTED, 200)
    assert result.endpoint.value == "metrics_query"
    assert minutes(result.value.points[orders]) == [(f"00:0{m}", 60.0) for m in range(5)]
    assert minutes(result.value.points[stuck]) == [
        ("00:00", 60.0),
        ("00:01", 60.0),
        ("00:02", 0.0),
        ("00:03", 0.0),
        ("00:04", 0.0),
    ]
    assert all(when.tzinfo is not None for when, _ in result.value.points[orders])
    assert result.request_id


async def test_a_stalled_sink_shows_no_records_and_growing_lag_an_idle_one_neither() -> None:
    connectors = [
        {
            "name": "stalled-sink",
            "type": "sink",
            "records_per_second": 1,
            "script": {"stall_at": 0},
        },
        {"name": "idle-sink", "type": "sink", "script": {"idle_at": 0}},
    ]
    client, simulator, _ = setup(connectors, metrics_api={"zero_points": "emit"})
    ids = ids_of(simulator, "stalled-sink", "idle-sink")
    end = START + timedelta(minutes=3)

    received = await client.query(RECEIVED, ids, START, end)
    lag = await client.query(LAG, ids, START, end)

    assert [v for _, v in received.value.points[ids[0]]] == [0.0, 0.0, 0.0]
    assert [v for _, v in lag.value.points[ids[0]]] == [60.0, 120.0, 180.0]
    assert [v for _, v in received.value.points[ids[1]]] == [v for _, v in lag.value.points[ids[1]]] == [0.0] * 3


async def test_a_stalled_sink_answered_in_the_grouped_shape_reads_the_same() -> None:
    # The spec's QueryResponse is FLAT or GROUPED; read as FLAT only, a GROUPED answer held no
    # points, and this sink was judged "idle, not stalled" (and healthy) at every check.
    connectors = [{"name": "stalled-sink", "type": "sink", "records_per_second": 1, "script": {"stall_at": 0}}]
    client, simulator, _ = setup(connectors, metrics_api={"zero_points": "emit", "answer_format": "grouped"})
    [sink] = ids_of(simulator, "stalled-sink")
    end = START + timedelta(minutes=3)

    received = await client.query(RECEIVED, [sink], START, end)
    lag = await client.query(LAG, [sink], START, end)

    assert [v for _, v in received.value.points[sink]] == [0.0, 0.0, 0.0]
    assert minutes(lag.value.points[sink]) == [("00:00", 60.0), ("00:01", 120.0), ("00:02", 180.0)]


async def test_an_answer_none_of_whose_entries_can_be_read_is_a_failed_query_not_no_data() -> None:
    # Points as epoch milliseconds, and a group without its connector's label: read as "no
    # points", every connector would look idle and nothing would say the answer went unread.
    body = {"data": [{"resource.connector.id": "lcc-a", "timestamp": 1767225600000, "value": 5},
                     {"points": [{"timestamp": "2026-01-01T00:00:00Z", "value": 5}]}]}
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)), base_url="http://t")

    result = await MetricsApiClient(http).query(SENT, ["lcc-a"], START, START + timedelta(minutes=1))

    assert result.outcome is Outcome.SERVER_ERROR and result.value is None
    assert result.message == ("unreadable response: none of its 2 data entries could be read as points of a connector "
                              "(1 without a string 'resource.connector.id', 1 whose points could not be read, the first: "
                              "timestamp 1767225600000 is not an ISO 8601 string)")


@pytest.mark.parametrize(("entry", "why"), [
    ({"connector_id": "lcc-a", "timestamp": "2026-01-01T00:00:00Z", "value": 5}, "1 without a string 'resource.connector.id'"),
    ({"resource.connector.id": "lcc-a", "timestamp": "2026-01-01T00:00:00Z", "value": "5"},
     '1 whose points could not be read, the first: value "5" is not a number'),
    ("lcc-a", "1 that are no JSON objects"),
])
async def test_an_answer_none_of_whose_entries_can_be_read_says_what_they_lack(entry: object, why: str) -> None:
    # A group_by label spelled otherwise (or values sent as strings) failed every stall check with
    # "none of its N data entries could be read" alone, naming neither the label looked for nor
    # what the points lacked.
    body = {"data": [entry]}
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)), base_url="http://t")

    result = await MetricsApiClient(http).query(SENT, ["lcc-a"], START, START + timedelta(minutes=1))

    assert result.outcome is Outcome.SERVER_ERROR
    assert result.message == f"unreadable response: none of its 1 data entries could be read as points of a connector ({why})"


async def test_a_connector_some_of_whose_points_cannot_be_read_is_named_with_what_they_lacked() -> None:
    # Dropped without a word, those points read as nothing sent, and the stall check judged a
    # moving source stalled. Its readable points are kept; the answer says which could not be read.
    body = {"data": [
        {"resource.connector.id": "lcc-a", "timestamp": "2026-01-01T00:00:00Z", "value": 5},
        {"resource.connector.id": "lcc-a", "timestamp": "2026-01-01T00:01:00Z", "value": "5"},
        {"resource.connector.id": "lcc-a", "timestamp": "2026-01-01T00:02:00Z", "value": None},
        {"resource.connector.id": "lcc-b", "timestamp": "2026-01-01T00:00:00Z", "value": 7},
        {"resource.connector.id": "lcc-b", "timestamp": "2026-01-01T00:01:00Z", "value": -7},
        {"resource.connector.id": "lcc-c", "points": [{"timestamp": 1767225660, "value": 1}, {"timestamp": "2026-01-01T00:00:00Z", "value": 1}]},
        {"resource.connector.id": "lcc-d", "timestamp": "2026-01-01T00:00:00Z", "value": 3},
    ]}
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)), base_url="http://t")

    result = await MetricsApiClient(http).query(SENT, ["lcc-a", "lcc-b", "lcc-c", "lcc-d"], START, START + timedelta(minutes=3))

    assert result.ok and result.value is not None
    assert {k: [v for _, v in points] for k, points in result.value.points.items()} == {
        "lcc-a": [5.0], "lcc-b": [7.0], "lcc-c": [1.0], "lcc-d": [3.0]}
    assert {k: result.value.why_unreadable(k) for k in result.value.unreadable} == {
        "lcc-a": '2 point(s) of its answer could not be read, the first: value "5" is not a number',
        "lcc-b": "1 point(s) of its answer could not be read, the first: value -7 is negative, which no count is",
        "lcc-c": "1 point(s) of its answer could not be read, the first: timestamp 1767225660 is not an ISO 8601 string",
    }


async def test_ids_are_batched_into_or_filters_grouped_by_connector() -> None:
    names = [f"c{i}" for i in range(5)]
    client, simulator, bodies = setup([{"name": n} for n in names], batch=2)
    ids = ids_of(simulator, *names)

    result = await client.query(SENT, [*ids, ids[0]], START, START + timedelta(minutes=2))

    assert result.ok and set(result.value.points) == set(ids)
    assert all(len(points) == 2 for points in result.value.points.values())
    assert len(bodies) == 3
    first = bodies[0]
    assert first == {
        "aggregations": [{"metric": SENT}],
        "filter": {
            "op": "OR",
            "filters": [
                {"field": "resource.connector.id", "op": "EQ", "value": i} for i in ids[:2]
            ],
        },
        "granularity": "PT1M",
        "intervals": ["2026-01-01T00:00:00Z/2026-01-01T00:02:00Z"],
        "group_by": ["resource.connector.id"],
        "limit": 2,
        "format": "FLAT",
    }
    assert bodies[2]["filter"] == {"field": "resource.connector.id", "op": "EQ", "value": ids[4]}
    assert [c.endpoint for c in simulator.calls] == ["metrics_query"] * 3


async def test_a_connector_without_points_maps_to_an_empty_list() -> None:
    connectors = [{"name": "quiet", "script": {"idle_at": 0}}, {"name": "busy"}]
    client, simulator, _ = setup(connectors, metrics_api={"zero_points": "omit"})
    quiet, busy = ids_of(simulator, "quiet", "busy")

    result = await client.query(SENT, [quiet, busy], START, START + timedelta(minutes=3))

    assert result.value.points[quiet] == [] and len(result.value.points[busy]) == 3


async def test_minutes_not_yet_available_are_missing() -> None:
    client, simulator, _ = setup([{"name": "c"}], elapsed=300)  # 00:05: available until 00:02
    (cid,) = ids_of(simulator, "c")

    result = await client.query(SENT, [cid], START, START + timedelta(minutes=5))

    assert [m for m, _ in minutes(result.value.points[cid])] == ["00:00", "00:01"]


async def test_no_ids_means_no_request() -> None:
    client, simulator, bodies = setup([{"name": "c"}])

    result = await client.query(SENT, [], START, START + timedelta(minutes=1))

    assert result.value is not None
    assert (result.ok, result.value.points, bodies) == (True, {}, [])


@pytest.mark.parametrize(
    ("change", "outcome", "message"),
    [
        (
            {"metric": "io.confluent.kafka.server/received_bytes"},
            Outcome.REJECTED,
            "unknown metric",
        ),
        ({"connector_ids": ["lcc-nope"]}, Outcome.FORBIDDEN, "lcc-nope"),
        ({"end": START + timedelta(hours=7)}, Outcome.REJECTED, "at most 6:00:00"),
    ],
)
async def test_refusals_are_classified_with_the_apis_detail(
    change: dict[str, Any], outcome: Outcome, message: str
) -> None:
    client, simulator, _ = setup([{"name": "c"}])
    arguments: dict[str, Any] = {
        "metric": SENT,
        "connector_ids": ids_of(simulator, "c"),
        "start": START,
        "end": START + timedelta(minutes=5),
        **change,
    }

    result = await client.query(**arguments)

    assert (result.outcome, result.value) == (outcome, None)
    assert message in result.message


async def test_a_bad_key_is_unauthorized() -> None:
    client, simulator, _ = setup([{"name": "c"}])
    client._http.auth = httpx.BasicAuth(TEST_API_KEY, "wrong")  # noqa: SLF001

    result = await client.query(SENT, ids_of(simulator, "c"), START, START + timedelta(minutes=1))

    assert (result.outcome, result.message) == (Outcome.UNAUTHORIZED, "Unauthorized")


async def test_429_is_rate_limited_with_the_lower_case_headers_read() -> None:
    client, simulator, _ = setup(
        [{"name": "c"}], metrics_api={"rate_limit": {"limit": 1, "window_seconds": 60}}
    )
    ids = ids_of(simulator, "c")
    end = START + timedelta(minutes=1)

    first = await client.query(SENT, ids, START, end)
    refused = await client.query(SENT, ids, START, end)

    assert first.ok and first.headers.remaining is None, "headers only on 429 by default"
    assert (refused.outcome, refused.status_code) == (Outcome.RATE_LIMITED, 429)
    # At t = 600 a 60-second window has just begun: it resets in 60 s.
    assert (refused.headers.limit, refused.headers.remaining, refused.headers.reset) == (1, 0, 60.0)


async def test_headers_on_every_answer_are_read_too() -> None:
    limit = {"limit": 300, "window_seconds": 60, "headers": "always"}
    client, simulator, _ = setup([{"name": "c"}], metrics_api={"rate_limit": limit})

    result = await client.query(SENT, ids_of(simulator, "c"), START, START + timedelta(minutes=1))

    assert (result.headers.limit, result.headers.remaining) == (300, 299)


@pytest.mark.parametrize(
    "headers",
    [
        [
            ("rateLimit-limit", "300"),
            ("rateLimit-limit", "160"),
            ("rateLimit-remaining", "250"),
            ("rateLimit-remaining", "3"),
            ("rateLimit-reset", "40"),
            ("rateLimit-reset", "1800"),
        ],
        [
            ("ratelimit-limit", "300, 160"),
            ("ratelimit-remaining", "250, 3"),
            ("ratelimit-reset", "40, 1800"),
        ],
    ],
)
def test_of_two_scopes_the_tightest_counts(headers: list[tuple[str, str]]) -> None:
    parsed = rate_limit_headers(httpx.Headers(headers))

    assert (parsed.limit, parsed.remaining, parsed.reset) == (160, 3, 1800.0)


def test_malformed_rate_limit_headers_are_ignored() -> None:
    parsed = rate_limit_headers(
        httpx.Headers({"ratelimit-limit": "lots", "ratelimit-remaining": "-1"})
    )

    assert (parsed.limit, parsed.remaining, parsed.reset) == (None, None, None)


async def test_pages_are_followed_until_the_last() -> None:
    pages = [
        {
            "data": [
                {"timestamp": "2026-01-01T00:01:00Z", "value": 5, "resource.connector.id": "lcc-a"}
            ],
            "meta": {"pagination": {"page_size": 1, "next_page_token": "t2"}},
        },
        {
            "data": [
                {
                    "timestamp": "2026-01-01T00:00:00Z",
                    "value": 7.5,
                    "resource.connector.id": "lcc-b",
                },
                {
                    "timestamp": "2026-01-01T00:00:00Z",
                    "value": True,
                    "resource.connector.id": "lcc-b",
                },
                "junk",
            ],
            "meta": {"pagination": {"page_size": 1}},
        },
    ]
    tokens: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        tokens.append(request.url.params.get("page_token"))
        return httpx.Response(200, json=pages[len(tokens) - 1])

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://telemetry")
    result = await MetricsApiClient(http).query(
        SENT, ["lcc-a", "lcc-b"], START, START + timedelta(minutes=2)
    )

    assert tokens == [None, "t2"]
    assert {k: minutes(v) for k, v in result.value.points.items()} == {
        "lcc-a": [("00:01", 5.0)],
        "lcc-b": [("00:00", 7.5)],
    }


async def test_a_server_repeating_its_page_token_is_not_followed_forever() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            200, json={"data": [], "meta": {"pagination": {"next_page_token": "again"}}}
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://telemetry")
    result = await MetricsApiClient(http).query(
        SENT, ["lcc-a"], START, START + timedelta(minutes=1)
    )

    # Stopped after the repeat, and not an answer: what the unread pages held is unknown.
    assert calls == 2
    assert result.outcome is Outcome.SERVER_ERROR and result.value is None
    assert result.message is not None and result.message.startswith("pagination incomplete")


async def test_pages_beyond_the_page_cap_fail_the_query_rather_than_read_as_no_data() -> None:
    # lcc-a's points on every page; lcc-b's would come on a page after the cap. A partial answer
    # would show lcc-b, a busy source, as having sent nothing: a stall.
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        point = {"timestamp": "2026-01-01T00:00:00Z", "value": 7, "resource.connector.id": "lcc-a"}
        return httpx.Response(
            200, json={"data": [point], "meta": {"pagination": {"next_page_token": f"p{calls}"}}}
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://telemetry")
    result = await MetricsApiClient(http).query(
        SENT, ["lcc-a", "lcc-b"], START, START + timedelta(minutes=1)
    )

    # Two ids: one page per connector and a last one (before 2026-12-07: 100 pages, whatever the query).
    assert calls == 3, "the page cap still bounds the requests"
    assert not result.ok and result.outcome is Outcome.SERVER_ERROR and result.value is None
    assert result.message == ("pagination incomplete: still more after 3 pages, the most an answer about 2 "
                              "connectors needs (one a page, and a last one)")


@pytest.mark.parametrize("body", [b"{broken", b'{"data": 7}', b"[]"])
async def test_an_unreadable_answer_is_a_server_error(body: bytes) -> None:
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body)),
        base_url="http://t",
    )

    result = await MetricsApiClient(http).query(
        SENT, ["lcc-a"], START, START + timedelta(minutes=1)
    )

    assert result.outcome is Outcome.SERVER_ERROR and "unreadable response" in result.message


async def test_over_loopback_queries_work_and_cut_connections_are_network_errors() -> None:
    fault = {
        "match": {"endpoint": "metrics_query"},
        "when": {"count": 1},
        "action": {"reset": True},
    }
    simulator = Simulator(
        Scenario.model_validate(
            metrics_scenario(
                [{"name": "c"}], metrics_api={"query_delay_seconds": 0}, faults=[fault]
            )
        )
    )
    cid = ids_of(simulator, "c")
    now = datetime.now(UTC)
    async with (
        served(simulator) as url,
        httpx.AsyncClient(base_url=url, auth=(TEST_API_KEY, TEST_API_SECRET)) as http,
    ):
        client = MetricsApiClient(http)
        cut = await client.query(SENT, cid, now - timedelta(minutes=10), now)
        answered = await client.query(SENT, cid, now - timedelta(minutes=10), now)

    assert (cut.outcome, cut.status_code) == (Outcome.NETWORK_ERROR, None)
    assert answered.ok and cid[0] in answered.value.points


@pytest.mark.parametrize(
    ("start", "end", "granularity", "error"),
    [
        (datetime(2026, 1, 1), datetime(2026, 1, 2), "PT1M", "timezone-aware"),
        (START, START, "PT1M", "empty interval"),
        (START, START + timedelta(minutes=1), "PT2M", "granularity"),
    ],
)
async def test_bad_arguments_raise(
    start: datetime, end: datetime, granularity: str, error: str
) -> None:
    client, _, _ = setup([{"name": "c"}])

    with pytest.raises(ValueError, match=error):
        await client.query(SENT, ["lcc-a"], start, end, granularity)


def test_the_batch_size_respects_the_apis_limit() -> None:
    with pytest.raises(ValueError):
        MetricsApiClient(httpx.AsyncClient(), max_ids_per_query=1001)


@pytest.mark.parametrize("body", [b"", b"  \r\n"])
async def test_a_page_answered_200_with_an_empty_body_says_so(body: bytes) -> None:
    # A gateway answering 200 with no body was said only as "unreadable response: Expecting
    # value: line 1 column 1 (char 0)" on the Metrics lane (the Connect lane's list says it since
    # eaca7d8): the stall check's `points_unreadable` line did not say what the server did.
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body, headers={"Content-Type": "text/plain"})),
        base_url="http://t",
    )

    result = await MetricsApiClient(http).query(SENT, ["lcc-a"], START, START + timedelta(minutes=1))

    assert result.outcome is Outcome.SERVER_ERROR and result.status_code == 200
    assert result.message == "answered 200 with an empty body (Content-Type: text/plain), not the API's answer", result.message
