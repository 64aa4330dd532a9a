"""The authenticated HTTP routes: Alertmanager's webhook and the restart API.

Every route here requires `Authorization: Bearer <token>` (compared in constant time), caps the
request body, validates JSON with a 4xx that names the bad field, and can only ever lead to a
restart of a configured, watched connector: the caller names a connector, the rules decide.
Alertmanager retries 5xx and not 4xx, so 5xx is kept for "could not take it" (shutting down).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .alerts import WebhookPayload
from .config import Config, format_location
from .engine import MANUAL_RULE, Engine, RequestRecord
from .logs import get_logger
from .metrics import Metrics
from .model import ConnectorKey, Trigger
from .queue import Phase

log = get_logger("watchdog.api")

Handler = Callable[[Request], Awaitable[JSONResponse]]


class RestartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cluster: str = Field(min_length=1, max_length=63)
    connector: str = Field(min_length=1, max_length=255)
    reason: str = Field(default="requested through the API", max_length=500)


class BadRequest(Exception):
    def __init__(self, status: int, error: str, **detail: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, **detail}


@dataclass
class ApiContext:
    engine: Engine
    metrics: Metrics
    config: Callable[[], Config]
    polled_clusters: Callable[[], set[str]]  # clusters listed at least once: their connectors are known
    accepting: Callable[[], bool]  # False while shutting down
    connectors: Callable[[], list[dict[str, Any]]]  # the rows of GET /v1/connectors
    history: Callable[[ConnectorKey | None, int], list[dict[str, Any]]]  # GET /v1/history


def api_routes(ctx: ApiContext) -> list[Route]:
    return [
        Route("/v1/alertmanager", _guarded(ctx, "alertmanager", _alertmanager), methods=["POST"]),
        Route("/v1/restarts", _guarded(ctx, "restarts", _create_restart), methods=["POST"]),
        Route("/v1/restarts/{request_id}", _guarded(ctx, "restart_status", _restart_status), methods=["GET"]),
        Route("/v1/connectors", _guarded(ctx, "connectors", _connectors), methods=["GET"]),
        Route("/v1/history", _guarded(ctx, "history", _history), methods=["GET"]),
    ]


def _guarded(ctx: ApiContext, route: str, handler: Callable[[ApiContext, Request], Awaitable[JSONResponse]]) -> Handler:
    async def endpoint(request: Request) -> JSONResponse:
        try:
            _authenticate(ctx.config(), request)
            response = await handler(ctx, request)
        except BadRequest as exc:
            response = JSONResponse(exc.body, status_code=exc.status)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="connect-watchdog"'
        ctx.metrics.http_requests.labels(route, f"{response.status_code // 100}xx").inc()
        level = log.info if response.status_code < 400 else log.warning
        level("http_request", route=route, method=request.method, status=response.status_code,
              client=request.client.host if request.client else None)
        return response

    return endpoint


def _authenticate(config: Config, request: Request) -> None:
    token = config.server.auth_token
    if token is None:
        raise BadRequest(403, "this API is disabled: the daemon has no auth token (set WATCHDOG_SERVER__AUTH_TOKEN)")
    scheme, _, provided = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    # compare_digest on bytes: the time taken does not reveal how much of the token matched.
    if scheme.lower() != "bearer" or not hmac.compare_digest(provided.strip().encode(), expected):
        raise BadRequest(401, "missing or invalid bearer token")


async def _json_body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"request body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(413, f"request body larger than {limit} bytes")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"request body is not valid JSON: {exc}") from None


def _validated(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": format_location(tuple(e["loc"])) or "(body)", "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise BadRequest(422, "request body does not match the expected shape", problems=problems) from None


async def _alertmanager(ctx: ApiContext, request: Request) -> JSONResponse:
    payload = _validated(WebhookPayload, await _json_body(request, ctx.config().server.max_body_bytes))
    if not ctx.accepting():
        # 5xx: Alertmanager will send it again, to this daemon's successor.
        raise BadRequest(503, "shutting down; send again later")
    result = ctx.engine.on_alerts(payload)
    return JSONResponse({"alerts": [vars(a) for a in result.alerts]})


async def _create_restart(ctx: ApiContext, request: Request) -> JSONResponse:
    body: RestartBody = _validated(RestartBody, await _json_body(request, ctx.config().server.max_body_bytes))
    engine = ctx.engine
    cluster = engine.cluster_named(body.cluster)
    if cluster is None:
        raise BadRequest(404, f"unknown cluster {body.cluster!r}", known=sorted(ctx.config().clusters))
    key = ConnectorKey(cluster, body.connector)
    if not engine.watched_rules(key):
        raise BadRequest(422, f"connector {body.connector!r} in {cluster!r} is not watched by any rule; "
                              "only watched connectors can be restarted")
    polled = cluster in ctx.polled_clusters()
    status = engine.statuses.get(key)
    if polled and status is None:
        raise BadRequest(404, f"connector {body.connector!r} was not found in cluster {cluster!r} at the last poll")
    if not ctx.accepting():
        raise BadRequest(503, "shutting down; send again later")
    record = engine.on_request(key, status, trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason=body.reason,
                               known_missing=polled)
    return JSONResponse(_describe(record), status_code=202, headers={"Location": f"/v1/restarts/{record.request_id}"})


async def _restart_status(ctx: ApiContext, request: Request) -> JSONResponse:
    request_id = request.path_params["request_id"]
    record = ctx.engine.requests.get(request_id)
    if record is None:
        raise BadRequest(404, f"unknown or expired request id {request_id!r}")
    return JSONResponse(_describe(record))


async def _connectors(ctx: ApiContext, request: Request) -> JSONResponse:
    return JSONResponse({"connectors": ctx.connectors()})


MAX_HISTORY = 1000


async def _history(ctx: ApiContext, request: Request) -> JSONResponse:
    """GET /v1/history[?cluster=C&connector=N][&limit=50]: recent restarts, newest first."""
    params = request.query_params
    limit_text = params.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_HISTORY:
        raise BadRequest(400, f"limit must be a whole number from 1 to {MAX_HISTORY}")
    limit = int(limit_text)
    connector, cluster_label = params.get("connector"), params.get("cluster")
    if connector and cluster_label:
        cluster = ctx.engine.cluster_named(cluster_label)
        if cluster is None:
            raise BadRequest(404, f"unknown cluster {cluster_label!r}")
        return JSONResponse({"restarts": ctx.history(ConnectorKey(cluster, connector), limit)})
    restarts = ctx.history(None, MAX_HISTORY if connector else limit)
    if connector:  # a name without its cluster: that name in every cluster
        restarts = [r for r in restarts if r["connector"] == connector][:limit]
    return JSONResponse({"restarts": restarts})


def _describe(record: RequestRecord) -> dict[str, Any]:
    job = record.job
    described: dict[str, Any] = {
        "id": record.request_id,
        "cluster": record.key.cluster,
        "connector": record.key.connector,
        "rule": record.rule,
        "trigger": record.trigger.value,
        "reason": record.reason,
        "requested_at": record.requested_at.isoformat(),
        "decision": record.decision.value,
        "state": "skipped" if job is None else ("finished" if job.phase is Phase.DONE else "pending"),
        "job": None,
    }
    if job is not None:
        described["job"] = {
            "id": job.id,
            "outcome": job.outcome.value if job.outcome else None,
            "status_code": job.status_code,
            "message": job.message,
            "tries": job.tries,
            "requests": [r.id for r in job.requests],
        }
    return described
