"""The routes of the API, each behind its guard: the token, the query parameters the route takes,
the request body read whole and parsed a few at a time; every refusal answered with its reason
and logged."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..api_input import BadRequest, read_body
from ..engine.recorder import store_noun
from ..logs import get_logger
from ..state import Fenced, StateStoreError
from .admission import Busy, InProgress, bounds
from .auth import AuthFailureLog, authenticate
from .context import RETRY_AFTER_SECONDS, ApiContext
from .reads import connectors, history
from .refusals import standby
from .restarts import create_restart, restart_status
from .webhook import alertmanager

log = get_logger("watchdog.api")

Handler = Callable[[Request], Awaitable[JSONResponse]]

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


def api_routes(ctx: ApiContext) -> list[Route]:
    refusals = AuthFailureLog(ctx.metrics)
    bodies = asyncio.Semaphore(CONCURRENT_BODIES)
    # The cap the server was started with: `server` is a section only a restart changes.
    webhooks, restarts = bounds(lambda: ctx.config().server.max_connections)
    # The query parameters each route takes; another is refused (400). The webhook's is not
    # looked at (None): its URL, in Alertmanager's config, may carry one of its own.
    return [
        Route("/v1/alertmanager", _guarded(ctx, refusals, "alertmanager", _with_body(bodies, alertmanager, webhooks),
                                              None),
              methods=["POST"]),
        Route("/v1/restarts", _guarded(ctx, refusals, "restarts", _with_body(bodies, create_restart, restarts)), methods=["POST"]),
        Route("/v1/restarts/{request_id}", _guarded(ctx, refusals, "restart_status", restart_status), methods=["GET"]),
        Route("/v1/connectors", _guarded(ctx, refusals, "connectors", connectors(), ("cluster", "problems", "gone")),
              methods=["GET"]),
        Route("/v1/history", _guarded(ctx, refusals, "history", history, ("cluster", "connector", "limit")),
              methods=["GET"]),
    ]


def _with_body(
    bodies: asyncio.Semaphore, handler: Callable[[ApiContext, Request, bytes, asyncio.Semaphore], Awaitable[JSONResponse]],
    in_progress: InProgress,
) -> Callable[[ApiContext, Request], Awaitable[JSONResponse]]:
    """The body read whole (bounded in size here, in time by the server), then the handler run
    with it; the handler parses and decides while holding one of the body slots, and awaits
    nothing else while it holds one (after authentication: a client without the token never
    takes one). Beyond the route's bound of requests in progress, refused before the body is
    read (admission.py)."""

    async def bounded(ctx: ApiContext, request: Request) -> JSONResponse:
        in_progress.enter()
        try:
            body = await read_body(request, ctx.config().server.max_body_bytes)
            return await handler(ctx, request, body, bodies)
        finally:
            in_progress.leave()

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
            authenticate(ctx.config(), request)
        except BadRequest as exc:
            # 401 (no or a wrong token) and 403 (no token configured): counted one by one,
            # logged at most once per interval, so a client hammering the API floods nothing.
            response = JSONResponse(exc.body, status_code=exc.status)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="connect-watchdog"'
            refusals.refused(route, request, exc.status, exc.body["error"])
            return response
        why: dict[str, Any] = {}
        said = False  # the refusal's line was written already (a Busy's, throttled)
        try:
            if query is not None:
                _only_query(request, query)
            response = await handler(ctx, request)
        except BadRequest as exc:
            response = JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
            said = isinstance(exc, Busy)
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
            refused = standby(ctx, FENCED_WEBHOOK if route == "alertmanager" else
                               "not the leader any more; nothing was done; send again later")
            response = JSONResponse(refused.body, status_code=refused.status, headers=refused.headers)
        except StateStoreError as exc:
            # Nothing was decided: a client (Alertmanager) asking again later is what we want.
            log.error("http_request_not_recorded", route=route, error=str(exc))
            response = JSONResponse({"error": f"the daemon cannot record decisions now (its "
                                              f"{store_noun(ctx.config().state)} cannot be written); nothing was "
                                              "done; try again later"},
                                    status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        level = log.info if response.status_code < 400 else log.warning if not said else log.debug
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
    # Given empty, a filter was no filter: `/v1/history?connector=$NAME` with the variable unset
    # answered every connector's restarts as that one's (found 2026-12-06).
    empty = sorted(name for name, value in request.query_params.multi_items() if not value)
    if empty:
        raise BadRequest(400, f"query parameter {empty[0]!r} is empty (a variable unset?): give it a value, or leave it "
                              "out; nothing was done")
    # Starlette decodes a percent-encoded query as UTF-8 with errors replaced: `?connector=%ff%fe`
    # was looked up as '\ufffd\ufffd' and answered "no restarts", a name mangled on the way.
    try:
        parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(400, "the query string is not UTF-8 text once percent-decoded; nothing was done") from None


