"""The clusters and rate-limit lanes in service inside the daemon: a lane added (one HTTP client,
one limiter, its restart workers), a built cluster put in service, and a cluster a reload removed
retired, its client closed and its lane let go once its queued restarts have ended.

`ClusterHost` is mixed into `app.Daemon`; a cluster's parts are built by assembly.py.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from .assembly import BuiltCluster, Retired, build_cluster
from .config import (
    CloudCluster,
    Config,
    KafkaConnectCluster,
    RateLimitSettings,
    another_keys_question,
)
from .connect import ConnectBackend, Gateway
from .engine import Engine, WallClock
from .logs import get_logger
from .metrics import Metrics
from .queue import RestartQueue
from .ratelimit import RateLimiter
from .ratelimit.shared_budget import SharedBudgets
from .triggers.poller import ClusterPoller

log = get_logger("watchdog.cluster_host")


class ClusterHost:
    # The daemon's parts this uses (app.Daemon sets them).
    config: Config
    metrics: Metrics
    engine: Engine
    queue: RestartQueue
    http: dict[str, httpx.AsyncClient]
    gateways: dict[str, Gateway]
    backends: dict[str, ConnectBackend]
    pollers: dict[str, ClusterPoller]
    _retired: Retired
    shared_budgets: SharedBudgets
    _transport: httpx.AsyncBaseTransport | None
    _clock: Callable[[], float]
    _rng: Callable[[], float]
    _now: WallClock

    def _add_lane(self, lane: str, client: httpx.AsyncClient, settings: RateLimitSettings | None = None, *,
                  may_share_budget: bool = False) -> None:
        """A rate-limit lane: one HTTP client, one limiter, and (for restarts) its queue workers.
        `may_share_budget`: a Confluent Cloud key, which the server may count in one budget with
        the daemon's other keys (organisation-wide: _share_budget)."""
        shared = self.shared_budgets if may_share_budget else None
        limiter = RateLimiter(lane, settings or self.config.rate_limit, clock=self._clock, rng=self._rng,
                              observer=self.metrics, shared_budgets=shared)
        self.http[lane] = client
        self.gateways[lane] = Gateway(limiter, self.metrics)
        self._tell_pair(lane)
        self.queue.add_lane(lane, self.gateways[lane])
        self.metrics.init_credential(lane)

    def _tell_pair(self, lane: str) -> None:
        """The lane's gateway reads the credentials its client sends now: a key refused (401) is
        no longer once a reload rotated them in (rotate_credentials) or replaced the client
        (connect/refusal.py). The object, never its values."""
        self.gateways[lane].refusal.pair = lambda: getattr(self.http.get(lane), "auth", None)

    def _share_budget(self, lanes: list[str], evidence: dict[str, int]) -> None:
        """The server was seen counting these keys' requests in one budget
        (ratelimit/shared_budget.py): from now on one fresh limiter state paces them all, unless
        `rate_limit.join_shared_budgets` is off. Fresh: what each had learned of "another client"
        was mostly the others, and kept, the key that had been left a trickle paced the whole
        group at it."""
        joined = self.config.rate_limit.join_shared_budgets
        if joined:
            first = self.gateways[lanes[0]].limiter
            first.start_afresh()
            for lane in lanes[1:]:
                self.gateways[lane].limiter.share_with(first)
        log.info("rate_limit_budget_shared", credentials=lanes, joined=joined, **evidence,
                 note="the server counts these API keys in one rate budget (an organisation-wide limit): "
                      + ("their calls are paced together from now on, until the daemon restarts" if joined else
                         "rate_limit.join_shared_budgets is false, so each key keeps its own limiter"))

    def _build_cluster(self, config: Config, name: str) -> BuiltCluster:
        return build_cluster(config, name, cloud_clients=self.http, lanes=self.gateways, metrics=self.metrics,
                             transport=self._transport, clock=self._clock, rng=self._rng)

    def _install_cluster(self, built: BuiltCluster) -> None:
        """Put a built cluster in service. Assignments only: nothing here can fail half-way."""
        lane = built.lane
        if built.gateway is not None and built.client is not None:
            self.http[lane] = built.client
            self.gateways[lane] = built.gateway
            self._tell_pair(lane)
            self.queue.add_lane(lane, built.gateway)
            self.metrics.init_credential(lane)
        elif built.client is not None:  # a reload redefined (or added back) the cluster
            replaced = self.http.get(lane)  # None once its removal retired it
            if replaced is not None:
                self._retired.retire(replaced, self.backends.get(built.name))
            self.http[lane] = built.client
        self.backends[built.name] = built.backend
        self.queue.add_cluster(built.name, built.backend, lane)
        poller = ClusterPoller(built.name, built.backend, self.gateways[lane], self.engine, self.metrics, self._now)
        poller.refused_hint = lambda: self._another_key(built.name)
        # A cluster put in service once the daemon has been ready (a reload, a discovery refresh)
        # does not make it unready until its first poll: one whose API hangs kept /readyz at 503
        # for api.timeouts.total (30 s), and the shipped probe (3 failures, 5 s apart) took the
        # pod out of its Service, the webhook and the restart API of every healthy cluster with
        # it. Ready means "we have tried" at a start (app.py); later, the others are served.
        probes = getattr(self, "probes", None)
        poller.holds_readiness = probes is None or not probes.ready_once
        self.pollers[built.name] = poller

    def _another_key(self, name: str) -> str:
        """check-config --discover's question of a cluster listed by hand under another key than
        discovery's, when discovery's key lists it (its id in the inventory): asked by the first
        poll_failed line of a 401 or 403. "" when there is nothing to ask (no discovery, not
        listed by it yet, the same key)."""
        fleet = getattr(self, "fleet", None)  # DiscoveryHost's; none before it is set up
        entry = self.config.clusters.get(name)
        if fleet is None or not isinstance(entry, CloudCluster) or entry.kafka_cluster_id not in fleet.inventory.clusters:
            return ""
        return another_keys_question(self.config, name)

    def _retire_removed_cluster(self, previous: Config, name: str) -> None:
        """A self-managed cluster a reload removed, or made a Confluent Cloud one: its own client
        (and pooled sockets) closed once the restarts queued for it have been sent. Kept, it
        stayed open for the rest of the process. (A Cloud cluster's client is its credential's,
        shared, and made at start; one redefined in place, _install_cluster retires.)"""
        if not isinstance(previous.clusters[name], KafkaConnectCluster):
            return
        lane = previous.lane_for(name)
        if name in self.config.clusters and self.config.lane_for(name) == lane:
            return
        client = self.http.pop(lane, None)
        if client is not None:
            self._retired.retire(client, self.backends.get(name), after=self._release_lane(name, lane))

    async def _release_lane(self, name: str, lane: str) -> None:
        """Once the restarts queued for removed cluster `name` have ended: its lane's gateway,
        rate limiter, restart workers and series let go, unless a reload gave the lane back to a
        cluster meanwhile. Kept, each reload that removed a self-managed cluster left 1-3 idle
        workers, a limiter and about a hundred series for the rest of the process."""
        await self.queue.until_none_for(name)
        if any(self.config.lane_for(cluster) == lane for cluster in self.config.clusters):
            return
        if not await self.queue.remove_lane(lane):
            return
        self.gateways.pop(lane, None)
        if name not in self.config.clusters:
            self.backends.pop(name, None)
        self.metrics.forget_credential(lane)
