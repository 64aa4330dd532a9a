"""Run an ASGI app with uvicorn inside the daemon's own event loop, with bounds on connections.

uvicorn's `Server.serve()` installs SIGINT/SIGTERM handlers of its own and restores them on exit;
the daemon owns signal handling (it must drain its queue first), so they are turned off here.

uvicorn has no deadline for a request to arrive: a connection that sends nothing, or trickles
its headers a byte at a time, is held for ever (its keep-alive timer only runs between requests,
and every byte received cancels it), and it caps nothing but concurrent requests. `GuardedH11`
adds both bounds: at most `max_connections` connections are open, and a request that has not
arrived whole within `request_timeout` of its connection (or of the previous answer on it) has
its connection closed, with an answer where a request was begun: 408, or 503 with `Retry-After`
for a POST whose body did not come (its senders, Alertmanager first, retry 5xx only).

At the cap, a new connection makes room by closing an idle connection (one with no request
being answered on it: silent, still sending its request head, or kept alive between requests):
1. of the client address that holds the most connections, when that address holds more than the
   new connection's own;
2. else, when the new connection's address holds no other idle connection, the idle connection
   that has waited longest for its next request (since it opened, or since its last answer) of
   any address holding at least as many connections as the new one's own: a socket that has not
   sent a whole request head in that time is worth less than a new one;
otherwise the new connection is answered 503 (`Retry-After`, before its request is read: nothing
was done) and closed as it opens. Without 1, 64 idle sockets from one address
(no token needed) locked out /healthz and /readyz for as long as they were renewed, and the
kubelet would restart the pod in a loop; without 2, 64 addresses holding one such socket each
(a few dozen hosts, or one host with 64 IPv6 addresses) did the same. Why this rather than the
alternatives:
- a per-address cap alone leaves a few addresses able to fill every slot, and could refuse the
  kubelet when its node address is shared (hostNetwork pods, SNAT through a NodePort);
- a shorter deadline for the request head shortens each hold but not a flood that reconnects;
- a minimum wait before a connection may be closed by 2 would let 64 addresses reopening one
  socket each within that wait keep every slot too young to close;
- here, a client address can only take room from addresses holding more than it does (1), or,
  holding nothing idle itself, the one slot that has waited longest among addresses holding at
  least as many as it does (2): the kubelet (one connection per probe, its request head sent at
  once) always gets in while any connection is idle, and is closed for room only if as many
  connections as were waiting before it open before its request head arrives, each from an
  address holding no more than the kubelet's; a flood from one address only ever displaces
  itself once at the cap, and never the connection of an address holding fewer (its requests in
  progress count: a burst of webhooks, every connection of it waiting for its decision, closed
  the kubelet's probe before its request head was read).

Requests in progress are bounded below the cap per route (api/admission.py): beyond that a webhook
or a restart request is answered 503 at once and its connection closed, so that requests waiting
for their decision never hold every slot and leave none idle to make room with.
Closing an idle keep-alive connection loses nothing: its client opens another. A connection with
a request in progress is never closed for room (it is bounded by `request_timeout` while its
request arrives).

An answer must also be taken: one not read whole by its client within `request_timeout` of its
last byte being written has its connection aborted. uvicorn writes an answer into the
connection's buffer at once and calls it complete; a client that asks for /metrics (no token)
and never reads kept the answer (5 MB for 14,000 connectors) in memory for as long as it kept its
socket, and once the keep-alive closed the connection (closing, its buffer not flushed) it left
the cap's count but not uvicorn's `limit_concurrency`: 65 such scrapes and every request after,
/healthz, /readyz, webhooks and restarts, was answered 503 "Exceeded concurrency limit" until
the reader went away. A connection still flushing its answer counts toward the cap, and is idle
(nothing more is being answered on it): closed for room like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import logging
import re
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import h11
import uvicorn
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

from .listening import CannotListen, every_address_socket
from .logs import get_logger

log = get_logger("watchdog.server")

# Idle keep-alive connections are closed after this long (uvicorn's default, said out loud).
KEEP_ALIVE_SECONDS = 5
# On shutdown, requests in progress get this long to finish before their connections are closed.
GRACEFUL_SHUTDOWN_SECONDS = 5
# A connection refused for the cap is answered 503 with this Retry-After (the cap frees as the
# requests in progress are answered, within seconds; admission.py's busy refusal says the same).
CAP_RETRY_AFTER_SECONDS = 5
# A POST whose body did not arrive within request_timeout is answered 503 with this Retry-After:
# nothing holds the daemon back, the sender need only send it again (Alertmanager ignores it).
SLOW_BODY_RETRY_AFTER_SECONDS = 1
# A connection refused for the cap is logged at most once per this many seconds (with how many
# were not logged): a flood of connections must not become a flood of log lines.
REFUSAL_LOG_INTERVAL = 10.0


class LogThrottle:
    """One line per interval for an event anyone can repeat at will (refused tokens, refused
    connections); the lines held back are counted and reported with the next one let through."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._suppressed = 0

    def admit(self) -> int | None:
        """None: do not log this one (it is counted). Otherwise log it, saying that this many
        were not logged since the last line."""
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            self._suppressed += 1
            return None
        suppressed, self._last, self._suppressed = self._suppressed, now, 0
        return suppressed


# What uvicorn's protocol logs per request that anyone can make it log at will: a request h11
# cannot read (said here instead, throttled: http_request_invalid), and a request to upgrade to
# WebSocket, which is served as plain HTTP anyway (its advice to install a WebSocket library is
# not for a daemon that serves none).
_PER_REQUEST_WARNINGS = ("Invalid HTTP request received.", "Unsupported upgrade request.",
                         "No supported WebSocket library detected.")
# The answer to a TLS handshake (an https:// URL, a TLS probe) sent to this plain-HTTP port.
NOT_HTTP = ("not a valid HTTP/1.1 request: what came is a TLS handshake (an https:// URL or a TLS probe), and "
            "this port speaks plain HTTP; use an http:// URL")
# After answering a request it could not read, the server reads (and drops) what its client still
# sends for this long before closing: closing with unread bytes makes the kernel send a reset,
# and a client still writing a large head got that instead of the answer (the probe's 200 KB
# header). The write side is shut at once, so a client that has sent everything sees the end.
LINGER_SECONDS = 2.0
# h11's words that quote the bytes at fault (`Illegal header value b'...'`, `illegal header line:
# bytearray(b'...')`): a header may be the bearer token, and an answer or a log line is no place
# for it. Cut from the quote on.
_QUOTED = re.compile(r"""[\s:]*(bytearray\()?b?['"].*$""", re.DOTALL)


def _tls_handshake(opening: bytes) -> bool:
    """A TLS record of type handshake (22) of any TLS/SSL 3 version: what an https:// client sends first."""
    return len(opening) >= 2 and opening[0] == 0x16 and opening[1] == 0x03


def _h11_problem(exc: BaseException | None) -> str:
    """What h11 said it could not read, without the bytes it quotes, at most 200 characters."""
    words = _QUOTED.sub("", str(exc)) if isinstance(exc, h11.ProtocolError) else ""
    return words[:200] or "malformed request line or header"


class _WithoutPerRequestWarnings:
    """uvicorn's logger for one connection, without _PER_REQUEST_WARNINGS: each one was a
    warning line of its own, with no client and no cause (300 TLS handshakes to the port, 300
    lines)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if not (isinstance(msg, str) and msg.startswith(_PER_REQUEST_WARNINGS)):
            self._logger.warning(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0)."""
        for server in self.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("server is not listening")


def guarded_protocol(
    max_connections: int, request_timeout: float, count_answer: Callable[[int], None] | None = None
) -> type[H11Protocol]:
    """An h11 protocol class bound to these limits (uvicorn makes one instance per connection).
    `count_answer` is called with the status of each answer no route gave (a request that is not
    HTTP/1.1, one that did not arrive in time, a connection refused at the cap: the app never
    sees those, the daemon counts them with it)."""
    # Shared by every connection of this server.
    refusals = LogThrottle(REFUSAL_LOG_INTERVAL)
    evictions = LogThrottle(REFUSAL_LOG_INTERVAL)
    invalid = LogThrottle(REFUSAL_LOG_INTERVAL)
    serials = itertools.count()

    class GuardedH11(H11Protocol):
        _request_timer: asyncio.TimerHandle | None = None
        _answer_timer: asyncio.TimerHandle | None = None
        _client: str | None = None
        _serial = 0
        # The connection's first bytes (a TLS handshake's start, or a request's).
        _opening = b""
        # Answered and closing: reading only to drop what the client still sends (LINGER_SECONDS).
        _lingering = False
        _linger_timer: asyncio.TimerHandle | None = None
        # Since when this connection has waited for its next request (opened, or last answered).
        _waiting_since = 0.0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.logger = _WithoutPerRequestWarnings(self.logger)  # type: ignore[assignment]

        def send_400_response(self, msg: str) -> None:
            """What h11 could not read as a request: answered in JSON, like every other answer,
            naming h11's cause (431 for a head larger than h11 reads, 400 otherwise), counted,
            and said at most once per interval with the client's address. uvicorn passes only
            its own fixed words; it calls this while handling h11's RemoteProtocolError, whose
            words and `error_status_hint` name the cause. Every malformed head was answered
            with one text blaming https/TLS, a 200 KB header and a missing Host alike."""
            exc = sys.exc_info()[1]
            status = exc.error_status_hint if isinstance(exc, h11.ProtocolError) else 400
            if _tls_handshake(self._opening):
                error = NOT_HTTP
            elif status == 431:
                limit = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
                error = (f"request head too large: its request line and headers are more than {limit} bytes, "
                         "more than this server reads; nothing was done")
            else:
                error = f"not a valid HTTP/1.1 request: {_h11_problem(exc)}; nothing was done"
            not_logged = invalid.admit()
            if not_logged is not None:
                log.warning("http_request_invalid", client=self._client, invalid_since_last_logged=not_logged,
                            status=status, error=error,
                            note="a connection sent something that is not an HTTP/1.1 request (an https:// URL or "
                                 "a TLS probe to this plain-HTTP port, or a malformed or too large request head)")
            if count_answer is not None:
                count_answer(status)
            self._answer_and_close(status, error, linger=True)

        def _answer_and_close(self, status: int, error: str, headers: tuple[tuple[bytes, bytes], ...] = (),
                              linger: bool = False) -> None:
            """Answer `status` with `{"error": error}` before any route saw a request, then close:
            at once, or (`linger`) once the client has sent what it was sending (LINGER_SECONDS
            at most). h11 frames the answer (it allows one before a request head is whole)."""
            body = json.dumps({"error": error}).encode()
            head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"), *headers]
            try:
                for event in (h11.Response(status_code=status, headers=head, reason=http.HTTPStatus(status).phrase),
                              h11.Data(data=body), h11.EndOfMessage()):
                    self.transport.write(self.conn.send(event) or b"")
            except h11.LocalProtocolError:
                # An answer was begun on this connection already: it can only be cut.
                self.transport.close()
                return
            if not (linger and self.transport.can_write_eof()):
                self.transport.close()
                return
            self.transport.write_eof()  # the answer, then the end: the client reads it whole
            self._lingering = True
            self._disarm_request_timer()
            if not self.transport.is_reading():
                self.transport.resume_reading()
            self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.abort)

        def data_received(self, data: bytes) -> None:
            if self._lingering:
                return  # answered already: what still comes is read only to be dropped
            if len(self._opening) < 2:
                self._opening += data[:2 - len(self._opening)]
            super().data_received(data)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            self._client = str(peer[0]) if isinstance(peer, tuple) and peer else None
            self._serial = next(serials)
            self._waiting_since = time.monotonic()
            open_now = [c for c in self.connections if isinstance(c, GuardedH11) and c._holding()]
            if len(open_now) > max_connections and not self._make_room(open_now):
                not_logged = refusals.admit()
                if not_logged is not None:
                    log.warning("http_connection_refused", open_connections=len(open_now) - 1,
                                max_connections=max_connections, client=self._client,
                                refused_since_last_logged=not_logged)
                # Said before closing, a few bytes on a fresh socket (h11 may answer before a
                # request): a bare close was read as "no answer came, the restart may have been
                # queued" (`watchdog restart --daemon`, exit 1) for a request never read. Not
                # lingered: this slot is what the cap lacks. Whatever the method (a HEAD too
                # gets the body: it is the connection's last answer), nothing was read.
                self._answer_and_close(
                    503, f"busy: the daemon's port has server.max_connections ({max_connections}) connections open, "
                         "and none could be closed to make room for this one; this connection was closed before its request was read: "
                         "nothing was done; send again in a few seconds",
                    headers=((b"retry-after", str(CAP_RETRY_AFTER_SECONDS).encode()),))
                if count_answer is not None:
                    # An answer of the port like any other: before, a port refusing clients at its cap counted none.
                    count_answer(503)
                self.connections.discard(self)
                return
            self._arm_request_timer()

        def _make_room(self, open_now: list[GuardedH11]) -> bool:
            """Close the longest-open idle connection of the address holding the most
            connections, if it holds more than this connection's own; else, if this address
            holds no other idle connection, the idle one that has waited longest for a request
            (see the module's doc)."""
            held = Counter(c._client for c in open_now)
            idle = [c for c in open_now if c is not self and c._idle()]
            candidates = [c for c in idle if held[c._client] > held[self._client]]
            # Rule 2 takes room only from an address holding as many connections as this one's
            # own, or more: Alertmanager's burst (one address, every connection of it a request
            # in progress) closed the kubelet's probe, the one idle connection, before its request
            # head was read (see the module's doc).
            fair = [c for c in idle if held[c._client] >= held[self._client]]
            if candidates:
                victim = max(candidates, key=lambda c: (held[c._client], -c._serial))
            elif fair and not any(c._client == self._client for c in idle):
                victim = min(fair, key=lambda c: (c._waiting_since, c._serial))
            else:
                return False
            self._drop(victim)
            not_logged = evictions.admit()
            if not_logged is not None:
                log.warning("http_connection_closed_for_room", client=victim._client, for_client=self._client,
                            connections_of_client=held[victim._client], max_connections=max_connections,
                            waited_for_request_seconds=round(time.monotonic() - victim._waiting_since, 1),
                            closed_since_last_logged=not_logged)
            return True

        def _drop(self, connection: GuardedH11) -> None:
            # Abort, not close: nothing to flush, and gone at once. uvicorn forgets the connection
            # only in connection_lost, a loop turn later, and counts it until then against
            # limit_concurrency: under a churn of connections closed for room, requests let in
            # were answered 503 "Exceeded concurrency limit".
            connection.transport.abort()
            self.connections.discard(connection)

        def _holding(self) -> bool:
            # Open, or closed with an answer still in its buffer: the socket and the answer are
            # held until it is flushed, and uvicorn counts it against limit_concurrency until then.
            return not self.transport.is_closing() or self.transport.get_write_buffer_size() > 0

        def _idle(self) -> bool:
            # No request being answered (uvicorn's own test for a connection it may close at once
            # on shutdown): silent, sending its request head, or kept alive between requests.
            return self._lingering or self.cycle is None or self.cycle.response_complete

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_request_timer()
            if self._linger_timer is not None:
                self._linger_timer.cancel()
            self._disarm_answer_timer()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._waiting_since = time.monotonic()
            if not self.transport.is_closing():
                self._arm_request_timer()  # the next request on this connection has as long
            # Written is not taken: the answer may still sit in the buffer (see the module's doc).
            # Counted from this answer's end: a next one cannot end while the buffer is over its
            # high-water mark (uvicorn waits for it to drain before writing more).
            self._disarm_answer_timer()
            if self.transport.get_write_buffer_size() > 0:
                self._answer_timer = self.loop.call_later(request_timeout, self._answer_timed_out)

        def _disarm_answer_timer(self) -> None:
            if self._answer_timer is not None:
                self._answer_timer.cancel()
                self._answer_timer = None

        def _answer_timed_out(self) -> None:
            self._answer_timer = None
            if self.transport.get_write_buffer_size() > 0:
                self.transport.abort()  # close() would wait for the flush that is not coming

        def _arm_request_timer(self) -> None:
            self._disarm_request_timer()
            self._request_timer = self.loop.call_later(request_timeout, self._request_timed_out)

        def _disarm_request_timer(self) -> None:
            if self._request_timer is not None:
                self._request_timer.cancel()
                self._request_timer = None

        def _request_timed_out(self) -> None:
            self._request_timer = None
            # Still waiting for a request line, headers or body: the client is too slow (or never
            # meant to send). A request that arrived whole and is being answered is left alone.
            if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY) or self.transport.is_closing():
                return
            begun = self.conn.their_state is h11.SEND_BODY or bool(self.conn.trailing_data[0])
            if not begun or (self.cycle is not None and self.cycle.response_started):
                # Nothing of a request came: closed without a word. A client that reuses a
                # kept-alive connection just as it is closed would read a 408 written there as
                # its own request's answer (RFC 9112 9.3.1 asks it to retry on a close), and a
                # socket that never sent a byte is no client to tell. An answer already begun
                # (a refusal sent before the body was read) is only cut.
                self.transport.close()
                return
            if self.cycle is not None:
                # The route reading the body hears that its client is gone (uvicorn's own way,
                # as when the connection is lost): its own 408 is counted and logged, and written
                # nowhere (the answer is this one).
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            elif count_answer is not None:
                count_answer(408)  # no route saw it: its answer below is the 408
            # An answer says why, where an EOF alone reads as "server disconnected" or a crash.
            why = (f"request timeout: the request did not arrive whole within {request_timeout:g} s "
                   "(server.request_timeout); nothing was done; send it again")
            if self.cycle is not None and self.cycle.scope["method"] == "POST":
                # A POST whose head came and whose body did not (a webhook, a restart request):
                # 503, which its senders retry. Alertmanager's notifier retries 5xx only (its
                # Retrier: "only 5xx status codes should be retried"): a 408 was final there, and
                # the group's alerts waited a whole group_interval (5 m by default) though the
                # answer said "send it again"; `watchdog restart --daemon` exits 75, try later, on
                # a 503 and 1 on a 408. Nothing was done, so sending it again is safe. A head cut
                # short (its route unknown) or another method keeps the 408: the client was slow.
                self._answer_and_close(503, why, headers=((b"retry-after", str(SLOW_BODY_RETRY_AFTER_SECONDS).encode()),),
                                       linger=True)
                return
            self._answer_and_close(408, why, linger=True)

    return GuardedH11


async def _serve(server: EmbeddedServer, host: str, port: int, sock: socket.socket | None = None) -> None:
    try:
        await server.serve(sockets=None if sock is None else [sock])
    except SystemExit as exc:
        # uvicorn logs a bind error and calls sys.exit(): a SystemExit escapes asyncio's tasks,
        # and the daemon ended with exit code 3 under a pile of tracebacks, its polls already
        # running and nothing saying which port. Its OSError is the exit's context.
        # asyncio words its bind error at length ("error while attempting to bind on address
        # (...): address already in use"); the system's own words for the errno say it plainly.
        raise CannotListen(host, port, exc.__context__) from None


async def start_server(
    app: Any, host: str, port: int, *, max_connections: int = 64, request_timeout: float = 10.0,
    count_answer: Callable[[int], None] | None = None,
) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Start serving in the background and return once the socket is bound."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
        http=guarded_protocol(max_connections, request_timeout, count_answer),
        # Requests in progress beyond this are answered 503 by uvicorn itself.
        limit_concurrency=max_connections + 1,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = EmbeddedServer(config)
    sock = every_address_socket(host, port)
    task = asyncio.create_task(_serve(server, host, port, sock), name=f"http-{host}:{port}")
    while not server.started:
        if task.done():
            task.result()  # re-raises the bind error (CannotListen), e.g. the port is taken
            raise RuntimeError(f"HTTP server on {host}:{port} stopped before it started")
        await asyncio.sleep(0.01)
    return server, task


async def stop_server(server: EmbeddedServer, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task
