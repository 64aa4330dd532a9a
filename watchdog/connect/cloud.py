"""Confluent Cloud's Connect API (connect/v1)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import httpx

from ..model import EVIDENCE_TASKS, ConnectorStatus, Outcome, evidence_text
from .answers import (
    GATEWAY_TIMEOUT,
    answer_fields,
    classify_status,
    empty_body,
    error_body_answer,
    error_in_body,
    error_instead_of_list,
    foreign_answer,
    html_page,
    not_sent_again,
    transport_failure,
)
from .backend import MAX_MESSAGE_CHARS, ApiResult, Endpoint
from .entries import CLOUD_NAMES_ONLY, parse_expanded_list
from .lenient_json import read_json
from .masking import upstream_text
from .paths import path_segment
from .statuses import parse_status
from .transfer import DEFAULT_LIMITS, NOT_RUN, CallLimits, ProxyRefused, fetch

T = TypeVar("T")

# The spec's own path for the expanded list: one call per cluster returns every connector's
# status and its lcc- id (the only documented way to learn the id).
LIST_EXPANSIONS = {"expand": "info,status,id"}
# Recommendations kept per restart (Confluent gives a few), each cut as failure evidence is.
MAX_RECOMMENDATIONS = EVIDENCE_TASKS
# The most an error-recommendations call may take, its answer included (api.timeouts.total if
# shorter): the endpoint answers at once when it is well, and a call that hung took up to 30 s of
# the key's lane before each restart, the polls of every cluster on the key waiting behind it.
RECOMMENDATIONS_SECONDS = 5.0


class ConfluentCloudBackend:
    kind = "confluent_cloud"

    def __init__(
        self, http: httpx.AsyncClient, environment_id: str, kafka_cluster_id: str, limits: CallLimits = DEFAULT_LIMITS
    ) -> None:
        self._http = http
        self._limits = limits
        self._prefix = (
            f"/connect/v1/environments/{path_segment(environment_id)}"
            f"/clusters/{path_segment(kafka_cluster_id)}/connectors"
        )

    async def list_connectors(self) -> ApiResult[dict[str, ConnectorStatus]]:
        return await self._call(Endpoint.LIST, "GET", self._prefix,
                                lambda data: _parse_list(data, self._limits.max_listed), params=LIST_EXPANSIONS)

    async def connector_status(self, connector: str) -> ApiResult[ConnectorStatus]:
        return await self._call(Endpoint.STATUS, "GET", f"{self._connector_path(connector)}/status", parse_status)

    async def restart(self, connector: str, *, only_failed: bool = True) -> ApiResult[Any]:
        # 202 Accepted with an empty body; the restart happens asynchronously. Confluent Cloud has
        # no includeTasks/onlyFailed (research notes §2.6): it restarts the connector and every task,
        # so it is not safe to send again once it may have reached the API (call_api's `repeatable`).
        return await call_api(self._http, self._limits, Endpoint.RESTART, "POST",
                              f"{self._connector_path(connector)}/restart", None, repeatable=False)

    async def error_recommendations(self, connector: str) -> ApiResult[list[str]]:
        # 400 when the connector has no stack trace yet (research notes §2.7): REJECTED, harmless.
        # Within RECOMMENDATIONS_SECONDS: evidence for a restart, asked before it on the key's
        # lane, must not hold the restart (and the calls behind it) for a whole call deadline.
        limits = replace(self._limits, total_seconds=min(self._limits.total_seconds, RECOMMENDATIONS_SECONDS))
        return await call_api(self._http, limits, Endpoint.ERROR_RECOMMENDATIONS, "GET",
                              f"{self._connector_path(connector)}/error-recommendations", _parse_recommendations)

    def _connector_path(self, connector: str) -> str:
        return f"{self._prefix}/{path_segment(connector)}"

    async def _call(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        parse: Callable[[Any], T] | None,
        params: dict[str, str] | None = None,
    ) -> ApiResult[T]:
        return await call_api(self._http, self._limits, endpoint, method, path, parse, params)


async def call_api(
    http: httpx.AsyncClient,
    limits: CallLimits,
    endpoint: Endpoint,
    method: str,
    path: str,
    parse: Callable[[Any], T] | None,
    params: dict[str, str] | None = None,
    *,
    repeatable: bool = True,
) -> ApiResult[T]:
    """One call to a Confluent Cloud API on `http`'s base URL, its answer classified and (for a
    2xx) parsed. Never raises for what the server or the network did.

    `repeatable` False (a restart): a call that may have reached the API and got no answer (a
    read timeout, a reset after the request went, the call's deadline), or that a gateway
    answered 504 (it gave up waiting for the API's answer), is `Outcome.UNCONFIRMED`: the queue
    does not send it again, and says that it may still run later and that a poll cannot show a
    RUNNING connector restarted (answers.NOT_SENT_AGAIN). Sent again, an endpoint that
    restarted the connector and then hung restarted it once per try (1 + max_retries times, found
    2026-12-05). A call the API cannot have run (transfer.NOT_RUN: it never left) is a network
    error, tried again."""
    started = time.perf_counter()
    try:
        answer = await fetch(http, method, path, limits, params=params)
    except httpx.HTTPError as exc:
        not_run = isinstance(exc, NOT_RUN)
        if not repeatable and not not_run:
            return ApiResult(endpoint, Outcome.UNCONFIRMED, elapsed=time.perf_counter() - started, message=not_sent_again(
                f"no answer ({transport_failure(exc)}) after the request may have reached the API"))
        return ApiResult(
            endpoint,
            Outcome.NETWORK_ERROR,
            message=transport_failure(exc)[:MAX_MESSAGE_CHARS],
            elapsed=time.perf_counter() - started,
            not_run=not_run,
            proxy_refused=(exc.proxy or "") if isinstance(exc, ProxyRefused) else None,
        )
    elapsed = time.perf_counter() - started
    response = answer.response
    common = answer_fields(response, elapsed)
    outcome = classify_status(response.status_code)
    if not repeatable and response.status_code == GATEWAY_TIMEOUT:
        # Assumed, not documented: a 504 is a gateway that stopped waiting for the API, which may
        # have restarted the connector meanwhile. Confluent documents 500 for its own failures;
        # its restart is asynchronous (a 202 at once), so a 500 says the restart was not taken,
        # and is tried again as every 5xx is.
        return ApiResult(endpoint, Outcome.UNCONFIRMED, message=not_sent_again(
            f"504 from a gateway: {answer.reason(limits)}; the API may have restarted it"), **common)
    page = html_page(response)
    if outcome is not Outcome.ACCEPTED:
        # So is an answer from a host a redirect took the call to without the key: its 403 or 404
        # says nothing of the key nor of the resource (an environment answered so was taken for
        # deleted, and its clusters dropped).
        return ApiResult(endpoint, outcome, message=answer.reason(limits),
                         foreign=page is not None or answer.keyless_host is not None,
                         cut_off=answer.cut_off is not None, **common)
    if page is not None:
        # Taken for a 202, a proxy's sign-in page was a restart "accepted" that never happened.
        failed = Outcome.UNCONFIRMED if parse is None else Outcome.SERVER_ERROR
        return ApiResult(endpoint, failed, message=foreign_answer(endpoint, response.status_code, page), **common)
    said = error_in_body(response) if parse is None and answer.complete else None
    if said is not None:
        # A restart's 2xx whose body says an error contradicts itself: counted accepted, it hid the
        # server's words; sent again, it might restart twice. The next poll judges.
        return ApiResult(endpoint, Outcome.UNCONFIRMED, message=error_body_answer(response.status_code, said), **common)
    if parse is None:
        # A restart's 2xx needs no body; one cut off after its status line is said so (transfer.py).
        message = answer.incomplete_message(limits) if answer.cut_off else ""
        return ApiResult(endpoint, outcome, message=message, **common)
    if not answer.complete:
        # A list we could not read whole decides nothing: a failed poll, counted as such.
        return ApiResult(endpoint, Outcome.SERVER_ERROR, message=answer.incomplete_message(limits), **common)
    empty = empty_body(response, endpoint)
    if empty is not None:  # what the server did, not what the JSON reader met (answers.empty_body)
        return ApiResult(endpoint, Outcome.SERVER_ERROR, message=empty, **common)
    try:
        data = read_json(response)
        said = error_instead_of_list(response, data) if endpoint is Endpoint.LIST else None
        if said is not None:  # the server's words, not a connector named `error`
            return ApiResult(endpoint, Outcome.SERVER_ERROR, message=said[:MAX_MESSAGE_CHARS], **common)
        value = parse(data)
    except ValueError as exc:
        # A 2xx we cannot read (invalid JSON, truncated body, wrong shape) is the server's
        # fault and worth a retry later, not a reason to believe anything about connectors.
        return ApiResult(endpoint, Outcome.SERVER_ERROR, message=answer.unreadable(exc), **common)
    return ApiResult(endpoint, outcome, value=value, **common)


def _parse_list(data: Any, max_listed: int) -> dict[str, ConnectorStatus]:
    # An array of names here is no old Kafka Connect worker (the default wording) but a request
    # whose `expand` did not arrive.
    return parse_expanded_list(data, CLOUD_NAMES_ONLY, max_listed=max_listed)


def _parse_recommendations(data: Any) -> list[str]:
    if not isinstance(data, dict):
        raise ValueError("recommendations are not an object")
    listed = data.get("recommendations")
    if listed is not None and not isinstance(listed, list):
        # Iterated, a number raised TypeError out of the restart job before its restart was sent
        # (the job ended network_error), and a string gave one recommendation per character.
        raise ValueError(f"recommendations is {type(listed).__name__}, not a list")
    # Kept in every history record of the restart, as the failure evidence is: bounded alike (an
    # answer of megabytes made megabyte history records, up to 200 per connector), and masked
    # alike, before the cut (advice quoting the connector's connection URL kept its password).
    texts = [str(text) for text in listed or [] if text]
    return [evidence_text(upstream_text(text)) for text in texts[:MAX_RECOMMENDATIONS]]
