"""The connector metrics the simulated Metrics API serves, and how each is measured.

Names, resource label, aggregation and meaning follow research note §5 (Confluent's descriptor
texts as copied into public dashboards, Confluent's metric lists). Every value is read from the
connector's throughput ledger, so the query and export endpoints and the connector's own
records counter always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from watchdog.simulator.connector import SimulatedConnector

Aggregation = Literal["SUM", "MAX"]

# The connector resource's one label: Confluent's `lcc-` id (research note §5).
CONNECTOR_ID_LABEL = "resource.connector.id"


@dataclass(frozen=True, slots=True)
class ConnectorMetric:
    name: str  # the Metrics API name, e.g. io.confluent.kafka.connect/sent_records
    description: str
    connector_type: Literal["source", "sink"]  # the connectors that report it
    # SUM for the per-minute delta counters, MAX for the lag gauge: the aggregation the API
    # applies when `agg` is omitted, and the only one it accepts (spec changelog 2021-08-24).
    aggregation: Aggregation
    # The value over [start, end) in simulator seconds.
    measure: Callable[[SimulatedConnector, float, float], float]

    @property
    def export_name(self) -> str:
        """The Prometheus name the export endpoint uses: the spec's "Metric translation" (the
        `io.` prefix dropped, `.` and `/` made `_`), e.g. confluent_kafka_connect_sent_records."""
        return "confluent_" + self.name.removeprefix("io.confluent.").replace(".", "_").replace(
            "/", "_"
        )

    def applies_to(self, connector: SimulatedConnector) -> bool:
        return connector.spec.type == self.connector_type


def _records(connector: SimulatedConnector, start: float, end: float) -> float:
    return connector.throughput.records_between(start, end)


def _bytes(connector: SimulatedConnector, start: float, end: float) -> float:
    return _records(connector, start, end) * connector.spec.record_bytes


def _lag(connector: SimulatedConnector, start: float, end: float) -> float:
    return connector.throughput.max_lag(start, end)


def _nothing(connector: SimulatedConnector, start: float, end: float) -> float:
    # Simulated connectors never route records to a dead letter queue.
    return 0.0


_SAMPLED = "The count is sampled every 60 seconds."
CONNECTOR_METRICS: tuple[ConnectorMetric, ...] = (
    ConnectorMetric(
        "io.confluent.kafka.connect/sent_records",
        "The delta count of total number of records sent from the transformations and written "
        "to Kafka for the source connector. Each sample is the number of records sent since "
        f"the previous data point. {_SAMPLED}",
        "source",
        "SUM",
        _records,
    ),
    ConnectorMetric(
        "io.confluent.kafka.connect/sent_bytes",
        "The delta count of total bytes sent from the transformations and written to Kafka for "
        f"the source connector. Each sample is the number of bytes sent since the previous data "
        f"point. {_SAMPLED}",
        "source",
        "SUM",
        _bytes,
    ),
    ConnectorMetric(
        "io.confluent.kafka.connect/received_records",
        "The delta count of total number of records received by the sink connector. Each "
        f"sample is the number of records received since the previous data point. {_SAMPLED}",
        "sink",
        "SUM",
        _records,
    ),
    ConnectorMetric(
        "io.confluent.kafka.connect/received_bytes",
        "The delta count of total bytes received by the sink connector. Each sample is the "
        f"number of bytes received since the previous data point. {_SAMPLED}",
        "sink",
        "SUM",
        _bytes,
    ),
    ConnectorMetric(
        "io.confluent.kafka.connect/dead_letter_queue_records",
        "The delta count of dead letter queue records written to Kafka for the sink connector. "
        f"{_SAMPLED}",
        "sink",
        "SUM",
        _nothing,
    ),
    ConnectorMetric(
        "io.confluent.kafka.connect/records_lag_max",
        "The maximum record lag of the sink connector: how many records it is behind the "
        "latest offset, at most, in the sampling interval.",
        "sink",
        "MAX",
        _lag,
    ),
)
METRICS_BY_NAME = {metric.name: metric for metric in CONNECTOR_METRICS}
