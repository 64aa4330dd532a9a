"""What an answer of an upstream API says, whichever backend asked: its outcome
(`classify_status`), the fields every result of it carries (`answer_fields`, `request_id`), the
server's reason for an error (`error_message`, `error_in_body`, `error_instead_of_list`), a 2xx page that is not the API's
(`html_page`), and why a call got no answer at all (`transport_failure`)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from ..model import Outcome
from ..ratelimit import parse_headers
from ..redirects import not_followed
from .backend import MAX_MESSAGE_CHARS, Endpoint
from .lenient_json import read_json
from .masking import upstream_text, without_credentials

# What a message that explains itself keeps of the server's own words (error_body_answer).
MAX_ERROR_WORDS = 150
# How a restart that may have been made, and is not sent again, ends its message. It said "the
# next poll shows what became of it", but a hung server runs what it had read once it resumes,
# minutes later (a SIGSTOPped Kafka Connect worker ran such a restart 1 min 42 s after it was
# asked, after the daemon had given up on the connector), and a poll cannot tell a RUNNING
# connector that was restarted from one that was not.
NOT_SENT_AGAIN = ("not sent again; it may still run later (a hung server runs it once it resumes). A poll cannot "
                  "show a restart of a RUNNING connector: `watchdog status` shows its state now")
# The same for a self-managed worker, whose own log says when it ran it.
WORKER_NOT_SENT_AGAIN = ("not sent again; the worker may still run it later (a hung one does once it resumes; its log "
                         "says when). A poll cannot show a restart of a RUNNING connector: `watchdog status` "
                         "shows its state now")


def not_sent_again(what: str, end: str = NOT_SENT_AGAIN) -> str:
    """`what` happened, then `end` whole, in MAX_MESSAGE_CHARS: `what` is cut to make room (a
    long URL or page title cut off what the reader should do next)."""
    room = MAX_MESSAGE_CHARS - len(end) - 2
    if len(what) > room:
        what = what[:room - 3] + "..."
    return f"{what}; {end}"
# A gateway that stopped waiting for the answer (cloud.call_api).
GATEWAY_TIMEOUT = 504
# No part of it can run past the next `<`, so a search is linear in the body: `<title>(.*?)</title>`
# scanned the rest of the body from every `<title>` it met, and an error page of 280 KB of
# `<title>` held the event loop (every poll, restart, probe and metric) for 74 s; 16 MB, for days.
_HTML_TITLE = re.compile(r"<title(?:\s[^<>]*)?>([^<]*)</title>", re.IGNORECASE)


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
    if _media_type(response) != "application/problem+json":
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


# The fields of the error shapes `error_message` reads, and those only an error object has.
_ERROR_FIELDS = frozenset({"error", "errors", "error_code", "message", "code", "status", "title", "detail",
                           "type", "instance"})
_ERROR_MARKS = ("error", "errors", "error_code")
# RFC 7807's problem details (application/problem+json): a map of only these fields, one of them
# `title` or `detail` (the words), is a problem, whatever its media type says (a gateway may label
# it application/json).
_PROBLEM_FIELDS = frozenset({"type", "title", "status", "detail", "instance"})
_PROBLEM_WORDS = ("title", "detail")


def error_instead_of_list(response: httpx.Response, data: Any) -> str | None:
    """Why a list call's 2xx body `data` is an error object, not the map of connectors: None when
    it is not. Read as a map, `{"error": {"code": 500, "message": "Internal error"}}` was one
    connector named `error` that could not be read (`status_missing`), the poll failed as "the
    answer held 1 entries and none could be read", and the server's words were said nowhere. An
    error object: a map whose every key is a field of the error shapes, one of them `error`,
    `errors` or `error_code` (`{"error": null}` too: no listing says so), and none of whose values
    is a connector's entry (a connector may be named `error`). So is an RFC 7807 problem: a body
    in application/problem+json, or a map of only its fields with a `title` or `detail`; read as a
    map, it was four connectors named `type`, `title`, `status`, `detail` that could not be read,
    and the server's words ("in maintenance until 14:00 UTC") were said nowhere."""
    if not isinstance(data, dict) or not data or any(_connector_entry(v) for v in data.values()):
        return None
    problem = _media_type(response) == "application/problem+json" or (
        data.keys() <= _PROBLEM_FIELDS and any(word in data for word in _PROBLEM_WORDS))
    if not problem and (not data.keys() <= _ERROR_FIELDS or not any(mark in data for mark in _ERROR_MARKS)):
        return None
    said = error_message(response)
    if said == response.reason_phrase:  # no words of its own: the body says what it is
        said = _masked(response, response.text.strip())
    if len(said) > MAX_ERROR_WORDS:
        said = f"{said[:MAX_ERROR_WORDS]}..."
    return f"answered {response.status_code} with an error in its body ({said}), not a list of connectors"


def empty_body(response: httpx.Response, endpoint: Endpoint) -> str | None:
    """Why a 2xx that must carry the API's answer (a list, a status, a Metrics API page) is none:
    its body is empty (or blank); None when it is not. A gateway or load balancer answering 200
    with no body was said only as `unreadable response: Expecting value: line 1 column 1 (char
    0)`, which did not say what the server did. Its Content-Type is said, as the server sent it
    (starred of our credentials, cut): a proxy's `text/plain` points at the proxy."""
    if response.content.strip():
        return None
    kind = response.headers.get("content-type", "").strip()[:100] or "none"
    expected = "a list of connectors" if endpoint is Endpoint.LIST else "the API's answer"
    return _masked(response, f"answered {response.status_code} with an empty body (Content-Type: {kind}), "
                             f"not {expected}")


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()


def _connector_entry(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(value.get(k), dict) for k in ("status", "info", "id"))


def error_body_answer(status_code: int, said: str) -> str:
    """The message of a restart answered 2xx with an error in its body (`error_in_body`): the
    server's words first, where `watchdog history`'s column shows them, cut to leave the rest."""
    if len(said) > MAX_ERROR_WORDS:
        said = f"{said[:MAX_ERROR_WORDS]}..."
    return not_sent_again(f"answered {status_code} with an error in its body ({said}), not the API's acceptance: the "
                          "restart may or may not have been made")


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
        return not_sent_again(f"answered {status_code} with {page}, not the API's answer (a proxy's page?): the "
                              "restart may not have reached the API")
    return f"answered {status_code} with {page}, not the API's answer (a proxy's page?)"[:MAX_MESSAGE_CHARS]


def _error_entry(entry: Any) -> str:
    """One entry of an `errors` list: its most telling field that is set."""
    if not isinstance(entry, dict):
        return ""
    for field in ("detail", "title", "code", "status"):
        value = entry.get(field)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""
