"""The query endpoint's request, read and checked as the Metrics spec's `QueryRequest` says.

- `aggregations`: exactly one `{metric, agg?}`; `agg` may be omitted (then the metric's own
  aggregation applies) and must otherwise be that aggregation (spec changelog 2021-08-24).
- `filter`: a field filter `{field, op: EQ|GT|GTE, value}` (labels compare lexicographically),
  a compound `{op: AND|OR, filters}` or a unary `{op: NOT, filter}`.
- `granularity`: one of the spec's values; each interval may be at most as long as the spec's
  table allows for it (PT1M: 6 hours, ...).
- `intervals`: ISO-8601 `<start>/<end>`, `<start>/<duration>` or `<duration>/<end>`, where a
  time may be `now` with an offset and a truncation (`now-2m|m`).
- `group_by`, `limit` (groups per page, 1..1000, default 100), `format` (FLAT | GROUPED, the
  latter only with `group_by`), `order_by` (only with granularity ALL).

Anything else is a 400 whose `detail` names the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from watchdog.simulator.metrics_catalog import (
    CONNECTOR_ID_LABEL,
    METRICS_BY_NAME,
    ConnectorMetric,
)

# Granularity -> (bucket seconds or None for ALL, longest interval allowed or None).
GRANULARITIES: dict[str, tuple[int | None, timedelta | None]] = {
    "PT1M": (60, timedelta(hours=6)),
    "PT5M": (300, timedelta(days=1)),
    "PT15M": (900, timedelta(days=4)),
    "PT30M": (1800, timedelta(days=7)),
    "PT1H": (3600, None),
    "PT4H": (4 * 3600, None),
    "PT6H": (6 * 3600, None),
    "PT12H": (12 * 3600, None),
    "P1D": (86400, None),
    "ALL": (None, None),
}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# The labels a connector metric can be filtered and grouped on.
CONNECTOR_LABELS = frozenset({CONNECTOR_ID_LABEL})

_NOW = re.compile(r"^now(?:(?P<sign>[+-])(?P<amount>\d+)(?P<unit>[mhd]))?(?:\|(?P<trunc>[mhd]))?$")
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


class QueryError(ValueError):
    """A request the API refuses; `status` is the HTTP status (400 or 403)."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.status = status


# --- filters --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldFilter:
    field: str
    op: Literal["EQ", "GT", "GTE"]
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.field)
        if actual is None:
            return False
        if self.op == "EQ":
            return actual == self.value
        return actual > self.value if self.op == "GT" else actual >= self.value

    def named(self) -> set[str]:
        return {self.value} if self.op == "EQ" and self.field == CONNECTOR_ID_LABEL else set()


@dataclass(frozen=True, slots=True)
class CompoundFilter:
    op: Literal["AND", "OR"]
    filters: tuple[Filter, ...]

    def matches(self, labels: dict[str, str]) -> bool:
        results = (f.matches(labels) for f in self.filters)
        return all(results) if self.op == "AND" else any(results)

    def named(self) -> set[str]:
        return set().union(*(f.named() for f in self.filters))


@dataclass(frozen=True, slots=True)
class NotFilter:
    filter: Filter

    def matches(self, labels: dict[str, str]) -> bool:
        return not self.filter.matches(labels)

    def named(self) -> set[str]:
        return set()  # "not lcc-x" names no resource the caller asks to read


Filter = FieldFilter | CompoundFilter | NotFilter


def parse_filter(node: Any, where: str = "filter") -> Filter:
    if not isinstance(node, dict):
        raise QueryError(f"{where} must be an object")
    op = node.get("op")
    if op in ("EQ", "GT", "GTE"):
        field, value = node.get("field"), node.get("value")
        if field not in CONNECTOR_LABELS:
            raise QueryError(f"{where}.field: connector metrics have no label {field!r}")
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise QueryError(f"{where}.value must be a string or an integer")
        return FieldFilter(field, op, str(value))
    if op in ("AND", "OR"):
        filters = node.get("filters")
        if not isinstance(filters, list) or not filters:
            raise QueryError(f"{where}.filters must be a non-empty list")
        parsed = tuple(parse_filter(f, f"{where}.filters[{i}]") for i, f in enumerate(filters))
        return CompoundFilter(op, parsed)
    if op == "NOT":
        return NotFilter(parse_filter(node.get("filter"), f"{where}.filter"))
    raise QueryError(f"{where}.op must be one of EQ, GT, GTE, AND, OR, NOT")


# --- intervals ------------------------------------------------------------------------------


def parse_interval(text: Any, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of an ISO-8601 interval whose times may be `now` expressions."""
    if not isinstance(text, str) or text.count("/") != 1:
        raise QueryError(
            f"interval {text!r} is not <start>/<end>, <start>/<duration> or <duration>/<end>"
        )
    first, second = text.split("/")
    if first.startswith("P"):
        end = _instant(second, now)
        start = end - _duration(first)
    else:
        start = _instant(first, now)
        end = start + _duration(second) if second.startswith("P") else _instant(second, now)
    if end <= start:
        raise QueryError(f"interval {text!r} ends before it starts")
    return start, end


def _instant(text: str, now: datetime) -> datetime:
    match = _NOW.match(text)
    if match is not None:
        moment = now
        if match["unit"]:
            offset = _UNITS[match["unit"]] * int(match["amount"])
            moment = moment + offset if match["sign"] == "+" else moment - offset
        if match["trunc"]:
            # "All hour/day truncation is performed against the UTC timezone" (spec).
            moment = _floor(moment, int(_UNITS[match["trunc"]].total_seconds()))
        return moment
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{text!r} is neither an ISO-8601 time nor a now expression") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise QueryError(
            f"{text!r} is not an ISO-8601 duration of weeks, days, hours, minutes, seconds"
        )
    parts = {unit: float(amount) for unit, amount in match.groupdict().items() if amount}
    return timedelta(**parts)


def _floor(moment: datetime, seconds: int) -> datetime:
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


# --- the request ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    metric: ConnectorMetric
    filter: Filter
    bucket_seconds: int | None  # None: granularity ALL, one bucket per interval
    intervals: tuple[tuple[datetime, datetime], ...]
    group_by_connector: bool
    limit: int
    format: Literal["FLAT", "GROUPED"]


def parse_query(body: Any, now: datetime) -> Query:
    if not isinstance(body, dict):
        raise QueryError("the request body must be a JSON object (QueryRequest)")
    metric = _aggregation(body.get("aggregations"))
    granularity = body.get("granularity")
    if granularity not in GRANULARITIES:
        raise QueryError(f"granularity must be one of {', '.join(GRANULARITIES)}")
    bucket_seconds, longest = GRANULARITIES[granularity]
    intervals = body.get("intervals")
    if not isinstance(intervals, list) or not intervals:
        raise QueryError("intervals must be a non-empty list")
    parsed = tuple(parse_interval(interval, now) for interval in intervals)
    for start, end in parsed:
        if longest is not None and end - start > longest:
            raise QueryError(f"granularity {granularity} allows intervals of at most {longest}")
    if "filter" not in body:
        # The `cloud` dataset authorizes by the resources a filter names (spec, Datasets).
        raise QueryError("a filter naming the resource (resource.connector.id) is required")
    group_by = body.get("group_by", [])
    if not isinstance(group_by, list) or any(g not in CONNECTOR_LABELS for g in group_by):
        raise QueryError(f"group_by may only hold {', '.join(sorted(CONNECTOR_LABELS))}")
    limit = body.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    response_format = body.get("format", "FLAT")
    if response_format not in ("FLAT", "GROUPED"):
        raise QueryError("format must be FLAT or GROUPED")
    if response_format == "GROUPED" and not group_by:
        raise QueryError("format GROUPED is only allowed when group_by is non-empty")
    if body.get("order_by") is not None and granularity != "ALL":
        raise QueryError("order_by is only valid for granularity ALL")
    return Query(
        metric=metric,
        filter=parse_filter(body["filter"]),
        bucket_seconds=bucket_seconds,
        intervals=parsed,
        group_by_connector=bool(group_by),
        limit=limit,
        format=response_format,
    )


def _aggregation(aggregations: Any) -> ConnectorMetric:
    if not isinstance(aggregations, list) or len(aggregations) != 1:
        raise QueryError("aggregations must hold exactly one aggregation")
    aggregation = aggregations[0]
    if not isinstance(aggregation, dict) or not isinstance(aggregation.get("metric"), str):
        raise QueryError("aggregations[0].metric is required")
    metric = METRICS_BY_NAME.get(aggregation["metric"])
    if metric is None:
        raise QueryError(f"unknown metric {aggregation['metric']!r}")
    agg = aggregation.get("agg")
    if agg is not None and agg != metric.aggregation:
        raise QueryError(
            f"{metric.name} supports only agg {metric.aggregation}; omit agg to get it"
        )
    return metric
