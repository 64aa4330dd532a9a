"""A small, strict fake of Confluent's Metrics API v2 (`POST /v2/metrics/{dataset}/query`),
written from /work/shared/reference/confluent-metrics-v2-openapi.yaml and the research notes
(research/confluent-api.md §3.4, §5), not from watchdog/simulator/.

Every query is validated as the spec states it and refused with the spec's `ErrorResponse`
(`{"errors": [{"detail": ...}]}`):
- the dataset path (`cloud`; the research names `cloud-custom` too), HTTP Basic auth;
- QueryRequest: `aggregations` exactly one `{metric, agg?}`, `granularity` from the enum,
  `intervals` at least one ISO 8601 interval (<start>/<end> | <start>/<duration> |
  <duration>/<end>) no longer than its granularity allows, `limit` 1..1000, `group_by` strings,
  `format` FLAT|GROUPED (GROUPED only with a group_by), `order_by` only with granularity ALL,
  `filter` one of Field {op EQ|GT|GTE, field, value}, Compound {op AND|OR, filters},
  Unary {op NOT, filter}; unknown top-level fields refused (the spec defines none: strict);
- a `cloud` query names a resource in its filter (research §5: required for authorization);
- `page_token` only with a group_by (spec: "Pagination is only supported for requests
  containing a `group_by` element");
- connector metric names from research §5.

Answers play every legal shape, chosen on `MetricsFake`: points newest first (the spec: "data
points are always ordered by `timestamp` in descending order") or any order, GROUPED, pages of
`page_groups` groups with `meta.pagination.next_page_token`, values as ints or floats, extra
fields, the group label left out, a 429 with the two `rateLimit-*` sets (research §3.4), a 403
for listed ids.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CONNECTOR_LABEL = "resource.connector.id"
CONNECTOR_METRICS = frozenset(f"io.confluent.kafka.connect/{name}" for name in (
    "sent_records", "received_records", "sent_bytes", "received_bytes", "dead_letter_queue_records",
    "records_lag_max", "connector_status", "connector_task_status"))
# Granularity -> (seconds per bucket, longest interval in seconds or None: unlimited) (spec table)
GRANULARITY = {"PT1M": (60, 6 * 3600), "PT5M": (300, 86400), "PT15M": (900, 4 * 86400), "PT30M": (1800, 7 * 86400),
               "PT1H": (3600, None), "PT4H": (14400, None), "PT6H": (21600, None), "PT12H": (43200, None),
               "P1D": (86400, None), "ALL": (0, None)}
AGGREGATIONS = {"SUM", "MIN", "MAX"}  # AggregationFunction
QUERY_FIELDS = {"aggregations", "group_by", "granularity", "filter", "order_by", "intervals", "limit", "format"}
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")

# (metric, connector id, bucket start) -> value, or None: no point for that bucket
Series = Callable[[str, str, datetime], float | None]


def error(status: int, *details: str, headers: dict[str, str] | None = None) -> Response:
    """The spec's ErrorResponse."""
    return Response(json.dumps({"errors": [{"detail": d} for d in details]}), status, headers,
                    media_type="application/json")


@dataclass
class MetricsFake:
    series: Series
    now: Callable[[], datetime]
    key: str = "TESTKEY0123456789"
    secret: str = "test-secret-Zq8xV3nR7tLk2Pw9"
    latency: timedelta = timedelta(minutes=3)  # points newer than this are not answered yet
    newest_first: bool = True  # the spec's order within a group
    grouped: bool | None = None  # None: as asked (`format`); True/False: this shape whatever was asked
    page_groups: int | None = None  # groups per page (None: `limit`)
    ints: bool = False  # values as JSON integers
    extra: dict[str, Any] = field(default_factory=dict)  # extra fields on every point and the answer
    omit_label: bool = False
    rate_limited: int = 0  # the next N queries answer 429
    bare_429: bool = False  # a 429 without any header (the 2022 spec documents none)
    forbidden: set[str] = field(default_factory=set)  # ids a query naming them is refused (403) for
    queries: list[dict[str, Any]] = field(default_factory=list)  # every body validated and answered
    refused: list[tuple[int, str]] = field(default_factory=list)  # (status, detail) of each refusal


def _duration(text: str) -> timedelta | None:
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _instant(text: str) -> datetime | None:
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$", text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC)


def interval(text: Any) -> tuple[datetime, datetime] | str:
    """An ISO 8601 interval (absolute forms only: the daemon sends no `now`), or why not."""
    if not isinstance(text, str) or text.count("/") != 1:
        return f"interval {text!r} is not <start>/<end>, <start>/<duration> or <duration>/<end>"
    left, right = text.split("/")
    start, end = _instant(left), _instant(right)
    if start is not None and end is None and (span := _duration(right)) is not None:
        end = start + span
    elif start is None and end is not None and (span := _duration(left)) is not None:
        start = end - span
    if start is None or end is None:
        return f"interval {text!r} is not ISO 8601"
    if not start < end:
        return f"interval {text!r} is empty"
    return start, end


def _filter(node: Any, fields: list[str]) -> str | None:
    """Why `node` is no Filter (FieldFilter | CompoundFilter | UnaryFilter), or None."""
    if not isinstance(node, dict):
        return "filter must be an object"
    op = node.get("op")
    if op in ("EQ", "GT", "GTE"):
        if set(node) - {"op", "field", "value"} or "value" not in node:
            return f"field filter {node!r} takes op, field and value"
        if not isinstance(node.get("field"), str) or not isinstance(node["value"], str | int | float):
            return f"field filter {node!r} needs a string field and a value"
        fields.append(node["field"])
        return None
    if op in ("AND", "OR"):
        filters = node.get("filters")
        if set(node) != {"op", "filters"} or not isinstance(filters, list):
            return f"compound filter {op} takes op and a filters array"
        return next((why for f in filters if (why := _filter(f, fields)) is not None), None)
    if op == "NOT":
        if set(node) != {"op", "filter"}:
            return "unary filter NOT takes op and filter"
        return _filter(node["filter"], fields)
    return f"filter op {op!r} is not one of EQ, GT, GTE, AND, OR, NOT"


def validate(dataset: str, body: Any, page_token: str | None) -> str | None:
    """Why the spec refuses this query (400), or None."""
    if not isinstance(body, dict):
        return "the request body must be a QueryRequest object"
    if unknown := set(body) - QUERY_FIELDS:
        return f"unknown fields {sorted(unknown)}"
    for required in ("aggregations", "granularity", "intervals"):
        if required not in body:
            return f"{required} must not be null"
    aggregations = body["aggregations"]
    if not isinstance(aggregations, list) or len(aggregations) != 1:
        return "exactly one aggregation per request is supported"
    aggregation = aggregations[0]
    if not isinstance(aggregation, dict) or not isinstance(aggregation.get("metric"), str) \
            or set(aggregation) - {"metric", "agg"} or aggregation.get("agg", "SUM") not in AGGREGATIONS:
        return f"aggregation {aggregation!r} is not {{metric, agg?}}"
    if dataset == "cloud" and aggregation["metric"].startswith("io.confluent.kafka.connect/") \
            and aggregation["metric"] not in CONNECTOR_METRICS:
        return f"unknown metric {aggregation['metric']}"
    granularity = body["granularity"]
    if granularity not in GRANULARITY:
        return f"granularity {granularity!r} is not one of {list(GRANULARITY)}"
    intervals = body["intervals"]
    if not isinstance(intervals, list) or not intervals:
        return "intervals must hold at least one interval"
    longest = GRANULARITY[granularity][1]
    for text in intervals:
        parsed = interval(text)
        if isinstance(parsed, str):
            return parsed
        if longest is not None and (parsed[1] - parsed[0]).total_seconds() > longest:
            return f"interval {text} is longer than granularity {granularity} allows"
    group_by = body.get("group_by", [])
    if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
        return "group_by must be an array of strings"
    limit = body.get("limit", 100)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        return f"limit {limit!r} must be 1..1000"
    fmt = body.get("format", "FLAT")
    if fmt not in ("FLAT", "GROUPED"):
        return f"format {fmt!r} is not FLAT or GROUPED"
    if fmt == "GROUPED" and not group_by:
        return "format GROUPED is only allowed when group_by is non-empty"
    if "order_by" in body and granularity != "ALL":
        return "order_by is only valid for granularity ALL"
    fields: list[str] = []
    if "filter" in body and (why := _filter(body["filter"], fields)) is not None:
        return why
    if dataset == "cloud" and not any(f.startswith("resource.") for f in fields):
        return "a query of the cloud dataset must filter on a resource"
    if page_token is not None and not group_by:
        return "pagination is only supported for requests containing a group_by element"
    return None


def _ids(node: dict[str, Any]) -> set[str]:
    """The connector ids an (OR of) EQ filter(s) names."""
    if node.get("op") == "EQ" and node.get("field") == CONNECTOR_LABEL:
        return {str(node["value"])}
    if node.get("op") == "OR":
        return set().union(*(_ids(f) for f in node["filters"]))
    return set()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def app(fake: MetricsFake) -> Starlette:
    async def query(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{fake.key}:{fake.secret}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return error(401, "Unauthorized")
        dataset = request.path_params["dataset"]
        if dataset not in ("cloud", "cloud-custom"):
            return error(404, f"dataset {dataset} not found")
        if fake.rate_limited > 0:
            fake.rate_limited -= 1
            # Two sets, one per scope (research §3.4); reset in relative seconds.
            return error(429, "Too Many Requests", headers=None if fake.bare_429 else {
                "rateLimit-limit": "300, 1000", "rateLimit-remaining": "0, 700", "rateLimit-reset": "2, 30"})
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error(400, "the request body is not JSON")
        token = request.query_params.get("page_token")
        why = validate(dataset, body, token)
        if why is not None:
            fake.refused.append((400, why))
            return error(400, why)
        ids = _ids(body.get("filter", {}))
        if denied := sorted(ids & fake.forbidden):
            fake.refused.append((403, ",".join(denied)))
            return error(403, f"not authorized to read {', '.join(denied)}")
        fake.queries.append(body)
        metric = body["aggregations"][0]["metric"]
        step = timedelta(seconds=GRANULARITY[body["granularity"]][0])
        ready = fake.now() - fake.latency
        groups: list[tuple[str, list[dict[str, Any]]]] = []
        for connector_id in sorted(ids):
            points = []
            for text in body["intervals"]:
                start, end = interval(text)  # type: ignore[misc]  # validated above
                moment = start
                while moment + step <= min(end, ready):
                    value = fake.series(metric, connector_id, moment)
                    if value is not None:
                        number: float | int = int(value) if fake.ints else float(value)
                        points.append({"timestamp": _stamp(moment), "value": number, **fake.extra})
                    moment += step
            if fake.newest_first:
                points.reverse()
            if points:  # a group without points is not answered
                groups.append((connector_id, points))
        size = fake.page_groups or body.get("limit", 100)
        first = int(token or 0)
        page = groups[first:first + size]
        label = {} if fake.omit_label or CONNECTOR_LABEL not in body.get("group_by", []) else None
        grouped = fake.grouped if fake.grouped is not None else body.get("format") == "GROUPED"
        data: list[dict[str, Any]] = []
        for connector_id, points in page:
            named = label if label is not None else {CONNECTOR_LABEL: connector_id}
            if grouped:
                data.append({**named, "points": points})
            else:
                data += [{**point, **named} for point in points]
        pagination: dict[str, Any] = {"page_size": size}
        if first + size < len(groups):
            pagination["next_page_token"] = str(first + size)
        return Response(json.dumps({"data": data, "meta": {"pagination": pagination}, **fake.extra}), 200,
                        media_type="application/json")

    return Starlette(routes=[Route("/v2/metrics/{dataset}/query", query, methods=["POST"])])
