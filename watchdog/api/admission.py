"""How many webhooks and restart requests are answered at once: beyond a bound, one is refused
(503, `Retry-After`, `Connection: close`) before its body is read, so that requests waiting for
their decision never hold the whole connection cap.

Alertmanager sends each alert group on a connection of its own: in an incident, hundreds at once
(and after a failover its retries of all of them together). Each waits for its decision (four
bodies are decided at once, a listing may take 5 s) holding its connection, and 64 of them held
every slot of `server.max_connections`, none idle, so every new connection was closed as it
opened: the kubelet's /healthz and /readyz, Prometheus's scrape, `watchdog status --daemon`
(6.8 s with 300 alert groups; the readiness probe gives up after 15 s, liveness after 30 s).

Why this rather than the alternatives:
- load shedding is what a server does when it is asked more than it can answer: a quick 503 is
  a request Alertmanager sends again (it retries 5xx with a backoff from 0.5 s), and
  `Connection: close` frees the connection at once (Go's client dials anew for the retry, which a
  Service balances afresh) rather than leaving it kept alive in a slot;
- uvicorn's own `limit_concurrency` answers 503 too, but counts every connection and request
  alike: at its bound it refuses the probes first among them;
- a separate port for the probes and /metrics would change every deployment's probes, Service
  and scrape config.
The bound is per route, so that a burst of webhooks never refuses an engineer's restart (nor the
reverse), and their sum leaves the rest of the cap to the probes, the scrape, the reads and
connections between requests: a probe always finds an idle connection to take room from.
"""

from __future__ import annotations

from collections.abc import Callable

from ..api_input import BadRequest
from ..asgi_server import LogThrottle
from ..logs import get_logger

log = get_logger("watchdog.api")

# Seconds to come back after: the requests in progress are decided within seconds.
BUSY_RETRY_AFTER_SECONDS = 5
# A refusal for want of room is logged at most once per this many seconds (a burst is hundreds).
BUSY_LOG_INTERVAL = 10.0


class Busy(BadRequest):
    """A request refused because as many of its route as the bound allows are in progress; its
    log line is InProgress's (throttled), not one per request."""


class InProgress:
    """At most a share of `server.max_connections` (`max_connections() // divisor`, at least one)
    requests of one route in progress, from their body's reading to their answer; `what` names
    them in the refusal (`webhooks`), `share` the part of the cap (`half`). The cap is read at
    each request (the server's setting, which only a restart changes)."""

    def __init__(self, route: str, what: str, divisor: int, share: str, max_connections: Callable[[], int]) -> None:
        self.route = route
        self.now = 0
        self._what = what
        self._divisor = divisor
        self._share = share
        self._max_connections = max_connections
        self._throttle = LogThrottle(BUSY_LOG_INTERVAL)

    def enter(self) -> None:
        """Count one more in progress, or raise Busy (logged at most once per interval)."""
        cap = self._max_connections()
        limit = max(1, cap // self._divisor)
        if self.now < limit:
            self.now += 1
            return
        not_logged = self._throttle.admit()
        if not_logged is not None:
            log.warning("http_requests_refused_busy", route=self.route, in_progress=self.now, limit=limit,
                        refused_since_last_logged=not_logged,
                        note=f"{self._share} of server.max_connections ({cap}) may be held by "
                             f"{self._what} waiting for their decision; the others are answered 503 at once and sent "
                             "again (Alertmanager retries), so that /healthz, /readyz and /metrics keep room")
        raise Busy(503, f"busy: {self.now} {self._what} are being answered already ({self._share} of "
                        f"server.max_connections, {cap}, the rest kept for probes, scrapes and "
                        "reads); nothing was done; send again in a few seconds",
                   headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS), "Connection": "close"})

    def leave(self) -> None:
        self.now -= 1


def bounds(max_connections: Callable[[], int]) -> tuple[InProgress, InProgress]:
    """The webhook's bound (half the cap) and the restart API's (an eighth, at least one): 32 and
    8 of the default 64, leaving 24 to everything else."""
    return (InProgress("alertmanager", "webhooks", 2, "half", max_connections),
            InProgress("restarts", "restart requests", 8, "an eighth", max_connections))
