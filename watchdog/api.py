"""The authenticated HTTP routes: Alertmanager's webhook and the restart API.

Every route here requires `Authorization: Bearer <token>` (compared in constant time), caps the
request body, validates JSON with a 4xx that names the bad field, and can only ever lead to a
restart of a configured, watched connector: the caller names a connector, the rules decide.
Alertmanager retries 5xx and not 4xx, so 5xx is kept for "could not take it" (shutting down).
"""

from __future__ import annotations

import asyncio
import hmac
import math
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .alerts import WebhookPayload
from .api_input import BadRequest, RestartBody, json_body, read_body, validated
from .asgi_server import LogThrottle
from .config import Config
from .engine import MANUAL_RULE, Engine, RequestRecord
from .logs import get_logger
from .metrics import Metrics
from .model import MAX_HISTORY_SERVED, ConnectorKey, Decision, Trigger, connector_name_problem
from .name_hints import cluster_name_hint, connector_name_hint
from .queue import Phase, pause_note
from .report import ClusterPlace
from .state import Fenced, StateStoreError

log = get_logger("watchdog.api")

Handler = Callable[[Request], Awaitable[JSONResponse]]

# Alerts are decided this many at a time, with a yield to the event loop in between: a webhook
# of thousands must not keep /healthz (and every other task) waiting until it is done.
ALERT_CHUNK = 100
# A refused bearer token is logged at most once per this many seconds (with how many were not
# logged); each one is counted in watchdog_http_auth_failures_total.
AUTH_FAILURE_LOG_INTERVAL = 10.0
# Alertmanager and API clients retry a 429 or 503 after this many seconds.
RETRY_AFTER_SECONDS = 30
# Request bodies parsed and decided at once. A 1 MiB webhook costs about 10 MiB parsed; without
# this, max_connections of them at once would cost that many times over. Bodies are read before
# a slot is taken (raw, at most max_body_bytes each, one per connection: max_connections MiB at
# worst), so that a client sending slowly holds its own connection only, never a slot: four of
# them would otherwise stop every webhook and restart for server.request_timeout. For the same
# reason nothing waits on a rate-limit lane while holding a slot: a webhook whose cluster must be
# listed first gives its slot (and its parsed body) back while the listing is awaited, then
# takes one again and parses the raw body anew. Held across that wait, four webhooks naming a
# cluster whose key a 429 paused stopped every request, for every cluster, for the pause.
CONCURRENT_BODIES = 4
# A webhook whose write was fenced part way: "nothing was done" was untrue of the alerts before it.
FENCED_WEBHOOK = ("not the leader any more: the alerts decided before the lease moved on were recorded (the "
                  "leader now sends their restarts), the others were not; send again later (those recorded "
                  "are not acted on twice)")
# How many of a 422's problems its log line names.
LOGGED_PROBLEMS = 5
# The shape of every request id (engine.new_request_id: 8 random bytes in hex).
_REQUEST_ID = re.compile(r"[0-9a-f]{16}")


def _retry_later(status: int, error: str, **detail: Any) -> BadRequest:
    return BadRequest(status, error, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, **detail)


@dataclass
class ApiContext:
    engine: Engine
    metrics: Metrics
    config: Callable[[], Config]
    # Lists each named cluster whose last listing is stale (through its rate limiter); returns
    # the clusters that could not be listed, with why. Only connectors a listing showed are
    # ever acted on: names nobody listed would otherwise grow series, state and the queue.
    # It waits a few seconds at most (a listing not done by then goes on; the caller gets 503).
    ensure_listed: Callable[[Iterable[str]], Awaitable[dict[str, str]]]
    accepting: Callable[[], bool]  # False while shutting down
    connectors: Callable[[], list[dict[str, Any]]]  # the rows of GET /v1/connectors
    history: Callable[[str | None, str | None, int], list[dict[str, Any]]]  # GET /v1/history: (cluster, connector, limit)
    # Why this replica may not act (a standby: another replica leads), and the Retry-After to
    # answer with; None while it leads. History (the shared database) is served by every replica;
    # the connectors' rows (the leader's live view) by the leader only.
    not_leading: Callable[[], str | None] = lambda: None
    # The clusters whose listings fail now (ClusterPoller.failing): `polls_failing` of GET
    # /v1/connectors, so that `watchdog status --daemon` names them.
    polls_failing: Callable[[], list[dict[str, Any]]] = lambda: []
    # The clusters whose polls a pause of their API key holds now (ClusterPoller.paused):
    # `polls_paused` of GET /v1/connectors.
    polls_paused: Callable[[], list[dict[str, Any]]] = lambda: []
    standby_retry_after: int = RETRY_AFTER_SECONDS
    # Why the leader may not send now though it leads (its lease renewal is late), asked without
    # counting as a refused send; None while it may. A restart or a webhook is refused meanwhile:
    # accepted, its job reached the queue before the renewal came back, was refused its send, and
    # the leader stepped down to recover it (with its whole backlog).
    renewal_late: Callable[[], str | None] = lambda: None
    # Who leads, as the lease last said (None: not known): named in a standby's 503.
    leader: Callable[[], str | None] = lambda: None
    # Whether ensure_listed would list any of these clusters (their listing is stale): a webhook
    # that needs no listing is parsed once and decided at once.
    needs_listing: Callable[[Iterable[str]], bool] = lambda clusters: True
    # Seconds for which a 429 still pauses a cluster's key: a 503 for a cluster that could not be
    # listed says Retry-After no sooner than that.
    paused_for: Callable[[str], float] = lambda cluster: 0.0
    # Each cluster's place, its display name among it where discovery saw one: a 404 for a
    # cluster asked for by its display name names the lkc- id it goes by (_unknown_cluster).
    cluster_places: Callable[[], dict[str, ClusterPlace]] = lambda: {}


def _unknown_cluster(ctx: ApiContext, label: str) -> BadRequest:
    """The 404 for a cluster no configured or discovered one answers to, with the names that do
    (`watchdog restart` and `watchdog history` with --daemon print them after `configured:`)."""
    config = ctx.config()
    hint = cluster_name_hint(label, ctx.cluster_places(), discovery=config.discovery is not None,
                             listed_by="`watchdog status --daemon URL`")
    return BadRequest(404, f"unknown cluster {label!r}{hint}", known=sorted(config.clusters))


def _leader_only(ctx: ApiContext) -> None:
    """A standby acts on nothing: 503 with Retry-After, which Alertmanager and API clients retry."""
    reason = ctx.not_leading()
    if reason is not None:
        raise _standby(ctx, f"not the leader ({reason}); nothing was done; send again later")


def _standby(ctx: ApiContext, error: str) -> BadRequest:
    """A standby's 503. Every replica is Ready, so a Service sends the webhook and the API to
    either; `Connection: close` makes the retry (Alertmanager retries 5xx, on Go's http.Transport,
    which dials anew after it) open a new connection, which the Service balances afresh, rather
    than come back here on the kept-alive one. The body names the leader for a human reading it."""
    leader = ctx.leader()
    if leader is not None:
        error += f"; the leader is {leader}"
    return BadRequest(503, error, headers={"Retry-After": str(ctx.standby_retry_after), "Connection": "close"},
                      standby=True, leader=leader)


class AuthFailureLog:
    """Refused tokens are counted one by one but logged at most once per interval: a client
    hammering the API with a wrong token must not flood the log."""

    def __init__(self, metrics: Metrics, interval: float = AUTH_FAILURE_LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._metrics = metrics
        self._throttle = LogThrottle(interval, clock)

    def refused(self, route: str, request: Request, status: int, error: str) -> None:
        self._metrics.http_auth_failures.inc()  # 403 (API disabled) too: the same flood, the same bound
        not_logged = self._throttle.admit()
        if not_logged is None:
            return
        log.warning("http_request", route=route, method=request.method, status=status,
                    client=request.client.host if request.client else None,
                    refused_since_last_logged=not_logged, error=error)  # `error`, as every refusal's line


def api_routes(ctx: ApiContext) -> list[Route]:
    refusals = AuthFailureLog(ctx.metrics)
    bodies = asyncio.Semaphore(CONCURRENT_BODIES)
    # The query parameters each route takes; another is refused (400). The webhook's is not
    # looked at (None): its URL, in Alertmanager's config, may carry one of its own.
    return [
        Route("/v1/alertmanager", _guarded(ctx, refusals, "alertmanager", _with_body(bodies, _alertmanager), None),
              methods=["POST"]),
        Route("/v1/restarts", _guarded(ctx, refusals, "restarts", _with_body(bodies, _create_restart)), methods=["POST"]),
        Route("/v1/restarts/{request_id}", _guarded(ctx, refusals, "restart_status", _restart_status), methods=["GET"]),
        Route("/v1/connectors", _guarded(ctx, refusals, "connectors", _connectors()), methods=["GET"]),
        Route("/v1/history", _guarded(ctx, refusals, "history", _history, ("cluster", "connector", "limit")),
              methods=["GET"]),
    ]


def _with_body(
    bodies: asyncio.Semaphore, handler: Callable[[ApiContext, Request, bytes, asyncio.Semaphore], Awaitable[JSONResponse]]
) -> Callable[[ApiContext, Request], Awaitable[JSONResponse]]:
    """The body read whole (bounded in size here, in time by the server), then the handler run
    with it; the handler parses and decides while holding one of the body slots, and awaits
    nothing else while it holds one (after authentication: a client without the token never
    takes one)."""

    async def bounded(ctx: ApiContext, request: Request) -> JSONResponse:
        body = await read_body(request, ctx.config().server.max_body_bytes)
        return await handler(ctx, request, body, bodies)

    return bounded


def _guarded(
    ctx: ApiContext, refusals: AuthFailureLog, route: str,
    handler: Callable[[ApiContext, Request], Awaitable[JSONResponse]], query: tuple[str, ...] | None = (),
) -> Handler:
    """Authentication, then the route's query parameters (`query`; None: not looked at), then the
    handler; every refusal a 4xx or 503 naming its reason, logged. (Counting is the server's: it
    counts every answer, 5xx included.)"""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            _authenticate(ctx.config(), request)
        except BadRequest as exc:
            # 401 (no or a wrong token) and 403 (no token configured): counted one by one,
            # logged at most once per interval, so a client hammering the API floods nothing.
            response = JSONResponse(exc.body, status_code=exc.status)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="connect-watchdog"'
            refusals.refused(route, request, exc.status, exc.body["error"])
            return response
        why: dict[str, Any] = {}
        try:
            if query is not None:
                _only_query(request, query)
            response = await handler(ctx, request)
        except BadRequest as exc:
            response = JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
            # The reason in the log too: Alertmanager does not send a refused group again, and the
            # line said only `status=422`, the answer that said why being read by nobody.
            why = {"error": exc.body["error"]}
            if "problems" in exc.body:
                why["problems"] = exc.body["problems"][:LOGGED_PROBLEMS]
        except Fenced as exc:
            # Another replica took the lead while this request was decided: the refused write and
            # every later one were not made. A webhook's alerts are each recorded on their own,
            # so those decided before it stand (the new leader recovers their restarts).
            log.warning("http_request_not_leader", route=route, error=str(exc))
            refused = _standby(ctx, FENCED_WEBHOOK if route == "alertmanager" else
                               "not the leader any more; nothing was done; send again later")
            response = JSONResponse(refused.body, status_code=refused.status, headers=refused.headers)
        except StateStoreError as exc:
            # Nothing was decided: a client (Alertmanager) asking again later is what we want.
            log.error("http_request_not_recorded", route=route, error=str(exc))
            response = JSONResponse({"error": "the daemon cannot record decisions now (its state file cannot be "
                                              "written); nothing was done; try again later"},
                                    status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        level = log.info if response.status_code < 400 else log.warning
        level("http_request", route=route, method=request.method, status=response.status_code,
              client=request.client.host if request.client else None, **why)
        return response

    return endpoint


def _only_query(request: Request, known: tuple[str, ...]) -> None:
    """A query parameter the route does not take is refused: ignored, a misspelt filter
    (`/v1/history?conector=orders`) answered every connector's restarts as that one's, and
    `POST /v1/restarts?dry_run=true` restarted for real. Named cut short, escaped (repr). So is
    one it takes given more than once."""
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        names = ", ".join(repr(name[:50]) + ("..." if len(name) > 50 else "") for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        takes = ", ".join(known) if known else "none (what it needs goes in the path or the body)"
        raise BadRequest(400, f"unknown query parameter{'s' if len(unknown) > 1 else ''} {names}{more}: "
                              f"this route takes {takes}; nothing was done")
    # One given twice is refused too: Starlette reads the last, and the other was ignored without
    # a word (`/v1/history?connector=a&connector=b` answered b's restarts alone; a proxy that
    # checks the first would pass what the daemon reads as the other). Which one was meant is a guess.
    given = Counter(name for name, _ in request.query_params.multi_items())
    repeated = sorted(name for name, count in given.items() if count > 1)
    if repeated:
        raise BadRequest(400, f"query parameter {repeated[0]!r} given {given[repeated[0]]} times: this route takes "
                              "each once; nothing was done")


def _authenticate(config: Config, request: Request) -> None:
    token = config.server.auth_token
    if token is None:
        raise BadRequest(403, "this API is disabled: the daemon has no auth token (set WATCHDOG_SERVER__AUTH_TOKEN)")
    presented_headers = request.headers.getlist("authorization")
    if len(presented_headers) > 1:
        # Which one counts would be a guess (and a proxy may read the other one): neither does.
        raise BadRequest(400, "more than one Authorization header; send exactly one")
    scheme, _, provided = (presented_headers[0] if presented_headers else "").partition(" ")
    presented = provided.strip().encode()
    expected = token.get_secret_value().encode()
    # An empty token never authenticates, whatever the config says (the config refuses a blank
    # one; this holds even if one slipped through). compare_digest on bytes: the time taken does
    # not reveal how much of the token matched.
    if scheme.lower() != "bearer" or not presented or not expected or not hmac.compare_digest(presented, expected):
        raise BadRequest(401, "missing or invalid bearer token")


def _may_act(ctx: ApiContext) -> None:
    _leader_only(ctx)
    late = ctx.renewal_late()
    if late is not None:
        # The leader's own 503 (not a standby's): nothing recorded, so nothing is left anywhere.
        raise BadRequest(503, f"the leader may not send now ({late}); nothing was done; send again in a moment",
                         headers={"Retry-After": str(ctx.standby_retry_after)})
    if not ctx.accepting():
        # 5xx: Alertmanager will send it again, to this daemon's successor.
        raise _retry_later(503, "shutting down; send again later")


def _listing_retry_after(ctx: ApiContext, clusters: Iterable[str]) -> str:
    """Retry-After for a request refused because a cluster could not be listed: no sooner than
    the longest 429 pause among those clusters' keys (the listing cannot go before)."""
    paused = max((ctx.paused_for(c) for c in clusters), default=0.0)
    return str(max(RETRY_AFTER_SECONDS, math.ceil(paused)))


async def _alertmanager(ctx: ApiContext, request: Request, raw: bytes, bodies: asyncio.Semaphore) -> JSONResponse:
    engine = ctx.engine
    async with bodies:
        payload = validated(WebhookPayload, json_body(raw))
        _may_act(ctx)
        clusters = engine.alert_clusters(payload.alerts)
        if not ctx.needs_listing(clusters):
            return await _decide_alerts(ctx, payload, {})
        del payload  # not kept while the listing is awaited: that wait holds no slot
    # Outside the slot, and bounded (a few seconds; none while the cluster's key is paused): one
    # key's 429 pause never holds the webhooks and restarts of other clusters.
    unlisted = await ctx.ensure_listed(clusters)
    async with bodies:
        # Parsed again from the raw bytes: the same alerts, decided now that their clusters are
        # listed, or refused (503, Alertmanager sends again) where a cluster could not be.
        payload = validated(WebhookPayload, json_body(raw))
        _may_act(ctx)
        return await _decide_alerts(ctx, payload, unlisted)


async def _decide_alerts(ctx: ApiContext, payload: WebhookPayload, unlisted: dict[str, str]) -> JSONResponse:
    engine = ctx.engine
    engine.note_truncation(payload)
    results = []
    for start in range(0, len(payload.alerts), ALERT_CHUNK):
        if start:
            await asyncio.sleep(0)  # let /healthz, the queue and the polls run between chunks
        results += engine.on_alerts(payload.alerts[start:start + ALERT_CHUNK], unlisted=unlisted).alerts
    engine.note_unmatched(results, payload.groupKey)
    body = {"alerts": [a.as_json() for a in results]}
    if any(a.retry for a in results):
        # Some alerts could not be acted on for a reason that passes (a full queue, a cluster
        # that could not be listed, shutdown): Alertmanager sends the group again; the alerts
        # already acted on then come back as `duplicate` or inside their backoff.
        retry_after = _listing_retry_after(ctx, {a.cluster for a in results if a.retry and a.cluster in unlisted})
        # Refused as every other refusal is (BadRequest: its `error` in the answer and in the
        # http_request line): the line said only `status=503`, each alert's reason in an answer
        # nobody reads.
        again = [a for a in results if a.retry]
        reasons = sorted({a.detail or a.result for a in again})
        raise BadRequest(503, f"{len(again)} of {len(results)} alert(s) could not be acted on now "
                              f"({'; '.join(reasons[:3])}{'; ...' if len(reasons) > 3 else ''}): send the group again later",
                         headers={"Retry-After": retry_after}, **body)
    return JSONResponse(body)


async def _create_restart(ctx: ApiContext, request: Request, raw: bytes, bodies: asyncio.Semaphore) -> JSONResponse:
    async with bodies:
        body: RestartBody = validated(RestartBody, json_body(raw))
    # From here the request is a few hundred bytes and holds no slot.
    engine = ctx.engine
    cluster = engine.cluster_named(body.cluster)
    if cluster is None:
        raise _unknown_cluster(ctx, body.cluster)
    key = ConnectorKey(cluster, body.connector)
    if not engine.watched_rules(key):
        raise BadRequest(422, f"connector {body.connector!r} in {cluster!r} is not watched by any rule; "
                              "only watched connectors can be restarted")
    _may_act(ctx)
    unlisted = await ctx.ensure_listed([cluster])
    if engine.cluster_named(body.cluster) != cluster:
        # Removed by a reload or discovery while it was listed: as unknown as it is from now on.
        raise BadRequest(404, f"cluster {body.cluster!r} was removed (by a reload or discovery) while its connectors "
                              "were being listed; nothing was done", known=sorted(ctx.config().clusters))
    if cluster in unlisted:
        raise BadRequest(503, f"cluster {cluster!r} could not be listed ({unlisted[cluster]}), so whether "
                              f"{body.connector!r} exists is not known; nothing was done; try again later",
                         headers={"Retry-After": _listing_retry_after(ctx, [cluster])})
    _may_act(ctx)  # the listing may have taken seconds
    status = engine.statuses.get(key)
    if status is None:
        # A name typed wrong in an incident (`orders-snik`) is offered the listed ones it is close to.
        listed = [k.connector for k in engine.statuses if k.cluster == cluster]
        hint = await asyncio.to_thread(connector_name_hint, body.connector, listed)
        raise BadRequest(404, f"connector {body.connector!r} was not found in cluster {cluster!r} at the last listing{hint}")
    record = engine.on_request(key, status, trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason=body.reason)
    if record.decision is Decision.QUEUE_FULL:
        raise _retry_later(429, "the restart queue is full; nothing was queued; try again later",
                           **_describe(record))
    if record.decision is Decision.SHUTTING_DOWN:
        raise _retry_later(503, "shutting down; nothing was queued; send again later", **_describe(record))
    return JSONResponse(_describe(record, ctx.paused_for(cluster)), status_code=202,
                        headers={"Location": f"/v1/restarts/{record.request_id}"})


async def _restart_status(ctx: ApiContext, request: Request) -> JSONResponse:
    request_id = request.path_params["request_id"]
    if not _REQUEST_ID.fullmatch(request_id):
        # Not an id this daemon ever hands out: said without quoting it back (it can be any
        # length, and whatever the caller put in it).
        raise BadRequest(404, "no such request: request ids are 16 lowercase hexadecimal characters")
    _leader_only(ctx)  # the leader that accepted a request knows what became of it
    record = ctx.engine.requests.get(request_id)
    if record is None:
        raise BadRequest(404, f"unknown or expired request id {request_id!r}")
    return JSONResponse(_describe(record, ctx.paused_for(record.key.cluster)))


class _Written(JSONResponse):
    """An answer whose JSON is already written out (shared by several requests)."""

    def render(self, content: Any) -> bytes:
        assert isinstance(content, bytes)
        return content


def _connectors() -> Callable[[ApiContext, Request], Awaitable[JSONResponse]]:
    """GET /v1/connectors: every connector's row, read and written out on the event loop (0.5 s
    for 14,000 connectors, 7 MB). Readers that come while a reading is awaited share it (it is
    read after they came): each one read in turn, 8 readers at once (`watchdog status --daemon`
    in several terminals during an incident) held /healthz, the webhook and the lease 4.1 s."""
    next_reading: dict[str, asyncio.Future[bytes]] = {}

    async def reading(ctx: ApiContext) -> bytes:
        del next_reading["rows"]  # begun: a reader that comes from now on waits for the next one
        return bytes(JSONResponse({"connectors": ctx.connectors(), "polls_failing": ctx.polls_failing(),
                                   "polls_paused": ctx.polls_paused()}).body)

    async def connectors(ctx: ApiContext, request: Request) -> JSONResponse:
        # The leader's live view (its polls, its discovery): a standby polls and discovers nothing,
        # so its rows showed a discovered cluster's environment as null and health as of its start.
        # Its 503 sends the reader (and `watchdog status --daemon` through a Service) to the leader.
        _leader_only(ctx)
        if "rows" not in next_reading:
            next_reading["rows"] = asyncio.ensure_future(reading(ctx))
        # Shielded: a reader that went away does not cancel the others' answer.
        return _Written(await asyncio.shield(next_reading["rows"]))

    return connectors



async def _history(ctx: ApiContext, request: Request) -> JSONResponse:
    """GET /v1/history[?cluster=C][&connector=N][&limit=50]: recent restarts, newest first."""
    params = request.query_params
    limit_text = params.get("limit", "50")
    # ASCII digits only: str.isdigit() is also true for '²' and other digits int() refuses.
    if not re.fullmatch(r"[0-9]{1,4}", limit_text) or not 1 <= int(limit_text) <= MAX_HISTORY_SERVED:
        raise BadRequest(400, f"limit must be a whole number from 1 to {MAX_HISTORY_SERVED}")
    limit = int(limit_text)
    connector, cluster_label = params.get("connector"), params.get("cluster")
    for name, value in (("connector", connector), ("cluster", cluster_label)):
        if value and connector_name_problem(value) is not None:
            raise BadRequest(400, f"{name} {connector_name_problem(value)}")
    cluster: str | None = None
    if cluster_label:
        # By name or lkc- id, with or without a connector: an unknown cluster is a 404 either way.
        cluster = ctx.engine.cluster_named(cluster_label)
        if cluster is None:
            # A standby discovers nothing: a cluster only the leader's discovery found is unknown
            # here (its 404 said "unknown cluster" where the leader lists its restarts).
            _leader_only(ctx)
            raise _unknown_cluster(ctx, cluster_label)
    # Filtered by the store: filtered here from the newest MAX_HISTORY_SERVED restarts of the fleet, a
    # connector or cluster whose restarts were older than those had "no restarts recorded".
    return JSONResponse({"restarts": ctx.history(cluster, connector or None, limit)})


def _describe(record: RequestRecord, paused: float = 0.0) -> dict[str, Any]:
    """`paused`: seconds for which every call of the cluster's API key is still paused."""
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
        # Why a restart was not queued (backoff, a closed window, recently restarted...), as the
        # decision log says it; "" when it was.
        "detail": record.detail,
        # A job left unsent at a stop and kept for the next daemon is not finished: it said
        # `finished`, outcome `unsent`, and `watchdog restart --daemon` stopped following there.
        "state": "skipped" if job is None else (
            "finished" if job.phase is Phase.DONE and not job.kept_for else "pending"),
        "job": None,
    }
    if job is not None:
        waiting = ""
        if paused > 0 and job.phase in (Phase.QUEUED, Phase.WAITING):
            # A 429's pause holds every restart of the key up to rate_limit.max_pause (15 minutes):
            # a bare "pending" for that long, and `watchdog restart --daemon`'s "still queued after
            # 60s", read as a daemon that was stuck.
            waiting = pause_note(paused)
        described["job"] = {
            "id": job.id,
            "outcome": job.outcome.value if job.outcome else None,
            "status_code": job.status_code,
            "message": "; ".join(part for part in (job.message, job.kept_for, waiting) if part),
            "tries": job.tries,
            "requests": [r.id for r in job.requests],
        }
    return described
