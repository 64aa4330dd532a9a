"""`ApiContext`: what of the daemon the routes use (its engine, metrics and config, the
leader's and the polls' state), and the Retry-After a refusal that passes answers with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..engine import Engine
from ..metrics import Metrics
from ..report import ClusterPlace, RowQuery

# Alertmanager and API clients retry a 429 or 503 after this many seconds.
RETRY_AFTER_SECONDS = 30


@dataclass
class ApiContext:
    engine: Engine
    metrics: Metrics
    config: Callable[[], Config]
    # Lists each named cluster whose last listing is stale (through its rate limiter); returns
    # the clusters that could not be listed, with why. Only connectors a listing showed are
    # ever acted on: names nobody listed would otherwise grow series, state and the queue.
    # It waits a few seconds at most (a listing not done by then goes on; the caller gets 503).
    ensure_listed: Callable[[Iterable[str]], Awaitable[dict[str, str]]]
    accepting: Callable[[], bool]  # False while shutting down
    # Lists again the named clusters whose last listing, older than a few seconds, lacked a
    # connector a firing alert names (triggers/poller.list_again): for each one listed again,
    # None or why it could not be.
    list_again: Callable[[Iterable[str]], Awaitable[dict[str, str | None]]]
    connectors: Callable[[RowQuery], Awaitable[dict[str, Any]]]  # the rows of GET /v1/connectors, in steps (row_reading.py)
    history: Callable[[str | None, str | None, int], list[dict[str, Any]]]  # GET /v1/history: (cluster, connector, limit)
    # Why this replica may not act (a standby: another replica leads), and the Retry-After to
    # answer with; None while it leads. History (the shared database) is served by every replica;
    # the connectors' rows (the leader's live view) by the leader only.
    not_leading: Callable[[], str | None] = lambda: None
    # The clusters whose listings fail now (ClusterPoller.failing): `polls_failing` of GET
    # /v1/connectors, so that `watchdog status --daemon` names them.
    polls_failing: Callable[[], list[dict[str, Any]]] = lambda: []
    # The clusters whose polls a pause of their API key holds now (ClusterPoller.paused):
    # `polls_paused` of GET /v1/connectors.
    polls_paused: Callable[[], list[dict[str, Any]]] = lambda: []
    # Why the state store takes no write now (StateStore.problem), None while it does: then the
    # daemon records nothing and sends no restart. `state_store` of GET /v1/connectors ("ok"
    # otherwise), said under `watchdog status --daemon`'s table, whose NEXT ALLOWED read "now".
    state_problem: Callable[[], str | None] = lambda: None
    # The last reload's outcome (ReloadHost.reload_outcome), None before any: `config_reload` of
    # GET /v1/connectors, so that `watchdog status --daemon` says a failed or refused one.
    config_reload: Callable[[], dict[str, str | None] | None] = lambda: None
    standby_retry_after: int = RETRY_AFTER_SECONDS
    # Why the leader may not send now though it leads (its lease renewal is late), asked without
    # counting as a refused send; None while it may. A restart or a webhook is refused meanwhile:
    # accepted, its job reached the queue before the renewal came back, was refused its send, and
    # the leader stepped down to recover it (with its whole backlog).
    renewal_late: Callable[[], str | None] = lambda: None
    # Who leads, as the lease last said (None: not known): named in a standby's 503; when not
    # known, why not (the last holder seen, the lease unreadable, the configured lease).
    leader: Callable[[], str | None] = lambda: None
    leader_note: Callable[[], str] = lambda: ""
    # Whether ensure_listed would list any of these clusters (their listing is stale): a webhook
    # that needs no listing is parsed once and decided at once.
    needs_listing: Callable[[Iterable[str]], bool] = lambda clusters: True
    # Seconds for which a 429 still pauses a cluster's key: a 503 for a cluster that could not be
    # listed says Retry-After no sooner than that.
    paused_for: Callable[[str], float] = lambda cluster: 0.0
    # Each cluster's place, its display name among it where discovery saw one: a 404 for a
    # cluster asked for by its display name names the lkc- id it goes by (refusals.unknown_cluster).
    cluster_places: Callable[[], dict[str, ClusterPlace]] = lambda: {}
    # The webhook versions other than the documented one already said (api/webhook_version.py).
    webhook_versions_said: set[str] = field(default_factory=set)
