"""The clusters the daemon watches: those `clusters:` lists, and those discovery finds.

`Fleet` keeps the loaded config (the static part) and the discovery inventory, and makes the
config the daemon runs with: the loaded one with every watched discovered cluster added as an
ordinary Confluent Cloud cluster named by its lkc- id. The daemon swaps that config in the way a
reload does (parts built first, swapped in one step), so that rules, polls, metrics, alerts and
the API treat a discovered cluster exactly like a listed one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase

from ..config import CloudCluster, Config, DiscoverySettings
from ..logs import get_logger
from ..model import Outcome
from ..triggers.streak import Streaks
from .client import DiscoveryClient
from .found import FoundEnvironment
from .inventory import (
    Change,
    ClusterState,
    EnvironmentOutcome,
    EnvironmentResult,
    Event,
    Inventory,
    Sweep,
    WatchedCluster,
    added_and_removed,
)
from .metrics import DiscoveryMetrics

log = get_logger("watchdog.discovery")

# A listing answered 403 or 404 means the environment is gone for this key (deleted, or the key
# lost its role there); anything else that failed (429, 5xx, network, unreadable) says nothing.
_GONE_OUTCOMES = (Outcome.FORBIDDEN, Outcome.NOT_FOUND)
_TRANSIENT_OUTCOMES = (Outcome.RATE_LIMITED, Outcome.SERVER_ERROR, Outcome.NETWORK_ERROR)
# The streak key of the environment listing (environment ids are the others' keys).
ENVIRONMENT_LISTING = "environments"


@dataclass(frozen=True, slots=True)
class Refresh:
    """What one refresh found and what it cost."""

    result: str  # ok, partial, failed
    sweep: Sweep
    events: list[Event] = field(default_factory=list)
    calls: int = 0
    seconds: float = 0.0


async def sweep(
    client: DiscoveryClient, settings: DiscoverySettings, streaks: Streaks,
    known_names: Mapping[str, str | None] | None = None, unanswered_at: Mapping[str, int] | None = None,
    skipped_before: dict[str, int] | None = None,
) -> tuple[Sweep, int]:
    """One round of list calls: the environments (unless only ids are selected), then the
    clusters of each selected environment, one environment after the other (one lane: the
    limiter paces them with every poll and restart of the key). Returns the findings and the
    number of calls made.

    A cluster listing that gets no answer (a timeout, the network) ends the round: the
    environments not asked yet count as not read. Each such call held every poll and restart of
    the key for its whole deadline (the lane sends one call at a time while no rate limit is
    known), and a cmk/v2 that never answered held them once per environment, at every retry.
    `unanswered_at` (the refresh at which each environment last got no answer) orders them:
    those never unanswered first, then the one unanswered longest ago, so that one environment
    that never answers is asked last and keeps none of the others from being read.

    A listing that fails at every refresh (every 30 s) is said as a failing poll is
    (triggers/streak.py, `streaks`): when it starts, then every few minutes with `repeated`
    and `failing_since`, and once when it is read again; the metrics count every refresh.
    Entries a listing skips are said when their count changes (`skipped_before`, per listing)."""
    calls = 0
    skipped = {} if skipped_before is None else skipped_before
    listed: tuple[FoundEnvironment, ...] | None = None
    environments_skipped = 0
    selection = settings.environments
    if selection.needs_listing:
        attempt = streaks.attempt(ENVIRONMENT_LISTING)
        environments = await client.environments(attempt)
        calls += environments.calls
        if environments.items is None:
            return Sweep(failure=f"{environments.outcome.value}: {environments.message}"[:300],
                         transient=environments.outcome in _TRANSIENT_OUTCOMES,
                         said=attempt.failed(environments.outcome.value)), calls
        recovered = attempt.succeeded()
        if recovered is not None:
            log.info("discovery_recovered", lane=client.lane, **recovered)
        _report_skipped(skipped, "environments", environments.skipped)
        environments_skipped = environments.skipped
        listed = environments.items
    # An environment answered without a name keeps the one it was known by (`known_names`).
    names = known_names or {}
    targets = {e.id: e for e in listed or () if selection.selects(e.id, e.display_name or names.get(e.id))}
    unmatched = () if listed is None else unmatched_names(
        selection.names, [(e.id, e.display_name or names.get(e.id)) for e in listed])
    for identifier in selection.ids:
        targets.setdefault(identifier, FoundEnvironment(identifier, None))
    results = []
    streaks.keep({ENVIRONMENT_LISTING, *targets})
    for key in [k for k in skipped if k.startswith("clusters:") and k.removeprefix("clusters:") not in targets]:
        del skipped[key]  # environments no longer selected
    last_unanswered = unanswered_at or {}
    not_asked: str | None = None  # why the environments left are not asked this round
    for identifier in sorted(targets, key=lambda e: (last_unanswered.get(e, -1), e)):
        environment = targets[identifier]
        if not_asked is not None:
            results.append(EnvironmentResult(environment, EnvironmentOutcome.UNKNOWN, detail=not_asked))
            continue
        attempt = streaks.attempt(identifier)
        clusters = await client.clusters(identifier, attempt)
        calls += clusters.calls
        if clusters.items is not None:
            recovered = attempt.succeeded()
            if recovered is not None:
                log.info("discovery_environment_recovered", environment=identifier, **recovered)
            _report_skipped(skipped, "clusters", clusters.skipped, environment=identifier, unnamed=clusters.unnamed)
            results.append(EnvironmentResult(environment, EnvironmentOutcome.READ, clusters.items,
                                             skipped_ids=clusters.skipped_ids, unnamed=clusters.unnamed,
                                             skipped=clusters.skipped))
            continue
        # Only a first page refused says the environment is gone (deleted, or the key lost its
        # role): a later page refused cut the listing short, and taken for "gone" it counted
        # every cluster of the environment missing, those its first page had just listed too,
        # and dropped them all (no polls, no restarts) after two refreshes.
        # Nor does a 403 or 404 that is a proxy's or a gateway's HTML page (a route to /cmk/v2
        # removed, a block page): taken for the API's word, it dropped every discovered cluster.
        # Nor one whose body was cut off, which cannot be told from such a page.
        gone = (clusters.outcome in _GONE_OUTCOMES and not clusters.cut_short and not clusters.foreign
                and not clusters.cut_off)
        outcome = EnvironmentOutcome.GONE if gone else EnvironmentOutcome.UNKNOWN
        cut = f" (page {clusters.calls}: the listing was cut short)" if clusters.cut_short else ""
        if clusters.foreign:
            cut += " (not the API's own answer: a proxy's HTML page, or a host a redirect took the call to)"
        detail = f"{clusters.outcome.value}: {clusters.message}{cut}"[:300]
        unanswered = clusters.outcome is Outcome.NETWORK_ERROR
        refused = gone and clusters.outcome is Outcome.FORBIDDEN
        results.append(EnvironmentResult(environment, outcome, detail=detail, unanswered=unanswered, refused=refused))
        said = attempt.failed(clusters.outcome.value)
        report = log.debug if said is None else log.warning
        note = ("the key cannot list its clusters (deleted, or no role there): they count as missing"
                if outcome is EnvironmentOutcome.GONE else "its clusters stay as they were; the next refresh asks again")
        if unanswered:
            not_asked = f"not asked: the cluster list of {identifier} got no answer ({clusters.message})"[:300]
            note += ("; the environments after it are not asked this refresh (a call that gets no answer holds "
                     "every poll and restart of the key), and it is asked after them from now on")
        report("discovery_environment_unreadable", environment=identifier, outcome=clusters.outcome.value,
               message=clusters.message, **(said or {}), note=note)
    return Sweep(tuple(sorted(results, key=lambda r: r.environment.id)), listed, unmatched=unmatched,
                 skipped=environments_skipped), calls


def unmatched_names(globs: Sequence[str], listed: Sequence[tuple[str, str | None]]) -> tuple[tuple[str, str], ...]:
    """The `environments.names` globs that select none of the `listed` environments (id, display
    name), each with why: a name written in another case, an id written where a name goes, or
    none like it. Watching nothing of such a glob without a word, the daemon looked healthy."""
    unmatched = []
    for glob in globs:
        if any(name is not None and fnmatchcase(name, glob) for _, name in listed):
            continue
        folded = [(i, n) for i, n in listed if n is not None and fnmatchcase(n.casefold(), glob.casefold())]
        by_id = [(i, n) for i, n in listed if fnmatchcase(i, glob)]
        if folded:
            why = f"matches {folded[0][1]} ({folded[0][0]}) but for the case: globs are case-sensitive"
        elif by_id:
            why = f"matches the id of {by_id[0][1] or by_id[0][0]} ({by_id[0][0]}): ids go in discovery.environments.ids"
        else:
            why = f"matches none of the {len(listed)} environment(s) the key can see"
        unmatched.append((glob, why))
    return tuple(unmatched)


def _report_skipped(before: dict[str, int], what: str, skipped: int, *, unnamed: int = 0, **fields: str) -> None:
    """Said at warning when a listing's count of skipped entries changes, else at debug: the
    same entries skipped at every refresh (a gateway that drops the environment filter lists every
    environment's clusters under each) were a warning per environment per refresh. `unnamed`: of
    a cluster listing's skipped entries, those without an id that could be read."""
    key = f"{what}:{fields.get('environment', '')}"
    if skipped:
        report = log.debug if before.get(key) == skipped else log.warning
        note = "entries without a usable id (or of another environment) were skipped"
        if what == "clusters":
            note += ("; no cluster known before is counted missing while an entry naming it is skipped" if not unnamed
                     else f"; {unnamed} named no readable id and may be any cluster: none of the environment's is "
                          "counted missing while they are")
        report("discovery_entries_unreadable", listing=what, count=skipped, **fields, note=note)
    before[key] = skipped


def refresh_result(found: Sweep) -> str:
    if found.failure is not None:
        return "failed"
    outcomes = [r.outcome for r in found.results]
    if outcomes and all(o is EnvironmentOutcome.UNKNOWN for o in outcomes):
        return "failed"
    return "partial" if EnvironmentOutcome.UNKNOWN in outcomes else "ok"


def static_elsewhere(config: Config, inventory: Inventory) -> dict[str, str]:
    """The `clusters:` entries naming a cluster discovery lists in another environment (an
    environment_id typo), by name, each said as a sentence. The static entry wins, so its polls
    go to the environment written and fail; discovery knows where the cluster is."""
    said = {}
    for name, cluster in config.clusters.items():
        tracked = inventory.clusters.get(cluster.kafka_cluster_id) if isinstance(cluster, CloudCluster) else None
        if tracked is not None and isinstance(cluster, CloudCluster) and tracked.cluster.environment_id != cluster.environment_id:
            where = tracked.cluster.environment_id
            known = inventory.environment_names.get(where)
            said[name] = (f"clusters.{name} names environment {cluster.environment_id}, but discovery lists "
                          f"{cluster.kafka_cluster_id} in {where}" + (f" ({known})" if known else ""))
    return said


def static_cluster_ids(config: Config) -> set[str]:
    """The Kafka cluster ids `clusters:` covers: discovery leaves those to their static entry."""
    return {c.kafka_cluster_id for c in config.clusters.values() if isinstance(c, CloudCluster)}


class Fleet:
    def __init__(self, loaded: Config, metrics: DiscoveryMetrics, now: Callable[[], datetime]) -> None:
        self.loaded = loaded  # the config as the file (and environment) say: static clusters only
        self.inventory = Inventory()
        self.metrics = metrics
        self._now = now
        self.watched: dict[str, WatchedCluster] = {}  # the discovered clusters in effect
        self.refreshes = 0  # refreshes that ran to the end, whatever their result
        self.last: Refresh | None = None
        self._environment_outcomes: dict[str, EnvironmentOutcome] = {}
        self._streaks = Streaks(now)  # listings failing refresh after refresh (triggers/streak.py)
        self._previous_result: str | None = None  # the result of the refresh before the last
        # The refresh (`refreshes`) at which each environment's cluster listing last got no
        # answer: those are asked last (sweep).
        self._unanswered_at: dict[str, int] = {}
        # The names globs said to select nothing, said again only when they change; likewise the
        # static entries naming a cluster discovery lists in another environment.
        self._unmatched: dict[str, str] = {}
        self._elsewhere: dict[str, str] = {}
        self._saw_none = False  # the last environment listing listed none (said once)
        self._skipped: dict[str, int] = {}  # entries each listing skipped last (said when that changes)

    # -- the config the daemon runs with -----------------------------------------------------

    def effective(self, loaded: Config) -> tuple[Config, dict[str, WatchedCluster]]:
        """`loaded` with the discovered clusters it selects, and those clusters by name. Changes
        nothing: a reload may still be refused after this."""
        settings = loaded.discovery
        if settings is None:
            return loaded, {}
        watched = self.inventory.watched(settings, static_cluster_ids(loaded))
        credential = loaded.credential_for(settings)
        clusters = dict(loaded.clusters)
        for name, cluster in watched.items():
            # cross_check refuses a static name of this shape unless it is this very cluster,
            # static_cluster_ids kept that one out of `watched`, and found.py reads only lkc- ids:
            # no name is taken twice. Should one ever be, the configured entry stays.
            if name in loaded.clusters:
                continue
            clusters[name] = CloudCluster(environment_id=cluster.environment_id, kafka_cluster_id=cluster.id,
                                          credential=credential)
        return loaded.model_copy(update={"clusters": clusters}), watched

    def is_discovered(self, cluster: str) -> bool:
        return cluster in self.watched

    def stand_by(self) -> None:
        """This replica stopped leading: the failures it met are not the next leader term's (a
        streak kept through hours of standby was reported as hours of failing)."""
        self._streaks = Streaks(self._now)
        self._previous_result = None
        self._unmatched = {}
        self._elsewhere = {}
        self._saw_none = False
        self._skipped = {}
        self.metrics.stand_by()

    # -- a refresh ------------------------------------------------------------------------------

    async def refresh(self, client: DiscoveryClient, settings: DiscoverySettings) -> Refresh:
        started = time.perf_counter()
        found, calls = await sweep(client, settings, self._streaks, self.inventory.environment_names, self._unanswered_at,
                                   self._skipped)
        self._record_unanswered(found)
        self._say_unmatched(found)
        held_before = dict(self.inventory.held)
        events = self.inventory.record(found, settings, now=self._now().timestamp())
        result = refresh_result(found)
        if result == "ok" and self.inventory.held:
            result = "held"  # read whole, but not taken as it says: not a plain ok (held.py)
        self.metrics.refreshes.labels(result).inc()
        self.metrics.removals_held.set(len(self.inventory.held))
        self._say_held(held_before)
        if result in ("ok", "held"):  # every selected environment was read
            self.metrics.last_success.set(self._now().timestamp())
        self._record_outcomes(found)
        if found.failure is not None:
            report = log.debug if found.said is None else log.warning if found.transient else log.error
            report("discovery_failed", lane=client.lane, error=found.failure, **(found.said or {}),
                   note="the environments could not be listed; every discovered cluster stays as it was")
        self.refreshes += 1
        self._previous_result = self.last.result if self.last is not None else None
        self.last = Refresh(result, found, events, calls, time.perf_counter() - started)
        return self.last

    def _say_held(self, before: Mapping[str, str]) -> None:
        """A removal held (held.py) at error when it starts or its clusters change; its end once."""
        held = self.inventory.held
        if held and held.keys() != before.keys():
            environments = sorted({self.inventory.clusters[i].cluster.environment_id for i in held})
            log.error("discovery_removal_held", clusters=len(held), environments=environments, first=sorted(held)[:5],
                      detail=held[min(held)], note="the listings no longer show these clusters, but an answer listing "
                      "none of them is as likely a glitch (an IAM change, a role binding re-applied, a gateway's empty "
                      "page) as a deletion: they stay watched (polled, healed) while it lasts, and are dropped if it "
                      "lasts the hour. Check the key's role bindings (docs/runbook.md#watchdogdiscoveryremovalheld)")
        elif before and not held:
            returned = sorted(i for i in before if i in self.inventory.clusters)
            log.info("discovery_removal_hold_ended", returned=returned, dropped=sorted(before.keys() - set(returned)),
                     note="listed again: watched as before" if returned else "missing for the whole hold: dropped")

    def _say_unmatched(self, found: Sweep) -> None:
        """Whether the key sees any environment at all, and which names globs select none: said
        when that changes (a listing that failed says nothing of it)."""
        if found.failure is not None or found.listed is None:
            return
        if not found.listed and not self._saw_none:
            log.warning("discovery_no_environment_listed", note="the key sees no environment: it has no role on any "
                        "(Operator, or EnvironmentAdmin on each); nothing is discovered until it has")
        self._saw_none = not found.listed
        unmatched = dict(found.unmatched)
        if unmatched == self._unmatched:
            return
        if unmatched:
            log.warning("discovery_environment_names_unmatched", globs=unmatched,
                        note="discovery.environments.names globs that select no environment the key can see: "
                             "nothing of them is watched")
        else:
            log.info("discovery_environment_names_matched", note="every discovery.environments.names glob selects "
                     "an environment")
        self._unmatched = unmatched

    def _record_unanswered(self, found: Sweep) -> None:
        """When each selected environment's cluster listing last got no answer (sweep's order)."""
        if found.failure is None:
            selected = {r.environment.id for r in found.results}
            self._unanswered_at = {e: at for e, at in self._unanswered_at.items() if e in selected}
        for environment in found.results:
            if environment.unanswered:
                self._unanswered_at[environment.environment.id] = self.refreshes
            elif environment.outcome is not EnvironmentOutcome.UNKNOWN:
                self._unanswered_at.pop(environment.environment.id, None)

    def _record_outcomes(self, found: Sweep) -> None:
        """Each selected environment's last outcome (`watchdog_discovery_environments`). One no
        longer listed counts as gone while discovery still holds clusters of it, then not at all:
        kept as it last was, a deleted environment counted as `read` for the life of the process."""
        if found.failure is not None:
            return
        outcomes = {result.environment.id: result.outcome for result in found.results}
        if found.listed is not None:
            listed = {environment.id for environment in found.listed}
            held = {tracked.cluster.environment_id for tracked in self.inventory.clusters.values()}
            for environment_id in self._environment_outcomes.keys() - outcomes.keys():
                if environment_id not in listed and environment_id in held:
                    outcomes[environment_id] = EnvironmentOutcome.GONE
        self._environment_outcomes = outcomes

    # -- after the daemon swapped a config in ---------------------------------------------------

    def settle(self, loaded: Config, watched: dict[str, WatchedCluster], events: Iterable[Event] = ()) -> int:
        """The daemon runs with `loaded` and these discovered clusters now: log and count every
        change, one event each, and show where every known cluster stands. Returns how many
        changes were announced."""
        before, self.watched, self.loaded = self.watched, watched, loaded
        settings = loaded.discovery
        static = static_cluster_ids(loaded)
        added, removed = added_and_removed(before, watched)
        changes = len(added) + len(removed)
        if settings is None:
            self.inventory = Inventory()  # discovery turned off: nothing of it applies any more
        else:
            self.inventory.prune(settings)
        for cluster in added:
            self._change(Change.ADDED, cluster, "watched from now on: polled at once, then by its rules")
        for cluster in removed:
            why = self.inventory.why_not_watched(cluster.id, settings, static) if settings else "discovery is off"
            self._change(Change.REMOVED, cluster, f"{why}; its series are removed, its connectors' state is kept "
                                                  "for state.forget_vanished_after")
        for event in events:
            if self._announced(event, settings, static):
                shown = watched.get(event.cluster.id) or before.get(event.cluster.id) or WatchedCluster(event.cluster.id, event.cluster.environment_id,
                                                  event.environment_name, event.cluster.display_name)
                self._change(event.change, shown, event.detail, phase=event.cluster.phase or None)
                changes += 1
        self.metrics.show_watched(before, watched)
        self._show_counts(settings, static)
        elsewhere = static_elsewhere(loaded, self.inventory)
        if elsewhere and elsewhere != self._elsewhere:
            log.warning("discovery_static_cluster_elsewhere", clusters=elsewhere,
                        note="the static entry wins: its polls go to the environment it names and fail there; fix "
                             "its environment_id, or remove the entry and let discovery watch the cluster")
        self._elsewhere = elsewhere
        return changes

    def _announced(self, event: Event, settings: DiscoverySettings | None, static: set[str]) -> bool:
        """Changes worth an event: those of clusters watched (missing, returned, renamed), and
        clusters waiting to be ready that would be watched then."""
        if settings is None:
            return False
        state = self.inventory.state_of(event.cluster.id, settings, static)
        if event.change is Change.NOT_READY:
            return state is ClusterState.NOT_READY
        return state in (ClusterState.WATCHED, ClusterState.MISSING) or event.cluster.id in self.watched

    def _change(self, change: Change, cluster: WatchedCluster, detail: str, **fields: object) -> None:
        self.metrics.changes.labels(change.value).inc()
        level = log.warning if change in (Change.REMOVED, Change.MISSING, Change.PHASE_UNKNOWN) else log.info
        level(f"discovery_cluster_{change.value}", cluster=cluster.id, display_name=cluster.display_name,
              environment=cluster.environment_id, environment_name=cluster.environment_name, detail=detail,
              **{k: v for k, v in fields.items() if v is not None})

    def _show_counts(self, settings: DiscoverySettings | None, static: set[str]) -> None:
        counts = self.inventory.counts(settings, static) if settings else dict.fromkeys(ClusterState, 0)
        for state, count in counts.items():
            self.metrics.clusters.labels(state.value).set(count)
        selected = {} if settings is None else {
            e: o for e, o in self._environment_outcomes.items()
            if settings.environments.selects(e, self.inventory.environment_names.get(e))
        }
        self._environment_outcomes = selected
        for outcome in EnvironmentOutcome:
            self.metrics.environments.labels(outcome.value).set(sum(1 for o in selected.values() if o is outcome))

    def log_refresh(self, refresh: Refresh, lane: str, changes: int) -> None:
        """One line per refresh: at info when it changed something, or its result is not the
        one before (partial or failed, or ok again). A failure that goes on is said by its own
        lines every few minutes (streak.py): at info at every 30-second retry, this line said it
        120 times an hour."""
        settings = self.loaded.discovery
        counts = self.inventory.counts(settings, static_cluster_ids(self.loaded)) if settings else {}
        fields = {
            "result": refresh.result, "lane": lane, "calls": refresh.calls, "seconds": round(refresh.seconds, 3),
            "environments": {o.value: sum(1 for r in refresh.sweep.results if r.outcome is o) for o in EnvironmentOutcome},
            "clusters": {state.value: count for state, count in counts.items()},
        }
        quiet = not changes and refresh.result == (self._previous_result or "ok")
        (log.debug if quiet else log.info)("discovery_refreshed", **fields)

    def place(self, cluster: str) -> WatchedCluster | None:
        return self.watched.get(cluster)

    def environment_name(self, environment_id: str) -> str | None:
        return self.inventory.environment_names.get(environment_id)
