"""Alertmanager's webhook (POST /v1/alertmanager): its alerts decided a chunk at a time, once their
clusters are listed, and the group refused (503) where some could not be acted on now."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..alerts import WebhookPayload
from ..api_input import BadRequest, json_body, validated
from ..engine import AlertResult
from .context import ApiContext
from .refusals import listing_retry_after, may_act
from .webhook_version import note_version

# Alerts are decided this many at a time, with a yield to the event loop in between: a webhook
# of thousands must not keep /healthz (and every other task) waiting until it is done.
ALERT_CHUNK = 100


async def alertmanager(ctx: ApiContext, request: Request, raw: bytes, bodies: asyncio.Semaphore) -> JSONResponse:
    engine = ctx.engine
    async with bodies:
        payload = validated(WebhookPayload, json_body(raw))
        note_version(ctx.webhook_versions_said, payload.version)
        may_act(ctx)
        # `lacking`: clusters whose last listing lacks a connector a firing alert names (one
        # created since then), listed again (at most every few seconds) before it is decided.
        clusters, lacking = engine.alert_clusters(payload.alerts)
        if not ctx.needs_listing(clusters) and not lacking:
            return await _decide_alerts(ctx, payload, {})
        del payload  # not kept while the listing is awaited: that wait holds no slot
    # Outside the slot, and bounded (a few seconds; none while the cluster's key is paused): one
    # key's 429 pause never holds the webhooks and restarts of other clusters. Side by side: a
    # cluster both stale and lacking a name is listed once, for both.
    unlisted, again = await asyncio.gather(ctx.ensure_listed(clusters), ctx.list_again(lacking))
    relisted = {cluster: why for cluster, why in again.items() if cluster not in unlisted}
    async with bodies:
        # Parsed again from the raw bytes: the same alerts, decided now that their clusters are
        # listed, or refused (503, Alertmanager sends again) where a cluster could not be.
        payload = validated(WebhookPayload, json_body(raw))
        may_act(ctx)
        return await _decide_alerts(ctx, payload, unlisted, relisted)


async def _decide_alerts(ctx: ApiContext, payload: WebhookPayload, unlisted: dict[str, str],
                         relisted: dict[str, str | None] | None = None) -> JSONResponse:
    engine = ctx.engine
    engine.note_truncation(payload)
    order = await _decision_order(ctx, payload)
    decided: dict[int, AlertResult] = {}
    for start in range(0, len(order), ALERT_CHUNK):
        if start:
            await asyncio.sleep(0)  # let /healthz, the queue and the polls run between chunks
        chunk = order[start:start + ALERT_CHUNK]
        decided.update(zip(chunk, engine.on_alerts([payload.alerts[i] for i in chunk], unlisted=unlisted,
                                                       relisted=relisted).alerts))
    results = [decided[index] for index in range(len(payload.alerts))]  # answered in the order sent
    engine.note_unmatched(results, payload.groupKey)
    body = {"alerts": [a.as_json() for a in results]}
    if any(a.retry for a in results):
        # Some alerts could not be acted on for a reason that passes (a full queue, a cluster
        # that could not be listed, shutdown): Alertmanager sends the group again; the alerts
        # already acted on then come back as `duplicate` or inside their backoff.
        not_listed = {c for c, why in (relisted or {}).items() if why is not None} | set(unlisted)
        retry_after = listing_retry_after(ctx, {a.cluster for a in results if a.retry and a.cluster in not_listed})
        # Refused as every other refusal is (BadRequest: its `error` in the answer and in the
        # http_request line): the line said only `status=503`, each alert's reason in an answer
        # nobody reads.
        again = [a for a in results if a.retry]
        reasons = sorted({a.detail or a.result for a in again})
        raise BadRequest(503, f"{len(again)} of {len(results)} alert(s) could not be acted on now "
                              f"({'; '.join(reasons[:3])}{'; ...' if len(reasons) > 3 else ''}): send the group again later",
                         headers={"Retry-After": retry_after}, **body)
    return JSONResponse(body)


async def _decision_order(ctx: ApiContext, payload: WebhookPayload) -> list[int]:
    """The order the alerts are decided in: as sent, or least recently restarted first while
    the fleet breaker rations restarts (AlertIntake.least_recently_restarted_first), their targets
    found a chunk at a time as their decisions are."""
    engine = ctx.engine
    if not engine.fleet_rations(len(payload.alerts)):
        return list(range(len(payload.alerts)))
    targets = []
    for start in range(0, len(payload.alerts), ALERT_CHUNK):
        if start:
            await asyncio.sleep(0)
        targets += engine.firing_targets(payload.alerts[start:start + ALERT_CHUNK])
    return engine.least_recently_restarted_first(targets)
