"""Discovery inside the daemon: its loop, its refreshes, and their results swapped in.

`DiscoveryHost` is mixed into `app.Daemon` and uses the daemon's own parts (its config, lanes,
engine, and the build-then-swap steps a reload uses); it lives here so that app.py stays the
wiring of everything else. A refresh's result is applied exactly like a reload that adds or
removes clusters: every part of a new cluster is built first, then the config is swapped in one
step of the event loop, so that no task ever sees half of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import httpx

from ..config import KAFKA_CLUSTER_ID_PREFIX, Config, DiscoverySettings
from ..config.discovery import DEFAULT_DISCOVERY_INTERVAL
from ..connect import Gateway
from ..connect.transfer import CallLimits
from ..logs import get_logger
from ..metrics import Metrics
from ..ratelimit import RateLimiter
from ..reload import ConfigDiff, diff_configs
from ..report import ClusterPlace, cluster_places
from ..triggers.streak import FailureStreak
from .client import DiscoveryClient
from .fleet import Fleet
from .former_names import FormerNames
from .inventory import EnvironmentOutcome, Event
from .loop import DiscoveryLoop
from .metrics import DiscoveryMetrics
from .preview import Patience

if TYPE_CHECKING:
    from ..assembly import BuiltCluster
    from ..engine import Engine, WallClock

log = get_logger("watchdog.discovery")


class DiscoveryHost:
    # The daemon's parts this uses (app.Daemon sets them).
    config: Config
    http: dict[str, httpx.AsyncClient]
    gateways: dict[str, Gateway]
    engine: Engine
    metrics: Metrics

    if TYPE_CHECKING:  # the daemon's own steps (app.py, reloading.py), declared for the type checker
        def _build_cluster(self, config: Config, name: str) -> BuiltCluster: ...
        def _apply(self, new: Config, diff: ConfigDiff, built: list[BuiltCluster]) -> None: ...
        def _call_limits(self) -> CallLimits: ...
        def _prune_history(self) -> None: ...

    # -- set-up ----------------------------------------------------------------------------------

    def _init_discovery(self, loaded: Config, now: WallClock) -> None:
        self.fleet = Fleet(loaded, DiscoveryMetrics(self.metrics.registry), now)
        self._former_names = FormerNames(now)  # a listed cluster removed, found by discovery later, carries its state
        self._discovery_loop = DiscoveryLoop(self.refresh_discovery, self._discovery_interval, now)
        # Requests held while an environment stays unreadable are held at every 30-second
        # retry: said when the held clusters change, else every few minutes (triggers/streak.py).
        self._held_streak = FailureStreak(now)
        # One refresh at a time (the loop, `restart` and `run --once` may each start one): two
        # at once would count one absence twice.
        self._refreshing = asyncio.Lock()
        # A forget sweep left clusters alone for want of a first refresh (not_discovered_yet): it
        # is made again once that refresh is in, not an hour later.
        self._sweep_after_discovery = False

    def _discovery_interval(self) -> float:
        settings = self.fleet.loaded.discovery
        return settings.interval if settings is not None else DEFAULT_DISCOVERY_INTERVAL

    def discovery_pending(self) -> bool:
        """Readiness waits for the first refresh to finish (whatever it found): until then the
        daemon does not know what it is meant to watch."""
        return self.fleet.loaded.discovery is not None and self.fleet.refreshes == 0

    async def discovered_once(self) -> None:
        """Return once the first refresh has finished, making it if none has run yet (one
        in progress is waited for, not repeated)."""
        async with self._refreshing:
            if self.discovery_pending():
                await self._refresh_discovery()

    def may_be_discovered(self, cluster: str) -> bool:
        """Whether a cluster the config does not name may be one discovery finds (they are named
        by their lkc- id): requests kept for it are held until discovery has run."""
        return self.fleet.loaded.discovery is not None and cluster.startswith(KAFKA_CLUSTER_ID_PREFIX)

    def not_discovered_yet(self, cluster: str) -> bool:
        """Whether `cluster` may be one discovery has not found yet, its first refresh not done:
        the sweep at a start (before that refresh) must not take it for a cluster removed."""
        unknown = self.discovery_pending() and self.may_be_discovered(cluster)
        self._sweep_after_discovery |= unknown
        return unknown

    def discovery_missing(self, cluster: str) -> bool:
        """Whether discovery's last refresh that read its environment left the discovered
        `cluster` out (`discovery_cluster_missing`): deleted, or the key lost access."""
        tracked = self.fleet.inventory.clusters.get(cluster)
        return tracked is not None and tracked.missing > 0 and self.fleet.is_discovered(cluster)

    def why_not_discovered(self, cluster: str) -> str:
        """Why `cluster` is not watched after a refresh, as `watchdog restart` says it: "found no
        cluster" only when every selected environment was read; after a 503 on its environment
        that sent the operator looking for a typo in an id that was right."""
        last = self.fleet.last
        if last is None or last.result in ("ok", "held"):
            return f"discovery found no cluster {cluster}"
        if last.sweep.failure is not None:
            return f"discovery could not list the environments ({last.sweep.failure}); try again"
        unread = [f"{r.environment.id} ({r.detail})" for r in last.sweep.results if r.outcome is EnvironmentOutcome.UNKNOWN]
        return f"discovery found no cluster {cluster}, but could not read environment(s) {', '.join(unread)}; try again"

    def _start_discovery(self) -> None:
        if self.fleet.loaded.discovery is not None:
            self._discovery_loop.start()

    async def _stop_discovery(self) -> None:
        await self._discovery_loop.stop()

    def _stand_by_discovery(self) -> None:
        """This replica stopped leading: its discovery gauges are the leader's to show."""
        self.fleet.stand_by()

    # -- a refresh -------------------------------------------------------------------------------

    async def refresh_discovery(self, patience: Callable[[RateLimiter], Patience] | None = None) -> bool:
        """One refresh: the list calls, then the watched clusters swapped in. True when every
        selected environment could be read. `patience`, given the key's limiter, says when a
        page refused by a failure that passes is asked for again (a person waiting: `watchdog
        restart`); without it, the next refresh asks."""
        async with self._refreshing:
            return await self._refresh_discovery(patience)

    async def _refresh_discovery(self, patience: Callable[[RateLimiter], Patience] | None = None) -> bool:
        settings: DiscoverySettings | None = self.fleet.loaded.discovery
        if settings is None:
            return True
        credential = self.fleet.loaded.credential_for(settings)
        assert credential is not None  # cross_check requires a credential for discovery
        lane = self.fleet.loaded.lane_of(credential)
        gateway = self.gateways[lane]
        client = DiscoveryClient(self.http[lane], gateway, self._call_limits(),
                                 None if patience is None else patience(gateway.limiter))
        refresh = await self.fleet.refresh(client, settings)
        # Whatever a reload changed while the calls were out: the config loaded now decides.
        changes = await self._swap_in(self.fleet.loaded, refresh.events)
        self.fleet.log_refresh(refresh, lane, changes)
        if self.engine.held_clusters and refresh.result != "failed":
            # Only the clusters whose fate this refresh knows: found (watched now), or absent
            # from a refresh that read every selected environment. One of an environment that
            # answered a 503 may well be there: its requests wait for a refresh that reads it
            # (dropped, they were lost to a passing error, logged as "no longer configured").
            known = {c for c in self.engine.held_clusters if c in self.config.clusters or refresh.result in ("ok", "held")}
            if known:
                self.engine.held_clusters.difference_update(known)
                self.engine.recover(only=known)
            attempt = self._held_streak.attempt()
            if self.engine.held_clusters:
                held = sorted(self.engine.held_clusters)
                said = attempt.failed(",".join(held))
                report = log.debug if said is None else log.warning
                report("recovered_requests_held", clusters=held, **(said or {}),
                       note="restarts kept from before the daemon restarted, for clusters discovery has not "
                            "found yet while some environments could not be read: they wait for the next refresh")
            else:
                attempt.succeeded()
        if self._sweep_after_discovery and not self.discovery_pending():
            self._sweep_after_discovery = False
            self._prune_history()
        return refresh.result in ("ok", "held")  # held: read whole, its removal held (held.py)

    async def _swap_in(self, loaded: Config, events: Iterable[Event] = ()) -> int:
        """Run with `loaded` and the discovered clusters it selects. Returns the changes announced."""
        new, watched = self.fleet.effective(loaded)
        diff = diff_configs(self.config, new)
        applied = bool(diff.clusters_added or diff.clusters_removed or diff.clusters_changed)
        if applied:
            # A Confluent Cloud cluster's parts are its backend on the credential's client: made
            # without I/O, nothing to close if one could not be made.
            built = [self._build_cluster(new, name) for name in diff.clusters_added + diff.clusters_changed]
            self._apply(new, diff, built)
        changes = self.fleet.settle(loaded, watched, events)
        if applied:
            await self.engine.prune_unwatched()  # after the swap, in slices (reloading._apply)
        return changes

    async def _discovery_reloaded(self, previous: DiscoverySettings | None, started: bool) -> None:
        """After a reload: discovery turned on, off, or changed (refresh at once: new settings
        may select environments nobody listed yet)."""
        settings = self.fleet.loaded.discovery
        if settings is None:
            await self._stop_discovery()
        elif not self._discovery_loop.running:
            if started:
                self._discovery_loop.start()
        elif settings != previous:
            self._discovery_loop.wake()

    # -- what status shows -----------------------------------------------------------------------

    def cluster_places(self) -> dict[str, ClusterPlace]:
        """Per cluster name: its environment (id and display name) and its own display name,
        where known; for `watchdog status` and GET /v1/connectors."""
        return cluster_places(self.config, self.fleet.watched, self.fleet.environment_name)
