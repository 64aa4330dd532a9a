"""Who may use the API: the bearer token, compared in constant time, and its refusals counted
one by one but logged at most once per interval."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from starlette.requests import Request

from ..api_input import BadRequest
from ..asgi_server import LogThrottle
from ..config import Config
from ..logs import get_logger
from ..metrics import Metrics

log = get_logger("watchdog.api")

# A refused bearer token is logged at most once per this many seconds (with how many were not
# logged); each one is counted in watchdog_http_auth_failures_total.
AUTH_FAILURE_LOG_INTERVAL = 10.0


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


def authenticate(config: Config, request: Request) -> None:
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
