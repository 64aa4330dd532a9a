"""The egress proxies the environment names, and the credentials their URLs carry.

httpx sends a proxy URL's user and password as `Proxy-Authorization: Basic base64(user:password)`,
a header httpcore adds below the request's own: no request's headers hold it, so what starred out
a request's Authorization header in a server's text never saw it. A proxy that echoes what it was
sent (its 407 page, its status line, an answer that is no HTTP) put the proxy's password into
poll_failed, the history and the restart API's answers. These are the forms to star out.
"""

from __future__ import annotations

import base64
import functools
import os
import urllib.request
from collections.abc import Iterable

import httpx

from ..logs import Scrub, scrub_of


def environment_proxies() -> dict[str, str]:
    """The proxies the environment names, by scheme (http, https, all): what httpx reads,
    HTTPS_PROXY and the others, upper or lower case."""
    return {scheme: url for scheme, url in urllib.request.getproxies().items() if scheme in ("http", "https", "all") and url}


def proxy_named(url: str) -> str | None:
    """The proxy the environment names for calls to `url`, without its credentials, and the
    variable it comes from: `http://proxy:3128 (HTTP_PROXY)`; None when none is named for its
    scheme or NO_PROXY exempts its host. As urllib.request.getproxies reads them (httpx does the
    same): the lower-case variable wins over the upper-case one, and ALL_PROXY serves any scheme."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL:
        return None
    proxies = environment_proxies()
    scheme = target.scheme if target.scheme in proxies else "all"
    named = proxies.get(scheme)
    if named is None or (target.host and urllib.request.proxy_bypass(target.host)):
        return None
    variable = next((name for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY") if os.environ.get(name) == named),
                    f"{scheme.upper()}_PROXY")
    try:
        shown = str(httpx.URL(named if "://" in named else f"http://{named}").copy_with(userinfo=b"")).rstrip("/")
    except httpx.InvalidURL:
        shown = "(unreadable proxy URL)"  # never the value itself: it may hold a password
    return f"{shown} ({variable})"


def scrub_with_proxies(secrets: Iterable[str], users: Iterable[str] = ()) -> Scrub:
    """What starring out `secrets` and `users` looks for, and the environment's proxy credentials
    too: whatever a request carried, a proxy below it may have been sent its own."""
    proxy_secrets, proxy_users = proxy_credentials()
    return scrub_of([*secrets, *proxy_secrets], [*users, *proxy_users])


def proxy_credentials() -> tuple[frozenset[str], frozenset[str]]:
    """(secrets, users) of the environment's proxy URLs: each password as written (percent-encoded)
    and as sent (decoded, in the pair `user:password` and its base64), and each user (starred only
    where it stands alone, as a worker's basic-auth user is)."""
    return _credentials(tuple(os.environ.get(name) for name in _VARIABLES))


# What the proxies are read from (urllib.request.getproxies, as httpx reads them): the cache's key.
# Reading them takes 0.1 ms (every variable of the environment is looked at), and every answer's
# request id is starred with these.
_VARIABLES = tuple(f"{scheme}_proxy" for scheme in ("http", "https", "all")) + tuple(
    f"{scheme}_PROXY" for scheme in ("HTTP", "HTTPS", "ALL")) + ("REQUEST_METHOD",)


@functools.lru_cache(maxsize=8)
def _credentials(variables: tuple[str | None, ...]) -> tuple[frozenset[str], frozenset[str]]:
    secrets: set[str] = set()
    users: set[str] = set()
    for url in environment_proxies().values():
        try:
            parsed = httpx.URL(url if "://" in url else f"http://{url}")
        except httpx.InvalidURL:
            continue  # not usable: the daemon refuses to start with it (clients.unusable_proxies)
        if not parsed.userinfo:
            continue
        # As httpx.Proxy sends them: user and password percent-decoded, joined even when the
        # password is empty (`http://TOKEN@proxy`: the user is then the credential).
        pair = f"{parsed.username}:{parsed.password}"
        written = parsed.userinfo.decode("ascii", "replace")
        secrets.update({pair, base64.b64encode(pair.encode()).decode(), written})
        if parsed.password:
            secrets.update({parsed.password, written.partition(":")[2]})
            users.add(parsed.username)
        else:
            secrets.add(parsed.username)
    return frozenset(filter(None, secrets)), frozenset(filter(None, users))
