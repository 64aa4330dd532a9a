"""The door of Confluent's Metrics API: `POST /v2/metrics/cloud/query`, `GET .../export`.

Authentication with the scenario's API keys (401), the API's own per-IP rate limit (429, 300 a
minute by default; research note §3.4), then, after the fault rules, the operation. Each key may
only read connectors of the clusters it may use (403), like the Connect API; the `cloud` dataset
authorizes by the resources a request names (spec, "Datasets"). Only the `cloud` dataset and the
connector metrics of metrics_catalog.py exist here.

Errors come as the spec's ErrorResponse, `{"errors": [{"status": "400", "detail": "..."}]}`.
Rate-limit headers are lower case `rateLimit-limit`, `rateLimit-remaining` and `rateLimit-reset`
(relative seconds), one set per scope: the per-IP scope, and on export also the per-resource
scope (research note §3.4: "You get two sets of the headers above").

Two datasets (current Metrics spec, "Datasets"): `cloud` holds the metrics of managed
connectors, `cloud-custom` those of custom connectors, under the same metric and label names
(ASSUMED: the spec names the dataset, not its metrics). A query names ids the key may read
(403 otherwise) and gets the points of those in its dataset: asking `cloud` about a custom
connector answers 200 with no data, which is what made a healthy custom source look stalled.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from watchdog.simulator.cloud_api import phrase
from watchdog.simulator.connector import SimulatedConnector
from watchdog.simulator.credentials import KeyRing
from watchdog.simulator.doors import Admission, ApiRequest
from watchdog.simulator.metrics_catalog import CONNECTOR_ID_LABEL
from watchdog.simulator.metrics_export import CONTENT_TYPE, export_window, render
from watchdog.simulator.metrics_query import QueryError, parse_query
from watchdog.simulator.metrics_series import QueryAnswer, floor_to, page_offset
from watchdog.simulator.operations import ApiReply, json_reply
from watchdog.simulator.ratelimit import KeyBudgets, Verdict
from watchdog.simulator.routing import Route
from watchdog.simulator.scenario import ApiKeySpec, MetricsApiSpec
from watchdog.simulator.world import World

DATASET = "cloud"
CUSTOM_DATASET = "cloud-custom"
DATASETS = (DATASET, CUSTOM_DATASET)
# The export endpoint's resource parameters (spec); only connectors and Kafka clusters exist here.
_EXPORT_RESOURCES = (
    "resource.kafka.id",
    "resource.connector.id",
    "resource.ksql.id",
    "resource.schema_registry.id",
)


def metrics_error(status: int, detail: str) -> ApiReply:
    """The spec's ErrorResponse."""
    return json_reply(status, {"errors": [{"status": str(status), "detail": detail}]})


class MetricsApi:
    def __init__(
        self,
        settings: MetricsApiSpec,
        world: World,
        keys: KeyRing,
        *,
        epoch: float,
    ) -> None:
        self._settings = settings
        self._world = world
        self._keys = keys
        self._epoch = epoch  # Unix time at simulator t = 0
        limit, export_limit = settings.rate_limit, settings.export_rate_limit
        self._ip_limiter = (
            None if limit is None else KeyBudgets("fixed_aligned", limit.limit, limit.window_seconds)
        )
        self._export_limiter = (
            None
            if export_limit is None
            else KeyBudgets("fixed_aligned", export_limit.limit, export_limit.window_seconds)
        )

    # --- the door -----------------------------------------------------------------------------

    def admit(self, route: Route, request: ApiRequest, t: float) -> Admission:
        principal, key = self._keys.authenticate(request.authorization)
        if key is None:
            return Admission(principal, refusal=metrics_error(401, "Unauthorized"))
        if self._ip_limiter is None:
            return Admission(principal, key)
        verdict = self._ip_limiter.admit(request.client or "unknown", t)
        if not verdict.allowed:
            refusal = metrics_error(429, "Too many requests from this IP address")
            _add_rate_limit_headers(refusal, [verdict])
            return Admission(principal, key, refusal, rate_limited=True, verdicts=[verdict])
        return Admission(principal, key, verdicts=[verdict])

    def answer(self, route: Route, request: ApiRequest, admission: Admission, t: float) -> ApiReply:
        assert admission.key is not None  # admit() refuses every request without a key
        if route.dataset not in DATASETS or route.kind not in ("metrics_query", "metrics_export"):
            return metrics_error(404, "Not Found")
        custom = route.dataset == CUSTOM_DATASET
        if route.kind == "metrics_export":
            reply, verdicts = self._export(request, admission.key, t, custom)
        else:
            reply, verdicts = self._query(request, admission.key, t, custom), []
        if self._headers_always():
            _add_rate_limit_headers(reply, [*admission.verdicts, *verdicts])
        return reply

    def injected_error(self, status: int) -> ApiReply:
        return metrics_error(status, phrase(status))

    def _headers_always(self) -> bool:
        return (
            self._settings.rate_limit is not None and self._settings.rate_limit.headers == "always"
        )

    # --- export -------------------------------------------------------------------------------

    def _export(
        self, request: ApiRequest, key: ApiKeySpec, t: float, custom: bool
    ) -> tuple[ApiReply, list[Verdict]]:
        named = {
            name: list(dict.fromkeys(v for k, v in request.query if k == name))
            for name in _EXPORT_RESOURCES
        }
        resources = [(name, value) for name, values in named.items() for value in values]
        if not resources:
            detail = f"at least one resource is required: {', '.join(_EXPORT_RESOURCES)}"
            return metrics_error(400, detail), []
        connectors = []
        for name, value in resources:
            if name == "resource.connector.id":
                connector = self._readable_connector(value, key)
                if connector is None:
                    return _forbidden(value), []
                connectors.append(connector)
            elif name != "resource.kafka.id" or not self._readable_cluster(value, key):
                # Kafka clusters pass (their own metrics are not simulated); ksqlDB and Schema
                # Registry resources do not exist here.
                return _forbidden(value), []
        verdicts = []
        if self._export_limiter is not None:
            for name, value in resources:
                verdict = self._export_limiter.admit(f"{key.id}/{name}={value}", t)
                verdicts.append(verdict)
                if not verdict.allowed:
                    return self._export_refused(name, value, verdict), []
        for connector in connectors:
            connector.advance(t)
        settings = self._settings
        window = export_window(
            t, self._epoch, settings.export_offset_seconds, settings.export_sample_seconds
        )
        wanted = {v for k, v in request.query if k == "metric"} or None
        text = render([c for c in connectors if c.spec.custom == custom], window, wanted)
        # One set of resource-scope headers: the most nearly spent resource's.
        tightest = sorted(verdicts, key=lambda v: (v.remaining, -v.reset_seconds))[:1]
        return ApiReply(200, text.encode(), {"Content-Type": CONTENT_TYPE}), tightest

    def _export_refused(self, name: str, value: str, verdict: Verdict) -> ApiReply:
        # The spec's example body for this limit, naming the resource without its prefix.
        resource = f"{name.removeprefix('resource.')}:{value}"
        detail = (
            f"Too many requests have been made for the following resources:\n{resource}. "
            "Please see the documentation for current rate limits."
        )
        reply = metrics_error(429, detail)
        _add_rate_limit_headers(reply, [verdict])
        return reply

    # --- query --------------------------------------------------------------------------------

    def _query(self, request: ApiRequest, key: ApiKeySpec, t: float, custom: bool) -> ApiReply:
        now = datetime.fromtimestamp(self._epoch + t, UTC)
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return metrics_error(400, "the request body is not valid JSON")
        try:
            query = parse_query(body, now)
            offset = page_offset(request.query, query)
            named = query.filter.named()
            if not named:
                raise QueryError("the filter must name a connector: resource.connector.id EQ")
            connectors = []
            for resource_id in sorted(named):
                connector = self._readable_connector(resource_id, key)
                if connector is None:
                    raise QueryError(f"not authorized for connector.id:{resource_id}", 403)
                connectors.append(connector)
        except QueryError as error:
            return metrics_error(error.status, str(error))
        for connector in connectors:
            connector.advance(t)
        matching = [
            c
            for c in connectors
            if c.spec.custom == custom
            and query.metric.applies_to(c)
            and query.filter.matches({CONNECTOR_ID_LABEL: c.id})
        ]
        # Minutes are answered once they ended query_delay_seconds ago (research note §5), or
        # the metric's own delay (query_delay_by_metric: one metric's pipeline behind).
        delay = self._settings.query_delay_by_metric.get(query.metric.name, self._settings.query_delay_seconds)
        available_until = floor_to(self._epoch + t - delay, 60)
        emit_zeros = self._settings.zero_points == "emit"
        if self._settings.answer_format == "grouped" and query.group_by_connector:
            query = replace(query, format="GROUPED")
        answer = QueryAnswer(query, self._epoch, available_until, emit_zeros)
        return json_reply(200, answer.response(matching, offset))

    # --- permissions --------------------------------------------------------------------------

    def _readable_connector(self, resource_id: str, key: ApiKeySpec) -> SimulatedConnector | None:
        connector = self._world.cloud_connector(resource_id)
        if connector is None or not key.may_use(connector.cluster):
            return None
        return connector

    def _readable_cluster(self, cluster: str, key: ApiKeySpec) -> bool:
        return self._world.is_cloud_cluster(cluster) and key.may_use(cluster)


def _forbidden(resource: str) -> ApiReply:
    return metrics_error(403, f"not authorized for the resource {resource}")


def _add_rate_limit_headers(reply: ApiReply, verdicts: list[Verdict]) -> None:
    for verdict in verdicts:
        reply.repeated_headers += [
            ("rateLimit-limit", str(verdict.limit)),
            ("rateLimit-remaining", str(verdict.remaining)),
            ("rateLimit-reset", str(verdict.reset_seconds)),
        ]
