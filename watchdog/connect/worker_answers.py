"""How a Kafka Connect worker's answer is read: the result of one call (answer_result), and the
answers that say something of the cluster rather than of the call: a 409 while the group
rebalances (rebalancing), a 500 for a request the worker could not pass on to the leader
(forward_never_connected), a 404 from a worker that does not serve Connect yet (not_serving),
and whether an answer is Connect's own error body at all (connect_error).
Split from kafka_connect.py (534 lines), which asks the workers and decides what to do with these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from ..model import Outcome
from .answers import (
    answer_fields,
    classify_status,
    empty_body,
    error_body_answer,
    error_in_body,
    error_instead_of_list,
    foreign_answer,
    html_page,
)
from .backend import MAX_MESSAGE_CHARS, ApiResult, Endpoint
from .entries import NamesOnly
from .lenient_json import read_json
from .transfer import Answer, CallLimits

T = TypeVar("T")

# How Kafka Connect's RestClient begins a 500 for a forward that failed (0.10 to 4.x), and the
# exceptions Java throws only while connecting (refused, no route, unknown host): such a forward
# never reached the leader (forward_never_connected). A timeout or a reset is not among them.
_FORWARD_FAILED = "IO Error trying to forward REST request: "
_CONNECTING_FAILED = ("java.net.ConnectException", "java.net.NoRouteToHostException", "java.net.UnknownHostException")


def forward_never_connected(answer: Answer) -> bool:
    """Kafka Connect's 500 for a request the worker passed on to the leader (or to the worker
    running the connector) and could not connect to: its RestClient says "IO Error trying to
    forward REST request: " and the exception, and these exceptions are thrown while connecting,
    before anything was written. The worker that answered runs nothing itself (it forwards
    because it is not the leader: DistributedHerder's NotLeaderException), so the request was not
    run anywhere, whatever the call. Observed on 4.3.1 and 3.4.1 for about 6 s after the leader
    was killed with `kill -9` (until the group noticed and elected another; 10 s and more with
    the default session.timeout.ms): taken for a 500 after the leader may have taken it, a
    restart of every instance asked in that time ended `unconfirmed` ("the worker may have run
    it") at its first answer, never sent again, and no restart was made."""
    data = connect_error(answer, 500)
    message = data.get("message") if data is not None else None
    if not isinstance(message, str) or not message.startswith(_FORWARD_FAILED):
        return False
    return message.removeprefix(_FORWARD_FAILED).startswith(_CONNECTING_FAILED)


def rebalancing(answer: Answer) -> bool:
    """Kafka Connect's own 409 (its error body, `{"error_code": 409, ...}`): HerderRequestHandler
    answers it when the worker knows no leader ("no known leader URL, likely because a rebalance
    was underway"), when the worker it forwarded to was not the leader either ("a conflicting
    operation (e.g. worker rebalance)"), or when its herder must rebalance first ("stale
    configuration"); DistributedHerder checks that before it runs a restart. Nothing was run: it
    is what a cluster answers for a while as the group settles on a new leader. A proxy's 409 (no
    such body) stays a plain conflict."""
    return connect_error(answer, 409) is not None


def connect_error(answer: Answer, status: int) -> dict[str, Any] | None:
    """Kafka Connect's own error body (`{"error_code": status, "message": ...}`) of an answer of
    that status, read whole; None for any other answer (a proxy's page, a body cut off)."""
    response = answer.response
    if response.status_code != status or answer.cut_off is not None:
        return None
    try:
        data = read_json(response)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("error_code") == status else None


def not_serving(answer: Answer) -> bool:
    """A 404 that is not Kafka Connect's own error body (`{"error_code": 404, ...}`): the worker's
    web server is up but Connect's resources are not registered yet (or a proxy answered)."""
    response = answer.response
    if response.status_code != 404:
        return False
    if answer.cut_off is not None and _media_type(response) == "application/json":
        # Its body failed after the status line (cut off, reset, undecodable, trickling past the
        # deadline), so it cannot be read; but a starting worker's page is Jetty's HTML, and JSON
        # is Connect's own answer. Taken for a worker that does not serve, a restart of a
        # connector deleted meanwhile was sent four times and ended server_error, saying so.
        return False
    try:
        data = read_json(response)
    except ValueError:
        return True
    return not (isinstance(data, dict) and "error_code" in data)


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()


def answer_result(
    endpoint: Endpoint, answer: Answer, limits: CallLimits, parse: Callable[[Any], T], body_optional: bool, elapsed: float
) -> ApiResult[T]:
    response = answer.response
    common = answer_fields(response, elapsed)
    outcome = Outcome.CONFLICT if response.status_code == 409 else classify_status(response.status_code)
    if outcome is not Outcome.ACCEPTED:
        return ApiResult(endpoint, outcome, message=answer.reason(limits), **common)
    page = html_page(response)
    if page is not None:
        # A restart answered 200 with a proxy's page was taken for a worker before 3.0 that had
        # restarted the connector instance, and its tasks were then "restarted one by one".
        failed = Outcome.UNCONFIRMED if body_optional else Outcome.SERVER_ERROR
        return ApiResult(endpoint, failed, message=foreign_answer(endpoint, response.status_code, page), **common)
    if not answer.complete:
        message = answer.incomplete_message(limits)
        if body_optional:  # a restart accepted with a body too large to read (or cut off) is still accepted
            return ApiResult(endpoint, outcome, message=message, **common)
        return ApiResult(endpoint, Outcome.SERVER_ERROR, message=message, too_large=answer.cut_off is None and answer.undecodable is None,
                         **common)
    said = error_in_body(response) if body_optional else None
    if said is not None:
        # A restart's 2xx whose body is an error, not a status: taken for a worker before 3.0
        # (a 200 without a status), each task was then restarted by id as well (cloud.py alike).
        return ApiResult(endpoint, Outcome.UNCONFIRMED, message=error_body_answer(response.status_code, said), **common)
    if body_optional and not response.content:
        return ApiResult(endpoint, outcome, **common)
    empty = empty_body(response, endpoint) if not body_optional else None
    if empty is not None:  # what the worker (or a proxy) did, not what the JSON reader met
        return ApiResult(endpoint, Outcome.SERVER_ERROR, message=empty, **common)
    try:
        data = read_json(response)
        said = error_instead_of_list(response, data) if endpoint is Endpoint.LIST else None
        if said is not None:  # the worker's (or a proxy's) words, not a connector named `error`
            return ApiResult(endpoint, Outcome.SERVER_ERROR, message=said[:MAX_MESSAGE_CHARS], **common)
        value = parse(data)
    except ValueError as exc:
        message = answer.unreadable(exc)
        if body_optional:
            return ApiResult(endpoint, outcome, message=message, **common)
        # A 2xx read we cannot read is the server's fault and worth a retry later.
        return ApiResult(endpoint, Outcome.SERVER_ERROR, message=message, names_only=isinstance(exc, NamesOnly),
                         **common)
    return ApiResult(endpoint, outcome, value=value, **common)
