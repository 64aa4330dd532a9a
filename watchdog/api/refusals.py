"""The refusals the handlers share: a standby's 503 (and the leader it names), a leader that may
not act now (its renewal late, shutting down), a cluster no configured or discovered one answers
to, and the Retry-After of each."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ..api_input import BadRequest
from ..name_hints import cluster_name_hint
from .context import RETRY_AFTER_SECONDS, ApiContext


def retry_later(status: int, error: str, **detail: Any) -> BadRequest:
    return BadRequest(status, error, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, **detail)


def unknown_cluster(ctx: ApiContext, label: str) -> BadRequest:
    """The 404 for a cluster no configured or discovered one answers to, with the names that do
    (`watchdog restart` and `watchdog history` with --daemon print them after `configured:`)."""
    config = ctx.config()
    hint = cluster_name_hint(label, ctx.cluster_places(), discovery=config.discovery is not None,
                             listed_by="`watchdog status --daemon URL`")
    return BadRequest(404, f"unknown cluster {label!r}{hint}", known=sorted(config.clusters))


def leader_only(ctx: ApiContext, *, read: bool = False) -> None:
    """A standby acts on nothing: 503 with Retry-After, which Alertmanager and API clients retry.
    A read (`read`) is sent to the leader, which knows the answer: "nothing was done; send again
    later", words for a write, answered `GET /v1/restarts/{id}` (an HA probe)."""
    reason = ctx.not_leading()
    if reason is not None and read:
        raise standby(ctx, f"not the leader ({reason}); only the leader knows this: ask it, or ask again later")
    if reason is not None:
        raise standby(ctx, f"not the leader ({reason}); nothing was done; send again later")


def standby(ctx: ApiContext, error: str) -> BadRequest:
    """A standby's 503. Every replica is Ready, so a Service sends the webhook and the API to
    either; `Connection: close` makes the retry (Alertmanager retries 5xx, on Go's http.Transport,
    which dials anew after it) open a new connection, which the Service balances afresh, rather
    than come back here on the kept-alive one. The body names the leader for a human reading it."""
    leader = ctx.leader()
    said: dict[str, str] = {}
    if leader is not None:
        error += f"; the leader is {leader}"
    elif note := ctx.leader_note():
        error += f"; no leader is known: {note}"
        said["leader_unknown"] = note
    return BadRequest(503, error, headers={"Retry-After": str(ctx.standby_retry_after), "Connection": "close"},
                      standby=True, leader=leader, **said)


def may_act(ctx: ApiContext) -> None:
    leader_only(ctx)
    late = ctx.renewal_late()
    if late is not None:
        # The leader's own 503 (not a standby's): nothing recorded, so nothing is left anywhere.
        raise BadRequest(503, f"the leader may not send now ({late}); nothing was done; send again in a moment",
                         headers={"Retry-After": str(ctx.standby_retry_after)})
    if not ctx.accepting():
        # 5xx: Alertmanager will send it again, to this daemon's successor. `Connection: close`,
        # as a standby's: a retry on the kept-alive connection came back here for the whole drain
        # (59 answers in 29 s, a Kubernetes rollout probe), though the Service had removed the pod.
        raise BadRequest(503, "shutting down; send again later",
                         headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"})


def listing_retry_after(ctx: ApiContext, clusters: Iterable[str]) -> str:
    """Retry-After for a request refused because a cluster could not be listed: no sooner than
    the longest 429 pause among those clusters' keys (the listing cannot go before)."""
    paused = max((ctx.paused_for(c) for c in clusters), default=0.0)
    return str(max(RETRY_AFTER_SECONDS, math.ceil(paused)))
