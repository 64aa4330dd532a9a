"""HTTP redirects, followed and counted.

Confluent's compatibility policy (Metrics API spec, "Client Responsibilities"): "A resource may
be modified to return a redirection response (e.g. 301, 307) instead of directly returning the
resource. Clients must handle HTTP-level redirects, and respect HTTP headers (e.g. Location)."

- **GET** (lists, status polls, discovery): every redirect is followed (at most MAX_REDIRECTS in
  a row), as httpx would: without the credentials once a redirect leaves the origin (scheme,
  host and port), except for a plain http -> https upgrade of the same host, so an API key is
  never sent to another host; such a request then fails as unauthenticated, logged and counted
  like any other answer. transfer.fetch follows them (`next_hop`), not httpx: httpx reads every
  redirect's body whole before it follows, past api.max_response_bytes and decompressed, so a
  302 of 97 KB (a gzip bomb) cost 215 MB, and one of a megabyte two gigabytes. A redirect's body
  is never read.
- **POST** (a restart, a Metrics API query): httpx would re-send a 301, 302 or 303 as a GET, as
  browsers do ("for historical reasons", RFC 9110 15.4.2): a restart answered 301 became a GET of
  `.../restart`, was answered 404 and ended `not_found` with nothing restarted. So these are
  followed here (`next_hop`, used by transfer.fetch): 301, 302, 307 and 308 are sent again
  with the same method and body, and only within the origin or to its https:// upgrade on the
  same host, as a GET keeps its credentials (an unauthenticated POST to another host could only
  fail, and a request that changes something goes nowhere we were not pointed at). A 303 ("See Other": the server says it handled the request and its result is elsewhere)
  is not followed: a GET there is no restart's answer. A redirect not followed ends the call as
  the answer it is (a 3xx: `rejected`, not retried), with a message that says where it pointed
  and why it was not followed (`not_followed`).

- **The resource asked for.** Either method, a redirect is followed only where it names the same
  resource: the path from its last `connectors` segment on (the connector and what is done to it;
  each segment compared decoded, so that `a%2Fb` is one segment and never `a/b`), and the
  environment and cluster ids the path named. A restart of `x` answered `308 Location:
  .../connectors/y-prod-critical/restart` restarted the healthy `y-prod-critical`, recorded as
  `x`'s restart, at every poll; a connector named `..`, sent as `%2E%2E`, redirected by a
  normalising gateway to the cluster's own `/restart`; a list redirected to another cluster's read
  that cluster's FAILED `orders` as this one's, and restarted this one's healthy `orders` (a world
  probe, 2026-12-06). A path moved under another prefix (`/v2/...`) or host is still followed. A
  path that names no connector (discovery, the Metrics API) is followed as above.

The hook below sees every answer of a redirect chain: each redirect is counted by lane and
status code and logged with where it pointed (host and path; never a query string or header).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from .logs import get_logger, without_known_secrets
from .metrics import Metrics

log = get_logger("watchdog.api")

MAX_REDIRECTS = 5
REDIRECT_STATUSES = ("301", "302", "303", "307", "308")
# A request other than GET or HEAD is sent again, method and body kept, on these (module docstring).
RESEND_STATUSES = frozenset({301, 302, 307, 308})
# Requests that change nothing: a redirect of one is followed wherever it points (module docstring).
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
# Where a redirect whose Location is no URL is said to point (never the value itself: it may
# carry anything).
INVALID_LOCATION = "an invalid Location"

ResponseHook = Callable[[httpx.Response], Awaitable[None]]


def redirect_hook(lane: str, metrics: Metrics) -> ResponseHook:
    for status in REDIRECT_STATUSES:
        metrics.api_redirects.labels(lane, status)

    async def count(response: httpx.Response) -> None:
        if not response.has_redirect_location:
            return
        # has_redirect_location: one of REDIRECT_STATUSES with a Location header.
        metrics.api_redirects.labels(lane, str(response.status_code)).inc()
        target = _target(response)
        if target is None:
            # Not followed by anyone: httpx ends a GET with RemoteProtocolError (a failed call),
            # and a POST ends with this answer (not_followed).
            log.info("api_redirected", credential=lane, status_code=response.status_code,
                     method=response.request.method, path=_where_path(response.request.url), to=INVALID_LOCATION,
                     followed=False, credentials_sent=False)
            return
        followed = next_hop(response) is not None
        # Only a request that still carried the key passes it on: after a hop to another host
        # httpx has dropped it for the rest of the chain.
        carried = "authorization" in response.request.headers
        kept = _same_origin(response.request.url, target) or _https_upgrade(response.request.url, target)
        log.info(
            "api_redirected", credential=lane, status_code=response.status_code,
            method=response.request.method, path=_where_path(response.request.url), to=_where(target), followed=followed,
            credentials_sent=followed and carried and kept,
        )

    return count


@dataclass(frozen=True, slots=True)
class Hop:
    """Where a redirected request goes next, and whether its credentials may go along."""

    url: httpx.URL
    credentials: bool


def next_hop(response: httpx.Response) -> Hop | None:
    """Where a redirected request is sent again, with its method and body (module docstring);
    None: not followed."""
    if not response.has_redirect_location:
        return None
    target = _target(response)
    if target is None:
        return None
    source = response.request.url
    if not _same_resource(source, target):
        return None
    if response.request.method in READ_ONLY_METHODS:
        return Hop(target, _same_origin(source, target) or _https_upgrade(source, target))
    if response.status_code in RESEND_STATUSES and (_same_origin(source, target) or _https_upgrade(source, target)):
        # The https:// upgrade of the host configured is where we were pointed, as for a GET: a
        # worker behind an ingress that upgrades every request had its polls followed and every
        # restart refused, its FAILED connectors left FAILED.
        return Hop(target, credentials=True)
    return None


def not_followed(response: httpx.Response) -> str:
    """Why a redirect answer ended the call: where it pointed (no query string) and why it was
    not followed."""
    code = response.status_code
    if not response.has_redirect_location:
        return f"{code} redirect without a Location: nothing to follow"
    target = _target(response)
    if target is None:
        return f"{code} redirect to {INVALID_LOCATION}, not followed"
    where = f"{code} redirect to {_where(target)}, not followed"
    method = response.request.method
    if not _same_resource(response.request.url, target):
        return (f"{where}: it names another resource than the one asked for ({_where_path(response.request.url)}): "
                "a redirect may move a request, never change what it is about")
    if code not in RESEND_STATUSES:
        return f"{where}: a {code} says a {method} was handled elsewhere, and a GET there is not its answer"
    if target.host != response.request.url.host:
        return f"{where}: another host (a {method} goes only to the host configured)"
    if not _same_origin(response.request.url, target) and not _https_upgrade(response.request.url, target):
        return (f"{where}: another port or scheme of the host configured (a {method} goes only to the origin "
                "configured, or to its https:// upgrade)")
    return f"{where}: more than {MAX_REDIRECTS} redirects in a row"


def _target(response: httpx.Response) -> httpx.URL | None:
    """Where the redirect points; None when its Location is no URL (`http://h:abc/x`). httpx's
    InvalidURL is no httpx.HTTPError: raised from the hook that sees every answer, it escaped
    every caller's handling, and a restart ended `network_error` with no status recorded."""
    try:
        return response.request.url.join(response.headers["location"])
    except httpx.InvalidURL:
        return None


# A Location may be as long as a header block allows (100 KB): logged whole with every redirect,
# it made log lines of that size at every poll.
MAX_WHERE_CHARS = 300


def _where(url: httpx.URL) -> str:
    """Scheme, host, port and path: never a query string, which may carry a token. Without our
    secrets, starred out before the cut: a Location holding the Authorization header we sent,
    cut inside it, kept its first part (the key id, base64 encoded) where no scrubbing after the
    cut could recognise it."""
    where = without_known_secrets(f"{url.scheme}://{url.host}{':' + str(url.port) if url.port else ''}{url.path}")
    return where if len(where) <= MAX_WHERE_CHARS else f"{where[:MAX_WHERE_CHARS]}... ({len(where)} characters)"


# The segments whose next segment names whose resource a path is about: its environment and cluster.
_OWNER_SEGMENTS = ("environments", "clusters")


def _raw_path(url: httpx.URL) -> str:
    """The path as it is sent, percent-encoded, without its query."""
    return url.raw_path.split(b"?", 1)[0].decode("ascii", "replace")


def _segments(url: httpx.URL) -> list[str]:
    """The path's segments, each decoded on its own (`a%2Fb` stays one segment, `a/b`)."""
    return [unquote(segment) for segment in _raw_path(url).split("/")]


def _same_resource(source: httpx.URL, target: httpx.URL) -> bool:
    """Whether `target` names what `source` asked about (module docstring)."""
    asked, named = _segments(source), _segments(target)
    if "connectors" not in asked:
        return True
    if "connectors" not in named:
        return False
    if _from_connectors(asked) != _from_connectors(named):
        return False
    for owner in _OWNER_SEGMENTS:
        if owner in asked:
            at = asked.index(owner)
            if owner not in named or _after(named, named.index(owner)) != _after(asked, at):
                return False
    return True


def _from_connectors(segments: list[str]) -> list[str]:
    """From the last `connectors` segment on: the connector and what is done to it."""
    return segments[len(segments) - 1 - segments[::-1].index("connectors"):]


def _after(segments: list[str], at: int) -> str | None:
    return segments[at + 1] if at + 1 < len(segments) else None


def _where_path(url: httpx.URL) -> str:
    """A path as it was sent (percent-encoded: the `api_redirected` line showed `a%2Fb` as `a/b`)."""
    path = _raw_path(url)
    return path if len(path) <= MAX_WHERE_CHARS else f"{path[:MAX_WHERE_CHARS]}... ({len(path)} characters)"


def _same_origin(source: httpx.URL, target: httpx.URL) -> bool:
    return (target.scheme, target.host, target.port) == (source.scheme, source.host, source.port)


def _https_upgrade(source: httpx.URL, target: httpx.URL) -> bool:
    """httpx keeps Authorization on an http -> https redirect to the same host (default ports)."""
    return source.scheme == "http" and target.scheme == "https" and source.host == target.host and target.port in (None, 443)
