"""What discovery knows across refreshes, and which clusters that makes watched. Pure: findings
and settings in, changes and the watched set out (no clock, no I/O).

The rules, in one place:

- A cluster is watched once a refresh has seen it in a phase other than PROVISIONING or FAILED
  (PROVISIONED, a phase the spec does not list yet, or none: found.NOT_READY_PHASES says why),
  and from then on whatever its phase, while its environment and its own name are selected and no `clusters:` entry covers it
  (a static entry with the same kafka_cluster_id wins).
- A cluster is gone when two refreshes in a row could read its environment and did not list it,
  the second at least about one `discovery.interval` after the first (a refresh made early, after
  a reload or a failure, must not shorten the grace to seconds); an environment answering 403 or
  404 to the first page of its clusters (deleted, or the key lost access), or missing from the
  environment listing, counts as read and empty (a later page refused cut the listing short). A refresh that could not read an environment
  (429, 5xx, a network error, an answer it could not parse) says nothing about its clusters:
  it neither counts them missing nor resets their count.
- Unless those clusters are every watched one of the fleet, or every one (two or more) of an
  environment, at once: then their removal is held, and they stay watched, until they have been
  missing for an hour (held.py says why). `held` names them.
- Clusters of environments the settings no longer select are forgotten at once (the user chose).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ..config import DiscoverySettings
from .found import FoundCluster, FoundEnvironment
from .held import Candidate, held_removals, hold_seconds

# Refreshes in a row that must read a cluster's environment without finding it before the
# cluster is dropped: one short answer (a glitch, a cluster listed late) must not cost a cluster
# its series and its polls.
MISSING_REFRESHES_TO_DROP = 2
# ... and the last of them this share of `discovery.interval` or more after the first (the loop
# starts a refresh an interval after the previous one ended, so regular refreshes are further
# apart than the interval; the slack absorbs sweeps of different lengths).
MISSING_SPAN_SHARE = 0.9


class Change(StrEnum):
    """What happened to a discovered cluster; each is one log event and one count."""

    ADDED = "added"  # watched from now on
    REMOVED = "removed"  # no longer watched (gone, excluded, or now configured statically)
    MISSING = "missing"  # a refresh read its environment and did not list it; still watched
    RETURNED = "returned"  # listed again before it was dropped
    RENAMED = "renamed"  # its display name changed (its name, the lkc- id, did not)
    MOVED = "moved"  # listed in another environment than before (its name did not change)
    NOT_READY = "not_ready"  # listed PROVISIONING or FAILED: not watched until it is ready
    # listed in a phase the cmk/v2 spec does not list, or none: watched (found.NOT_READY_PHASES), said
    PHASE_UNKNOWN = "phase_unknown"


class ClusterState(StrEnum):
    """Where each cluster discovery knows of stands (`watchdog_discovery_clusters{state}`)."""

    WATCHED = "watched"
    MISSING = "missing"  # watched, but absent from the last refresh that read its environment
    NOT_READY = "not_ready"
    EXCLUDED = "excluded"  # by discovery.clusters globs
    STATIC = "static"  # a `clusters:` entry has the same kafka_cluster_id


class EnvironmentOutcome(StrEnum):
    READ = "read"  # its clusters were listed in full
    GONE = "gone"  # 403 or 404, or absent from the environment listing: read, and empty
    UNKNOWN = "unknown"  # could not be read this time


@dataclass(frozen=True, slots=True)
class EnvironmentResult:
    environment: FoundEnvironment
    outcome: EnvironmentOutcome
    clusters: tuple[FoundCluster, ...] = ()
    detail: str = ""  # why, when not READ (the API's outcome and message)
    unanswered: bool = False  # UNKNOWN because its listing got no answer (a timeout, the network)
    # READ: the ids of the entries its listing skipped, and how many named none (found.Page): no
    # cluster they may be is counted missing.
    skipped_ids: frozenset[str] = frozenset()
    unnamed: int = 0
    skipped: int = 0  # READ: entries its listing skipped (check-config --discover says how many)
    refused: bool = False  # GONE: its cluster list answered the API's own 403 (held.py holds its clusters)


@dataclass(frozen=True, slots=True)
class Sweep:
    """One refresh's findings. `listed`: the environments the listing showed (None when they
    were not listed, with `ids` only); `failure`: why the environment listing failed, in which
    case no environment was read and the refresh says nothing."""

    results: tuple[EnvironmentResult, ...] = ()
    listed: tuple[FoundEnvironment, ...] | None = None
    failure: str | None = None
    # Whether that failure clears by itself (a 429, a 5xx, the network): then the next refresh,
    # 30 s later, tries again and nobody needs to act yet (WatchdogDiscoveryFailing pages if it
    # lasts); a 401 or 403 needs someone to fix the key.
    transient: bool = False
    # The fields saying that failure adds (triggers/streak.py); None: not said again yet (debug).
    said: Mapping[str, object] | None = None
    # The `environments.names` globs that selected no listed environment, each with why (fleet.py,
    # unmatched_names); empty when the environments were not listed.
    unmatched: tuple[tuple[str, str], ...] = ()
    skipped: int = 0  # entries the environment listing skipped


@dataclass(frozen=True, slots=True)
class WatchedCluster:
    id: str
    environment_id: str
    environment_name: str | None
    display_name: str


@dataclass(frozen=True, slots=True)
class Event:
    change: Change
    cluster: FoundCluster
    environment_name: str | None
    detail: str = ""


@dataclass(slots=True)
class _Tracked:
    cluster: FoundCluster
    missing: int = 0
    missing_since: float = 0.0  # when the first of `missing` refreshes recorded its absence
    ready_once: bool = False


@dataclass
class Inventory:
    clusters: dict[str, _Tracked] = field(default_factory=dict)
    environment_names: dict[str, str | None] = field(default_factory=dict)
    # Why clusters left the inventory at the last `record`, for the `removed` events.
    dropped: dict[str, str] = field(default_factory=dict)
    # The clusters whose removal the last refresh that read held (held.py), each with why.
    held: dict[str, str] = field(default_factory=dict)
    _due: dict[str, str] = field(default_factory=dict)  # the ordinary rule would drop these now: why
    _now: float = 0.0
    _span: float = 0.0
    _listed_now: set[str] = field(default_factory=set)
    _stays_in: dict[str, str] = field(default_factory=dict)  # an id listed in two environments: the one it keeps
    _refused: set[str] = field(default_factory=set)  # environments whose cluster list answered 403 this refresh

    def record(self, sweep: Sweep, settings: DiscoverySettings, *, now: float) -> list[Event]:
        """Take in one refresh's findings, made at `now` (Unix seconds: clusters' deleted_at are
        compared with it); returns the events it caused (every change but `added` and `removed`,
        which follow from comparing watched sets: see `watched`)."""
        self.dropped = {}
        self._now, self._span = now, settings.interval * MISSING_SPAN_SHARE
        if sweep.failure is not None:
            return []
        self._due = {}
        self._refused = {r.environment.id for r in sweep.results if r.refused}
        watched_before = {i: t.cluster.environment_id for i, t in self.clusters.items()
                          if self.state_of(i, settings, ()) in (ClusterState.WATCHED, ClusterState.MISSING)}
        events: list[Event] = []
        # Clusters this refresh listed somewhere: one listed in another environment than before
        # is not missing from the one it left (read first, it was called missing, "dropped if
        # the next refresh agrees", and returned in the same refresh; missing once before, dropped).
        homes: dict[str, list[str]] = {}  # each cluster listed: the environments that list it
        for result in sweep.results:
            if result.outcome is EnvironmentOutcome.READ:
                for cluster in result.clusters:
                    if not cluster.deleted_by(now):
                        homes.setdefault(cluster.id, []).append(result.environment.id)
        self._listed_now = set(homes)
        # One id listed in two environments at once (cluster ids are unique: a broken upstream, a
        # gateway mixing answers): it moved there and back at every refresh, two `moved` lines
        # each time and its polls alternating. It stays where it was, or in the first of them.
        self._stays_in = {}
        for identifier, environments in homes.items():
            if len(environments) > 1:
                tracked = self.clusters.get(identifier)
                known = tracked.cluster.environment_id if tracked is not None else None
                self._stays_in[identifier] = known if known in environments else min(environments)
        if sweep.listed is not None:
            self.environment_names.update({e.id: e.display_name for e in sweep.listed if e.display_name is not None})
        for result in sweep.results:
            environment = result.environment
            if environment.display_name is not None:
                self.environment_names[environment.id] = environment.display_name
            if result.outcome is EnvironmentOutcome.READ:
                events += self._read(environment.id, result.clusters, skipped_ids=result.skipped_ids,
                                     unnamed=result.unnamed)
            elif result.outcome is EnvironmentOutcome.GONE:
                events += self._read(environment.id, (), why=result.detail)
        read = {r.environment.id for r in sweep.results}
        listed = None if sweep.listed is None else {e.id for e in sweep.listed}
        for environment_id in sorted({t.cluster.environment_id for t in self.clusters.values()} - read):
            if listed is not None and environment_id not in listed:
                # Deleted, or the key no longer sees it: as good as read and empty.
                events += self._read(environment_id, (), why="its environment is no longer listed")
        self._drop_due(watched_before, settings.interval)
        self.prune(settings)
        return events

    def _drop_due(self, watched_before: Mapping[str, str], interval: float) -> None:
        """Drop the clusters the ordinary rule says are gone, but for a removal held (held.py)."""
        due = {}
        for identifier in self._due:
            tracked = self.clusters[identifier]
            environment = tracked.cluster.environment_id
            due[identifier] = Candidate(environment, tracked.missing_since, refused=environment in self._refused)
        held = held_removals(due, watched_before, now=self._now, interval=interval)
        for identifier, reason in self._due.items():
            if identifier in held:
                continue
            tracked = self.clusters.pop(identifier)
            after = f" (its removal held {hold_seconds(interval) / 60:.0f}m first)" if identifier in self.held else ""
            self.dropped[identifier] = f"{reason}, {tracked.missing} refreshes in a row{after}"
        self.held = held

    def _read(self, environment_id: str, found: Iterable[FoundCluster], why: str = "", *,
              skipped_ids: frozenset[str] = frozenset(), unnamed: int = 0) -> list[Event]:
        """`skipped_ids`, `unnamed`: the listing's skipped entries (found.Page); a cluster one of
        them may be is not counted missing."""
        events: list[Event] = []
        listed = list(found)
        # Listed with a deleted_at that has come: as good as not listed, and said so.
        deleting = {cluster.id: cluster for cluster in listed if cluster.deleted_by(self._now)}
        seen = {cluster.id: cluster for cluster in listed if cluster.id not in deleting
                and self._stays_in.get(cluster.id, environment_id) == environment_id}
        name = self.environment_names.get(environment_id)
        for cluster in seen.values():
            tracked = self.clusters.get(cluster.id)
            if tracked is None:
                tracked = self.clusters[cluster.id] = _Tracked(cluster, ready_once=cluster.ready)
                if not cluster.ready:
                    events.append(Event(Change.NOT_READY, cluster, name, f"phase {cluster.phase or 'unknown'}"))
                elif not cluster.phase_known:
                    events.append(Event(Change.PHASE_UNKNOWN, cluster, name, _phase_unknown(cluster)))
                continue
            if tracked.cluster.environment_id != cluster.environment_id:
                events.append(Event(Change.MOVED, cluster, name, f"was in environment {tracked.cluster.environment_id}"))
            if tracked.missing:
                events.append(Event(Change.RETURNED, cluster, name, f"listed again after {tracked.missing} refresh(es) without it"))
            if tracked.cluster.display_name != cluster.display_name:
                events.append(Event(Change.RENAMED, cluster, name, f"was {tracked.cluster.display_name!r}"))
            if not tracked.ready_once and not cluster.ready and cluster.phase != tracked.cluster.phase:
                events.append(Event(Change.NOT_READY, cluster, name, f"phase {cluster.phase or 'unknown'}"))
            if cluster.ready and not cluster.phase_known and cluster.phase != tracked.cluster.phase:
                events.append(Event(Change.PHASE_UNKNOWN, cluster, name, _phase_unknown(cluster)))
            tracked.cluster, tracked.missing = cluster, 0
            tracked.ready_once = tracked.ready_once or cluster.ready
        for identifier, tracked in list(self.clusters.items()):
            if tracked.cluster.environment_id != environment_id or identifier in seen or identifier in self._listed_now:
                continue
            if identifier in skipped_ids or unnamed:
                continue  # its entry may be one the listing could not read: kept as it was
            tracked.missing += 1
            if tracked.missing == 1:
                tracked.missing_since = self._now
            if identifier in deleting:
                reason = f"listed as deleted (metadata.deleted_at {deleting[identifier].deleted_at})"
            else:
                reason = why or "not in its environment's cluster list"
            if tracked.missing >= MISSING_REFRESHES_TO_DROP and self._now - tracked.missing_since >= self._span:
                self._due[identifier] = reason  # dropped once every environment is read (_drop_due)
            elif tracked.ready_once:
                events.append(Event(Change.MISSING, tracked.cluster, name, f"{reason}; dropped if the next refresh agrees"))
        return events

    def prune(self, settings: DiscoverySettings) -> None:
        """Forget the clusters of environments the settings do not select (any more)."""
        for identifier, tracked in list(self.clusters.items()):
            environment = tracked.cluster.environment_id
            if not settings.environments.selects(environment, self.environment_names.get(environment)):
                del self.clusters[identifier]
                self.dropped.setdefault(identifier, "its environment is not selected by discovery.environments")

    def state_of(self, identifier: str, settings: DiscoverySettings, static_ids: Collection[str]) -> ClusterState | None:
        tracked = self.clusters.get(identifier)
        if tracked is None:
            return None
        cluster = tracked.cluster
        environment = cluster.environment_id
        if not settings.environments.selects(environment, self.environment_names.get(environment)):
            return None  # pruned at the next refresh or settle
        if identifier in static_ids:
            return ClusterState.STATIC
        if not settings.clusters.selects(cluster.id, cluster.display_name):
            return ClusterState.EXCLUDED
        if not tracked.ready_once:
            return ClusterState.NOT_READY
        return ClusterState.MISSING if tracked.missing else ClusterState.WATCHED

    def watched(self, settings: DiscoverySettings, static_ids: Collection[str]) -> dict[str, WatchedCluster]:
        """The clusters to poll, by name (their lkc- id), sorted."""
        static = set(static_ids)
        watched = {}
        for identifier in sorted(self.clusters):
            if self.state_of(identifier, settings, static) in (ClusterState.WATCHED, ClusterState.MISSING):
                cluster = self.clusters[identifier].cluster
                watched[identifier] = WatchedCluster(
                    cluster.id, cluster.environment_id, self.environment_names.get(cluster.environment_id), cluster.display_name
                )
        return watched

    def counts(self, settings: DiscoverySettings, static_ids: Collection[str]) -> dict[ClusterState, int]:
        """How many clusters stand where; `missing` ones are counted in `watched` too."""
        static = set(static_ids)
        counts = dict.fromkeys(ClusterState, 0)
        for identifier in self.clusters:
            state = self.state_of(identifier, settings, static)
            if state is not None:
                counts[state] += 1
        counts[ClusterState.WATCHED] += counts[ClusterState.MISSING]
        return counts

    def why_not_watched(self, identifier: str, settings: DiscoverySettings, static_ids: Collection[str]) -> str:
        """Why a cluster that was watched is not any more (for its `removed` event)."""
        if identifier in self.dropped:
            return self.dropped[identifier]
        state = self.state_of(identifier, settings, static_ids)
        if state is ClusterState.STATIC:
            return "a `clusters:` entry now names it (the static entry wins)"
        if state is ClusterState.EXCLUDED:
            return "excluded by discovery.clusters"
        return "discovery is off"


def _phase_unknown(cluster: FoundCluster) -> str:
    shown = f"phase {cluster.phase!r}" if cluster.phase else "no phase (status.phase missing)"
    return (f"{shown} is not one the cmk/v2 spec lists (PROVISIONING, PROVISIONED, FAILED): watched as a cluster "
            "that serves; only PROVISIONING and FAILED keep a cluster from being watched")


def added_and_removed(
    before: Mapping[str, WatchedCluster], after: Mapping[str, WatchedCluster]
) -> tuple[list[WatchedCluster], list[WatchedCluster]]:
    return ([after[k] for k in sorted(after.keys() - before.keys())],
            [before[k] for k in sorted(before.keys() - after.keys())])
