"""Confluent's Metrics API (`POST /v2/metrics/cloud/query`), for "RUNNING but not moving data".

One call asks for one metric over many connectors: the connector ids go into one OR filter with
`group_by: ["resource.connector.id"]`, so each point comes back labelled with its connector
(research note §5). The spec bounds `limit` (groups per page) to 1..1000 and pages the groups
with `page_token`; it sets no bound on a filter's size, so ids go in batches of at most
`max_ids_per_query` (100, the spec's default `limit`: one page per batch, and a request body of
a few kilobytes) and every page is followed.

The answer maps every requested connector id to its points, oldest first. A connector without
points maps to an empty list: the API reports no data, which is not the same as zero (research
note §5). Data points are "typically available for query in the API within 5 minutes" (spec,
"Metric Data Latency"), and this can vary: windows end 5 minutes ago or earlier, and an empty
list may mean no activity or data not ingested yet, never proof of a stall by itself.

Rate limits: the Metrics API limits requests per IP address (300 a minute in the current spec)
and answers `rateLimit-limit`, `rateLimit-remaining` and `rateLimit-reset` (relative seconds),
possibly once per scope (research note §3.4). `ApiResult.headers` holds the tightest scope.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from ..logs import get_logger
from ..model import Outcome
from ..ratelimit import RateLimitHeaders, parse_headers
from .answers import (
    classify_status,
    empty_body,
    foreign_answer,
    html_page,
    request_id,
    transport_failure,
)
from .backend import MAX_MESSAGE_CHARS, ApiResult, Endpoint
from .lenient_json import read_json
from .transfer import DEFAULT_LIMITS, NOT_RUN, CallLimits, ProxyRefused, fetch

CONNECTOR_ID = "resource.connector.id"
QUERY_PATH = "/v2/metrics/cloud/query"
GRANULARITIES = frozenset({"PT1M", "PT5M", "PT15M", "PT30M", "PT1H", "PT4H", "PT6H", "PT12H", "P1D", "ALL"})
MAX_LIMIT = 1000  # the spec's maximum `limit`

Points = dict[str, list[tuple[datetime, float]]]

log = get_logger("watchdog.api")


@dataclass(frozen=True, slots=True)
class Readings:
    """One metric's answer: each connector's points, oldest first (a connector asked about with
    none maps to an empty list), and the connectors some of whose points could not be read, with
    what each of those points lacked (why_unreadable says it). Such a connector's sums are not
    what the API counted: a point dropped unread read as nothing sent, and a healthy source whose last points
    came with a string value, null, NaN or an epoch timestamp was judged stalled and restarted
    (found 2026-12-06 against an independent fake of the Metrics API); the stall check leaves
    it unjudged (`points_unreadable`).

    `unattributed`: the connectors whose query's answer also held entries naming no connector (no
    string `resource.connector.id`: a gateway rewriting the answer, a label renamed or null), with
    how many. Their points may be among those entries: left out, a healthy source whose last points
    came so read as "sent nothing" and was restarted as stalled (found 2026-12-07 against an
    independent fake). Every connector of that query is left unjudged, never judged on the rest."""

    points: Points
    unreadable: dict[str, list[str]] = field(default_factory=dict)  # id -> what each unread point lacked
    unattributed: dict[str, int] = field(default_factory=dict)  # id -> entries of its query's answer naming none
    unlabelled: int = 0  # one page's entries naming no connector (the query counts them per batch: `unattributed`)

    def unjudgeable(self) -> list[str]:
        """The connectors whose points in this answer cannot be taken as the API's count."""
        return sorted(self.unreadable.keys() | self.unattributed.keys())

    def why_unreadable(self, connector_id: str) -> str:
        said = []
        entries = self.unattributed.get(connector_id)
        if entries:
            said.append(f"{entries} entr{'y' if entries == 1 else 'ies'} of its query's answer named no connector "
                        f"(no string {CONNECTOR_ID!r}), and its points may be among them")
        lacking = self.unreadable.get(connector_id)
        if lacking:
            said.append(f"{len(lacking)} point(s) of its answer could not be read, the first: {lacking[0]}")
        return "; ".join(said)


class MetricsApiClient:
    """`http` points at the Metrics API host (https://api.telemetry.confluent.cloud) with a
    Cloud API key as HTTP Basic auth."""

    def __init__(self, http: httpx.AsyncClient, *, max_ids_per_query: int = 100, limits: CallLimits = DEFAULT_LIMITS) -> None:
        if not 1 <= max_ids_per_query <= MAX_LIMIT:
            raise ValueError(f"max_ids_per_query must be 1..{MAX_LIMIT}")
        self._http = http
        self._limits = limits
        self._batch = max_ids_per_query

    async def query(
        self,
        metric: str,
        connector_ids: list[str],
        start: datetime,
        end: datetime,
        granularity: str = "PT1M",
    ) -> ApiResult[Readings]:
        """Points of `metric` for each connector in [start, end), one per `granularity` bucket.

        Stops at the first answer that is not a success and returns it (no partial data); pages
        that cannot all be read (a repeated token, more than _most_pages, or a token that is no
        string: _next_page_token) are a SERVER_ERROR.
        """
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {sorted(GRANULARITIES)}")
        interval = f"{_iso(start)}/{_iso(end)}"
        if not start < end:
            raise ValueError(f"empty interval {interval}")
        ids = list(dict.fromkeys(connector_ids))
        points: Points = {connector_id: [] for connector_id in ids}
        unreadable: dict[str, list[str]] = {}  # id -> what each of its unread points lacked
        unattributed: dict[str, int] = {}  # id -> entries naming no connector in its batch's answer
        started = time.perf_counter()
        last: ApiResult[Readings] = ApiResult(Endpoint.METRICS_QUERY, Outcome.ACCEPTED, value=Readings(points))
        for batch in _batches(ids, self._batch):
            body = _request_body(metric, batch, interval, granularity)
            token: str | None = None
            seen_tokens: set[str] = set()
            repeated = False
            unlabelled = 0  # this batch's entries naming no connector: any of the batch's may be in them
            most = _most_pages(batch)
            for _ in range(most):
                params = {"page_token": token} if token is not None else None
                result, token = await self._page(body, params, started)
                if not result.ok or result.value is None:
                    return result
                for connector_id, found in result.value.points.items():
                    if connector_id in points:  # anything else was not asked for
                        points[connector_id].extend(found)
                for connector_id, lacking in result.value.unreadable.items():
                    if connector_id in points:
                        unreadable.setdefault(connector_id, []).extend(lacking)
                unlabelled += result.value.unlabelled
                last = result
                repeated = token in seen_tokens
                if token is None or repeated:
                    break
                seen_tokens.add(token)
            if token is not None:
                # A page is still pending (the page cap was reached, or the server repeated a
                # token): the connectors on the unread pages would read as "sent nothing", which
                # is what a stall looks like. No partial answer, so no verdicts.
                why = "a page token repeated" if repeated else (
                    f"still more after {most} pages, the most an answer about {len(batch)} "
                    f"connector{'' if len(batch) == 1 else 's'} needs (one a page, and a last one)")
                return replace(last, outcome=Outcome.SERVER_ERROR, message=f"pagination incomplete: {why}",
                               value=None, elapsed=time.perf_counter() - started)
            if unlabelled:
                unattributed |= dict.fromkeys(batch, unlabelled)
        doubled, differed, named = _one_point_per_moment(points)
        if doubled:
            # At debug only: what the check reads is right again; the line is for whoever
            # wonders why an answer held more points than minutes.
            log.debug("metrics_points_repeated", metric=metric, repeated=doubled, values_differed=differed,
                      connectors=named[:5], connectors_count=len(named))
        # The last page's answer (status, request id, headers), with every page's points.
        return replace(last, outcome=Outcome.ACCEPTED, value=Readings(points, unreadable, unattributed),
                       elapsed=time.perf_counter() - started)

    async def _page(
        self, body: dict[str, Any], params: dict[str, str] | None, started: float
    ) -> tuple[ApiResult[Readings], str | None]:
        """One request: (its result, the next page's token or None)."""
        try:
            answer = await fetch(self._http, "POST", QUERY_PATH, self._limits, json=body, params=params)
        except httpx.HTTPError as exc:
            message = transport_failure(exc)[:MAX_MESSAGE_CHARS]
            elapsed = time.perf_counter() - started
            # As the Connect API's calls (cloud.call_api): a proxy's 407 names the proxy, and the
            # gateway says `proxy_refused` and holds the lane. Dropped here, the Metrics API lane's
            # 407 read as a bare network error, the proxy and its variable never named.
            return ApiResult(Endpoint.METRICS_QUERY, Outcome.NETWORK_ERROR, message=message, elapsed=elapsed,
                             not_run=isinstance(exc, NOT_RUN),
                             proxy_refused=(exc.proxy or "") if isinstance(exc, ProxyRefused) else None), None
        response = answer.response
        common: dict[str, Any] = {
            "status_code": response.status_code,
            "request_id": request_id(response),
            "headers": rate_limit_headers(response.headers),
            "elapsed": time.perf_counter() - started,
        }
        outcome = classify_status(response.status_code)
        # An HTML page (a proxy's block or sign-in page, a gateway's) is not the Metrics API's
        # answer, whatever its status: a 403 so answered was taken for the API refusing the ids
        # (each batch halved down to single ids, every connector reported `forbidden`, "the key
        # needs MetricsViewer"), a 200 said only "Expecting value". Its status is kept (the
        # limiter reads it), and `foreign` tells the stall check it refused no id.
        page = html_page(response)
        if page is not None:
            message = foreign_answer(Endpoint.METRICS_QUERY, response.status_code, page)
            failed = Outcome.SERVER_ERROR if outcome is Outcome.ACCEPTED else outcome
            return ApiResult(Endpoint.METRICS_QUERY, failed, message=message, foreign=True, **common), None
        if outcome is not Outcome.ACCEPTED:
            return ApiResult(Endpoint.METRICS_QUERY, outcome, message=answer.reason(self._limits),
                             cut_off=answer.cut_off is not None, **common), None
        if not answer.complete:
            message = answer.incomplete_message(self._limits)
            return ApiResult(Endpoint.METRICS_QUERY, Outcome.SERVER_ERROR, message=message, **common), None
        if (empty := empty_body(response, Endpoint.METRICS_QUERY)) is not None:
            # Said as what the server did, not as JSON's "Expecting value" (as the Connect lane's).
            return ApiResult(Endpoint.METRICS_QUERY, Outcome.SERVER_ERROR, message=empty, **common), None
        try:
            value, token = _parse_page(read_json(response))
        except ValueError as exc:
            message = answer.unreadable(exc)
            return ApiResult(Endpoint.METRICS_QUERY, Outcome.SERVER_ERROR, message=message, **common), None
        return ApiResult(Endpoint.METRICS_QUERY, outcome, value=value, **common), token


def rate_limit_headers(headers: httpx.Headers) -> RateLimitHeaders:
    """The tightest of the `rateLimit-*` sets: the scope with the fewest requests remaining
    (the latest reset among equals). Each set may come as its own header lines or joined by
    commas, which HTTP treats as the same thing."""
    names = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
    columns = [headers.get_list(name, split_commas=True) for name in names]
    shared = {name: headers[name] for name in ("retry-after", "date") if name in headers}
    scopes = [
        parse_headers({**shared, **dict(zip(names, values, strict=True))}, prefix="ratelimit-")
        for values in zip(*columns, strict=False)
    ]
    if not scopes:
        return parse_headers(headers, prefix="ratelimit-")

    def tightness(scope: RateLimitHeaders) -> tuple[float, float]:
        remaining = float("inf") if scope.remaining is None else scope.remaining
        return remaining, -(scope.reset or 0.0)

    return min(scopes, key=tightness)


def _request_body(metric: str, ids: Sequence[str], interval: str, granularity: str) -> dict[str, Any]:
    filters = [{"field": CONNECTOR_ID, "op": "EQ", "value": connector_id} for connector_id in ids]
    return {
        # No `agg`: the API applies each metric's own aggregation (spec changelog 2021-08-24).
        "aggregations": [{"metric": metric}],
        "filter": filters[0] if len(filters) == 1 else {"op": "OR", "filters": filters},
        "granularity": granularity,
        "intervals": [interval],
        "group_by": [CONNECTOR_ID],
        "limit": len(ids),
        "format": "FLAT",
    }


def _one_point_per_moment(points: Points) -> tuple[int, int, list[str]]:
    """Each series sorted, oldest first, with one point per moment (in UTC); returns how many
    points were repeats, of which how many with another value, and the connectors repeated.

    An answer may hold a connector's minute twice (a gateway merging pages or retries, one page
    overlapping the next, the same moment written in two zones): summed, both counted, and a
    decision's detail said "source sent 200 records" where 100 were sent (found 2026-12-07 against
    an independent fake). Where the values differ, the larger is kept: the metrics read are counts
    and a maximum (records_lag_max), which grow as late data is ingested, so the larger is the more
    complete; and for a source or a sink's `received_records` it reads as moving, never as a stop
    (no restart on it). ASSUMED: with `group_by` the connector id alone, the API itself never
    answers one connector's bucket twice, so a repeat is the transport's, not two series."""
    repeated = differed = 0
    named: list[str] = []
    for connector_id, series in points.items():
        kept: dict[datetime, float] = {}
        for when, value in series:
            moment = when.astimezone(UTC)
            if moment in kept:
                repeated += 1
                differed += kept[moment] != value
                if not named or named[-1] != connector_id:
                    named.append(connector_id)
                value = max(value, kept[moment])
            kept[moment] = value
        series[:] = sorted(kept.items())
    return repeated, differed, named


def _most_pages(batch: Sequence[str]) -> int:
    """The most pages an answer about `batch` can legitimately need: a server handing out page
    tokens for ever must not keep us asking (before, 100 requests per query whatever its size: a
    check of 10 clusters x 3 metrics made 3,000 against a per-IP limit of 300 a minute).

    The spec pages a query's groups, `limit` a page (QueryRequest.limit: "the maximum number of
    groups to return"); _request_body groups by connector and asks `limit` = the batch's size, so
    an answer keeping to the spec is one page. The margin: a server paging below the `limit` asked,
    down to one group a page, and a last page that comes empty with a token: one page per connector
    and one more. ASSUMED: no server pages single points of a group (FLAT entries) apart; one that
    does fails a query needing more pages than that, said in its message, rather than being read in
    part (a connector on an unread page reads as "sent nothing")."""
    return len(batch) + 1


def _parse_page(data: Any) -> tuple[Readings, str | None]:
    """The points of one page, and the next page's token (meta.pagination).

    The spec's QueryResponse is one of two shapes, and a server may answer either: FLAT (each
    entry a point carrying its connector's label) or GROUPED (each entry a connector's label
    with its `points`). Read as FLAT only, a GROUPED answer was no points at all: a stalled sink
    read as "idle, not stalled" and healthy, every check, and nothing said the answer went
    unread. A point of a connector's that cannot be read is kept as what it lacked (Readings);
    entries that name no connector are counted (Readings.unlabelled: the page cannot say whose
    they are); an answer with entries of which none can be read is no answer
    (ValueError), never "no data"."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError("the answer has no data list")
    points: Points = {}
    unread: dict[str, list[str]] = {}
    read = 0
    unlabelled = 0  # objects without the connector's label: a group_by spelled otherwise, say
    objects = 0
    first_lacking = ""  # what the first point that could not be read lacked (_point)
    for entry in data["data"]:
        if not isinstance(entry, dict):
            continue
        objects += 1
        connector_id = entry.get(CONNECTOR_ID)
        if not isinstance(connector_id, str):
            unlabelled += 1
            continue
        group = entry.get("points")
        listed = group if isinstance(group, list) else [entry]
        readings = [_point(point) for point in listed]
        found = [reading for reading in readings if not isinstance(reading, str)]
        lacking = [reading for reading in readings if isinstance(reading, str)]
        if found or (isinstance(group, list) and not group):
            read += 1
            points.setdefault(connector_id, []).extend(found)
        if lacking:
            unread.setdefault(connector_id, []).extend(lacking)
            first_lacking = first_lacking or lacking[0]
    if data["data"] and not read:
        # Which of the two it was: a connector label spelled otherwise failed every check with
        # "could be read" alone, naming neither the label looked for nor what the points lacked.
        counted = ((len(data["data"]) - objects, "that are no JSON objects"),
                   (unlabelled, f"without a string {CONNECTOR_ID!r}"),
                   # What a point lacked, as _point says it: "no ISO 8601 timestamp and count", said of
                   # every one sent the operator to the timestamps when the values were null.
                   (objects - unlabelled, "whose points could not be read"
                    + (f", the first: {first_lacking}" if first_lacking else "")))
        why = [f"{count} {what}" for count, what in counted if count]
        raise ValueError(f"none of its {len(data['data'])} data entries could be read as points of a connector "
                         f"({', '.join(why)})")
    page = Readings(points, unread, unlabelled=len(data["data"]) - objects + unlabelled)
    return page, _next_page_token(data.get("meta"))


def _next_page_token(meta: Any) -> str | None:
    """The next page's token, None when this page is the last.

    The spec types `next_page_token` a string (an opaque token). A token of another JSON type (a
    gateway or JSON re-encoder turning "2" into 2) is refused (ValueError: the query fails, no
    verdicts), not taken as "no more pages": before, paging ended there and the connectors on the
    unread pages read as "sent nothing", a busy source as stalled (found 2026-12-07 against an
    independent fake). Nor is it sent back as its str(): a re-encoder that made a number of "0042"
    or of a token past 2**53 has lost the token, and a page asked for with the wrong one could hold
    other connectors' points than the one skipped, unnoticed. Null and an empty string end the
    paging (JSON encoders of protobuf answers write an unset token so; a `page_token=` sent back
    could ask for no particular page either)."""
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    token = pagination.get("next_page_token") if isinstance(pagination, dict) else None
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise ValueError(f"its meta.pagination.next_page_token {_shown(token)} is not a string (the spec's "
                         "opaque token), so the pages after this one cannot be asked for, and the connectors on them "
                         "would read as having sent nothing")
    return token


def _point(point: Any) -> tuple[datetime, float] | str:
    """One point's (timestamp, value), or what it lacks to be read. The three metrics read are
    counts (records sent, received, and the most a consumer lags): a negative one is no count."""
    if not isinstance(point, dict):
        return f"a point that is no JSON object ({type(point).__name__})"
    stamp, value = point.get("timestamp"), point.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"value {_shown(value)} is not a number"
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float: no reading
        return "value is an integer beyond any float"
    if not math.isfinite(number):  # 1e400 reads as inf: no reading either
        return f"value {number} is not finite"
    if number < 0:
        return f"value {number:g} is negative, which no count is"
    if not isinstance(stamp, str):
        return f"timestamp {_shown(stamp)} is not an ISO 8601 string"
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return f"timestamp {_shown(stamp)} is not an ISO 8601 string"
    return (when.replace(tzinfo=UTC) if when.tzinfo is None else when), number


def _shown(value: Any) -> str:
    """A value of an answer as a log line may show it: its JSON form, cut short."""
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _batches(ids: list[str], size: int) -> Iterable[list[str]]:
    for first in range(0, len(ids), size):
        yield ids[first : first + size]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("use timezone-aware datetimes (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

