"""HTTP redirects, followed and counted.

Confluent's compatibility policy (Metrics API spec, "Client Responsibilities"): "A resource may
be modified to return a redirection response (e.g. 301, 307) instead of directly returning the
resource. Clients must handle HTTP-level redirects, and respect HTTP headers (e.g. Location)."
Every HTTP client follows them (clients.py, at most MAX_REDIRECTS in a row). httpx drops the
Authorization header when a redirect leaves the origin (scheme, host and port), except for a
plain http -> https upgrade of the same host, so an API key is never sent to another host; such
a request then fails as unauthenticated, which is logged and counted like any other answer.

The hook below sees every answer of a redirect chain: each redirect is counted by lane and
status code and logged with where it pointed (host and path; never a query string or header).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from .logs import get_logger
from .metrics import Metrics

log = get_logger("watchdog.api")

MAX_REDIRECTS = 5
REDIRECT_STATUSES = ("301", "302", "303", "307", "308")

ResponseHook = Callable[[httpx.Response], Awaitable[None]]


def redirect_hook(lane: str, metrics: Metrics) -> ResponseHook:
    for status in REDIRECT_STATUSES:
        metrics.api_redirects.labels(lane, status)

    async def count(response: httpx.Response) -> None:
        if not response.has_redirect_location:
            return
        # has_redirect_location: one of REDIRECT_STATUSES with a Location header.
        metrics.api_redirects.labels(lane, str(response.status_code)).inc()
        target = response.request.url.join(response.headers["location"])
        same_origin = (target.scheme, target.host, target.port) == (
            response.request.url.scheme, response.request.url.host, response.request.url.port,
        )
        log.info(
            "api_redirected", credential=lane, status_code=response.status_code,
            method=response.request.method, path=response.request.url.path,
            to=f"{target.scheme}://{target.host}{':' + str(target.port) if target.port else ''}{target.path}",
            credentials_sent=same_origin or _https_upgrade(response.request.url, target),
        )

    return count


def _https_upgrade(source: httpx.URL, target: httpx.URL) -> bool:
    """httpx keeps Authorization on an http -> https redirect to the same host (default ports)."""
    return source.scheme == "http" and target.scheme == "https" and source.host == target.host and target.port in (None, 443)
