"""The daemon's HTTP surface: /metrics, /healthz, /readyz (open) and the API of api.py (token).

prometheus-client's own `start_http_server` answers every path with metrics, so the daemon serves
its own Starlette app and mounts `make_asgi_app(registry)` at /metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, make_asgi_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .api import ApiContext, api_routes

# The heartbeat ticks every second; a loop that has not ticked for this long is stuck.
HEARTBEAT_STALE_SECONDS = 15.0


class Probes:
    """Liveness: the event loop is ticking. Readiness: config loaded and every cluster polled once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_tick = clock()
        self.config_loaded = False
        self.pending_clusters: Callable[[], Iterable[str]] = lambda: ()

    def tick(self) -> None:
        self._last_tick = self._clock()

    def liveness(self) -> tuple[bool, dict[str, object]]:
        age = self._clock() - self._last_tick
        return age < HEARTBEAT_STALE_SECONDS, {"heartbeat_age_seconds": round(age, 3)}

    def readiness(self) -> tuple[bool, dict[str, object]]:
        pending = sorted(self.pending_clusters())
        ready = self.config_loaded and not pending
        return ready, {"config_loaded": self.config_loaded, "clusters_not_yet_polled": pending}


class _AsgiEndpoint:
    """Starlette treats a plain function as a request handler; an object is served as ASGI."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def create_app(registry: CollectorRegistry, probes: Probes, api: ApiContext | None = None) -> Starlette:
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
        Route("/metrics", _AsgiEndpoint(make_asgi_app(registry)), methods=["GET"]),
    ]
    if api is not None:
        routes += api_routes(api)
    return Starlette(routes=routes)
