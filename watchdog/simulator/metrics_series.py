"""The query endpoint's answer: per-bucket points of the connectors a query selected.

Buckets are aligned to UTC boundaries (spec, Granularity) and clipped to the query's intervals,
to the connector's lifetime and to the data already available. Groups (one per connector, with
`group_by`) come in lexicographic order of their label and are paged `limit` at a time with an
opaque `page_token` (spec, QueryRequest.limit and the query's `page_token` parameter); without
`group_by` the connectors are combined with the metric's own aggregation.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from watchdog.simulator.connector import SimulatedConnector
from watchdog.simulator.metrics_catalog import CONNECTOR_ID_LABEL
from watchdog.simulator.metrics_query import Query, QueryError


@dataclass(frozen=True, slots=True)
class QueryAnswer:
    """The points of one query: per-bucket values, clipped to what is available."""

    query: Query
    epoch: float
    available_until: float  # Unix seconds: minutes ending later are not queryable yet
    emit_zeros: bool

    def response(self, connectors: list[SimulatedConnector], offset: int) -> dict[str, Any]:
        query = self.query
        if not query.group_by_connector:
            points = self._aggregated(connectors)
            return {"data": [_point(when, value) for when, value in points]}
        ordered = sorted(connectors, key=lambda c: c.id)  # groups in lexicographic order
        page = ordered[offset : offset + query.limit]
        groups = [(c.id, self._points(c)) for c in page]
        groups = [(label, points) for label, points in groups if points]
        if query.format == "GROUPED":
            data: list[dict[str, Any]] = [
                {CONNECTOR_ID_LABEL: label, "points": [_point(w, v) for w, v in points]}
                for label, points in groups
            ]
        else:
            data = [
                {**_point(when, value), CONNECTOR_ID_LABEL: label}
                for label, points in groups
                for when, value in points
            ]
        pagination: dict[str, Any] = {"page_size": query.limit, "total_size": len(ordered)}
        if offset + query.limit < len(ordered):
            pagination["next_page_token"] = _page_token(offset + query.limit)
        return {"data": data, "meta": {"pagination": pagination}}

    def _points(self, connector: SimulatedConnector) -> list[tuple[float, float]]:
        """(bucket start in Unix seconds, value), newest first ("data points are always ordered
        by timestamp in descending order", spec QueryRequest.order_by; its examples disagree,
        so clients must not rely on either)."""
        created = self.epoch + connector.created_at
        points = []
        for bucket, start, end in self._buckets():
            start = max(start, created)
            if end <= start:
                continue
            value = float(
                self.query.metric.measure(connector, start - self.epoch, end - self.epoch)
            )
            if value != 0 or self.emit_zeros:
                points.append((bucket, value))
        return sorted(points, reverse=True)

    def _aggregated(self, connectors: list[SimulatedConnector]) -> list[tuple[float, float]]:
        combine = sum if self.query.metric.aggregation == "SUM" else max
        by_bucket: dict[float, list[float]] = {}
        for connector in connectors:
            for bucket, value in self._points(connector):
                by_bucket.setdefault(bucket, []).append(value)
        return sorted(((b, float(combine(v))) for b, v in by_bucket.items()), reverse=True)

    def _buckets(self) -> Iterator[tuple[float, float, float]]:
        """(bucket timestamp, start, end) in Unix seconds, each once, clipped to the intervals
        and to the data already available."""
        seen: set[float] = set()
        size = self.query.bucket_seconds
        for interval_start, interval_end in self.query.intervals:
            start, end = interval_start.timestamp(), interval_end.timestamp()
            if size is None:
                candidates: Iterator[tuple[float, float, float]] = iter([(start, start, end)])
            else:
                candidates = (
                    (b, max(b, start), min(b + size, end))
                    for b in _range(floor_to(start, size), end, size)
                )
            for bucket, bucket_start, bucket_end in candidates:
                bucket_end = min(bucket_end, self.available_until)
                if bucket in seen or bucket_end <= bucket_start:
                    continue
                seen.add(bucket)
                yield bucket, bucket_start, bucket_end


def _range(start: float, stop: float, step: int) -> Iterator[float]:
    value = start
    while value < stop:
        yield value
        value += step


def floor_to(seconds: float, size: int) -> float:
    return math.floor(seconds / size) * size


def _point(when: float, value: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"timestamp": stamp, "value": value}


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"groups:{offset}".encode()).decode()


def page_offset(query_params: tuple[tuple[str, str], ...], query: Query) -> int:
    """The group offset a `page_token` stands for (0 without one)."""
    tokens = [value for key, value in query_params if key == "page_token"]
    if not tokens:
        return 0
    if not query.group_by_connector:
        raise QueryError("pagination is only supported for requests containing a group_by")
    try:
        prefix, _, number = base64.urlsafe_b64decode(tokens[-1].encode()).decode().partition(":")
        offset = int(number)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        prefix, offset = "", -1
    if prefix != "groups" or offset < 0:
        raise QueryError("invalid or expired page_token; restart from the first page")
    return offset
