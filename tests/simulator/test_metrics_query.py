"""POST /v2/metrics/cloud/query: per-minute points read from the connectors' scripts."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from watchdog.simulator import create_app

from .support import (
    AUTH,
    CLUSTER,
    NARROW_AUTH,
    OTHER_CLUSTER,
    Build,
    Harness,
    path,
    scenario,
)

QUERY = "/v2/metrics/cloud/query"
SENT = "io.confluent.kafka.connect/sent_records"
RECEIVED = "io.confluent.kafka.connect/received_records"
LAG = "io.confluent.kafka.connect/records_lag_max"


# Points of 0 in the answers: these tests read every minute (the default leaves them out).
EMIT = {"zero_points": "emit"}


def _id(harness: Harness, name: str, cluster: str = CLUSTER) -> str:
    return harness.simulator.connector(cluster, name).id


def _request(
    metric: str, ids: list[str], interval: str = "2026-01-01T00:00:00Z/PT10M", **extra: Any
) -> dict[str, Any]:
    filters = [{"field": "resource.connector.id", "op": "EQ", "value": i} for i in ids]
    return {
        "aggregations": [{"metric": metric}],
        "filter": filters[0] if len(filters) == 1 else {"op": "OR", "filters": filters},
        "granularity": "PT1M",
        "intervals": [interval],
        "group_by": ["resource.connector.id"],
        **extra,
    }


def _values(body: dict[str, Any]) -> list[tuple[str, float]]:
    """(minute hh:mm, value) of a FLAT answer, as listed."""
    return [(point["timestamp"][11:16], point["value"]) for point in body["data"]]


async def test_a_running_source_sends_its_rate_every_minute_newest_first(build: Build) -> None:
    harness = build(scenario([{"name": "c", "records_per_second": 10}]))
    harness.clock.advance(600)  # 00:10:00; minutes ending by 00:07:00 are available

    response = await harness.client.post(QUERY, json=_request(SENT, [_id(harness, "c")]))

    assert response.status_code == 200
    body = response.json()
    assert _values(body) == [(f"00:0{m}", 600.0) for m in range(6, -1, -1)]
    assert {p["resource.connector.id"] for p in body["data"]} == {_id(harness, "c")}
    assert body["meta"] == {"pagination": {"page_size": 100, "total_size": 1}}


async def test_a_stalled_source_sends_nothing_from_its_stall_on(build: Build) -> None:
    harness = build(scenario([{"name": "c", "records_per_second": 1, "script": {"stall_at": 150}}], metrics_api=EMIT))
    harness.clock.advance(480)

    body = (await harness.client.post(QUERY, json=_request(SENT, [_id(harness, "c")]))).json()

    assert _values(body) == [
        ("00:04", 0.0),
        ("00:03", 0.0),
        ("00:02", 30.0),
        ("00:01", 60.0),
        ("00:00", 60.0),
    ]


async def test_a_stalled_sink_receives_nothing_while_its_lag_grows(build: Build) -> None:
    sink = {"name": "s", "type": "sink", "records_per_second": 2, "script": {"stall_at": 120}}
    harness = build(scenario([sink], metrics_api=EMIT))
    harness.clock.advance(480)
    ids = [_id(harness, "s")]

    received = (await harness.client.post(QUERY, json=_request(RECEIVED, ids))).json()
    lag = (await harness.client.post(QUERY, json=_request(LAG, ids))).json()

    assert [v for _, v in _values(received)] == [0.0, 0.0, 0.0, 120.0, 120.0]
    # The largest lag in each minute: 2 records a second since the stall at 00:02.
    assert [v for _, v in _values(lag)] == [360.0, 240.0, 120.0, 0.0, 0.0]


async def test_a_restart_ends_the_stall_and_the_lag(build: Build) -> None:
    sink = {"name": "s", "type": "sink", "records_per_second": 1, "script": {"stall_at": 60}}
    harness = build(scenario([sink], restart={"delay_seconds": 0}, metrics_api=EMIT))
    harness.clock.advance(120)
    await harness.client.post(path(connector="s", operation="restart"))
    harness.clock.advance(360)

    lag = (await harness.client.post(QUERY, json=_request(LAG, [_id(harness, "s")]))).json()
    received = await harness.client.post(QUERY, json=_request(RECEIVED, [_id(harness, "s")]))

    assert [v for _, v in _values(lag)] == [0.0, 0.0, 0.0, 60.0, 0.0]
    assert [v for _, v in _values(received.json())] == [60.0, 60.0, 60.0, 0.0, 60.0]


async def test_an_idle_sink_has_zero_records_and_zero_lag(build: Build) -> None:
    harness = build(scenario([{"name": "s", "type": "sink", "script": {"idle_at": 0}}], metrics_api=EMIT))
    harness.clock.advance(480)
    ids = [_id(harness, "s")]

    received = (await harness.client.post(QUERY, json=_request(RECEIVED, ids))).json()
    lag = (await harness.client.post(QUERY, json=_request(LAG, ids))).json()

    assert {v for _, v in _values(received)} == {v for _, v in _values(lag)} == {0.0}


async def test_one_request_serves_many_connectors_grouped_in_id_order(build: Build) -> None:
    names = ["a", "b", "c"]
    harness = build(
        scenario([{"name": n, "records_per_second": i + 1} for i, n in enumerate(names)])
    )
    harness.clock.advance(300)  # minutes 00:00 and 00:01 are available
    ids = [_id(harness, n) for n in names]

    body = (await harness.client.post(QUERY, json=_request(SENT, ids))).json()

    rate = {_id(harness, n): (i + 1) * 60.0 for i, n in enumerate(names)}
    got = [(p["resource.connector.id"], p["timestamp"][11:16], p["value"]) for p in body["data"]]
    assert got == [(cid, minute, rate[cid]) for cid in sorted(ids) for minute in ("00:01", "00:00")]


async def test_grouped_format_nests_the_points_per_connector(build: Build) -> None:
    harness = build(scenario([{"name": "a"}, {"name": "b", "records_per_second": 1}]))
    harness.clock.advance(300)
    ids = sorted([_id(harness, "a"), _id(harness, "b")])

    body = (await harness.client.post(QUERY, json=_request(SENT, ids, format="GROUPED"))).json()

    assert [group["resource.connector.id"] for group in body["data"]] == ids
    assert all(len(group["points"]) == 2 for group in body["data"])


async def test_without_group_by_the_connectors_are_summed(build: Build) -> None:
    harness = build(scenario([{"name": "a"}, {"name": "b", "records_per_second": 1}]))
    harness.clock.advance(300)
    request = _request(SENT, [_id(harness, "a"), _id(harness, "b")])
    del request["group_by"]

    body = (await harness.client.post(QUERY, json=request)).json()

    assert body == {
        "data": [
            {"timestamp": "2026-01-01T00:01:00Z", "value": 660.0},
            {"timestamp": "2026-01-01T00:00:00Z", "value": 660.0},
        ]
    }


async def test_a_metric_of_the_other_connector_type_has_no_points(build: Build) -> None:
    harness = build(scenario([{"name": "src"}]))
    harness.clock.advance(300)

    body = (await harness.client.post(QUERY, json=_request(RECEIVED, [_id(harness, "src")]))).json()

    assert body["data"] == []


@pytest.mark.parametrize(
    ("interval", "minutes"),
    [
        ("now-5m|m/now|m", ["00:06", "00:05"]),
        ("now-5m/now", ["00:06", "00:05"]),
        ("PT2M/2026-01-01T00:05:00Z", ["00:04", "00:03"]),
        ("2026-01-01T00:03:00.000Z/2026-01-01T00:05:00Z", ["00:04", "00:03"]),
        ("2026-01-01T01:03:00+01:00/PT1M", ["00:03"]),
        ("now-1h|h/now", [f"00:0{m}" for m in range(6, -1, -1)]),
    ],
)
async def test_intervals_take_every_iso_and_now_form(
    build: Build, interval: str, minutes: list[str]
) -> None:
    harness = build(scenario([{"name": "c"}]))
    harness.clock.advance(600.5)  # 00:10:00.5: available until 00:07:00

    response = await harness.client.post(QUERY, json=_request(SENT, [_id(harness, "c")], interval))

    assert response.status_code == 200, response.text
    assert [minute for minute, _ in _values(response.json())] == minutes


async def test_the_data_delay_is_a_setting(build: Build) -> None:
    harness = build(scenario([{"name": "c"}], metrics_api={"query_delay_seconds": 0}))
    harness.clock.advance(185)

    body = (await harness.client.post(QUERY, json=_request(SENT, [_id(harness, "c")]))).json()

    assert [minute for minute, _ in _values(body)] == ["00:02", "00:01", "00:00"]


async def test_zero_points_are_left_out_by_default(build: Build) -> None:
    harness = build(scenario([{"name": "c", "script": {"stall_at": 120}}]))
    harness.clock.advance(600)

    body = (await harness.client.post(QUERY, json=_request(SENT, [_id(harness, "c")]))).json()

    assert [minute for minute, _ in _values(body)] == ["00:01", "00:00"], "minutes without data have no rows"


async def test_zero_points_can_be_left_out(build: Build) -> None:
    harness = build(
        scenario([{"name": "c", "script": {"stall_at": 120}}], metrics_api={"zero_points": "omit"})
    )
    harness.clock.advance(480)

    body = (await harness.client.post(QUERY, json=_request(SENT, [_id(harness, "c")]))).json()

    assert [minute for minute, _ in _values(body)] == ["00:01", "00:00"]


async def test_query_points_add_up_to_the_export_samples(build: Build) -> None:
    script = {"flap": {"running_seconds": 50, "failed_seconds": 25}}
    harness = build(scenario([{"name": "c", "records_per_second": 3, "script": script}], metrics_api=EMIT))
    cid = _id(harness, "c")
    exported = {}
    for minute in range(10):
        harness.clock.now = 5000 + 180 + minute * 60 + 1  # the export offset: 3 minutes
        text = (
            await harness.client.get(
                "/v2/metrics/cloud/export", params={"resource.connector.id": cid}
            )
        ).text
        value = [
            line
            for line in text.splitlines()
            if line.startswith("confluent_kafka_connect_sent_records{")
        ]
        exported[f"00:0{minute}"] = float(value[0].split()[1])
    harness.clock.advance(120)  # the query answers a minute once it is 3 minutes old

    body = (await harness.client.post(QUERY, json=_request(SENT, [cid]))).json()

    assert dict(_values(body)) == exported


async def test_pages_follow_the_next_page_token(build: Build) -> None:
    harness = build(scenario([{"name": n} for n in ("a", "b", "c")]))
    harness.clock.advance(300)
    ids = sorted(_id(harness, n) for n in ("a", "b", "c"))
    request = _request(SENT, ids, limit=2)

    first = (await harness.client.post(QUERY, json=request)).json()
    token = first["meta"]["pagination"]["next_page_token"]
    second = (await harness.client.post(QUERY, json=request, params={"page_token": token})).json()

    assert [p["resource.connector.id"] for p in first["data"]] == [ids[0]] * 2 + [ids[1]] * 2
    assert [p["resource.connector.id"] for p in second["data"]] == [ids[2]] * 2
    assert "next_page_token" not in second["meta"]["pagination"]


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"aggregations": []}, 400, "exactly one"),
        (
            {"aggregations": [{"metric": "io.confluent.kafka.server/received_bytes"}]},
            400,
            "unknown metric",
        ),
        ({"aggregations": [{"metric": SENT, "agg": "MAX"}]}, 400, "supports only agg SUM"),
        ({"granularity": "PT2M"}, 400, "granularity must be one of"),
        ({"intervals": ["2026-01-01T00:00:00Z/PT7H"]}, 400, "at most 6:00:00"),
        ({"intervals": ["yesterday/now"]}, 400, "neither an ISO-8601 time"),
        ({"intervals": ["now/PT1Y"]}, 400, "not an ISO-8601 duration"),
        ({"intervals": ["now/now-1m"]}, 400, "ends before it starts"),
        ({"filter": None}, 400, "must be an object"),
        ({"filter": {"field": "resource.kafka.id", "op": "EQ", "value": "lkc-1"}}, 400, "no label"),
        (
            {"filter": {"field": "resource.connector.id", "op": "GT", "value": "lcc-"}},
            400,
            "must name a connector",
        ),
        ({"group_by": ["metric.topic"]}, 400, "group_by may only hold"),
        ({"limit": 1001}, 400, "limit must be an integer from 1 to 1000"),
        ({"format": "GROUPED", "group_by": []}, 400, "GROUPED is only allowed"),
        ({"order_by": [{"metric": SENT}]}, 400, "only valid for granularity ALL"),
        (
            {"filter": {"field": "resource.connector.id", "op": "EQ", "value": "lcc-nope"}},
            403,
            "lcc-nope",
        ),
    ],
)
async def test_bad_queries_are_error_responses(
    build: Build, change: dict[str, Any], status: int, detail: str
) -> None:
    harness = build()
    request = {**_request(SENT, [_id(harness, "orders-source")]), **change}

    response = await harness.client.post(QUERY, json=request)

    assert response.status_code == status
    (error,) = response.json()["errors"]
    assert error["status"] == str(status)
    assert detail in error["detail"]


async def test_a_missing_filter_and_broken_json_are_400(build: Build) -> None:
    harness = build()
    request = _request(SENT, [_id(harness, "orders-source")])
    del request["filter"]

    unfiltered = await harness.client.post(QUERY, json=request)
    broken = await harness.client.post(QUERY, content=b"{nope")
    bad_token = await harness.client.post(
        QUERY,
        json=_request(SENT, [_id(harness, "orders-source")]),
        params={"page_token": base64.urlsafe_b64encode(b"rows:1").decode()},
    )

    assert [unfiltered.status_code, broken.status_code, bad_token.status_code] == [400, 400, 400]


async def test_a_key_reads_only_connectors_of_its_clusters(build: Build) -> None:
    harness = build(auth=NARROW_AUTH)
    other = harness.simulator.connector(OTHER_CLUSTER, "audit-sink").id

    response = await harness.client.post(
        QUERY, json=_request(RECEIVED, [_id(harness, "billing-sink"), other])
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/v2/metrics/health-plus/query"),  # cloud and cloud-custom are served
        ("GET", QUERY),
        ("GET", "/v2/metrics/cloud/descriptors/metrics"),
    ],
)
async def test_other_datasets_and_paths_are_404(build: Build, method: str, url: str) -> None:
    harness = build()

    response = await harness.client.request(method, url)

    assert response.status_code == 404
    assert response.json()["errors"][0]["status"] == "404"


async def test_the_metrics_api_limits_each_ip_address(build: Build) -> None:
    harness = build(scenario(metrics_api={"rate_limit": {"limit": 2, "window_seconds": 60}}))
    harness.clock.advance(15)
    request = _request(SENT, [_id(harness, "orders-source")])
    elsewhere = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(harness.simulator), client=("10.9.9.9", 1)),
        base_url="http://sim",
        auth=AUTH,
    )

    codes = [(await harness.client.post(QUERY, json=request)).status_code for _ in range(3)]
    refused = await harness.client.post(QUERY, json=request)
    async with elsewhere:
        other_ip = await elsewhere.post(QUERY, json=request)
    connect = await harness.client.get(path())

    assert codes == [200, 200, 429]
    assert refused.json()["errors"][0]["status"] == "429"
    assert refused.headers["ratelimit-limit"] == "2"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-reset"] == "45"
    assert "x-ratelimit-limit" not in refused.headers
    assert other_ip.status_code == 200, "the limit is per IP address"
    assert connect.status_code == 200, "the Connect API's own limit is separate"
    assert [c.rate_limited for c in harness.simulator.calls] == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]


async def test_rate_limit_headers_can_come_on_every_answer(build: Build) -> None:
    limit = {"limit": 300, "window_seconds": 60, "headers": "always"}
    harness = build(scenario(metrics_api={"rate_limit": limit}))

    response = await harness.client.post(
        QUERY, json=_request(SENT, [_id(harness, "orders-source")])
    )

    assert (response.headers["ratelimit-limit"], response.headers["ratelimit-remaining"]) == (
        "300",
        "299",
    )


async def test_queries_are_recorded_and_faults_can_target_them(build: Build) -> None:
    faults = [{"match": {"endpoint": "metrics_query"}, "action": {"invalid_json": True}}]
    harness = build(scenario(faults=faults))
    harness.clock.advance(300)

    response = await harness.client.post(
        QUERY, json=_request(SENT, [_id(harness, "orders-source")])
    )

    with pytest.raises(ValueError):
        response.json()
    (call,) = harness.simulator.calls
    assert (call.api, call.endpoint, call.method, call.api_key) == (
        "metrics",
        "metrics_query",
        "POST",
        AUTH[0],
    )
