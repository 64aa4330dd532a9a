"""What the API serves to read: every watched connector's row (GET /v1/connectors, one reading
shared by the readers that come at once) and the restart history (GET /v1/history)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..api_input import BadRequest
from ..model import MAX_HISTORY_SERVED, connector_name_problem
from .context import ApiContext
from .refusals import leader_only, unknown_cluster


class _Written(JSONResponse):
    """An answer whose JSON is already written out (shared by several requests)."""

    def render(self, content: Any) -> bytes:
        assert isinstance(content, bytes)
        return content


def connectors() -> Callable[[ApiContext, Request], Awaitable[JSONResponse]]:
    """GET /v1/connectors: every connector's row, read and written out on the event loop (0.5 s
    for 14,000 connectors, 7 MB). Readers that come while a reading is awaited share it (it is
    read after they came): each one read in turn, 8 readers at once (`watchdog status --daemon`
    in several terminals during an incident) held /healthz, the webhook and the lease 4.1 s."""
    next_reading: dict[str, asyncio.Future[bytes]] = {}

    async def reading(ctx: ApiContext) -> bytes:
        del next_reading["rows"]  # begun: a reader that comes from now on waits for the next one
        return bytes(JSONResponse({"connectors": ctx.connectors(), "polls_failing": ctx.polls_failing(),
                                   "polls_paused": ctx.polls_paused(), "state_store": ctx.state_problem() or "ok"}).body)

    async def connectors(ctx: ApiContext, request: Request) -> JSONResponse:
        # The leader's live view (its polls, its discovery): a standby polls and discovers nothing,
        # so its rows showed a discovered cluster's environment as null and health as of its start.
        # Its 503 sends the reader (and `watchdog status --daemon` through a Service) to the leader.
        leader_only(ctx, read=True)
        if "rows" not in next_reading:
            next_reading["rows"] = asyncio.ensure_future(reading(ctx))
        # Shielded: a reader that went away does not cancel the others' answer.
        return _Written(await asyncio.shield(next_reading["rows"]))

    return connectors


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
