"""Self-managed Apache Kafka Connect's REST API (research note §4), as a second backend.

A cluster is reached through one or more worker URLs (`http://worker:8083`, or a prefix such as
`http://127.0.0.1:8080/kafka-connect/onprem` for the simulator). Every worker serves every call:
reads are answered from the worker's own view of the cluster's status and writes are forwarded
to the leader, so when one worker cannot be reached another will do. The worker that answered
last is asked first next time, so a dead worker costs one failed connection, not one per call.

Falling over to the next worker after a network error is safe call by call:

- list and status are reads;
- the restart sends `includeTasks=true&onlyFailed=true` (KIP-745): if the first worker did pass
  it on before the connection broke, the repeat selects only the instances still FAILED, so
  nothing that was restarted is restarted again (at worst a task that failed anew in between
  is restarted, which is what was wanted);
- a restart of every instance (`only_failed=False`) is not safe to repeat, so it only falls
  over when the connection was never made (the request cannot have reached any worker).

Answers: 202 with the connector's status (instances being restarted show RESTARTING) is
accepted and carries that status in `ApiResult.value`; 204 and 200 (a restart without flags,
by version) are accepted too. 409 is `Outcome.CONFLICT` (a rebalance is under way: retry after
a short wait); other codes are classified as for Confluent Cloud. Errors come as
`{"error_code": N, "message": "..."}`, or as plain text from the basic-auth extension.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx

from ..model import ConnectorStatus, Outcome
from ..ratelimit import parse_headers
from .backend import (
    MAX_MESSAGE_CHARS,
    ApiResult,
    Endpoint,
    classify_status,
    error_message,
    parse_status,
)
from .paths import path_segment
from .transfer import DEFAULT_LIMITS, Answer, CallLimits, fetch

T = TypeVar("T")

# Kafka Connect reads each `expand` value whole ("status,info" would be one unknown expansion),
# so the two expansions go as repeated parameters.
LIST_EXPANSIONS = (("expand", "status"), ("expand", "info"))
# Errors that prove the request never left: the connection (or a pooled one) was not obtained.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class KafkaConnectBackend:
    kind = "kafka_connect"

    def __init__(self, http: httpx.AsyncClient, urls: Sequence[str], limits: CallLimits = DEFAULT_LIMITS) -> None:
        if not urls:
            raise ValueError("a Kafka Connect cluster needs at least one worker URL")
        for url in urls:
            if not httpx.URL(url).is_absolute_url:
                raise ValueError(f"worker URL {url!r} is not absolute (http://host:port[/prefix])")
        self._http = http
        self._limits = limits
        self._urls = [url.rstrip("/") for url in urls]
        self._preferred = 0  # the worker that answered last

    async def list_connectors(self) -> ApiResult[dict[str, ConnectorStatus]]:
        return await self._call(Endpoint.LIST, "GET", "/connectors", _parse_expanded_list, params=LIST_EXPANSIONS)

    async def connector_status(self, connector: str) -> ApiResult[ConnectorStatus]:
        return await self._call(Endpoint.STATUS, "GET", f"{_connector_path(connector)}/status", parse_status)

    async def restart(self, connector: str, *, only_failed: bool = True) -> ApiResult[Any]:
        """Restart what failed (default), or the connector and every task (`only_failed=False`,
        the only way to restart a connector that is RUNNING but stalled).

        `value` is the ConnectorStatus of a 202 (None after a 204 or 200).
        """
        params = (("includeTasks", "true"), ("onlyFailed", "true" if only_failed else "false"))
        return await self._call(
            Endpoint.RESTART,
            "POST",
            f"{_connector_path(connector)}/restart",
            parse_status,
            params=params,
            repeatable=only_failed,
            body_optional=True,
        )

    async def error_recommendations(self, connector: str) -> ApiResult[list[str]]:
        """Kafka Connect has no such advice: nothing is sent, and the answer says so."""
        return ApiResult(Endpoint.ERROR_RECOMMENDATIONS, Outcome.REJECTED,
                         message="self-managed Kafka Connect offers no error recommendations")

    async def _call(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: Sequence[tuple[str, str]] = (),
        repeatable: bool = True,
        body_optional: bool = False,
    ) -> ApiResult[T]:
        """Ask the workers in turn, from the one that answered last, until one answers.

        `repeatable`: the call may be sent again after a network error that may have happened
        after the request left. `body_optional`: a 2xx without a readable body is still
        accepted (a restart answered 204, or a 202 whose body was cut short: the restart was
        accepted either way).
        """
        started = time.perf_counter()
        failures: list[str] = []
        count = len(self._urls)
        for attempt in range(count):
            index = (self._preferred + attempt) % count
            try:
                answer = await fetch(self._http, method, f"{self._urls[index]}{path}", self._limits, params=list(params))
            except httpx.HTTPError as exc:
                failures.append(f"{self._urls[index]}: {type(exc).__name__}: {exc}")
                if repeatable or isinstance(exc, _NEVER_SENT):
                    continue
                break
            self._preferred = index
            return _result(endpoint, answer, self._limits, parse, body_optional, time.perf_counter() - started)
        return ApiResult(
            endpoint,
            Outcome.NETWORK_ERROR,
            message="; ".join(failures)[:MAX_MESSAGE_CHARS],
            elapsed=time.perf_counter() - started,
        )


def _result(
    endpoint: Endpoint, answer: Answer, limits: CallLimits, parse: Callable[[Any], T], body_optional: bool, elapsed: float
) -> ApiResult[T]:
    response = answer.response
    common: dict[str, Any] = {
        "status_code": response.status_code,
        "request_id": response.headers.get("x-request-id"),
        "headers": parse_headers(response.headers),
        "elapsed": elapsed,
    }
    outcome = Outcome.CONFLICT if response.status_code == 409 else classify_status(response.status_code)
    if outcome is not Outcome.ACCEPTED:
        return ApiResult(endpoint, outcome, message=error_message(response), **common)
    if body_optional and not response.content:
        return ApiResult(endpoint, outcome, **common)
    if not answer.complete:
        message = answer.too_large_message(limits)
        if body_optional:  # a restart accepted with a body too large to read is still accepted
            return ApiResult(endpoint, outcome, message=message, **common)
        return ApiResult(endpoint, Outcome.SERVER_ERROR, message=message, **common)
    try:
        value = parse(response.json())
    except ValueError as exc:
        message = f"unreadable response: {exc}"[:MAX_MESSAGE_CHARS]
        if body_optional:
            return ApiResult(endpoint, outcome, message=message, **common)
        # A 2xx read we cannot read is the server's fault and worth a retry later.
        return ApiResult(endpoint, Outcome.SERVER_ERROR, message=message, **common)
    return ApiResult(endpoint, outcome, value=value, **common)


def _connector_path(connector: str) -> str:
    return f"/connectors/{path_segment(connector)}"


def _parse_expanded_list(data: Any) -> dict[str, ConnectorStatus]:
    if not isinstance(data, dict):
        raise ValueError("expanded list is not an object")
    # A connector deleted mid-request is left out by the worker or comes without its status.
    return {
        name: parse_status(entry["status"])
        for name, entry in data.items()
        if isinstance(entry, dict) and "status" in entry
    }
