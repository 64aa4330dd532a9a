"""`watchdog run` waiting for its PostgreSQL state database at the start.

A replica started while its database cannot be reached (connection refused, a timeout, a server
starting up or shutting down, a host name that does not resolve yet) exited 1 at once, though a
running replica rides the same outage out. After a whole-fleet restart in which the database pod
came up a little after the watchdog's, Kubernetes' CrashLoopBackOff (10 s, 20 s, 40 s ... 5 min),
not the database, decided when restarts flowed again. Now such a start waits: it says
`state_database_unreachable_at_start` once, tries again with a capped backoff, and says
`state_database_reached` when the store opens; the daemon then starts on that store. A permanent
refusal (postgres_connection.transient_refusal: the password, the rights, a read-only database, a
newer schema ...) still stops the start, at the first try or a later one.

Meanwhile it serves server.host:server.port with the project's own server (asgi_server.py): /healthz
200 (alive: a liveness probe must not restart it, which would only start the wait over), /readyz
503 saying what it waits for and since when, and every other path (the restart API, webhooks,
/metrics) 503 with Retry-After and the reason, in the daemon API's shape (JSON with an `error`),
which `watchdog restart --daemon` reads as "try again later" (exit 75). The port is let go before
the daemon binds it. SIGTERM (noted by cli's early handler) and SIGINT stop the wait at once.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from starlette.responses import JSONResponse

from .asgi_server import start_server, stop_server
from .config import Config
from .logs import get_logger
from .state import StateStore, StateStoreError, open_store
from .state.postgres_connection import describe, error_text, transient_at_start

log = get_logger("watchdog.state_wait")

# The pause after the n-th failed try: 1 s doubling to 15 s, each drawn within ±20 % so that
# replicas started together do not knock together. A try itself takes up to libpq's connect
# timeout (3 s by default) when the address does not answer.
FIRST_PAUSE = 1.0
PAUSE_CAP = 15.0
JITTER = 0.2
# What Retry-After says to a caller while the daemon waits.
RETRY_AFTER_SECONDS = 5
# How often the wait looks for a SIGTERM the early handler noted (cli.hold_early_signals).
SIGNAL_POLL = 0.05


def pause_after(failed_tries: int, draw: Callable[[], float] = random.random) -> float:
    """Seconds to wait after `failed_tries` failed tries (1 or more). Pure, with `draw` in [0, 1)."""
    base = min(PAUSE_CAP, FIRST_PAUSE * 2 ** max(0, failed_tries - 1))
    return base * (1 - JITTER + 2 * JITTER * draw())


def waits_for(config: Config, error: StateStoreError) -> bool:
    """Whether `run` waits out this refusal to open its store: a PostgreSQL store, refused for a
    transient reason. A SQLite file that cannot be opened is not transient (a local file)."""
    return config.state.url is not None and transient_at_start(error)


class Waiting:
    """What the wait's server answers, from what the wait last saw."""

    def __init__(self, database: str, since: datetime, error: str) -> None:
        self.database = database
        self.since = since
        self.error = error
        self.tries = 1

    def reason(self) -> str:
        return (f"waiting for the state database {self.database} since {self.since.isoformat(timespec='seconds')} "
                f"({self.tries} tries; last: {self.error}); the daemon starts once it is reached")

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        if path == "/healthz":
            answer = JSONResponse({"status": "ok", "waiting_for": "state database", "detail": self.reason()})
        elif path == "/readyz":
            answer = JSONResponse({"status": "not_ready", "reason": "state_database_unreachable_at_start",
                                   "detail": self.reason(), "since": self.since.isoformat(timespec="seconds")},
                                  status_code=503)
        else:
            # Nothing was done: a restart asked now is not taken (there is no state store to keep
            # it in); the daemon API's 503, which the CLI reads as "send it again later".
            answer = JSONResponse({"error": f"not started: {self.reason()}; nothing was done; send it again later"},
                                  status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        await answer(scope, receive, send)


class _Try:
    """One try to open the store, in a thread of its own: opening blocks (libpq's connect, the
    schema's migration) and the server must keep answering meanwhile. A daemon thread, so that a
    SIGTERM does not wait for a connect timeout; a store it opens once abandoned is closed."""

    def __init__(self, opener: Callable[[], StateStore]) -> None:
        self.done = threading.Event()
        self.store: StateStore | None = None
        self.error: BaseException | None = None
        self._abandoned = False
        self._lock = threading.Lock()
        threading.Thread(target=self._run, args=(opener,), name="state-wait-open", daemon=True).start()

    def _run(self, opener: Callable[[], StateStore]) -> None:
        try:
            store = opener()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting loop, which raises or waits
            self.error = exc
        else:
            with self._lock:
                if self._abandoned:
                    store.close()
                else:
                    self.store = store
        self.done.set()

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            if self.store is not None:
                self.store.close()
                self.store = None


async def wait_for_store(config: Config, first: StateStoreError, held: list[int],
                         opener: Callable[[], StateStore] | None = None,
                         draw: Callable[[], float] = random.random) -> StateStore | None:
    """Serve the wait's answers and try to open the store until it opens (the store), SIGTERM comes
    (None), or a try is refused for good (that StateStoreError). CannotListen if the port is taken."""
    settings = config.state
    assert settings.url is not None
    open_it = opener or (lambda: open_store(settings))
    secret = {"password": settings.password.get_secret_value()} if settings.password is not None else {}
    database = describe(settings.url)
    started = time.monotonic()
    waiting = Waiting(database, datetime.now(timezone.utc), error_text(first.__cause__ or first, secret))
    log.warning("state_database_unreachable_at_start", database=database, error=waiting.error,
                retry=f"every {FIRST_PAUSE:g} s doubling to {PAUSE_CAP:g} s (±{JITTER:.0%})",
                note="the daemon waits for the database rather than exit: /healthz answers 200, /readyz 503, "
                     "every other request 503 with Retry-After; nothing is polled or sent until the store opens. "
                     "A refusal that cannot heal (the password, the rights, a read-only database) still stops it")
    server = config.server
    http = await start_server(waiting, server.host, server.port, max_connections=server.max_connections,
                              request_timeout=server.request_timeout)
    try:
        while True:
            if not await _sleep_unless_stopped(pause_after(waiting.tries, draw), held):
                return None
            attempt = _Try(open_it)
            try:
                while not attempt.done.is_set():
                    if _stopped(held):
                        attempt.abandon()
                        return None
                    await asyncio.sleep(SIGNAL_POLL)
            except BaseException:  # SIGINT (asyncio.run cancels this task): a store opened after it is closed
                attempt.abandon()
                raise
            if attempt.store is not None:
                log.info("state_database_reached", database=database, tries=waiting.tries + 1,
                         waited_seconds=round(time.monotonic() - started, 1))
                return attempt.store
            error = attempt.error
            if not isinstance(error, StateStoreError) or not transient_at_start(error):
                raise error if error is not None else RuntimeError("the state store's try ended without a result")
            waiting.tries += 1
            waiting.error = error_text(error.__cause__ or error, secret)
    finally:
        await stop_server(*http)  # the daemon binds the same port next


def _stopped(held: list[int]) -> bool:
    return signal.SIGTERM in held


async def _sleep_unless_stopped(seconds: float, held: list[int]) -> bool:
    """Sleep `seconds`; False, at once, if a SIGTERM is noted meanwhile."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if _stopped(held):
            return False
        await asyncio.sleep(min(SIGNAL_POLL, left))
    return not _stopped(held)
