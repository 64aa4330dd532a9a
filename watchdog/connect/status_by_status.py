"""A self-managed cluster read status by status, when its expanded list cannot be read whole.

A Kafka Connect worker puts every FAILED instance's Java stack trace in the expanded list
(`GET /connectors?expand=status&expand=info`), uncut: tens of kilobytes a task, hundreds where a
JDBC sink chains every failed statement of a batch. The list of a cluster whose connectors fail
together (their database is down) then passes `api.max_response_bytes` exactly when restarts
are needed: 300 sinks of 4 tasks with traces of 16 KB made a 20 MB list, and every poll of the
cluster failed (`answer larger than 16777216 bytes`), nothing judged or restarted there until
someone raised the setting. Each connector's own status (`GET /connectors/{name}/status`, the
same ConnectorStateInfo the list expands) is small enough: the names are listed without `expand`
and each status read in turn, each answer under the same bound.

A worker before 2.3 (KIP-465) ignores `expand` and answers the names only (so does one behind a
proxy that drops the query): every poll of such a cluster failed, and it is read the same way.
So is a map whose every entry lacks its status (a gateway keeping one value per query key sends
`?expand=status&expand=info` on as `?expand=info`), from the names its keys give.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from ..model import ConnectorStatus, Outcome, Unusable
from .backend import MAX_MESSAGE_CHARS, ApiResult, Endpoint


def parse_names(max_listed: int) -> Callable[[Any], list[str]]:
    """`GET /connectors` without `expand`: an array of names, at most `max_listed` of them."""

    def parse(data: Any) -> list[str]:
        if not isinstance(data, list):
            raise ValueError("the list of names is not an array")
        if len(data) > max_listed:
            raise ValueError(f"the list holds {len(data)} connectors, more than api.max_listed_connectors "
                             f"({max_listed}); not read (raise the setting if the cluster has that many)")
        return [name for name in data if isinstance(name, str)]

    return parse


async def read_status_by_status(
    why: str,
    listed: ApiResult[list[str]],
    status: Callable[[str], Awaitable[ApiResult[ConnectorStatus]]],
) -> ApiResult[dict[str, ConnectorStatus]]:
    """The cluster's statuses from its names (`listed`: the answer that gave them) and each
    connector's status, one call at a time (the whole read holds one rate-limit permit, as the
    list call it stands for). `why`: why the list could not be read as asked, kept as the
    result's message. Every call counted, `listed`'s first.

    A connector whose status is answered 404 was deleted after the names were listed (or has no
    status yet): it is left out, as Kafka Connect's own expanded list leaves it out. One whose
    status alone is too large, or refused (400), is kept unusable (its health unknown, its
    neighbours judged). Any other failure fails the read: a part of the cluster would make the
    rest look deleted."""
    started = time.perf_counter() - listed.elapsed
    calls = list(listed.calls)
    if not listed.ok or listed.value is None:
        return _failed(listed, f"{why}; listing the names failed: {listed.message}", started, calls)
    statuses: dict[str, ConnectorStatus] = {}
    for name in listed.value:
        read = await status(name)
        calls += read.calls
        if read.outcome is Outcome.NOT_FOUND:
            continue
        if read.too_large or read.outcome is Outcome.REJECTED:
            # Its status alone too large, or refused (a 400: Kafka Connect 4.x answers a name
            # with `/`, `%` or `\` so): that connector's health is unknown, not its neighbours'.
            statuses[name] = ConnectorStatus(name=name, state="", unusable=Unusable.STATUS_NOT_READ)
            continue
        if not read.ok or read.value is None:
            return _failed(read, f"{why}; reading the status of {name!r} failed: {read.message}", started, calls)
        # The name listed is the one every other call addresses it by (entries.parse_entry).
        statuses[name] = replace(read.value, name=name)
    return ApiResult(Endpoint.LIST, Outcome.ACCEPTED, status_code=listed.status_code, request_id=listed.request_id,
                     headers=listed.headers, value=statuses, message=why[:MAX_MESSAGE_CHARS],
                     elapsed=time.perf_counter() - started, made=tuple(calls))


def _failed(
    result: ApiResult[Any], message: str, started: float, calls: list[tuple[Endpoint, int | None]]
) -> ApiResult[dict[str, ConnectorStatus]]:
    return ApiResult(Endpoint.LIST, result.outcome, status_code=result.status_code, request_id=result.request_id,
                     headers=result.headers, message=message[:MAX_MESSAGE_CHARS],
                     elapsed=time.perf_counter() - started, made=tuple(calls), between_leaders=result.between_leaders)
