"""The export endpoint's answer: Prometheus text exposition format 0.0.4.

Shaped as the Metrics spec's `GET /v2/metrics/{dataset}/export` describes it:

- one gauge per metric (Confluent's counters are per-minute deltas, so they are not Prometheus
  counters: "Counter metrics are classified as the Prometheus `gauge` type");
- label names without their `resource.` prefix: `connector_id="lcc-..."`;
- one sample per series, for the interval that began at now - offset rounded down to the start
  of its sample period, with that start as the sample's timestamp. Prometheus' text format counts
  timestamps in milliseconds, as Confluent's export does (a public script that reads the real
  endpoint divides its timestamps by 1000; the spec's own example shows seconds, which a real
  Prometheus would read as January 1970).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from watchdog.simulator.connector import SimulatedConnector
from watchdog.simulator.metrics_catalog import CONNECTOR_METRICS, ConnectorMetric

# The media type the spec lists for this answer.
CONTENT_TYPE = "text/plain;version=0.0.4"
EXPORT_LABEL = "connector_id"


@dataclass(frozen=True, slots=True)
class ExportWindow:
    """The sample every series shows: [start, end) in simulator seconds, stamped at `epoch_ms`."""

    start: float
    end: float
    epoch_ms: int


def export_window(
    now: float, epoch: float, offset_seconds: float, sample_seconds: int
) -> ExportWindow:
    """The sample period that holds now - offset (in wall-clock time, aligned to UTC)."""
    wall_start = (epoch + now - offset_seconds) // sample_seconds * sample_seconds
    start = wall_start - epoch
    return ExportWindow(start, start + sample_seconds, int(wall_start * 1000))


def render(
    connectors: Sequence[SimulatedConnector],
    window: ExportWindow,
    metric_names: set[str] | None = None,
) -> str:
    """The exposition text for these connectors; `metric_names` (Metrics API names) narrows it.

    A connector created after the sample ended has no sample yet, as on Confluent Cloud where a
    resource appears in the export once it has data.
    """
    present = [c for c in connectors if c.created_at < window.end]
    families = []
    for metric in CONNECTOR_METRICS:
        if metric_names is not None and metric.name not in metric_names:
            continue
        samples = [
            _sample(metric, connector, window)
            for connector in present
            if metric.applies_to(connector)
        ]
        if samples:
            name = metric.export_name
            header = [f"# HELP {name} {_escape_help(metric.description)}", f"# TYPE {name} gauge"]
            families.append("\n".join([*header, *samples]) + "\n")
    return "\n".join(families)


def _sample(metric: ConnectorMetric, connector: SimulatedConnector, window: ExportWindow) -> str:
    start = max(window.start, connector.created_at)
    value = float(metric.measure(connector, start, window.end))
    label = f'{EXPORT_LABEL}="{_escape_label(connector.id)}"'
    return f"{metric.export_name}{{{label}}} {value!r} {window.epoch_ms}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
