"""GET /v2/metrics/cloud/export: per-connector samples in Prometheus text format 0.0.4, read
back with prometheus_client's own parser, checked against the connector's records counter."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .support import (
    CLUSTER,
    EPOCH,
    NARROW_AUTH,
    OTHER_CLUSTER,
    Build,
    Harness,
    path,
    scenario,
)

EXPORT = "/v2/metrics/cloud/export"
# The simulator's defaults, as the spec describes them: 5 minutes back, whole minutes.
OFFSET, SAMPLE = 180, 60  # the default offset: 3 minutes


def _series(text: str) -> dict[tuple[str, str], tuple[float, float | None]]:
    """(metric name, connector_id) -> (value, timestamp in seconds), every family a gauge."""
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for sample in family.samples:
            assert set(sample.labels) == {"connector_id"}
            found[(sample.name, sample.labels["connector_id"])] = (sample.value, sample.timestamp)
    return found


async def _export(harness: Harness, *names: str, **params: Any) -> httpx.Response:
    ids = [("resource.connector.id", harness.simulator.connector(CLUSTER, n).id) for n in names]
    extra = [(key.replace("_", "."), value) for key, value in params.items()]
    return await harness.client.get(EXPORT, params=[*ids, *extra])


def _id(harness: Harness, name: str, cluster: str = CLUSTER) -> str:
    return harness.simulator.connector(cluster, name).id


async def test_a_running_source_exports_the_records_of_the_minute_three_minutes_back(
    build: Build,
) -> None:
    harness = build(scenario([{"name": "orders-source", "records_per_second": 10}]))
    harness.clock.advance(280)  # 00:04:40: the sample is 00:01:00 to 00:02:00

    response = await _export(harness, "orders-source")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain;version=0.0.4"
    series = _series(response.text)
    source = _id(harness, "orders-source")
    assert series == {
        ("confluent_kafka_connect_sent_records", source): (600.0, EPOCH + 60),
        ("confluent_kafka_connect_sent_bytes", source): (600.0 * 512, EPOCH + 60),
    }


async def test_sink_series_carry_records_bytes_lag_and_dead_letters(build: Build) -> None:
    sink = {"name": "billing-sink", "type": "sink", "records_per_second": 2, "record_bytes": 100}
    harness = build(scenario([sink]))
    harness.clock.advance(280)

    series = _series((await _export(harness, "billing-sink")).text)

    sink_id = _id(harness, "billing-sink")
    assert series == {
        ("confluent_kafka_connect_received_records", sink_id): (120.0, EPOCH + 60),
        ("confluent_kafka_connect_received_bytes", sink_id): (12000.0, EPOCH + 60),
        ("confluent_kafka_connect_dead_letter_queue_records", sink_id): (0.0, EPOCH + 60),
        ("confluent_kafka_connect_records_lag_max", sink_id): (0.0, EPOCH + 60),
    }


async def test_a_stall_shows_as_zero_records_and_growing_lag(build: Build) -> None:
    sink = {"name": "billing-sink", "type": "sink", "records_per_second": 1}
    harness = build(scenario([sink, {"name": "orders-source", "script": {"stall_at": 90}}]))
    sink_id, source_id = _id(harness, "billing-sink"), _id(harness, "orders-source")
    harness.simulator.set_stalled(CLUSTER, "billing-sink")  # from t = 0
    harness.clock.advance(180 + 150)  # the sample is [120, 180)

    series = _series((await _export(harness, "billing-sink", "orders-source")).text)

    assert series[("confluent_kafka_connect_received_records", sink_id)][0] == 0
    # The lag at the end of [120, 180): everything produced since t = 0.
    assert series[("confluent_kafka_connect_records_lag_max", sink_id)][0] == 180
    assert series[("confluent_kafka_connect_sent_records", source_id)][0] == 0


async def test_a_stall_that_begins_mid_minute_shows_the_part_before_it(build: Build) -> None:
    harness = build(scenario([{"name": "c", "records_per_second": 10, "script": {"stall_at": 75}}]))
    harness.clock.advance(240)  # the sample is [60, 120)

    series = _series((await _export(harness, "c")).text)

    assert series[("confluent_kafka_connect_sent_records", _id(harness, "c"))][0] == 150


@pytest.mark.parametrize(
    "script",
    [
        {"initial": "FAILED"},
        {"initial": "PAUSED"},
        {"initial": "PROVISIONING"},
        {"idle_at": 0},
    ],
)
async def test_nothing_moves_unless_the_connector_flows(
    build: Build, script: dict[str, Any]
) -> None:
    harness = build(scenario([{"name": "c", "type": "sink", "tasks": 2, "script": script}]))
    harness.clock.advance(400)

    series = _series((await _export(harness, "c")).text)

    assert series[("confluent_kafka_connect_received_records", _id(harness, "c"))][0] == 0


async def test_an_idle_sink_has_no_records_and_no_lag(build: Build) -> None:
    sink = {"name": "c", "type": "sink", "script": {"idle_at": 30}}
    harness = build(scenario([sink]))
    harness.clock.advance(420)  # the sample is [120, 180): idle throughout

    series = _series((await _export(harness, "c")).text)

    cid = _id(harness, "c")
    assert series[("confluent_kafka_connect_received_records", cid)][0] == 0
    assert series[("confluent_kafka_connect_records_lag_max", cid)][0] == 0


async def test_samples_add_up_to_the_records_counter(build: Build) -> None:
    script = {"flap": {"running_seconds": 37, "failed_seconds": 11}, "stall_at": 500}
    harness = build(scenario([{"name": "c", "records_per_second": 3, "script": script}]))
    restart = path(connector="c", operation="restart")
    harness.clock.advance(OFFSET - SAMPLE)
    total, counter_at_900 = 0.0, None
    for _ in range(15):  # the samples [0, 60), [60, 120), ..., [840, 900)
        harness.clock.advance(SAMPLE)
        t = harness.simulator.now()
        series = _series((await _export(harness, "c")).text)
        total += series[("confluent_kafka_connect_sent_records", _id(harness, "c"))][0]
        if t == 600:
            assert (await harness.client.post(restart)).status_code == 202  # ends the stall
        if t == 900:
            counter_at_900 = harness.simulator.connector(CLUSTER, "c").records

    assert total == counter_at_900


async def test_export_names_only_the_metrics_asked_for(build: Build) -> None:
    harness = build(scenario([{"name": "c", "type": "sink"}]))
    harness.clock.advance(400)

    response = await _export(harness, "c", metric="io.confluent.kafka.connect/received_records")

    assert [name for name, _ in _series(response.text)] == [
        "confluent_kafka_connect_received_records"
    ]


async def test_a_connector_newer_than_the_sample_has_no_series_yet(build: Build) -> None:
    harness = build(scenario([{"name": "c"}]))
    harness.clock.advance(100)  # the sample would be from before the simulator started

    response = await _export(harness, "c")

    assert (response.status_code, response.text) == (200, "")


async def test_the_offset_and_sample_length_are_settings(build: Build) -> None:
    settings = {"export_offset_seconds": 5, "export_sample_seconds": 5}
    harness = build(scenario([{"name": "c", "records_per_second": 2}], metrics_api=settings))
    harness.clock.advance(63)

    series = _series((await _export(harness, "c")).text)

    # 63 - 5 = 58 rounds down to the 5-second sample [55, 60).
    assert series[("confluent_kafka_connect_sent_records", _id(harness, "c"))] == (
        10.0,
        EPOCH + 55,
    )


async def test_kafka_cluster_ids_are_accepted_but_carry_no_connector_series(build: Build) -> None:
    harness = build()
    harness.clock.advance(400)

    response = await harness.client.get(EXPORT, params={"resource.kafka.id": CLUSTER})

    assert (response.status_code, response.text) == (200, "")


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ([], 400, "at least one resource is required"),
        ([("resource.connector.id", "lcc-nope")], 403, "lcc-nope"),
        ([("resource.kafka.id", "lkc-nope")], 403, "lkc-nope"),
        ([("resource.ksql.id", "lksqlc-1")], 403, "lksqlc-1"),
    ],
)
async def test_export_errors_are_error_responses(
    build: Build, params: list[tuple[str, str]], status: int, detail: str
) -> None:
    harness = build()

    response = await harness.client.get(EXPORT, params=params)

    assert response.status_code == status
    (error,) = response.json()["errors"]
    assert error["status"] == str(status) and detail in error["detail"]


async def test_a_key_reads_only_the_clusters_it_may_use(build: Build) -> None:
    harness = build(auth=NARROW_AUTH)
    harness.clock.advance(400)
    other = harness.simulator.connector(OTHER_CLUSTER, "audit-sink").id

    allowed = await _export(harness, "orders-source")
    refused = await harness.client.get(EXPORT, params={"resource.connector.id": other})

    assert (allowed.status_code, refused.status_code) == (200, 403)


@pytest.mark.parametrize("auth", [None, ("test-key", "wrong"), ("stranger", "x")])
async def test_export_needs_an_api_key(build: Build, auth: tuple[str, str] | None) -> None:
    harness = build(auth=auth)

    response = await _export(harness, "orders-source")

    assert response.status_code == 401
    assert response.json() == {"errors": [{"status": "401", "detail": "Unauthorized"}]}


async def test_each_resource_may_be_exported_a_limited_number_of_times_an_hour(
    build: Build,
) -> None:
    settings = {"export_rate_limit": {"limit": 2, "window_seconds": 3600}}
    harness = build(scenario(metrics_api=settings))
    harness.clock.advance(1000)

    answers = [(await _export(harness, "orders-source")).status_code for _ in range(3)]
    other = await _export(harness, "billing-sink")

    assert answers == [200, 200, 429]
    assert other.status_code == 200, "the limit is per resource"
    refused = await _export(harness, "orders-source")
    (error,) = refused.json()["errors"]
    assert error["status"] == "429"
    assert f"connector.id:{_id(harness, 'orders-source')}" in error["detail"]
    assert refused.headers.get_list("ratelimit-remaining") == ["0"]
    # Relative seconds to the end of the hour window that began at t = 0.
    assert refused.headers["ratelimit-reset"] == str(3600 - 1000)


async def test_with_headers_always_each_scope_sends_its_own_set(build: Build) -> None:
    settings = {
        "rate_limit": {"limit": 50, "window_seconds": 60, "headers": "always"},
        "export_rate_limit": {"limit": 5, "window_seconds": 3600},
    }
    harness = build(scenario(metrics_api=settings))
    harness.clock.advance(400)

    response = await _export(harness, "orders-source")

    assert response.status_code == 200
    assert response.headers.get_list("ratelimit-limit") == ["50", "5"]
    assert response.headers.get_list("ratelimit-remaining") == ["49", "4"]


async def test_export_calls_are_recorded_and_faults_can_target_them(build: Build) -> None:
    faults = [
        {"match": {"endpoint": "metrics_export"}, "action": {"status": 503}, "when": {"count": 1}}
    ]
    harness = build(scenario(faults=faults))
    harness.clock.advance(400)

    failed = await _export(harness, "orders-source")
    served = await _export(harness, "orders-source")

    assert (failed.status_code, served.status_code) == (503, 200)
    assert failed.json() == {"errors": [{"status": "503", "detail": "Service Unavailable"}]}
    calls = harness.simulator.calls
    assert [(c.api, c.endpoint, c.status_code, c.fault) for c in calls] == [
        ("metrics", "metrics_export", 503, "faults[0]"),
        ("metrics", "metrics_export", 200, None),
    ]
    assert harness.simulator.restarts() == []
