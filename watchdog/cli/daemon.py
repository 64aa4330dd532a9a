"""What every command that asks a running daemon needs: its address checked, its token found
(as the daemon finds its own), and its refusals put in words."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError, is_loopback_url
from ..config.secret_values import fits_a_header, secret_text
from ..logs import printable, redact_url_credentials
from .standby_hint import in_pod

if TYPE_CHECKING:
    import httpx


def shown_url(url: str) -> str:
    """--daemon's URL as printed back: without a password in it, nothing a terminal would obey."""
    return printable(redact_url_credentials(url))


class UnusableAddress(ValueError):
    """A --daemon that is no http(s) URL; the message never quotes a password in it."""


def check_address(url: str) -> None:
    """Refuses a --daemon no request can be sent to, by name and without quoting it: a port
    mistyped (`:94a4`) or an IPv6 bracket left open was an httpx.InvalidURL traceback, and for
    `http://user:pa/ss@host` one that quoted half the password as the port."""
    import httpx

    if "@" in url:
        # Credentials in the URL would also replace the bearer token (httpx sends them as basic auth).
        raise UnusableAddress("--daemon holds an '@' (a user or password?): give the daemon's address as "
                              "http://HOST:PORT; the token comes from --token-file, $WATCHDOG_SERVER__AUTH_TOKEN or the "
                              "secrets directory")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    # httpx takes any number for the port and the socket layer keeps it modulo 65536: `:74000`
    # sent the token to port 8464, whatever listens there (found 2026-12-06). 0 reaches nothing.
    if parsed is not None and parsed.port is not None and not 1 <= parsed.port <= 65535:
        parsed = None
    if parsed is not None and parsed.port is None and _empty_port(url):
        # `http://watchdog:$PORT` with PORT unset: httpx takes `host:` for the scheme's default
        # port, and the token went to port 80 (443), exit 75, retried for ever (found 2026-12-07).
        raise UnusableAddress(f"--daemon {shown_url(url)} has no port after its ':' (a variable unset?): give the "
                              "daemon's address as http://HOST:PORT")
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnusableAddress("--daemon is not a usable URL (its scheme, host or port cannot be read): give the "
                              "daemon's address as http://HOST:PORT (or https://)")
    # The API's paths are put after --daemon's: `http://HOST:9464/metrics` (the URL at hand) asked
    # /metrics/v1/connectors, a query or a fragment swallowed them, and each was answered "HTTP
    # 404: no such route". A path prefix (a daemon behind a reverse proxy) stays allowed.
    last = parsed.path.rstrip("/").rsplit("/", 1)[-1]
    if parsed.query or parsed.fragment or "#" in url or last in _DAEMON_PAGES:
        raise UnusableAddress(f"--daemon {shown_url(url)} names a page of the daemon, or has a query or a fragment: give "
                              "the daemon's address as http://HOST:PORT (the API's paths are added to it)")


def _empty_port(url: str) -> bool:
    """Whether the URL's authority ends in a ':' with no port after it."""
    from urllib.parse import urlsplit

    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return False
    return netloc.endswith(":")


# The daemon's own routes, the last part of a URL given for --daemon by mistake.
_DAEMON_PAGES = frozenset({"metrics", "healthz", "readyz", "v1", "connectors", "history", "restarts", "alertmanager"})


def is_loopback(url: str) -> bool:
    """Whether --daemon is this host (the daemon of the pod the command runs in)."""
    return is_loopback_url(url)


# The most a call to --daemon takes, its whole answer read (bounded.py), and so each of its steps
# (connecting, each read, writing): a daemon that took the connection and never answered, or one
# that trickles its answer, ends the command after this, saying so.
DAEMON_TIMEOUT_SECONDS = 10.0


def daemon_client(url: str, headers: dict[str, str]) -> httpx.Client:
    """The client for --daemon. A loopback address (the daemon asked from its own pod, as the
    runbook does) is reached directly, never through HTTP_PROXY or ALL_PROXY, as Go's net/http
    and the image's HEALTHCHECK do: the proxy set for Kafka Connect workers got the request, and
    the bearer token with it, and "cannot reach the daemon" was all the operator read. Any other
    address goes through the proxies the environment names, as curl would send it."""
    import httpx

    from .bounded import BoundedClient

    # A transport of our own turns the environment's proxies off; it still reads SSL_CERT_FILE.
    transport = httpx.HTTPTransport(trust_env=True) if is_loopback(url) else None
    return BoundedClient(DAEMON_TIMEOUT_SECONDS, base_url=url, headers=headers, timeout=DAEMON_TIMEOUT_SECONDS,
                         transport=transport)


def proxy_note(url: str) -> str:
    """" through the proxy P (...)" when a call to --daemon `url` goes through one (daemon_client:
    any address but loopback, unless NO_PROXY names its host), else "". Without it, what the proxy
    said was said of the daemon: a proxy that was down, "cannot reach the daemon at
    http://watchdog:9464: ConnectError: [Errno 111] Connection refused", and the operator looked
    at a daemon that was running; one that does not let the host through, "refused by the daemon
    (HTTP 403): <html>... access denied". The proxy's URL without its user and password."""
    proxy = _daemon_proxy(url)
    return "" if proxy is None else f" through the proxy {proxy}"


def _daemon_proxy(url: str) -> str | None:
    """The proxy a call to `url` goes through, and the variable that names it, as said."""
    if is_loopback(url):
        return None
    import httpx

    from ..clients import environment_proxy
    from ..connect.proxy_auth import environment_proxies

    proxy = environment_proxy(url)
    if proxy is None:
        return None
    scheme = httpx.URL(url).scheme
    variable = f"{scheme.upper()}_PROXY" if scheme in environment_proxies() else "ALL_PROXY"
    return f"{printable(proxy)} ({variable} in the environment; a host NO_PROXY names is reached directly)"


def not_the_daemon(response: httpx.Response, url: str) -> str | None:
    """None for an answer of the daemon's API (every one is JSON with an `error`); else who
    answered in its place, in words: the proxy, when the call went through one."""
    if _the_daemons(response):
        return None
    proxy = _daemon_proxy(url)
    if proxy is not None:
        return f"the proxy {proxy} or what it reached, not by the daemon, whose answers are JSON with an error"
    return (f"what answers at {shown_url(url)}, not by the daemon, whose answers are JSON with an error (is --daemon "
            "the daemon's API address?)")


def _the_daemons(response: httpx.Response) -> bool:
    """Whether an answer is in the daemon's API's shape: a JSON object with an `error` text."""
    try:
        document = response.json()
    except ValueError:
        return False
    return isinstance(document, dict) and isinstance(document.get("error"), str)


def daemon_unknown_cluster(args: argparse.Namespace) -> str:
    """The daemon's own "unknown cluster 'C'; configured: ..." when it knows no cluster by
    --cluster's label (its 404 to GET /v1/history?cluster=C, the words `history --cluster` prints),
    else "" (it knows it, or could not be asked: the status it answered was read, so rare)."""
    import httpx

    headers = daemon_headers(args)
    if headers is None:
        return ""
    try:
        with daemon_client(args.daemon, headers) as http:
            response = http.get(f"{args.daemon.rstrip('/')}/v1/history", params={"cluster": args.cluster, "limit": 1})
    except httpx.HTTPError:
        return ""
    if response.status_code != 404 or not_the_daemon(response, args.daemon) is not None:
        return ""
    return error_text(response)


# A standby replica's 503 (docs/high-availability.md), when --daemon is not this host (a Service
# in front of both replicas): asked again up to this many times in all, this far apart. The standby
# closed the connection, so each try opens a new one, which the Service balances afresh.
STANDBY_TRIES = 5
STANDBY_PAUSE = 0.5


class Standby:
    """What a standby's 503 says: that it did nothing, and who leads (the lease holder,
    `POD/PID/TOKEN`), if it knows; if not, why not (`leader_unknown`: the last holder seen, the
    lease unreadable, the configured lease)."""

    def __init__(self, leader: str | None, note: str = "") -> None:
        self.leader = leader
        self.note = note

    @classmethod
    def of(cls, response: httpx.Response) -> Standby | None:
        if response.status_code != 503:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("standby") is not True:
            return None
        leader, note = body.get("leader"), body.get("leader_unknown")
        return cls(leader if isinstance(leader, str) and leader else None, note if isinstance(note, str) else "")

    def explain(self, url: str, tries: int, argv: Sequence[str] = ()) -> str:
        """In plain words, with what to do next (the leader's pod is the first part of its name):
        `argv`, the command as typed, to run there."""
        text = f"the daemon at {shown_url(url)} is a standby replica, which does nothing"
        pod = "POD"
        if self.leader is not None:
            pod = printable(self.leader.split("/")[0])[:253]
            text += f": another replica leads ({printable(self.leader)[:300]}, pod {pod})"
        elif self.note:  # the daemon says why (cannot read the lease, the last holder seen, its lease)
            text += f": it knows of no leader now ({printable(self.note)[:800]})"
        else:  # a release before it said why: "elected within a lease: 17 s by default" was said of any lease
            text += (": it knows of no leader now (a replica takes the lease once it is free and the database "
                     "answers, within state.leader_election.lease_duration)")
        if tries > 1:
            return text + f"; asked {tries} times, a standby answered each time; ask again in a moment"
        # The address asked here (its port, a path prefix), not the default port: the replicas
        # run one config, so the leader listens where this standby does. A fixed `:9464` sent an
        # operator of a daemon on another `server.port` to a port where nothing listens.
        if self.leader is not None:
            return text + f"; run the command in the leader's pod: {in_pod(pod, argv)}"
        return text + (f"; once a replica leads (its /readyz says \"role\": \"leader\"), run the command in its pod: "
                       f"{in_pod(pod, argv)}")


def get_past_standby(http: httpx.Client, url: str, path: str,
                     params: dict[str, str | int]) -> tuple[httpx.Response, Standby | None, int]:
    """GET `path`, asked again past a standby's 503 when `url` is not this host (a Service in
    front of the replicas: the next try, on a new connection, may reach the leader). The last
    answer, the standby that gave it (None when it was not a standby's), and the tries made."""
    tries = 1 if is_loopback(url) else STANDBY_TRIES
    for tried in range(1, tries + 1):
        response = http.get(path, params=params)
        standby = Standby.of(response)
        if standby is None or tried == tries:
            break
        time.sleep(STANDBY_PAUSE)
    return response, standby, tried


# The daemon's token: the variable, and the file of that name in a secrets directory.
TOKEN_SETTING = "WATCHDOG_SERVER__AUTH_TOKEN"


class UnusableToken(ValueError):
    """No token for the daemon's API, or one that cannot be sent; the message never quotes it."""


def daemon_token(args: argparse.Namespace) -> str:
    """The daemon's token, from --token-file, WATCHDOG_SERVER__AUTH_TOKEN or the file of that name
    in the secrets directory the daemon reads (as `run` would: --secrets-dir was taken and
    ignored here, so in the daemon's own pod the token had to be found by hand), stripped as the
    daemon strips its own (a token from a Secret often ends in a newline). One that cannot go
    into a header is refused here: a token of two lines made httpx raise an error quoting the
    header, and this command printed it, token and all; a file that did not exist, a traceback."""
    if args.token_file:
        source = f"--token-file {args.token_file}"
        try:
            text = Path(args.token_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UnusableToken(f"{source}: cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise UnusableToken(f"{source}: is not UTF-8 text") from None
    elif secret_text(os.environ.get(TOKEN_SETTING, "")):
        source, text = TOKEN_SETTING, os.environ[TOKEN_SETTING]
    else:
        # Where the daemon beside it reads its own: in its pod, the mounted Secret.
        source, text = _token_from_secrets_dir(args)
    token = secret_text(text)
    if not token and source:
        # "no token: ... pass --token-file" to someone who passed one sent them looking elsewhere.
        raise UnusableToken(f"the token from {source} is empty (or only whitespace)")
    if not token:
        raise UnusableToken(f"no token: set {TOKEN_SETTING}, pass --token-file, or give --secrets-dir a "
                            f"directory holding a file {TOKEN_SETTING}")
    if not fits_a_header(token):
        raise UnusableToken(f"the token from {source} must be printable ASCII without spaces (two lines in the file?)")
    return token


def daemon_headers(args: argparse.Namespace) -> dict[str, str] | None:
    """The headers for a call to the daemon at --daemon, or None after saying why none can go:
    an address no request can go to, no usable token, or a proxy or CA bundle in the environment
    that httpx cannot use (its InvalidURL for a proxy was taken for --daemon's own)."""
    from .common import unusable_environment

    try:
        check_address(args.daemon)
        token = daemon_token(args)
    except (UnusableAddress, UnusableToken) as exc:
        print(exc, file=sys.stderr)
        return None
    if unusable_environment():
        return None
    args.token_source = token_source(args)  # for a 401 to name (refusal_text)
    return {"Authorization": f"Bearer {token}"}


def token_source(args: argparse.Namespace) -> str:
    """Where daemon_token took the token from, as said: never the token."""
    if args.token_file:
        return f"--token-file {args.token_file}"
    if secret_text(os.environ.get(TOKEN_SETTING, "")):
        return TOKEN_SETTING
    return _token_from_secrets_dir(args)[0]


def refusal_text(response: httpx.Response, args: argparse.Namespace) -> str:
    """error_text, and for a 401 where the token sent came from and both ways the two tokens can
    differ. In the daemon's pod, after the token was rotated in the Secret and before the daemon
    reloaded, the command read the new one from the mounted file while the daemon held the old one,
    and "missing or invalid bearer token" was all it said. The other way is as common: the daemon
    reloaded, and the token sent is an older copy (an operator's, a CI job's), or a
    WATCHDOG_SERVER__AUTH_TOKEN variable in the Deployment keeps the daemon on its own while the
    command reads the Secret's new file. Said one way only ("refused until it reloads"), it sent the
    operator to SIGHUP, which changed nothing. The command cannot tell which (it never sees the
    daemon's token), so it says both."""
    text = error_text(response)
    source = getattr(args, "token_source", "")
    if response.status_code == 401 and source:
        text += (f" (the token sent came from {source}; the daemon's token and this one differ: either the daemon has "
                 "not reloaded a new one yet (it reads its own at start and at each reload: SIGHUP), or this one is "
                 f"older than the daemon's (rotated since), or the daemon keeps an older one: a {TOKEN_SETTING} variable in "
                 "its environment wins over its secret file (said by `secret_files_overridden` in its log))")
    return text


def _token_from_secrets_dir(args: argparse.Namespace) -> tuple[str, str]:
    """(where, text) of the token file in the secrets directory the daemon would read
    (--secrets-dir, $WATCHDOG_SECRETS_DIR, /etc/watchdog/secrets); text "" when there is none."""
    from ..config.loading import secrets_dir
    from ..config.sources import read_secret_setting

    try:
        directory = secrets_dir(getattr(args, "secrets_dir", None))
    except ConfigError as exc:
        raise UnusableToken(str(exc)) from None
    if directory is None:
        return "", ""
    text, problems = read_secret_setting(directory, TOKEN_SETTING)
    if problems:
        raise UnusableToken("; ".join(problems))
    if text is None:  # no such file there
        return "", ""
    return f"secret file {TOKEN_SETTING} in {directory}", text


def failure_text(exc: httpx.HTTPError) -> str:
    """`Type: message` of a call to --daemon that got no answer, printable and without the token:
    httpx quotes an answer that is no HTTP (`illegal status line: bytearray(b'Authorization:
    Bearer ...')` from a server that sends the request back), and it was printed token and all."""
    from ..connect.answers import transport_failure

    return printable(transport_failure(exc))


# OpenSSL's reasons for a handshake answered by something that is not TLS (OpenSSL 1.1 and 3 word
# it differently): the daemon's port, which speaks plain HTTP, says "HTTP/1.1 400" to a ClientHello.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                      "UNKNOWN_PROTOCOL"})


def tls_failure(exc: BaseException, url: str) -> str | None:
    """Why the TLS handshake with --daemon failed, when it did and asking again cannot mend it: a
    port that speaks plain HTTP (the daemon's own: it serves no TLS), a certificate not trusted
    here, no protocol in common. A setting to correct, exit 2; it exited 75, "may work if run
    again later", and a pipeline that retries on 75 retried it for ever. None for anything else,
    a handshake cut short (EOF: a proxy restarting) included. No request was sent either way."""
    import ssl

    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError):
            return (f"TLS failed with {shown_url(url)}: its certificate is not trusted here ({printable(str(error.verify_message))}); "
                    "nothing was sent")
        if isinstance(error, ssl.SSLError) and not isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError):
            reason = printable(str(error.reason or type(error).__name__))
            if reason in _NOT_TLS:
                return (f"TLS failed with {shown_url(url)} ({reason}): what answers there speaks plain HTTP, not TLS; "
                        "the daemon serves plain HTTP only (https:// reaches it only through a proxy that ends TLS): "
                        "give --daemon an http:// URL; nothing was sent")
            return f"TLS failed with {shown_url(url)} ({reason}); nothing was sent"
        error = error.__cause__ or error.__context__
    return None


def error_text(response: httpx.Response) -> str:
    """The daemon's `error`, with the fields its 422 names (`reason: String should have at most
    500 characters`): without them, a --reason too long or a name with a control character was
    refused as "request body does not match the expected shape", and which part was not said.
    Without the token the request carried, starred out before the text is cut short: what
    answered at --daemon (no daemon of ours, if it repeats it) printed `refused: Authorization:
    Bearer TOKEN` on the operator's terminal."""
    import httpx

    from ..connect.masking import without_credentials

    try:
        sent = response.request.headers
    except RuntimeError:  # an answer made by hand, never sent
        sent = httpx.Headers()

    def scrubbed(text: str) -> str:
        return without_credentials(text, sent)

    try:
        document = response.json()
        error = document.get("error")
    except (ValueError, AttributeError):
        return printable(scrubbed(response.text)[:200])
    if not isinstance(error, str):
        # No words of the daemon's (an answer of something else): its body says what came, where
        # `str(None)` printed "None".
        return printable(scrubbed(response.text.strip())[:200]) or "an empty answer"
    text = error
    problems = document.get("problems")
    if isinstance(problems, list) and problems:
        named = [f"{p.get('field')}: {p.get('problem')}" if isinstance(p, dict) else str(p) for p in problems[:5]]
        text += ": " + "; ".join(named)
        not_shown = document.get("problems_not_shown")
        left_out = len(problems) - len(named) + (not_shown if isinstance(not_shown, int) else 0)
        if left_out > 0:
            text += f"; and {left_out} more"
    known = document.get("known")
    if isinstance(known, list) and all(isinstance(name, str) for name in known):
        # The clusters the daemon's config names (its 404 for a cluster it does not know), as the
        # command says them without --daemon: "unknown cluster 'prdo'" alone left them to be found.
        text += f"; configured: {', '.join(known[:50]) or 'none'}" + (f" and {len(known) - 50} more" if len(known) > 50 else "")
    return printable(scrubbed(text)[:1000])
