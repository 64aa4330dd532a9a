"""Each call to --daemon bounded as a whole: its time and its answer's size.

httpx's timeouts bound each step (connecting, each read), not the call, and it reads a body whole
into memory: against an endpoint that trickled its answer a byte a second, `watchdog status`,
`history` and `restart --daemon` each ran 120 s, though a 10 s end was promised; against one
answering 250 MB, `status` took 1.58 GB of memory before saying the answer was not the daemon's
(session 70's probe, F3). The daemon bounds its own upstream calls so (connect/transfer.py);
this bounds the operator's: the transport reads the body itself, decoded a piece at a time
(connect/inflate.py), and gives up past the call's deadline or past MAX_ANSWER_BYTES."""

from __future__ import annotations

import time
from typing import Any

import httpx

from ..connect.inflate import ACCEPT_ENCODING, inflater

# The largest answer a daemon's API gives is GET /v1/connectors of a large fleet: some 400 bytes a
# connector, 20 MB for 50,000. Anything past this is no daemon's answer.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
_PIECE_BYTES = 64 * 1024
# Headers that describe the body as it came over the wire, not the decoded copy handed on.
_WIRE_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


class DeadlinePassed(httpx.TimeoutException):
    """No whole answer within the call's deadline (an httpx timeout: every caller's handling of
    one covers it)."""


class AnswerTooLarge(httpx.DecodingError):
    """An answer larger than MAX_ANSWER_BYTES: not read further."""


class BoundedTransport(httpx.BaseTransport):
    """`inner`, each call ending within `seconds` (or the request's own timeout, when shorter:
    `restart --wait` asks with what is left of its wait) with at most `max_bytes` of answer."""

    def __init__(self, inner: httpx.BaseTransport, seconds: float, max_bytes: int = MAX_ANSWER_BYTES) -> None:
        self._inner = inner
        self._seconds = seconds
        self._max_bytes = max_bytes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        steps = request.extensions.get("timeout") or {}
        seconds = min([self._seconds, *(v for v in steps.values() if isinstance(v, int | float))])
        deadline = time.monotonic() + seconds
        # No step may wait past the deadline either: each is bounded by the whole call's time.
        request.extensions["timeout"] = {k: min(v, seconds) if isinstance(v, int | float) else v for k, v in steps.items()}
        response = self._inner.handle_request(request)
        try:
            body = self._read(response, request, deadline, seconds)
        finally:
            response.close()
        headers = [(name, value) for name, value in response.headers.raw if name.lower() not in _WIRE_HEADERS]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request,
                              extensions={k: v for k, v in response.extensions.items() if k == "reason_phrase"})

    def _read(self, response: httpx.Response, request: httpx.Request, deadline: float, seconds: float) -> bytes:
        too_large = AnswerTooLarge(f"an answer larger than {self._max_bytes // (1024 * 1024)} MiB, more than any "
                                   "daemon's: not read further", request=request)
        declared = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self._max_bytes:
            raise too_large  # not even begun: the server said how big it is
        decoder = inflater(response)
        chunks: list[bytes] = []
        size = 0
        for raw in response.iter_raw():
            pieces = [raw] if decoder is None else decoder.pieces(raw, min(_PIECE_BYTES, self._max_bytes - size + 1))
            for piece in pieces:
                size += len(piece)
                if size > self._max_bytes:
                    raise too_large
                chunks.append(piece)
            if time.monotonic() > deadline:
                raise DeadlinePassed(f"no whole answer within {seconds:g}s (the call's deadline; {size} bytes of it "
                                     "had arrived)", request=request)
        return b"".join(chunks)



class BoundedClient(httpx.Client):
    """An httpx.Client whose every call goes through a BoundedTransport around the transport the
    URL is sent by (an environment's proxy, or the client's own): the client still closes those."""

    def __init__(self, seconds: float, **client: Any) -> None:
        super().__init__(**client)
        self._call_seconds = seconds
        # Only the codings decoded here (a piece at a time) are offered, as the daemon's own clients do.
        self.headers["Accept-Encoding"] = ACCEPT_ENCODING

    def _transport_for_url(self, url: httpx.URL) -> httpx.BaseTransport:
        return BoundedTransport(super()._transport_for_url(url), self._call_seconds, MAX_ANSWER_BYTES)
