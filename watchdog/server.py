"""The daemon's HTTP surface: /metrics, /healthz, /readyz (open) and the API of api/ (token).

prometheus-client's own `start_http_server` answers every path with metrics, so the daemon serves
its own Starlette app and mounts `make_asgi_app(registry)` at /metrics. Every answer, whatever
the route and whatever went wrong, is counted in `watchdog_http_requests_total`; an exception
becomes a logged, counted 500 (never an unlogged one from the framework).
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from urllib.parse import parse_qs, unquote

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import release
from .api import ApiContext, api_routes
from .asgi_server import LogThrottle
from .logs import get_logger, printable
from .metrics import Metrics

log = get_logger("watchdog.server")

# A POST to a path no route has is logged at most once per this many seconds (anyone may send one).
UNROUTED_LOG_INTERVAL = 10.0
# The heartbeat ticks every second; a loop that has not ticked for this long is stuck.
HEARTBEAT_STALE_SECONDS = 15.0

_ROUTES_BY_PATH = {
    "/v1/alertmanager": "alertmanager",
    "/v1/restarts": "restarts",
    "/v1/connectors": "connectors",
    "/v1/history": "history",
    "/metrics": "metrics",
    "/healthz": "healthz",
    "/readyz": "readyz",
}


def route_of(path: str) -> str:
    """A bounded label for any path: a hostile client cannot create series."""
    if path.startswith("/v1/restarts/") and path.count("/") == 3:
        return "restart_status"
    return _ROUTES_BY_PATH.get(path, "other")


class Probes:
    """Liveness: the event loop is ticking. Readiness of the leader: config loaded, discovery (when
    configured) has finished its first refresh, every cluster polled once, and the state store
    taking writes (a daemon that cannot record its decisions acts on none). Readiness of a standby
    (another replica leads): config loaded and the shared database reachable, so that it could
    lead at once.

    Every healthy replica is Ready, the standby too: with only the leader Ready, a Deployment of
    two never had more than one available (`kubectl rollout status` waited until its progress
    deadline, KubeDeploymentReplicasMismatch fired for ever). The Service then sends the webhook
    and the API to either; the standby answers 503 with `Connection: close` (api/refusals.py), and the
    retry, on a new connection, is balanced afresh.

    A daemon that is stopping is not Ready, leader or standby: it refuses every webhook and restart
    (503 `shutting_down`) while its queue drains, and a balancer that asks /readyz (compose, a
    VM's load balancer) must send them elsewhere. Liveness is untouched: a kubelet that killed a
    draining pod would cut the drain short."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_tick = clock()
        self.config_loaded = False
        # Whether this leader has answered ready once: a cluster put in service after that (a
        # reload, a discovery refresh) does not hold readiness (cluster_host._install_cluster).
        self.ready_once = False
        self.pending_clusters: Callable[[], Iterable[str]] = lambda: ()
        # The clusters whose first poll waits out a pause of their API key: not pending (tried).
        self.paused_clusters: Callable[[], list[dict[str, object]]] = lambda: []
        self.discovery_pending: Callable[[], bool] = lambda: False
        self.state_problem: Callable[[], str | None] = lambda: None
        # Why this replica does not lead (None: it does).
        self.not_leader: Callable[[], str | None] = lambda: None
        # Who leads, as last read from the lease (None: not known), and why it is not known.
        self.leader: Callable[[], str | None] = lambda: None
        self.leader_note: Callable[[], str] = lambda: ""
        # Why a standby could not lead (its database out of reach; None: it could). A standby
        # writes nothing, so the store's `problem` (its last write) says nothing about it.
        self.lease_problem: Callable[[], str | None] = lambda: None
        # While the daemon stops, the longest its drain may take (queue.shutdown_deadline); None
        # while it runs.
        self.stopping: Callable[[], float | None] = lambda: None
        # The digest of the config in force (Config.digest), so that each replica can be asked
        # which config it runs, as which release (watchdog_config_info says the same).
        self.config_digest: Callable[[], str | None] = lambda: None
        # The stalled rules and clusters whose last check could not judge some connectors yet
        # (triggers/stall.py StallChecker.waiting): said, never a reason to be unready.
        self.stall_waiting: Callable[[], list[dict[str, object]]] = lambda: []

    def tick(self) -> None:
        self._last_tick = self._clock()

    def liveness(self) -> tuple[bool, dict[str, object]]:
        age = self._clock() - self._last_tick
        return age < HEARTBEAT_STALE_SECONDS, {"heartbeat_age_seconds": round(age, 3)}

    def readiness(self) -> tuple[bool, dict[str, object]]:
        ready, detail = self._serving_readiness()
        deadline = self.stopping()
        if deadline is None:
            return ready, detail
        # Said first: the one thing that matters to whoever reads it while the pod goes away.
        return False, {"stopping": f"the daemon is stopping: it takes no new webhook or restart (answered 503 "
                                   f"shutting_down, to be sent again) while it sends what is queued, for up to "
                                   f"{deadline:g}s (queue.shutdown_deadline); /healthz stays 200 meanwhile", **detail}

    def _serving_readiness(self) -> tuple[bool, dict[str, object]]:
        # Which release answers, so that each replica of a rolling update or a rollback can be
        # asked which one it runs (every release so far has the version 0.1.0; the revision differs).
        build = release.build()
        running = {"version": build.version, "revision": build.revision, "config_digest": self.config_digest()}
        not_leader = self.not_leader()
        if not_leader is not None:
            problem = self.lease_problem()
            return self.config_loaded and problem is None, {
                "config_loaded": self.config_loaded, "state_store": problem or "ok", "role": "standby",
                "standby": f"{not_leader}; the webhook and POST /v1/restarts are answered 503 here, to be sent again",
                **_leader_said(self.leader(), self.leader_note), **running}
        pending = sorted(self.pending_clusters())
        discovering = self.discovery_pending()
        problem = self.state_problem()
        ready = self.config_loaded and not pending and not discovering and problem is None
        self.ready_once = self.ready_once or ready
        detail: dict[str, object] = {"config_loaded": self.config_loaded, "clusters_not_yet_polled": pending,
                                     "state_store": problem or "ok", "role": "leader", "leader": self.leader(),
                                     **running}
        if discovering:
            detail["discovery"] = "the first refresh has not finished"
        if paused := self.paused_clusters():
            detail["clusters_waiting_on_a_pause"] = paused
        if waiting := self.stall_waiting():
            detail["stall_checks_waiting"] = waiting
        return ready, detail


def _leader_said(leader: str | None, note: Callable[[], str]) -> dict[str, object]:
    """A standby's `leader`, and `leader_unknown` (why none is named) when it names none."""
    return {"leader": leader} if leader is not None else {"leader": None, "leader_unknown": note()}


class _Collected:
    """A registry's metrics as collected at one moment, for an encoder to write out elsewhere."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def _written(collected: _Collected, accept: str, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    encoder, content_type = choose_encoder(accept)
    body = encoder(collected)
    headers = {"Content-Type": content_type}
    if gzip_accepted(accept_encoding):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def metrics_endpoint(registry: CollectorRegistry) -> Callable[[Request], Awaitable[Response]]:
    """/metrics as prometheus-client's own app serves it (its encoders, `name[]`, gzip), but
    written out and compressed in a worker thread: on the event loop, a scrape of 200 clusters'
    series (6,000 connectors, 3.8 MB) held /healthz, webhooks and the lease 1.5 s. The samples are
    collected on the loop, where the gauges that read the daemon's state (a limiter's budget)
    are read at one consistent moment.

    One scrape is collected and written out at a time, and the scrapes of the same kind (its
    encoder, gzip or not, its `name[]`) that come meanwhile share the next one, collected after
    they came. /metrics needs no token: each scrape wrote out every series in a thread of its
    own, and with 14,000 connectors (5 MB) 8 scrapes at once held /healthz 3.2 s, 60 of them more
    than 5 s (the liveness probe gives up after 3 s), the threads contending with the loop for
    the interpreter."""
    one_at_a_time = asyncio.Lock()
    # The writing not yet begun of each kind of scrape, which a scrape of that kind joins.
    next_of_kind: dict[tuple[object, ...], asyncio.Future[tuple[bytes, dict[str, str]]]] = {}

    async def written(kind: tuple[object, ...], names: list[str] | None, accept: str, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
        async with one_at_a_time:
            # From here on a scrape of this kind that comes is collected by the next writing.
            next_of_kind.pop(kind, None)
            collected = _Collected(list((registry.restricted_registry(names) if names else registry).collect()))
            return await asyncio.to_thread(_written, collected, accept, accept_encoding)

    async def metrics(request: Request) -> Response:
        names = parse_qs(request.url.query).get("name[]")
        unknown = _unknown_names(registry, names or ())
        if unknown:
            return JSONResponse({"error": unknown}, status_code=400)
        accept, accept_encoding = request.headers.get("accept", ""), request.headers.get("accept-encoding", "")
        kind = (choose_encoder(accept)[1], gzip_accepted(accept_encoding), tuple(sorted(set(names or ()))))
        writing = next_of_kind.get(kind)
        if writing is None:
            writing = next_of_kind[kind] = asyncio.ensure_future(written(kind, names, accept, accept_encoding))
        # Shielded: a scrape whose client went away does not cancel the others' answer.
        body, headers = await asyncio.shield(writing)
        return Response(body, headers=headers)

    return metrics


class AcceptAbsoluteForm:
    """A request whose target is in absolute-form (`GET http://host:9464/healthz`, what a client
    configured to use the daemon as a forward proxy sends) is routed by the target's path, as
    RFC 9112 §3.2.2 says a server must accept it; uvicorn's h11 server takes the whole target for
    the path, and it was answered 404 no such route. The target's host is not looked at (nor is
    the Host header: no route answers by host). Outermost, so that the answer is counted under
    its route."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") or b""
        if scope["type"] == "http" and raw[:8].lower().startswith((b"http://", b"https://")):
            # uvicorn has cut the query off already: what is left is scheme://authority[/path].
            authority_and_path = raw.partition(b"://")[2]
            slash = authority_and_path.find(b"/")
            path = authority_and_path[slash:] if slash >= 0 else b"/"
            root = scope.get("root_path", "")
            scope = {**scope, "raw_path": root.encode("ascii") + path, "path": root + unquote(path.decode("ascii"))}
        await self._app(scope, receive, send)


# RFC 9112 §6.3: a message with both is a request smuggling attempt or a broken client, to be
# handled as an error and the connection closed; h11 reads the body as chunked and kept the
# connection, so a proxy in front that framed it by Content-Length read another request.
AMBIGUOUS_LENGTH = ("the request has both Content-Length and Transfer-Encoding, which frame its body differently "
                    "(RFC 9112 section 6.3); send one of them. Nothing was done, and the connection is closed")


class RefuseAmbiguousLength:
    """A request with both Content-Length and Transfer-Encoding is answered 400 before any route
    sees it, and its connection closed (`Connection: close`: uvicorn then closes it unread)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = {name.lower() for name, _ in scope.get("headers", ())}
            if b"content-length" in names and b"transfer-encoding" in names:
                response = JSONResponse({"error": AMBIGUOUS_LENGTH}, status_code=400, headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _unknown_names(registry: CollectorRegistry, names: Iterable[str]) -> str | None:
    """Why a `name[]` selection is refused: it names a metric this daemon does not have. It was
    answered 200 with those samples left out, an empty page for `?name[]=x`: a scrape config's
    stray `params:` got a target that is up (`up` 1) and writes nothing, and every alert on the
    daemon's metrics went quiet without an error. Other parameters are not looked at: they change
    nothing in the answer, and a scrape refused over one would take every metric down with it
    (docs/alerts-and-api.md)."""
    # prometheus_client's own map of every name its registered metrics write (family and sample
    # names); the daemon registers no collector without names (which this map would not show).
    with registry._lock:
        known = set(registry._names_to_collectors)
    missing = sorted({name for name in names if name not in known})
    if not missing:
        return None
    shown = ", ".join(repr(printable(name[:100])) for name in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return (f"name[] names no metric of this daemon: {shown}{more}; name[] selects the samples of the metrics named "
            "(e.g. watchdog_build_info), and /metrics without it answers every one. Nothing was written out")


class CountEveryAnswer:
    """Counts every answer by route and status class, and turns an exception into a logged,
    counted 500 with a JSON body (Starlette's own handler would answer in plain text and leave
    the logging to uvicorn)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        route = route_of(scope["path"])
        status: int | None = None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, sending)
        except Exception as exc:
            log.exception("http_request_failed", route=route, method=scope.get("method"), error=type(exc).__name__)
            if status is None:
                status = 500
                response = JSONResponse({"error": "internal error; the daemon's log has the details"}, status_code=500)
                await response(scope, receive, send)
        finally:
            if status is not None:
                self._metrics.http_requests.labels(route, f"{min(status // 100, 5)}xx").inc()


def create_app(registry: CollectorRegistry, probes: Probes, api: ApiContext | None = None,
               metrics: Metrics | None = None) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        ok, detail = probes.liveness()
        return JSONResponse({"status": "ok" if ok else "stalled", **detail}, status_code=200 if ok else 503)

    async def readyz(request: Request) -> JSONResponse:
        ok, detail = probes.readiness()
        return JSONResponse({"status": "ready" if ok else "not_ready", **detail}, status_code=200 if ok else 503)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        # A Route, not a Mount: a Mount would redirect /metrics to /metrics/.
        Route("/metrics", metrics_endpoint(registry), methods=["GET"]),
    ]
    if api is not None:
        routes += api_routes(api)
        metrics = metrics or api.metrics
    # Counted first, then refused if its framing is ambiguous: the refusal is counted too.
    middleware = [Middleware(AcceptAbsoluteForm)]
    if metrics is not None:
        middleware.append(Middleware(CountEveryAnswer, metrics=metrics))
    middleware.append(Middleware(RefuseAmbiguousLength))
    refusal = _FrameworkRefusal(LogThrottle(UNROUTED_LOG_INTERVAL))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: refusal})
    # Starlette would answer /v1/restarts/ with a 307 to a Location built from the Host header
    # (any host the caller names); a path with a trailing slash is just not a route: 404.
    app.router.redirect_slashes = False
    return app


class _FrameworkRefusal:
    """Starlette's own refusals (404 no such route, 405 wrong method) in JSON, like every other
    answer; the path is not quoted back (it is the caller's, of any length). A POST refused so is
    logged (at most once per interval, with how many were not): it is a webhook or a restart sent
    to a wrong URL (`/v1/alertmanager/`, `/api/v2/alerts`), which Alertmanager does not send
    again, and before, nothing in the daemon's log said that anything had come."""

    def __init__(self, throttle: LogThrottle) -> None:
        self._throttle = throttle

    async def __call__(self, request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            error = "no such route"
        elif exc.status_code == 405:
            allowed = {name.lower(): value for name, value in (exc.headers or {}).items()}.get("allow", "")
            error = f"method not allowed here; allowed: {allowed}"
        else:
            error = exc.detail
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            not_logged = self._throttle.admit()
            if not_logged is not None:
                log.warning("http_request_unrouted", method=request.method, path=printable(request.url.path[:200]),
                            status=exc.status_code, client=request.client.host if request.client else None,
                            refused_since_last_logged=not_logged,
                            note="nothing was done: is a webhook or a restart request sent to a wrong URL? "
                                 "the routes are POST /v1/alertmanager and POST /v1/restarts")
        return JSONResponse({"error": error}, status_code=exc.status_code, headers=exc.headers)
