"""The HTTP clients: one per rate-limit lane, each with its auth, timeouts, TLS and pool.

Confluent Cloud lanes are per API key (its limits are per key), self-managed Kafka Connect lanes
per cluster, and the Metrics API has its own host and limits.

An egress proxy is taken from the environment, as curl, Confluent's CLI and its Terraform
provider take it: HTTPS_PROXY, HTTP_PROXY or ALL_PROXY, with NO_PROXY for the hosts that bypass
it (httpx reads them). httpx reads them only for transports it builds itself, so a client is
given a transport of ours (with its retry of a failed connection attempt) only when no proxy is
set; before, the explicit transport silently turned every proxy setting off, and a daemon behind
an egress proxy could not reach the API at all.
"""

from __future__ import annotations

import os
import ssl
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from . import __version__
from .config import SELF_MANAGED_LANE, Config, Credential, KafkaConnectCluster, Timeouts
from .connect.inflate import ACCEPT_ENCODING
from .connect.proxy_auth import environment_proxies, proxy_credentials
from .redirects import MAX_REDIRECTS, ResponseHook

USER_AGENT = f"connect-watchdog/{__version__} (+https://github.com/connect-watchdog/connect-watchdog)"
# The Metrics API's lane (and its client's key in the daemon's clients). Never a credential's
# name: those hold no '-'. It is also the `credential` label of the Metrics API's calls in every
# metric and log line, whichever key metrics_api.credential names (that API limits per IP address,
# not per key): documented in docs/metrics.md and the runbook's WatchdogRateLimited, and the alert
# says "the Metrics API" for it. Dashboards read the value: do not rename it.
METRICS_API_LANE = "metrics-api"


def _client(
    config: Config,
    *,
    base_url: str,
    timeouts: Timeouts,
    credential: Credential | None,
    transport: httpx.AsyncBaseTransport | None,
    verify: ssl.SSLContext | bool = True,
    hooks: Sequence[ResponseHook] = (),
) -> httpx.AsyncClient:
    concurrency = config.rate_limit.max_concurrent_requests
    # Idle connections are dropped after 4 s, before the 5 s idle timeout common to HTTP servers
    # and proxies: reusing a connection the server is closing fails with ReadError.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=4.0)
    auth = basic_auth(credential) if credential is not None else None
    if transport is None and not environment_proxies():
        # Retries of failed connection attempts only (nothing was sent); every other retry belongs
        # to the queue, which knows what is safe to repeat. Behind a proxy httpx builds the
        # transports (module docstring), and the connection attempt is to the proxy.
        transport = httpx.AsyncHTTPTransport(retries=1, limits=limits, verify=verify)
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        limits=limits,
        verify=verify,
        trust_env=True,
        auth=auth,
        timeout=httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING},
        # Confluent's APIs may answer 301/307 and clients must follow: transfer.fetch does, each
        # hop with its own call (redirects.py); httpx would read each redirect's body whole.
        follow_redirects=False,
        max_redirects=MAX_REDIRECTS,
        event_hooks={"response": list(hooks)},
        cookies=_NoCookies(),
    )


def basic_auth(credential: Credential) -> httpx.BasicAuth:
    assert credential.api_key is not None and credential.api_secret is not None  # config checked
    return httpx.BasicAuth(credential.api_key.get_secret_value(), credential.api_secret.get_secret_value())


def lane_credential(config: Config, lane: str) -> str | None:
    """The credential whose pair the client of `lane` sends: a Confluent Cloud lane's is the
    credential it is named after (Config.lane_of), the Metrics API's is its settings', and a
    self-managed cluster's lane (`kafka-connect/NAME`) sends its cluster's, if it names one."""
    if lane == METRICS_API_LANE:
        return config.credential_for(config.metrics_api)
    if lane.startswith(SELF_MANAGED_LANE):
        cluster = config.clusters.get(lane.removeprefix(SELF_MANAGED_LANE))
        return cluster.credential if isinstance(cluster, KafkaConnectCluster) else None
    return lane if lane in config.credentials else None


def rotate_credentials(clients: Mapping[str, httpx.AsyncClient], config: Config, rotated: Iterable[str]) -> list[str]:
    """Every client (by lane) that sends one of the `rotated` credentials sends its pair in
    `config` from its next request (httpx reads the client's auth when a request is sent: one
    already on its way keeps the old pair). Returns those lanes."""
    names = set(rotated)
    lanes = [lane for lane in clients if lane_credential(config, lane) in names]
    for lane in lanes:
        name = lane_credential(config, lane)
        assert name is not None
        clients[lane].auth = basic_auth(config.credentials[name])
    return lanes


class _NoCookies(CookieJar):
    """Cookies are neither kept nor sent, as curl, Confluent's CLI and its Terraform provider (Go's
    http.Client has no jar) do: these APIs authenticate every request, and a jar kept everything a
    server set: one that set a new cookie on each answer made every request carry all of them (35
    KB of Cookie header after 2,000 polls, growing until the server refused the requests)."""

    def __init__(self) -> None:
        super().__init__(policy=DefaultCookiePolicy(allowed_domains=()))


def cloud_client(
    config: Config, credential: Credential, transport: httpx.AsyncBaseTransport | None, hooks: Sequence[ResponseHook] = ()
) -> httpx.AsyncClient:
    return _client(config, base_url=config.api.base_url, timeouts=config.api.timeouts, credential=credential,
                   transport=transport, hooks=hooks)


def kafka_connect_client(
    config: Config, cluster: KafkaConnectCluster, transport: httpx.AsyncBaseTransport | None,
    hooks: Sequence[ResponseHook] = (),
) -> httpx.AsyncClient:
    credential = config.credentials[cluster.credential] if cluster.credential else None
    # The backend builds absolute URLs from the worker list (it fails over between them).
    return _client(config, base_url="", timeouts=config.api.timeouts, credential=credential,
                   transport=transport, verify=cluster.tls.context(), hooks=hooks)


def metrics_api_client(
    config: Config, credential: Credential, transport: httpx.AsyncBaseTransport | None, hooks: Sequence[ResponseHook] = ()
) -> httpx.AsyncClient:
    settings = config.metrics_api
    return _client(config, base_url=settings.base_url, timeouts=settings.timeouts, credential=credential,
                   transport=transport, hooks=hooks)


def sent_secrets(config: Config) -> tuple[set[str], set[str]]:
    """(secrets, users) for the log to keep out (logs.keep_out_of_logs): the config's
    (Config.secret_values) and those of the proxy URLs the environment names, which httpx sends
    as Proxy-Authorization and a proxy may echo."""
    secrets, users = config.secret_values()
    proxy_secrets, proxy_users = proxy_credentials()
    return secrets | proxy_secrets, users | proxy_users


def environment_proxy(url: str) -> str | None:
    """The proxy calls to `url` go through, without its credentials (for the `started` log
    line); None when the environment names none for its scheme or NO_PROXY exempts its host."""
    target = httpx.URL(url)
    proxies = environment_proxies()
    named = proxies.get(target.scheme) or proxies.get("all")
    if named is None or urllib.request.proxy_bypass(target.host):
        return None
    try:
        proxy = httpx.URL(named if "://" in named else f"http://{named}")
    except httpx.InvalidURL:
        return "(unreadable proxy URL)"  # never the value itself: it may hold a password
    return str(proxy.copy_with(userinfo=b""))


def unusable_proxies() -> list[str]:
    """One line per proxy the environment names that httpx cannot use, naming its variable and
    never its value. httpx reads them when a client is built: `HTTPS_PROXY=http://u:Pa55/w0rd@proxy`
    (a '/' in the password ends the host there) stopped `run` with a traceback quoting what it
    took for the port ("Invalid port: 'Pa55'"), half the password, while check-config said valid.
    The transport is built as httpx builds it: a SOCKS proxy (`ALL_PROXY=socks5://...`) needs a
    package the image does not have, and stopped `run` with an ImportError traceback likewise."""
    problems = []
    for scheme, url in environment_proxies().items():
        try:
            # verify and trust_env off: only the proxy is checked here, not SSL_CERT_FILE and the like.
            httpx.AsyncHTTPTransport(proxy=url if "://" in url else f"http://{url}", verify=False, trust_env=False)
        except (httpx.InvalidURL, ValueError, ImportError):
            names = " or ".join(name for name in (f"{scheme.upper()}_PROXY", f"{scheme}_proxy") if os.environ.get(name))
            problems.append(
                f"{names or scheme + ' proxy'}: not a proxy URL the daemon can use (its scheme must be http or https, "
                "its port a number, and a '/', '?' or '#' in its password percent-encoded: %2F, %3F, %23); "
                "not quoted, since it may hold a password"
            )
    return problems


def unusable_trust_store() -> list[str]:
    """A line naming SSL_CERT_FILE when it names no file of CA certificates: httpx loads it into
    every client with default verification (trust_env), and a missing file, a directory or a file
    of no certificate stopped `run` with a FileNotFoundError or SSLError traceback, while
    check-config said valid. SSL_CERT_DIR is not checked: OpenSSL reads it lazily and skips what
    it cannot use."""
    if not os.environ.get("SSL_CERT_FILE"):
        return []
    try:
        httpx.create_ssl_context(trust_env=True)
    except OSError as exc:  # ssl.SSLError is an OSError
        why = exc.strerror or getattr(exc, "reason", None) or type(exc).__name__
        return [f"SSL_CERT_FILE: not a file of CA certificates the daemon can read ({why}); "
                "point it at a PEM bundle, or unset it for the system's"]
    return []


def unusable_environment() -> list[str]:
    """What the environment gives every HTTP client that no client can use (proxies, CA bundle)."""
    return unusable_proxies() + unusable_trust_store()

