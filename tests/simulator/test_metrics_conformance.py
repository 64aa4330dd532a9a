"""The simulated Metrics API checked against Confluent's published Metrics spec (specs/)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from watchdog.simulator.metrics_catalog import CONNECTOR_METRICS, ConnectorMetric
from watchdog.simulator.metrics_export import CONTENT_TYPE
from watchdog.simulator.metrics_query import GRANULARITIES

from .openapi import Spec, assert_valid
from .support import CLUSTER, Build, Harness, scenario

QUERY_PATH = "/v2/metrics/{dataset}/query"
EXPORT_PATH = "/v2/metrics/{dataset}/export"


@pytest.fixture(scope="module")
def metrics() -> Spec:
    return Spec("confluent-metrics-v2-openapi.yaml")


def _request(harness: Harness, **extra: Any) -> dict[str, Any]:
    ids = [harness.simulator.connector(CLUSTER, n).id for n in ("orders-source", "billing-sink")]
    return {
        "aggregations": [{"metric": "io.confluent.kafka.connect/received_records"}],
        "filter": {
            "op": "OR",
            "filters": [{"field": "resource.connector.id", "op": "EQ", "value": i} for i in ids],
        },
        "granularity": "PT1M",
        "intervals": ["now-10m|m/now|m"],
        "group_by": ["resource.connector.id"],
        "limit": 10,
        **extra,
    }


@pytest.mark.parametrize(
    ("response_format", "schema"),
    [("FLAT", "FlatQueryResponse"), ("GROUPED", "GroupedQueryResponse")],
)
async def test_query_requests_and_answers_match_the_schemas(
    build: Build, metrics: Spec, response_format: str, schema: str
) -> None:
    harness = build()
    harness.clock.advance(600)
    request = _request(harness, format=response_format)

    response = await harness.client.post("/v2/metrics/cloud/query", json=request)

    assert_valid(metrics.schema_validator("QueryRequest"), request)
    assert response.status_code == 200
    body = response.json()
    assert body["data"], "an empty data list would match both response shapes"
    assert_valid(metrics.schema_validator(schema), body)
    assert_valid(metrics.validator(QUERY_PATH, "post", 200), body)
    assert_valid(metrics.schema_validator("Meta"), body["meta"])


async def test_errors_are_the_specs_error_response(build: Build, metrics: Spec) -> None:
    harness = build()

    bad = await harness.client.post("/v2/metrics/cloud/query", json={"granularity": "PT1M"})
    export = await harness.client.get("/v2/metrics/cloud/export")

    for response in (bad, export):
        assert response.status_code == 400
        assert_valid(metrics.validator(QUERY_PATH, "post", "default"), response.json())


def test_the_export_answers_in_a_media_type_the_spec_lists(metrics: Spec) -> None:
    declared = metrics.operation(EXPORT_PATH, "get")["responses"]["200"]["content"]

    assert CONTENT_TYPE in declared


def test_export_names_follow_the_specs_translation(metrics: Spec) -> None:
    """The spec's own example: io.confluent.kafka.server/received_bytes is exported as
    confluent_kafka_server_received_bytes, with the kafka_id label (`resource.` dropped)."""
    example = metrics.operation(EXPORT_PATH, "get")["responses"]["200"]["content"][CONTENT_TYPE][
        "example"
    ]
    kafka = ConnectorMetric("io.confluent.kafka.server/received_bytes", "", "source", "SUM", min)

    assert f"# TYPE {kafka.export_name} gauge" in example
    assert re.search(rf"^{kafka.export_name}{{kafka_id=", example, re.MULTILINE)
    assert [m.export_name for m in CONNECTOR_METRICS] == [
        "confluent_kafka_connect_sent_records",
        "confluent_kafka_connect_sent_bytes",
        "confluent_kafka_connect_received_records",
        "confluent_kafka_connect_received_bytes",
        "confluent_kafka_connect_dead_letter_queue_records",
        "confluent_kafka_connect_records_lag_max",
    ]


def test_every_export_parameter_the_simulator_reads_is_in_the_spec(metrics: Spec) -> None:
    declared = {p["name"] for p in metrics.operation(EXPORT_PATH, "get")["parameters"]}

    assert {
        "resource.kafka.id",
        "resource.connector.id",
        "resource.ksql.id",
        "resource.schema_registry.id",
        "metric",
    } <= declared


def test_granularities_are_the_specs(metrics: Spec) -> None:
    assert list(GRANULARITIES) == metrics.document["components"]["schemas"]["Granularity"]["enum"]


async def test_the_specs_filter_examples_are_understood(build: Build, metrics: Spec) -> None:
    harness = build(scenario())
    harness.clock.advance(600)
    cid = harness.simulator.connector(CLUSTER, "billing-sink").id
    schemas = metrics.document["components"]["schemas"]
    compound = schemas["CompoundFilter"]["example"]
    unary = schemas["UnaryFilter"]["example"]
    # The examples filter Kafka metrics; the same shapes on the connector label.
    connector_compound = {
        "op": compound["op"],
        "filters": [
            {**f, "field": "resource.connector.id", "value": cid} for f in compound["filters"]
        ],
    }
    connector_unary = {
        "op": unary["op"],
        "filter": {**unary["filter"], "field": "resource.connector.id"},
    }
    request = _request(
        harness, filter={"op": "AND", "filters": [connector_compound, connector_unary]}
    )

    response = await harness.client.post("/v2/metrics/cloud/query", json=request)

    assert_valid(metrics.schema_validator("QueryRequest"), request)
    assert response.status_code == 200
    assert {p["resource.connector.id"] for p in response.json()["data"]} == {cid}
