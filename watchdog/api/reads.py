"""What the API serves to read: the connectors' rows (GET /v1/connectors, one reading of a query
shared by the readers that come at once) and the restart history (GET /v1/history)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..api_input import BadRequest
from ..model import MAX_HISTORY_SERVED, connector_name_problem
from ..report import RowQuery
from .context import ApiContext
from .refusals import leader_only, unknown_cluster


class _Written(JSONResponse):
    """An answer whose JSON is already written out (shared by several requests)."""

    def render(self, content: Any) -> bytes:
        assert isinstance(content, bytes)
        return content


def connectors() -> Callable[[ApiContext, Request], Awaitable[JSONResponse]]:
    """GET /v1/connectors[?cluster=C][&problems=true][&gone=false]: the connectors' rows, read and
    built in steps that let the event loop go (row_reading.py), then written out (report/row_select.py:
    of the rows of deleted connectors and of clusters no longer watched, the newest
    GONE_ROWS_LISTED, the rest counted in `left_out`). Readers of one query that come while its
    reading is awaited share it (it is read after they came): each one read in turn, 8 readers at
    once (`watchdog status --daemon` in several terminals during an incident) held /healthz, the
    webhook and the lease 4.1 s. One reading at a time: readers that come during one share the
    next, rather than each starting its own beside it."""
    next_reading: dict[RowQuery, asyncio.Future[tuple[bytes, int]]] = {}
    one_at_a_time = asyncio.Lock()

    async def reading(ctx: ApiContext, query: RowQuery) -> tuple[bytes, int]:
        async with one_at_a_time:
            del next_reading[query]  # begun: a reader that comes from now on waits for the next one
            rows = await ctx.connectors(query)  # in steps: the loop runs others between them (row_reading.py)
            return bytes(JSONResponse({**rows, "polls_failing": ctx.polls_failing(), "polls_paused": ctx.polls_paused(),
                                       "state_store": ctx.state_problem() or "ok",
                                       "config_reload": ctx.config_reload()}).body), rows["rows_selected"]

    async def connectors(ctx: ApiContext, request: Request) -> JSONResponse:
        # The leader's live view (its polls, its discovery): a standby polls and discovers nothing,
        # so its rows showed a discovered cluster's environment as null and health as of its start.
        # Its 503 sends the reader (and `watchdog status --daemon` through a Service) to the leader.
        leader_only(ctx, read=True)
        query = _row_query(request.query_params)
        if query not in next_reading:
            next_reading[query] = asyncio.ensure_future(reading(ctx, query))
        # Shielded: a reader that went away does not cancel the others' answer.
        body, selected = await asyncio.shield(next_reading[query])
        if not selected and query.cluster is not None and ctx.engine.cluster_named(query.cluster) is None:
            # No row, and no cluster of the config answers to it (a removed cluster's rows are
            # still listed under its name): a typo, answered as history's is.
            raise unknown_cluster(ctx, query.cluster)
        return _Written(body)

    return connectors


def _row_query(params: Mapping[str, str]) -> RowQuery:
    """The query of GET /v1/connectors; a value it cannot take is refused (400), never ignored."""
    cluster = params.get("cluster")
    if cluster is not None and connector_name_problem(cluster) is not None:
        raise BadRequest(400, f"cluster {connector_name_problem(cluster)}")
    flags = {}
    for name, default in (("problems", False), ("gone", True)):
        value = params.get(name)
        if value is not None and value not in ("true", "false"):
            raise BadRequest(400, f"{name} must be true or false, not {value[:20]!r}; nothing was done")
        flags[name] = default if value is None else value == "true"
    return RowQuery(cluster=cluster, problems=flags["problems"], gone=flags["gone"])


async def history(ctx: ApiContext, request: Request) -> JSONResponse:
    """GET /v1/history[?cluster=C][&connector=N][&limit=50]: recent restarts, newest first."""
    params = request.query_params
    limit_text = params.get("limit", "50")
    # ASCII digits only: str.isdigit() is also true for '²' and other digits int() refuses.
    if not re.fullmatch(r"[0-9]{1,4}", limit_text) or not 1 <= int(limit_text) <= MAX_HISTORY_SERVED:
        raise BadRequest(400, f"limit must be a whole number from 1 to {MAX_HISTORY_SERVED}")
    limit = int(limit_text)
    connector, cluster_label = params.get("connector"), params.get("cluster")
    for name, value in (("connector", connector), ("cluster", cluster_label)):
        if value and connector_name_problem(value) is not None:
            raise BadRequest(400, f"{name} {connector_name_problem(value)}")
    cluster: str | None = None
    if cluster_label:
        # By name or lkc- id, with or without a connector: an unknown cluster is a 404 either way.
        cluster = ctx.engine.cluster_named(cluster_label)
        if cluster is None:
            # A standby discovers nothing: a cluster only the leader's discovery found is unknown
            # here (its 404 said "unknown cluster" where the leader lists its restarts).
            leader_only(ctx, read=True)
            raise unknown_cluster(ctx, cluster_label)
    # Filtered by the store: filtered here from the newest MAX_HISTORY_SERVED restarts of the fleet, a
    # connector or cluster whose restarts were older than those had "no restarts recorded".
    return JSONResponse({"restarts": ctx.history(cluster, connector or None, limit)})
