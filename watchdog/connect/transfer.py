"""One HTTP call to an upstream we do not control, bounded as a whole.

httpx's timeouts bound each step (connecting, each read, each write, waiting for a pooled
connection), not the call: an answer that trickles in a byte every few seconds never trips the
read timeout and holds a rate-limit lane, and the shutdown, for as long as the server likes. And
httpx reads any body whole into memory: a list answer of 200 MB costs a gigabyte. `fetch` bounds
both: the whole call (connection, request, answer) within `total_seconds`, and the body (after
decompression, a piece at a time: inflate.py, so a compressed bomb is bounded too) at
`max_bytes`. Redirects are followed here, a POST's method kept, a redirect's body never read
(redirects.py), within the same deadline.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from ..redirects import MAX_REDIRECTS, READ_ONLY_METHODS, next_hop
from .answers import error_message, transport_failure
from .backend import MAX_MESSAGE_CHARS
from .inflate import ACCEPT_ENCODING, decoded_codings, inflater, undecoded
from .proxy_auth import proxy_named

DEFAULT_TOTAL_SECONDS = 30.0
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_LISTED = 20_000
# The most a compressed body decodes to at a time.
_PIECE_BYTES = 64 * 1024
# Headers that describe the body as it came over the wire, not the decoded copy we keep.
_WIRE_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


@dataclass(frozen=True, slots=True)
class CallLimits:
    total_seconds: float = DEFAULT_TOTAL_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES
    # The most connectors a list answer may hold (api.max_listed_connectors): entries.py.
    max_listed: int = DEFAULT_MAX_LISTED
    # What set `total_seconds`, as a call it ended says it: a caller that bounds its calls
    # shorter than the setting names its own bound, not a setting of another value.
    total_named: str = "api.timeouts.total"


DEFAULT_LIMITS = CallLimits()


class CallDeadlineExceeded(httpx.TimeoutException):
    """No complete answer within the call's total deadline (an httpx timeout, so every caller's
    handling of network errors covers it)."""


class TlsAlert(httpx.ReadError):
    """A TLS alert from the server after the handshake: with TLS 1.3 a server that wants a client
    certificate (or refuses ours) says so at the first read. anyio re-raises that ssl.SSLError
    as it is and httpcore maps only anyio's own errors, so it escaped httpx's exceptions (a poll
    or a restart ended in a traceback); an httpx.ReadError here, so every caller takes it for
    the network error it is (the request may have been written: a read error, not a connect
    error)."""


class UnreadableRedirect(httpx.RemoteProtocolError):
    """A redirect whose Location is no URL (`http://h:abc/x`). httpx reads every redirect's
    Location as the answer arrives, followed or not, and raises before handing the answer over:
    the call was answered, and not run, but arrives as an error."""


PROXY_AUTHENTICATION_REQUIRED = 407


class ProxyRefused(httpx.ProxyError):
    """A proxy refused the call (407 Proxy Authentication Required): it forwarded nothing. An
    http:// call through a proxy is answered 407 by the proxy itself, which httpx hands over as an
    answer: classified as any other 4xx it was `rejected`, final, an attempt counted, and read as
    the API refusing the connector, while an https:// call's CONNECT refused the same way was a
    ProxyError, not run, tried again (a probe, 2026-12-07: 15 restarts lost to one rotation of the
    proxy's password). Both are this now. RFC 9110 15.5.8: only a proxy sends 407; an origin
    server that did would still have refused the request, so "not run" is safe either way.
    `proxy`: the proxy as proxy_auth.proxy_named says it (None: the environment names none)."""

    def __init__(self, message: str, *, request: httpx.Request, proxy: str | None) -> None:
        super().__init__(message, request=request)
        self.proxy = proxy


def proxy_refused(url: str, words: str, request: httpx.Request, *, tunnel: bool) -> ProxyRefused:
    """The ProxyRefused of a call to `url` a proxy answered 407 with `words` (its status line or
    page, starred of the proxy's credentials by whoever quotes it: answers.transport_failure)."""
    proxy = proxy_named(url)
    what = f"the proxy {proxy}" if proxy is not None else "a proxy the environment does not name"
    where = f"the user and password in {proxy.rpartition('(')[2].rstrip(')')}" if proxy is not None else "its credentials"
    return ProxyRefused(
        f"{what} refused the {'tunnel' if tunnel else 'request'}: {words}; nothing was forwarded. The proxy does not "
        f"take {where} (rotated on the proxy? the daemon reads its environment only at start)",
        request=request, proxy=proxy)


# Errors that prove the API did not run the call: the request never left (the connection, or a
# pooled one, was not obtained; the proxy refused the tunnel: a CONNECT answered 403, 407, where
# alone httpcore raises ProxyError, before the request is written), or it was answered with a
# redirect (UnreadableRedirect). Every other error of a call may have come after the request
# reached the server (a read timeout, a reset, the call's deadline): a restart that is not safe
# to send again then ends `unconfirmed`. Taken for a request that may have reached a worker, a
# restart of every instance behind a proxy refusing the workers' hosts (a NO_PROXY that does not
# name them) ended `unconfirmed`, not sent to the next worker nor again.
# ProxyRefused is a ProxyError: a 407, whether to a CONNECT or to a forwarded http:// request.
NOT_RUN = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError, UnreadableRedirect)
# How httpx words the error UnreadableRedirect stands for (httpx/_client.py, _redirect_url).
_INVALID_LOCATION_ERROR = "Invalid URL in location header"


@dataclass(frozen=True, slots=True)
class Answer:
    """The response with its body read; `complete` is False when the body was larger than the
    limit (then `response` holds only its first `max_bytes`), or, for a request that changes
    something, when a 2xx status line came and its body then did not (`cut_off` says why; the
    response holds what arrived)."""

    response: httpx.Response
    complete: bool
    cut_off: str | None = None
    # A Content-Encoding the body came in that is not decoded here (inflate.undecoded): said when
    # the body then cannot be read (`unreadable`).
    undecoded: str | None = None
    # The host that answered, where a redirect took the call to one the key does not go to
    # (redirects.next_hop): its error says nothing of the key nor of the resource (`reason`).
    keyless_host: str | None = None
    # Why a read's 2xx body, in a coding the daemon decodes, could not be decoded (a proxy that
    # labels plain JSON gzip, a corrupt stream): `complete` is False, and it is said as the
    # unreadable answer it is (incomplete_message), its status kept.
    undecodable: str | None = None

    def incomplete_message(self, limits: CallLimits) -> str:
        """Why the body is not whole: undecodable, cut off (cut_off), or larger than the limit."""
        if self.undecodable is not None:
            return f"unreadable response: {self.undecodable}"[:MAX_MESSAGE_CHARS]
        if self.cut_off is not None:
            return f"answer body cut off after its status line ({self.cut_off}); not read further"
        return (f"answer larger than {limits.max_bytes} bytes (api.max_response_bytes); "
                "not read further")

    def unreadable(self, problem: object) -> str:
        """Why a 2xx body could not be read, naming an encoding it came in that is not decoded:
        `Expecting value: line 1 column 1` alone left a proxy compressing with Brotli unsaid."""
        said = f"unreadable response: {problem}"
        if self.undecoded is not None:
            said = (f"unreadable response: its Content-Encoding ({self.undecoded}) is not one the daemon decodes "
                    f"(it asks for {ACCEPT_ENCODING} only); {problem}")
        return said[:MAX_MESSAGE_CHARS]

    def reason(self, limits: CallLimits) -> str:
        """An error answer's reason (answers.error_message); one whose body was cut off says so
        first, since what arrived of its words may be a fragment (`{"er`). An error from a host a
        redirect took the call to without the key says so first: `unauthorized: bad key` alone
        sent the operator to rotate a key that was fine (found 2026-12-06)."""
        said = error_message(self.response)
        if self.cut_off is not None:
            said = f"{self.incomplete_message(limits)}: {said}"
        if self.keyless_host is not None:
            said = (f"answered by {self.keyless_host}, where a redirect took the call without the key (the API's "
                    f"address moved, or a proxy sends it elsewhere: see api_redirected); not the API's word: {said}")
        return said[:MAX_MESSAGE_CHARS]


async def fetch(http: httpx.AsyncClient, method: str, url: str, limits: CallLimits, **request: Any) -> Answer:
    """`_fetch`, where a proxy's refusal (407, to the request or to its tunnel) raises ProxyRefused."""
    try:
        answer = await _fetch(http, method, url, limits, **request)
    except httpx.ProxyError as exc:
        if str(exc).startswith(str(PROXY_AUTHENTICATION_REQUIRED)) and not isinstance(exc, ProxyRefused):
            # httpcore's words for a CONNECT answered 407: its status line.
            raise proxy_refused(str(exc.request.url), str(exc), exc.request, tunnel=True) from exc
        raise
    response = answer.response
    if response.status_code == PROXY_AUTHENTICATION_REQUIRED:
        raise proxy_refused(str(response.request.url), f"407 {error_message(response)}", response.request, tunnel=False)
    return answer


async def _fetch(http: httpx.AsyncClient, method: str, url: str, limits: CallLimits, **request: Any) -> Answer:
    """Make the call and read its answer within `limits`. Raises httpx.HTTPError (including
    CallDeadlineExceeded) when no answer arrives whole in time, except where a request that
    changes something (not GET or HEAD) was answered with a 2xx status line whose body then
    failed (cut off, reset, undecodable, past the deadline): the server said it did what was
    asked, so that is the answer (Answer.cut_off), not a lost one. A read's 2xx whose body cannot
    be decoded is an answer too, an unreadable one (Answer.undecodable). Taken as lost, a restart
    answered 202 with a body that could not be decoded was sent three times more. Likewise any
    answer that is not a read's 2xx (an error, a 429, a redirect not followed): its status and
    headers (Retry-After) are the answer, the body only words. Taken as lost, a 429 whose body
    trickled paused nothing, the next call went at once, and the refused restart was retried on
    our backoff as one that may have reached the API; a restart answered 404 (its connector
    deleted) with a slow body was sent four times and ended `network_error`, and a 503's
    Retry-After went unheard."""
    chunks: list[bytes] = []  # what arrived of the body being read
    done: httpx.Response | None = None  # an answer whose status says it all (docstring)
    read_2xx: httpx.Response | None = None  # a read's 2xx whose body is being read
    credentials = True  # False once a redirect left the origin: for the rest of the chain
    try:
        async with asyncio.timeout(limits.total_seconds):
            for _ in range(MAX_REDIRECTS + 1):
                # Redirects are followed here, not by httpx: it would turn a POST into a GET, and
                # it reads a redirect's whole body, uncapped, before following (redirects.py).
                sent = http.build_request(method, url, **request)
                if not credentials:
                    # As httpx does: whether the client's auth set it or its default headers did
                    # (the blocker's bearer token), the header does not leave the origin.
                    sent.headers.pop("authorization", None)
                response = await http.send(sent, auth=None if not credentials else httpx.USE_CLIENT_DEFAULT,
                                           follow_redirects=False, stream=True)
                try:
                    chunks.clear()
                    hop = next_hop(response)
                    if hop is None:
                        if method not in READ_ONLY_METHODS or not response.is_success:
                            done = response  # only a read's 2xx needs its body whole (docstring)
                        else:
                            read_2xx = response
                        complete = await _read_capped(response, limits.max_bytes, chunks)
                finally:
                    await response.aclose()
                if hop is None:
                    break
                url = str(hop.url)
                request.pop("params", None)  # the Location carries its own query, as httpx does
                credentials = credentials and hop.credentials
            else:
                if method in READ_ONLY_METHODS:
                    raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=response.request)
                complete = True  # a POST's last redirect is its answer (redirects.not_followed); no body read
    except TimeoutError:
        if done is not None:
            return _kept(done, chunks, complete=False, cut_off=f"no whole body within {limits.total_seconds:g}s",
                         keyless=not credentials)
        raise CallDeadlineExceeded(f"no complete answer within {limits.total_seconds:g}s ({limits.total_named})") from None
    except (httpx.HTTPError, ssl.SSLError) as exc:
        if done is not None:
            return _kept(done, chunks, complete=False, cut_off=transport_failure(exc), keyless=not credentials)
        if read_2xx is not None and isinstance(exc, httpx.DecodingError):
            # The server answered (a 2xx) and its body cannot be decoded: an unreadable answer,
            # not a lost one. Raised, it was a `network_error` with no status code, sending the
            # operator to the network instead of to the server or proxy that sent the body.
            # Not run again here: a body that failed to decode fails the same next time.
            coding = ", ".join(decoded_codings(read_2xx)) or "compressed"
            return _kept(read_2xx, chunks, complete=False, keyless=not credentials,
                         undecodable=f"its body is labelled {coding} but could not be decoded ({transport_failure(exc)})")
        if isinstance(exc, ssl.SSLError):
            raise TlsAlert(f"TLS: {exc}") from exc
        if isinstance(exc, httpx.RemoteProtocolError) and str(exc).startswith(_INVALID_LOCATION_ERROR):
            raise UnreadableRedirect(str(exc), request=exc.request) from exc
        raise
    return _kept(response, chunks, complete=complete, keyless=not credentials)


def _kept(response: httpx.Response, chunks: list[bytes], *, complete: bool, cut_off: str | None = None,
          keyless: bool = False, undecodable: str | None = None) -> Answer:
    """The answer with the body read so far in place of its stream."""
    # The raw bytes, as they came: a value decoded to text (`multi_items`) is encoded again as
    # ASCII by httpx.Response, so one header with a byte past ASCII (`X-Request-Id: café`, in
    # UTF-8 or Latin-1, which HTTP allows) raised UnicodeEncodeError out of every call: each poll
    # of the cluster crashed, and a restart the API had accepted (202) ended `network_error`.
    headers = [(name, value) for name, value in response.headers.raw if name.lower() not in _WIRE_HEADERS]
    kept = httpx.Response(response.status_code, headers=headers, content=b"".join(chunks), request=response.request,
                          extensions={k: v for k, v in response.extensions.items() if k == "reason_phrase"})
    return Answer(kept, complete, cut_off, undecoded(response), response.request.url.host if keyless else None,
                  undecodable)


async def _read_capped(response: httpx.Response, max_bytes: int, chunks: list[bytes]) -> bool:
    """Read the body into `chunks`, at most `max_bytes` of it decoded; False when it was larger.
    Decoded here a piece at a time (inflate.py): httpx inflates each read whole, up to 66 MB."""
    decoder = inflater(response)
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        return False  # not even started: the server said how big it is
    if response.is_stream_consumed:
        # A transport that hands over its answers read and decoded already (httpx.MockTransport).
        decoder, raws = None, _already_read(response.content)
    else:
        raws = response.aiter_raw()
    size = 0
    async for raw in raws:
        for piece in [raw] if decoder is None else decoder.pieces(raw, min(_PIECE_BYTES, max_bytes - size + 1)):
            chunks.append(piece)
            size += len(piece)
            if size > max_bytes:
                chunks[-1] = piece[: len(piece) - (size - max_bytes)]
                return False
    return True


async def _already_read(content: bytes) -> AsyncIterator[bytes]:
    yield content
