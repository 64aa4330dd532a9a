"""One HTTP call to an upstream we do not control, bounded as a whole.

httpx's timeouts bound each step (connecting, each read, each write, waiting for a pooled
connection), not the call: an answer that trickles in a byte every few seconds never trips the
read timeout and holds a rate-limit lane, and the shutdown, for as long as the server likes. And
httpx reads any body whole into memory: a list answer of 200 MB costs a gigabyte. `fetch` bounds
both: the whole call (connection, request, answer) within `total_seconds`, and the body (after
decompression, so a compressed bomb is bounded too) at `max_bytes`. A POST answered with a
redirect is followed here, its method kept (redirects.py), within the same deadline.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from ..redirects import FOLLOWED_BY_HTTPX, MAX_REDIRECTS, resend_target

DEFAULT_TOTAL_SECONDS = 30.0
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# Headers that describe the body as it came over the wire, not the decoded copy we keep.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class CallLimits:
    total_seconds: float = DEFAULT_TOTAL_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES


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


@dataclass(frozen=True, slots=True)
class Answer:
    """The response with its body read; `complete` is False when the body was larger than the
    limit (then `response` holds only its first `max_bytes`)."""

    response: httpx.Response
    complete: bool

    def too_large_message(self, limits: CallLimits) -> str:
        return (f"answer larger than {limits.max_bytes} bytes (api.max_response_bytes); "
                "not read further")


async def fetch(http: httpx.AsyncClient, method: str, url: str, limits: CallLimits, **request: Any) -> Answer:
    """Make the call and read its answer within `limits`. Raises httpx.HTTPError (including
    CallDeadlineExceeded) when no answer arrives whole in time."""
    try:
        async with asyncio.timeout(limits.total_seconds):
            for _ in range(MAX_REDIRECTS + 1):
                # httpx follows a GET's redirects itself; it would turn a POST into a GET, so a
                # POST's are followed below (redirects.py).
                async with http.stream(method, url, follow_redirects=method in FOLLOWED_BY_HTTPX, **request) as response:
                    body, complete = await _read_capped(response, limits.max_bytes)
                target = resend_target(response)
                if target is None:
                    break
                url = str(target)
                request.pop("params", None)  # the Location carries its own query, as httpx does
    except TimeoutError:
        raise CallDeadlineExceeded(f"no complete answer within {limits.total_seconds:g}s (timeouts.total)") from None
    except ssl.SSLError as exc:
        raise TlsAlert(f"TLS: {exc}") from exc
    headers = [(name, value) for name, value in response.headers.multi_items() if name.lower() not in _WIRE_HEADERS]
    kept = httpx.Response(response.status_code, headers=headers, content=body, request=response.request,
                          extensions={k: v for k, v in response.extensions.items() if k == "reason_phrase"})
    return Answer(kept, complete)


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        return b"", False  # not even started: the server said how big it is
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], False
    return b"".join(chunks), True
