"""Blocking on active alerts: no restart while Alertmanager reports a blocking alert firing.

Alertmanager rather than Prometheus, so that silences count: a silenced incident alert no longer
blocks (Kured's users asked for exactly this). The answer is refreshed every `cache_ttl` by a
background task and read synchronously by the decision code; when Alertmanager cannot be reached
or sends an answer that cannot be read, `on_error` decides (block, as Kured does, or allow), and
every check is counted.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from .config import BlockingSettings
from .connect.inflate import ACCEPT_ENCODING
from .connect.lenient_json import read_json
from .connect.proxy_auth import scrub_with_proxies
from .connect.transfer import DEFAULT_MAX_BYTES, CallLimits, fetch
from .logs import get_logger, scrubbed
from .metrics import Metrics

log = get_logger("watchdog.blocking")

# How many alert names a verdict quotes: enough to act on, short enough for a log line.
_NAMES_SHOWN = 5


class _AlertStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    state: Literal["active", "suppressed", "unprocessed"]
    silencedBy: list[str] = []  # noqa: N815 - Alertmanager's field names
    inhibitedBy: list[str] = []  # noqa: N815


class _GettableAlert(BaseModel):
    """What is read of one alert in Alertmanager's GET /api/v2/alerts answer (gettableAlert).

    Fields the watchdog does not use are ignored, so a newer Alertmanager still reads; a field it
    uses in the wrong shape (`labels: null`) makes the whole answer unreadable, which is an error
    like an unreachable Alertmanager: `on_error` decides, rather than a guess about that alert.
    """

    model_config = ConfigDict(extra="ignore")

    labels: dict[str, str]
    # Optional: an answer without it (a minimal proxy) is read as not suppressed, i.e. blocking.
    status: _AlertStatus | None = None

    @property
    def blocks(self) -> bool:
        """Active or unprocessed (not yet through the pipeline: it may well be about to fire),
        not suppressed: a silenced or inhibited alert does not block even when the answer holds
        it because a proxy or an old Alertmanager ignored silenced=false and inhibited=false."""
        if self.status is None:
            return True
        return self.status.state != "suppressed" and not self.status.silencedBy and not self.status.inhibitedBy


_ANSWER = TypeAdapter(list[_GettableAlert])


# What a network failure says is the operating system's or the peer's, and safe to show. Any other
# error may quote the request being built (httpx's LocalProtocolError for an illegal header value
# quotes the header, i.e. the bearer token): of those only the type is shown, with what to check.
_NETWORK_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)
_REQUEST_NOT_SENT = ("a header or the URL the watchdog built is not valid HTTP: check blocking.alertmanager_url "
                     "and the credentials of blocking.auth for control characters")
_REASON_CHARS = 200  # of Alertmanager's own reason for a 400: its parser's message quotes the filter
# The variables (or secret files of those names) the credentials of blocking.auth come from.
_SECRET_VARIABLES = {"basic": ("password", "WATCHDOG_BLOCKING__PASSWORD"),
                     "bearer": ("bearer_token", "WATCHDOG_BLOCKING__BEARER_TOKEN")}


def credential_named(settings: BlockingSettings) -> str:
    """Which credential of `blocking.auth` Alertmanager refused, and where it came from (never its
    value): a variable set in the environment wins over the secret file of the same name
    (config/sources.py), so the one set is named. `Alertmanager answered 401 Unauthorized` alone
    left the operator to guess which setting to fix, at 3 a.m."""
    if settings.auth not in _SECRET_VARIABLES:
        return ("blocking.auth is none: Alertmanager (or a proxy before it) wants credentials; set blocking.auth "
                "and its secret")
    field, variable = _SECRET_VARIABLES[settings.auth]
    source = (f"the variable {variable}" if os.environ.get(variable) is not None
              else f"the secret file {variable} of the secrets directory")
    user = f" for user {settings.username!r} (blocking.username)" if settings.auth == "basic" else ""
    return (f"check blocking.auth ({settings.auth}): blocking.{field}{user}, from {source}, is not the one "
            "Alertmanager takes (rotated there first?)")


def _transport_problem(exc: httpx.HTTPError, scrub: Callable[[str], str]) -> str:
    if isinstance(exc, _NETWORK_ERRORS):
        # `scrub`bed before the cut: httpx quotes an answer that is no HTTP (a server sending the
        # request back) and a proxy's status line, and cut first, a token across the cut kept
        # its first part (`Authorization: Bearer am-bearer-TOPSECRE`), which no scrubbing knew.
        return scrub(f"Alertmanager unreachable: {type(exc).__name__}: {exc}")[:300]
    return f"request to Alertmanager not sent: {type(exc).__name__}: {_REQUEST_NOT_SENT}"


def _their_reason(response: httpx.Response, scrub: Callable[[str], str]) -> str:
    """Alertmanager's reason for a 400 (a JSON string, e.g. "bad matcher format: ..."), on one line,
    `scrub`bed of the credentials before it is cut short: cut first, a secret across the cut kept
    its first part (`... SECRET-AM...`), which no scrubbing afterwards could recognise."""
    try:
        said = read_json(response)
    except ValueError:
        said = None
    text = scrub(said if isinstance(said, str) else response.text)[:1000]
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not text:
        return "no reason given"
    return text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS] + "..."


def _shape_problem(exc: ValidationError) -> str:
    # Where and what, never the offending input: it may hold label values of any size.
    first = exc.errors(include_input=False, include_url=False)[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"unreadable answer: alert{where}: {first['msg']}{more}"


@dataclass(frozen=True, slots=True)
class BlockingVerdict:
    blocked: bool
    reason: str


class AlertBlocker:
    def __init__(
        self,
        settings: BlockingSettings,
        metrics: Metrics,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_response_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.settings = settings
        # `timeout` bounds the whole check, answer included: a trickling Alertmanager must not
        # hold the check (and, with on_error: block, every restart) longer than that.
        self._limits = CallLimits(settings.timeout, max_response_bytes, total_named="blocking.timeout")
        self._metrics = metrics
        self._clock = clock
        auth: httpx.Auth | None = None
        headers: dict[str, str] = {"Accept-Encoding": ACCEPT_ENCODING}  # what fetch decodes (inflate.py)
        credentials = settings.credentials()
        secret: str | None = None
        sent: list[str] = []  # the Authorization header's token, as it goes out
        if isinstance(credentials, tuple):
            secret = credentials[1].get_secret_value()
            auth = httpx.BasicAuth(credentials[0], secret)
            sent.append(base64.b64encode(f"{credentials[0]}:{secret}".encode()).decode())  # as httpx encodes it
        elif credentials is not None:
            secret = credentials.get_secret_value()
            headers["Authorization"] = f"Bearer {secret}"
        # Every reason and logged problem is also scrubbed of the secret and of the Basic token
        # (base64 of user:password, which a server or a proxy repeating the request's headers
        # quotes), in every form they may come back in (logs.secret_forms: a repr, URL-encoded,
        # base64 without its padding...): the last line of defence if some error text quotes
        # the request anyway. Alertmanager's 400 quoting a bearer token URL-encoded kept it.
        self._secrets: list[str] = [secret, *sent] if secret else []
        self._http = httpx.AsyncClient(
            base_url=settings.alertmanager_url, timeout=settings.timeout, transport=transport, auth=auth, headers=headers
        )
        self._verdict: BlockingVerdict | None = None
        self._checked_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # Set once the refresh loop has asked (whatever the answer), or the blocker is closed.
        self._first_check = asyncio.Event()
        # The last problem logged at error level (its words, or its kind: _failed_logged), so that
        # one that persists is logged once, not every `cache_ttl`; cleared by a readable answer.
        self._logged_problem: str | None = None

    def verdict(self) -> BlockingVerdict:
        """The latest answer; a missing or stale one (two TTLs old) counts as an error."""
        stale = self._checked_at is None or self._clock() - self._checked_at > 2 * self.settings.cache_ttl
        if self._verdict is None or stale:
            return self._on_error("no fresh answer from Alertmanager")
        return self._verdict

    async def refresh(self) -> BlockingVerdict:
        try:
            answer = await fetch(self._http, "GET", "/api/v2/alerts", self._limits, params=self._params())
        except httpx.HTTPError as exc:
            return self._failed_logged("blocking_unreachable", _transport_problem(exc, self._scrubbed))
        response = answer.response
        if response.status_code == 400:
            # Alertmanager could not parse the query: a filter (or the receiver pattern) it refuses.
            # Not "unreachable": it answered, and it will answer the same until the config changes.
            problem = ("Alertmanager refused the query (400 Bad Request; check blocking.filters and "
                       f"blocking.receiver): {_their_reason(response, self._scrubbed)}")
            self._log_problem("blocking_query_refused", problem)
            return self._failed(problem)
        if response.status_code in (401, 403):
            # The credential of blocking.auth refused (rotated in Alertmanager first, revoked):
            # it stays refused until the Secret holds the new one, so it is said at error with the
            # setting and where it comes from (credential_named), not only in the reason.
            answered = f"Alertmanager answered {response.status_code} {response.reason_phrase}".rstrip()
            return self._failed_logged("blocking_unauthorized", f"{answered}; {credential_named(self.settings)}")
        if response.is_error:
            return self._failed_logged(
                "blocking_check_failed", f"Alertmanager answered {response.status_code} {response.reason_phrase}".rstrip())
        if not answer.complete:
            return self._failed_logged(
                "blocking_answer_unreadable",
                f"Alertmanager sent an unreadable answer: {answer.incomplete_message(self._limits)}")
        try:
            body = read_json(response)
        except ValueError as exc:
            return self._failed_logged("blocking_answer_unreadable", self._scrubbed(
                f"Alertmanager sent an unreadable answer: {type(exc).__name__}: {exc}")[:300])
        if not isinstance(body, list):
            return self._failed_logged("blocking_answer_unreadable",
                                       "Alertmanager sent an unreadable answer: not a list of alerts")
        try:
            alerts = _ANSWER.validate_python(body)
        except ValidationError as exc:
            problem = _shape_problem(exc)[:300]
            self._log_problem("blocking_answer_unreadable", problem)
            return self._failed(f"Alertmanager sent an {problem}")
        self._logged_problem = None
        names = sorted({a.labels.get("alertname", "?") for a in alerts if a.blocks})
        if names:
            shown = ", ".join(names[:_NAMES_SHOWN]) + (" ..." if len(names) > _NAMES_SHOWN else "")
            verdict = BlockingVerdict(True, f"blocking alert firing: {shown}")
        else:
            verdict = BlockingVerdict(False, "no blocking alert firing")
        self._metrics.blocking_checks.labels("blocked" if verdict.blocked else "clear").inc()
        self._remember(verdict)
        return verdict

    def start(self) -> None:
        """Start the refresh loop, which asks at once and then every `cache_ttl`. One loop per
        blocker: starting it again, or once closed, does nothing (two overlapping reloads started
        a second loop that close() never stopped, asking on a closed client every `cache_ttl`)."""
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="alert-blocker")

    async def first_check(self) -> None:
        """Wait until the refresh loop has asked Alertmanager once (or the blocker is closed)."""
        await self._first_check.wait()

    async def close(self) -> None:
        """Stop the refresh loop and close the client; the blocker is not started again."""
        self._closed = True
        self._first_check.set()  # whoever waits for a first answer that will not come
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:
                # The loop outlives any refresh: a dead loop would leave verdict() at "no fresh
                # answer" for good, blocking every restart (or, with on_error: allow, letting
                # them through while a blocking alert fires) with nothing in the logs.
                self._log_problem("blocking_refresh_crashed", f"{type(exc).__name__}: {exc}")
            self._first_check.set()
            await asyncio.sleep(self.settings.cache_ttl)

    def _params(self) -> list[tuple[str, str | int | float | bool | None]]:
        # Only alerts a human has not silenced or inhibited block: that is how an operator lifts
        # a block without touching the watchdog. Unprocessed ones (just received, not yet
        # matched against silences and inhibitions) are asked for too: the safe side.
        params: list[tuple[str, str | int | float | bool | None]] = [("active", "true"), ("silenced", "false"), ("inhibited", "false"), ("unprocessed", "true")]
        params += [("filter", matcher) for matcher in self.settings.filters]
        if self.settings.receiver:
            params.append(("receiver", self.settings.receiver))
        return params

    def _on_error(self, reason: str) -> BlockingVerdict:
        if self.settings.on_error == "block":
            return BlockingVerdict(True, f"{reason}; blocking (on_error: block)")
        return BlockingVerdict(False, f"{reason}; allowing (on_error: allow)")

    def _scrubbed(self, text: str) -> str:
        # And of the proxy's credentials, which httpcore sends below the request's headers: a proxy
        # repeating its Proxy-Authorization line ("407 Refused Proxy-Authorization: Basic ...")
        # had them in the blocking reason, and so in the refusal of every restart it blocked.
        # A short secret only where it stands alone (logs.scrub_of): starred wherever it was, a
        # password `prod` made Alertmanager's reason quoting a filter read `env="***uction"`.
        return scrubbed(text, scrub_with_proxies(self._secrets))

    def _failed(self, reason: str) -> BlockingVerdict:
        verdict = self._on_error(self._scrubbed(reason))
        self._metrics.blocking_checks.labels("error_blocked" if verdict.blocked else "error_allowed").inc()
        self._remember(verdict)
        return verdict

    def _failed_logged(self, event: str, reason: str) -> BlockingVerdict:
        """A failed check, logged at error (once while its kind persists) and decided by on_error.
        Only a 400 and an answer of the wrong shape were logged: a 401, a 5xx or Alertmanager out
        of reach held every restart (`on_error: block`) with one `blocking_changed` warning and
        nothing at error, for hours (a probe, 2026-12-07)."""
        # Once per kind, not per wording: a transport failure's words change from check to check
        # (each timeout, each reset), and would have been logged every `cache_ttl`.
        self._log_problem(event, reason, key=event)
        return self._failed(reason)

    def _log_problem(self, event: str, problem: str, *, key: str | None = None) -> None:
        """Log a problem at error once while it persists: while `key` (the problem's words, by
        default) stays the last one logged."""
        problem = self._scrubbed(problem)[:300]  # scrubbed first: a cut could leave part of a secret
        key = key if key is not None else problem
        if key != self._logged_problem:
            log.error(event, problem=problem, on_error=self.settings.on_error,
                      note="logged once while it persists; watchdog_blocking_checks_total counts every check "
                           "(alert WatchdogBlockingCheckFailing)")
            self._logged_problem = key

    def _remember(self, verdict: BlockingVerdict) -> None:
        if self._verdict is None or verdict != self._verdict:
            log.warning("blocking_changed", blocked=verdict.blocked, reason=verdict.reason)
        self._verdict = verdict
        self._checked_at = self._clock()
