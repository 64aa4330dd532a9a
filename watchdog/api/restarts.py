"""A restart asked for by name (POST /v1/restarts) and followed by its request id
(GET /v1/restarts/{id}): both answer with the request as decided and its job as it stands."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..api_input import BadRequest, RestartBody, json_body, validated
from ..engine import MANUAL_RULE, RequestRecord
from ..model import ConnectorKey, Decision, Trigger
from ..name_hints import connector_name_hint
from ..queue import Phase, pause_note
from .context import ApiContext
from .refusals import leader_only, listing_retry_after, may_act, retry_later, unknown_cluster

# The shape of every request id (engine.new_request_id: 8 random bytes in hex).
_REQUEST_ID = re.compile(r"[0-9a-f]{16}")


async def create_restart(ctx: ApiContext, request: Request, raw: bytes, bodies: asyncio.Semaphore) -> JSONResponse:
    async with bodies:
        body: RestartBody = validated(RestartBody, json_body(raw))
    # From here the request is a few hundred bytes and holds no slot.
    engine = ctx.engine
    cluster = engine.cluster_named(body.cluster)
    if cluster is None:
        raise unknown_cluster(ctx, body.cluster)
    key = ConnectorKey(cluster, body.connector)
    if not engine.watched_rules(key):
        raise BadRequest(422, f"connector {body.connector!r} in {cluster!r} is not watched by any rule; "
                              "only watched connectors can be restarted")
    may_act(ctx)
    unlisted = await ctx.ensure_listed([cluster])
    # The listing may have taken seconds, and a stop that began meanwhile cancels it: then
    # "shutting down" (503, sent again later), not "could not be listed".
    may_act(ctx)
    if engine.cluster_named(body.cluster) != cluster:
        # Removed by a reload or discovery while it was listed: as unknown as it is from now on.
        raise BadRequest(404, f"cluster {body.cluster!r} was removed (by a reload or discovery) while its connectors "
                              "were being listed; nothing was done", known=sorted(ctx.config().clusters))
    if cluster in unlisted:
        raise BadRequest(503, f"cluster {cluster!r} could not be listed ({unlisted[cluster]}), so whether "
                              f"{body.connector!r} exists is not known; nothing was done; try again later",
                         headers={"Retry-After": listing_retry_after(ctx, [cluster])})
    status = engine.statuses.get(key)
    if status is None:
        # A name typed wrong in an incident (`orders-snik`) is offered the listed ones it is close to.
        listed = [k.connector for k in engine.statuses if k.cluster == cluster]
        hint = await asyncio.to_thread(connector_name_hint, body.connector, listed)
        raise BadRequest(404, f"connector {body.connector!r} was not found in cluster {cluster!r} at the last listing{hint}")
    record = engine.on_request(key, status, trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason=body.reason)
    if record.decision is Decision.QUEUE_FULL:
        raise retry_later(429, "the restart queue is full; nothing was queued; try again later",
                           **_describe(record))
    if record.decision is Decision.SHUTTING_DOWN:
        raise retry_later(503, "shutting down; nothing was queued; send again later", **_describe(record))
    return JSONResponse(_describe(record, ctx.paused_for(cluster)), status_code=202,
                        headers={"Location": f"/v1/restarts/{record.request_id}"})


async def restart_status(ctx: ApiContext, request: Request) -> JSONResponse:
    request_id = request.path_params["request_id"]
    if not _REQUEST_ID.fullmatch(request_id):
        # Not an id this daemon ever hands out: said without quoting it back (it can be any
        # length, and whatever the caller put in it).
        raise BadRequest(404, "no such request: request ids are 16 lowercase hexadecimal characters")
    leader_only(ctx, read=True)  # the leader that accepted a request knows what became of it
    record = ctx.engine.requests.get(request_id)
    if record is None:
        raise BadRequest(404, f"unknown or expired request id {request_id!r}")
    return JSONResponse(_describe(record, ctx.paused_for(record.key.cluster)))


def _describe(record: RequestRecord, paused: float = 0.0) -> dict[str, Any]:
    """`paused`: seconds for which every call of the cluster's API key is still paused."""
    job = record.job
    described: dict[str, Any] = {
        "id": record.request_id,
        "cluster": record.key.cluster,
        "connector": record.key.connector,
        "rule": record.rule,
        "trigger": record.trigger.value,
        "reason": record.reason,
        "requested_at": record.requested_at.isoformat(),
        "decision": record.decision.value,
        # Why a restart was not queued (backoff, a closed window, recently restarted...), as the
        # decision log says it; "" when it was.
        "detail": record.detail,
        # A job left unsent at a stop and kept for the next daemon is not finished: it said
        # `finished`, outcome `unsent`, and `watchdog restart --daemon` stopped following there.
        "state": "skipped" if job is None else (
            "finished" if job.phase is Phase.DONE and not job.kept_for else "pending"),
        "job": None,
    }
    if job is not None:
        waiting = ""
        if paused > 0 and job.phase in (Phase.QUEUED, Phase.WAITING):
            # A 429's pause holds every restart of the key up to rate_limit.max_pause (15 minutes):
            # a bare "pending" for that long, and `watchdog restart --daemon`'s "still queued after
            # 60s", read as a daemon that was stuck.
            waiting = pause_note(paused)
        described["job"] = {
            "id": job.id,
            "outcome": job.outcome.value if job.outcome else None,
            "status_code": job.status_code,
            # A call on the wire is said so, and counted among the tries (probe_restart F4: `tries: 0`
            # and no word of it while the call hung, read as nothing sent).
            "message": "; ".join(part for part in (job.message, job.kept_for, waiting,
                                                   job.on_the_wire() if job.phase is Phase.SENDING else "") if part),
            "tries": job.tries_so_far,
            "requests": [r.id for r in job.requests],
        }
    return described
