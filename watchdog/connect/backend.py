"""The protocol every Connect backend implements, and the result every call returns."""

from __future__ import annotations

import base64
import codecs
import json
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

import httpx

from ..logs import redact_url_credentials, scrubbed
from ..model import (
    LONE_SURROGATE,
    UNSTORABLE_ESCAPE,
    ConnectorStatus,
    Outcome,
    TaskStatus,
    whole_unicode,
)
from ..ratelimit import RateLimitHeaders, parse_headers
from ..redirects import not_followed
from .proxy_auth import scrub_with_proxies

T = TypeVar("T")

MAX_MESSAGE_CHARS = 300
# What a message that explains itself keeps of the server's own words (error_body_answer).
MAX_ERROR_WORDS = 150
# No part of it can run past the next `<`, so a search is linear in the body: `<title>(.*?)</title>`
# scanned the rest of the body from every `<title>` it met, and an error page of 280 KB of
# `<title>` held the event loop (every poll, restart, probe and metric) for 74 s; 16 MB, for days.
_HTML_TITLE = re.compile(r"<title(?:\s[^<>]*)?>([^<]*)</title>", re.IGNORECASE)


class Endpoint(StrEnum):
    LIST = "list"
    STATUS = "status"
    RESTART = "restart"
    ERROR_RECOMMENDATIONS = "error_recommendations"
    METRICS_QUERY = "metrics_query"  # the Metrics API's POST /v2/metrics/cloud/query
    LIST_ENVIRONMENTS = "list_environments"  # discovery: GET /org/v2/environments
    LIST_CLUSTERS = "list_clusters"  # discovery: GET /cmk/v2/clusters?environment=...


@dataclass(frozen=True, slots=True)
class ApiResult(Generic[T]):
    endpoint: Endpoint
    outcome: Outcome  # ACCEPTED for any 2xx
    status_code: int | None = None  # None when no answer arrived
    request_id: str | None = None
    headers: RateLimitHeaders = RateLimitHeaders()
    message: str = ""
    value: T | None = None
    elapsed: float = 0.0
    # The answer was an HTML page (`html_page`: a proxy's or a gateway's), not the API's own: its
    # status says what the page's server thought, nothing about the resource.
    foreign: bool = False
    # An error answer whose body was cut off (transfer.fetch keeps its status): whose page it was
    # cannot be told, so it says nothing certain of the resource either.
    cut_off: bool = False
    # Every HTTP call this result took, each (endpoint, status code or None), where that is more
    # than the one `endpoint` and `status_code` describe (None): a self-managed call passed on to
    # the next worker, a restart a worker before 3.0 needed the status and each task's restart
    # for. Counted each (Gateway.call).
    made: tuple[tuple[Endpoint, int | None], ...] | None = None
    # Self-managed Kafka Connect said the request was not run because the cluster has no leader
    # it can reach (a follower's forward to a dead leader was refused) or is rebalancing (its
    # 409s): true only of such answers (kafka_connect.py), so never of Confluent Cloud's. The
    # queue tries such a restart again while a new leader is elected, without spending its
    # max_retries (queue/election.py).
    between_leaders: bool = False
    # A 2xx read whose body was larger than api.max_response_bytes (not cut off: whole, and too
    # large). Said of self-managed Kafka Connect's answers (kafka_connect.py), whose list is then
    # read status by status.
    too_large: bool = False
    # A 2xx list answered with an array of names, not the expanded map (entries.NamesOnly): a
    # self-managed worker before 2.3 ignores ?expand (kafka_connect.py reads it status by status).
    names_only: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    @property
    def status_class(self) -> str:
        return status_class(self.status_code)

    @property
    def calls(self) -> tuple[tuple[Endpoint, int | None], ...]:
        """Every HTTP call this result took (`made`)."""
        return ((self.endpoint, self.status_code),) if self.made is None else self.made


def status_class(status_code: int | None) -> str:
    """A bounded label for metrics (lane_metrics.API_STATUS_CLASSES): 2xx, 3xx (a redirect not
    followed), 4xx, 429, 5xx, or error when no answer came. A code past 599 is a 5xx, as
    classify_status judges it: as `6xx` or `9xx` it made series no table names."""
    if status_code is None:
        return "error"
    if status_code == 429:
        return "429"
    return f"{min(status_code // 100, 5)}xx"


class ConnectBackend(Protocol):
    """One cluster's Connect API. Implementations classify answers; they never retry or wait."""

    kind: str

    async def list_connectors(self) -> ApiResult[dict[str, ConnectorStatus]]:
        """Every connector of the cluster with its status, in one call."""

    async def connector_status(self, connector: str) -> ApiResult[ConnectorStatus]: ...

    async def restart(self, connector: str, *, only_failed: bool = True) -> ApiResult[Any]:
        """Restart the connector; `only_failed` restarts only its failed instances where the API
        can (Kafka Connect's onlyFailed); Confluent Cloud always restarts all of them."""

    async def error_recommendations(self, connector: str) -> ApiResult[list[str]]:
        """Advice on a failed connector, where the backend offers it (REJECTED where not)."""


def _lenient(error: UnicodeError) -> tuple[str, int]:
    """Bytes that are not UTF-8, read as halves of surrogate pairs (read_json makes each U+FFFD):
    a surrogate's own three bytes (CESU-8, Java's "modified UTF-8") as that one half, as Python's
    JSON reader takes them; any other byte as the half that stands for it (surrogateescape)."""
    try:
        text, end = codecs.lookup_error("surrogatepass")(error)
    except UnicodeError:
        text, end = codecs.lookup_error("surrogateescape")(error)
    return str(text), end  # decoding: always text


_LENIENT = "watchdog-lenient"
codecs.register_error(_LENIENT, _lenient)


def read_json(response: httpx.Response) -> Any:
    """The body as JSON; ValueError for any body that cannot be read as such. A body nested too
    deep (a 200 of 100,000 `[`) makes Python's reader raise RecursionError, which no caller's
    `except ValueError` took: the poll ended in a traceback, uncounted and unlogged, and /readyz
    stayed 503 for good.

    Every string value is text any store takes: JSON may escape half of a UTF-16 surrogate pair
    alone (`"\\ud83d"`, what a Java server writes for a message cut between an emoji's two
    halves), which Python reads into a str no encoder takes, and a NUL (`"\\u0000"`), which
    PostgreSQL's text refuses. Kept as they came, a restart answered 400 with such a half in its
    message crashed its job when its history record was written (the restart was never
    recorded), and a connector state holding either failed the whole cluster's poll (SQLite: a
    traceback; PostgreSQL: "could not record a connector's status", the store counted failing).
    Each becomes U+FFFD. Object keys are left as they came: a connector name holding one is no
    name the API can be addressed by, and is refused as such (model.connector_name_problem).

    Bytes that are not UTF-8 (a Latin-1 `é` in one connector's trace) are read as such halves
    (`_lenient`), then made U+FFFD alike: read strictly, one such byte failed every poll of its
    cluster ("'utf-8' codec can't decode byte 0xe9"), nothing of it judged."""
    content = response.content
    try:
        text = content.decode(json.detect_encoding(content), _LENIENT)
        data = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deep to read") from None
    if UNSTORABLE_ESCAPE.search(content) or LONE_SURROGATE.search(text):  # most answers have none
        data = whole_unicode(data)
    return data


# Confluent's request ids are UUIDs (36 characters); one far longer is no id but whatever the
# server (or a proxy) sent, and it goes into every log line of the call and the restart's history.
MAX_REQUEST_ID_CHARS = 128


def answer_fields(response: httpx.Response, elapsed: float) -> dict[str, Any]:
    """What every ApiResult of an answer carries, whatever its outcome: its status, request id,
    rate-limit headers and the call's time (cloud.call_api, worker_answers.answer_result)."""
    return {
        "status_code": response.status_code,
        "request_id": request_id(response),
        "headers": parse_headers(response.headers),
        "elapsed": elapsed,
    }


def request_id(response: httpx.Response) -> str | None:
    """The answer's X-Request-Id, cut to MAX_REQUEST_ID_CHARS, without the credentials the request
    carried (starred out before the cut): it is the server's text like an error message, and one
    that sent our Authorization header back as its request id put the key's Basic token into every
    api_call line, the history, /v1/history and `watchdog history`."""
    value = response.headers.get("x-request-id")
    if value is None:
        return None
    try:
        sent = response.request.headers
    except RuntimeError:  # a response made by hand, never sent
        sent = httpx.Headers()
    return without_credentials(value, sent)[:MAX_REQUEST_ID_CHARS]


def classify_status(code: int) -> Outcome:
    if 200 <= code < 300:
        return Outcome.ACCEPTED
    if code == 401:
        return Outcome.UNAUTHORIZED
    if code == 403:
        return Outcome.FORBIDDEN
    if code == 404:
        return Outcome.NOT_FOUND
    if code == 429:
        return Outcome.RATE_LIMITED
    if code >= 500 or code == 408:
        # 408 Request Timeout: the server (or a proxy before it) did not get the whole request
        # in time and did nothing with it; RFC 9110 15.5.9 lets the client send it again. As a
        # final `rejected`, one slow upload through a busy proxy cost a restart for good.
        return Outcome.SERVER_ERROR
    # 400 (PROVISIONING, PAUSED) and anything else a client cannot fix by asking again.
    return Outcome.REJECTED


def error_message(response: httpx.Response) -> str:
    """The server's reason, from any of the error shapes Confluent and Kafka Connect use.

    `{"error": {"code", "message"}}` (connect/v1 spec), `{"error_code", "message"}` (Kafka
    Connect and some Confluent answers), `{"errors": [{"detail"}]}` (other Confluent APIs, whose
    Error object has every field optional: then its `title`, `code` or `status`), RFC 7807's
    `{"title", "detail"}` (application/problem+json), `{"error": "text"}` and a bare JSON string
    (gateways), an empty body (429), or plain text. A redirect
    that ended the call says where it pointed and why it was not followed (redirects.py).
    """
    return _masked(response, _reason(response))


def _masked(response: httpx.Response, text: str) -> str:
    """The server's `text`, without the credentials its request carried, cut to MAX_MESSAGE_CHARS."""
    try:
        sent = response.request.headers
    except RuntimeError:  # a response made by hand, never sent
        sent = httpx.Headers()
    # Masked before the cut, like any URL's credentials in it (as the log would, but the history
    # and the restart API's answers keep the message too).
    return upstream_text(without_credentials(text, sent))[:MAX_MESSAGE_CHARS]


def error_in_body(response: httpx.Response) -> str | None:
    """The server's words when a restart's 2xx body is an error, None when it is not.

    An error is a body in application/problem+json, or a JSON object in one of the shapes
    `error_message` reads that is no Kafka Connect status (no `connector`): a non-null `error`,
    an `error_code`, a non-empty `errors`. Not an empty body (Confluent's 202), `{}`, nor
    `{"error": null}`, Confluent's own body of a 200 that did what was asked. Where the shape
    names nothing in words (`{"error": {"code": 500}}`), the body itself is said."""
    if not response.content:
        return None
    media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/problem+json":
        try:
            data = read_json(response)
        except ValueError:
            return None
        if not isinstance(data, dict) or "connector" in data:
            return None
        if data.get("error") in (None, "", {}) and data.get("error_code") is None and not data.get("errors"):
            return None
    said = error_message(response)
    if said == response.reason_phrase:
        said = _masked(response, response.text.strip())
    return said


def error_body_answer(status_code: int, said: str) -> str:
    """The message of a restart answered 2xx with an error in its body (`error_in_body`): the
    server's words first, where `watchdog history`'s column shows them, cut to leave the rest."""
    if len(said) > MAX_ERROR_WORDS:
        said = f"{said[:MAX_ERROR_WORDS]}..."
    return (f"answered {status_code} with an error in its body ({said}), not the API's acceptance: the restart may "
            "or may not have been made; not sent again: the next poll shows what became of it")[:MAX_MESSAGE_CHARS]


def transport_failure(exc: Exception) -> str:
    """`Type: message` of a call that got no usable answer, without the credentials its request
    carried. httpx quotes what came back when it is not HTTP (h11's `illegal status line:
    bytearray(b'...')`, `illegal header line: ...`), and a server that sent the request back put its
    Authorization header, the Basic token of the key and secret, into `api_call_failed`, the
    history and the restart API's answers."""
    try:
        sent = exc.request.headers  # type: ignore[attr-defined]
    except (RuntimeError, AttributeError):  # none built yet, or no httpx error (ssl.SSLError)
        sent = httpx.Headers()
    # What a timeout waited for, and how long, before its own words: the blocking client of
    # --daemon says only "timed out" (the socket's), and `watchdog status --daemon` against a
    # daemon that took the connection and never answered printed `ReadTimeout: timed out`.
    return upstream_text(without_credentials(f"{type(exc).__name__}: {_timed_out(exc) or str(exc)}", sent))


# What each of httpx's timeouts waited for, by the key of the request's `timeout` extension.
_TIMEOUTS: tuple[tuple[type[httpx.TimeoutException], str, str], ...] = (
    (httpx.ConnectTimeout, "connect", "no connection made"),
    (httpx.ReadTimeout, "read", "nothing read"),
    (httpx.WriteTimeout, "write", "the request not written whole"),
    (httpx.PoolTimeout, "pool", "no pooled connection free"),
)


def _timed_out(exc: Exception) -> str:
    """What a timeout with no words of its own waited for, and how long. httpx's ReadTimeout
    says nothing (`str()` is empty): a restart's history and log lines said `ReadTimeout: `."""
    for kind, key, what in _TIMEOUTS:
        if isinstance(exc, kind):
            try:
                seconds = exc.request.extensions["timeout"][key]
            except (RuntimeError, KeyError, TypeError):  # no request, or none of that timeout
                seconds = None
            waited = f" ({seconds:g}s)" if isinstance(seconds, (int, float)) else ""
            return f"{what} within the {key} timeout{waited}"
    return ""


def _reason(response: httpx.Response) -> str:
    if 300 <= response.status_code < 400:
        return not_followed(response)
    text = ""
    try:
        data: Any = read_json(response)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
        elif isinstance(data.get("message"), str):
            text = data["message"]
        elif isinstance(data.get("errors"), list):
            text = "; ".join(filter(None, (_error_entry(e) for e in data["errors"])))
        if not text:
            # RFC 7807's application/problem+json (a gateway's): `detail` says this occurrence,
            # `title` the kind. Left unread, a refusal so worded was recorded as its reason
            # phrase alone (`Bad Request`), the server's explanation read by no one.
            text = next((data[f] for f in ("detail", "title") if isinstance(data.get(f), str)
                         and data[f].strip()), "")
    elif isinstance(data, str):
        text = data
    if not text and data is None:
        text = response.text.strip()
        # An HTML error page (Jetty's, a proxy's): its title says it, the markup does not help.
        title = _HTML_TITLE.search(text)
        if title is not None:
            text = title.group(1).strip()
    return text.strip() or response.reason_phrase or ""


def html_page(response: httpx.Response) -> str | None:
    """What a 2xx answer is when its body is an HTML page (a proxy's sign-in or block page, a web
    UI answering every path), not the API's answer: `an HTML page ('Sign in')`; None otherwise.
    Neither Confluent nor Kafka Connect answers with HTML."""
    head = response.content[:256].lstrip().lower()
    if not head.startswith(b"<"):
        return None  # an empty body (Confluent's 202, whatever its Content-Type), JSON, text
    media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "text/html" and not head.startswith((b"<!doctype html", b"<html")):
        return None
    title = _HTML_TITLE.search(response.text)
    # Starred out as in error_message: a page that echoes what it was sent holds the key.
    named = without_credentials(title.group(1).strip(), response.request.headers)[:100] if title is not None else ""
    return f"an HTML page ({named!r})" if named else "an HTML page"


def foreign_answer(endpoint: Endpoint, status_code: int, page: str) -> str:
    """The message for a 2xx that is not the API's answer (`html_page`)."""
    if endpoint is Endpoint.RESTART:
        return (f"answered {status_code} with {page}, not the API's answer (a proxy's page?): the restart may not "
                "have reached the API; not sent again: the next poll shows what became of it")[:MAX_MESSAGE_CHARS]
    return f"answered {status_code} with {page}, not the API's answer (a proxy's page?)"[:MAX_MESSAGE_CHARS]


def without_credentials(text: str, sent: httpx.Headers) -> str:
    """`text` with the credentials a request carried (its headers: `sent`) starred out. A server's reason is its own
    text, and one that echoes what it was sent (`Invalid credentials: key:secret`) put the
    secret into `api_call_failed`, `restart_finished` and the state file's history; the secret
    is known here from the request's own Authorization header (Basic: the decoded pair, its
    password and its user, and the encoded token; any other scheme: its token). The user is an
    API key's id (or a Kafka Connect worker's basic-auth user), kept as a secret like its
    password: `Invalid API key KEYID` put it in every poll_failed line and restart API answer.
    The user is starred only where it stands alone: a worker's user named `connect` must not
    turn `org.apache.kafka.connect` or `connector` into stars."""
    scheme, _, token = sent.get("authorization", "").partition(" ")
    secrets = [token.strip()]
    users = []
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(token.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            pair = ""
        user, _, password = pair.partition(":")
        secrets += [pair, password]
        users.append(user)
    # And the proxy's, which httpcore sends below these headers (proxy_auth.py).
    return scrubbed(text, scrub_with_proxies(secrets, users))


def _error_entry(entry: Any) -> str:
    """One entry of an `errors` list: its most telling field that is set."""
    if not isinstance(entry, dict):
        return ""
    for field in ("detail", "title", "code", "status"):
        value = entry.get(field)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""


class TasksNotList(ValueError):
    """A status whose `tasks` is neither a list nor null."""


def upstream_text(value: Any) -> str:
    """A message or trace from upstream (a connector's status, an error's reason), without the
    credentials of any URL in it (`jdbc:postgresql://etl:pw@db/...`: a connector's error often
    quotes its connection URL). Masked here, as it arrives: the log masked them, but the history
    (state file, GET /v1/history, `watchdog history`) kept them, and a trace cut short for the
    log before the `@` kept part of the password in the log too."""
    text = str(value or "")
    return redact_url_credentials(text)


# No state any API reports comes near this (USER_ACTIONABLE_ERROR has 21 characters). A state is
# said whole wherever its connector is (each poll's decision line, `unknown_state`, the state
# file's last seen state, GET /v1/connectors, the restart's evidence), and a state of a megabyte
# made log lines of megabytes at every poll, which log shippers drop or split.
MAX_STATE_CHARS = 64


def bounded_state(value: str) -> str:
    """A state from upstream, cut to MAX_STATE_CHARS with a note of its length. A state cut so
    was longer than any known one, and the note keeps its cut from reading as one."""
    if len(value) <= MAX_STATE_CHARS:
        return value
    return f"{value[:MAX_STATE_CHARS]}... ({len(value)} characters)"


def parse_status(data: Any, resource_id: str | None = None) -> ConnectorStatus:
    """A status object, read leniently: unknown fields and unknown states are kept or ignored."""
    if not isinstance(data, dict):
        raise ValueError("status is not an object")
    connector = data.get("connector")
    if not isinstance(connector, dict) or not isinstance(connector.get("state"), str):
        raise ValueError("status has no connector.state")
    listed = data.get("tasks")
    if listed is not None and not isinstance(listed, list):
        # Not iterated: a number raised TypeError past every reader's `except ValueError` (the
        # whole cluster's poll crashed, and a restart answered 202 ended `network_error`), and a
        # map or a string read as "no tasks", which a RUNNING connector turns into healthy.
        raise TasksNotList(f"status tasks is {type(listed).__name__}, not a list")
    tasks: list[TaskStatus] = []
    for task in listed or []:
        if not isinstance(task, dict):
            task = {}
        try:
            task_id = int(task.get("id", len(tasks)))
        except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 reads as inf
            task_id = len(tasks)
        # A task whose state cannot be read (null, missing, an object, an entry that is no
        # object) is kept with the empty state, one no API reports: its connector is `transient`
        # and the state is said (unknown_state), as for a state added tomorrow. Left out, a
        # RUNNING connector whose every task was so was judged healthy, unsaid.
        state = task.get("state")
        tasks.append(
            TaskStatus(
                id=task_id,
                state=bounded_state(state) if isinstance(state, str) else "",
                msg=upstream_text(task.get("msg")),
                trace=upstream_text(task.get("trace")),
            )
        )
    validation_errors = data.get("validation_errors")
    return ConnectorStatus(
        name=str(data.get("name") or ""),
        state=bounded_state(connector["state"]),
        type=str(data.get("type") or "unknown"),
        trace=upstream_text(connector.get("trace")),
        tasks=tuple(tasks),
        resource_id=resource_id,
        validation_errors=tuple(
            upstream_text(e) for e in (validation_errors if isinstance(validation_errors, list) else []) if e
        ),
    )


def restart_answer(data: Any) -> ConnectorStatus:
    """A restart's answer body (Kafka Connect's 202): which instances it restarts, their states
    only. A worker sends each failed instance's trace along, uncut (tens of kilobytes a task),
    and the answer stays with its job: kept whole, a daemon's finished jobs held 87 KB of traces
    per restart of a connector with four failed tasks, 20,000 jobs deep. The traces are in the
    failure evidence already, cut (model.evidence_text)."""
    status = parse_status(data)
    tasks = tuple(TaskStatus(id=task.id, state=task.state) for task in status.tasks)
    return replace(status, trace="", tasks=tasks, validation_errors=())


def describe_answer(status_code: int | None, status: ConnectorStatus) -> str:
    """One line for a restart's answer body: what the API says it is restarting.

    `202: connector RUNNING; tasks 0 RESTARTING, 1 RUNNING`
    """
    # Sorted: a real worker lists tasks in no particular order.
    ordered = sorted(status.tasks, key=lambda t: t.id)
    tasks = ", ".join(f"{task.id} {task.state}" for task in ordered) or "none"
    line = f"{status_code}: connector {status.state}; tasks {tasks}"
    if len(line) > MAX_MESSAGE_CHARS:
        # Cut as it was, one task of 50 restarting was named past the cut (tasks 0 to 22
        # RUNNING, then nothing): the instances not RUNNING are what the answer says it restarts.
        running = sum(1 for task in ordered if task.state == "RUNNING")
        others = ", ".join(f"{task.id} {task.state}" for task in ordered if task.state != "RUNNING")
        tasks = f"{others}, and {running} more RUNNING" if others else f"all {running} RUNNING"
        line = f"{status_code}: connector {status.state}; tasks {tasks}"
    return line[:MAX_MESSAGE_CHARS]
