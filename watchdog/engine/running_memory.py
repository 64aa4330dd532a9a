"""Since when each connector runs, as the status intake's listings learn it and the state store
keeps it for the next process or leader (state/running.py): what a first listing takes back from
the store (running_seed.py says when that is trustworthy), what each listing changes of it, the
write that keeps it, and the line that says when the stalled rules judge again where nothing could
be taken back (`stall_checks_judge_from`).

`RunningMemory` is mixed into `StatusIntake` (status_intake.py), whose `on_listing` learns the
times; split out of it (533 lines) as the memory's own job."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from ..config import StalledTrigger
from ..model import ConnectorKey
from ..rules import selects
from ..state import Fenced, StateStoreError
from ..state.running import RunningIds
from .cluster_identity import cluster_identity
from .core import log
from .decisions import Decisions
from .running_seed import Seeds, judged_from, seed_bound, seeds

OF_THE_CLUSTER_BEFORE = "what the store keeps of it may be of the cluster before"
# Why a connector's kept time is not taken: the store kept it with another lcc- id than the
# listing shows, or with none (a row an older release wrote; the safe side: counted from now).
REPLACED_WHILE_AWAY = ("the state store kept their times for connectors of the same names with another lcc- id (deleted "
                       "and created again while no listing here saw it) or with none known (written by an older release)")


class RunningMemory(Decisions):
    def _kept_at_first_listing(self, cluster: str, now: datetime, first: bool) -> tuple[Seeds | None, RunningIds]:
        """What a listing takes back from the store: nothing but at the first listing of the
        cluster since this process started or led; then the kept times, or why none are usable
        (a `run --once` pass takes none; a cluster removed or redefined since, none of before)."""
        kept, kept_ids = self._kept_running(cluster, now) if first else (None, {})
        if kept is not None and not self.running_seeded:
            kept = Seeds({}, kept.stored)  # its rows still compared with this listing: those not running now go
        elif kept is not None and cluster in self.running_forgotten:
            kept = Seeds({}, kept.stored, "the cluster was removed or redefined (a reload, discovery) since its last "
                                          f"listing here, and {OF_THE_CLUSTER_BEFORE}")
        self.running_forgotten.discard(cluster)
        return kept, kept_ids

    def _after_listing(self, cluster: str, now: datetime, listed: Iterable[str], running_before: set[str],
                       kept: Seeds | None, started: Mapping[str, datetime], replaced: list[str], *, first: bool,
                       write: bool) -> None:
        """What the listing changed, noted for the store (written now unless `write` is False: a
        poll writes it after its own writes), and said where kept times could not be taken."""
        running_now = {name for name in listed if ConnectorKey(cluster, name) in self.running_since}
        stopped = (running_before | (set(kept.stored) if kept is not None else set())) - running_now
        self._note_running(cluster, now, started, stopped, first=first)
        if write:
            self.keep_running(cluster)
        if kept is not None and kept.unusable:
            self._say_judged_from(cluster, [name for name in started if name in running_now], kept.unusable, now)
        elif replaced:
            self._say_judged_from(cluster, [name for name in replaced if name in running_now], REPLACED_WHILE_AWAY, now)

    def _kept_running(self, cluster: str, now: datetime) -> tuple[Seeds, RunningIds]:
        """What the store keeps of since when the cluster's connectors run, usable now or why not
        (running_seed.py), and the lcc- id each time is of. A store that cannot be read is "not
        known": counted from now."""
        try:
            listed_at, stored = self.state.running_seen(cluster)
            kept_as, ids = self.state.running_identity(cluster)
        except StateStoreError as exc:
            return Seeds({}, frozenset(), f"the state store could not be read ({exc})"), {}
        windows = [rule.trigger.window for rule in self.config.rules
                   if rule.enabled and isinstance(rule.trigger, StalledTrigger)]
        bound = seed_bound(self.poll_every.get(cluster), self.config.state.leader_election.lease_duration, windows)
        kept = seeds(listed_at, stored, now, bound)
        here = cluster_identity(self.config.clusters.get(cluster))
        if kept.since and kept_as != here:
            # Rows keyed by the cluster's name: redefined while no daemon ran (a rollout of the
            # config change), they may be another Kafka cluster's, as after a reload.
            return Seeds({}, kept.stored, f"the cluster was redefined since its last listing recorded in the state "
                                          f"store ({kept_as} then, {here} now), and {OF_THE_CLUSTER_BEFORE}" if kept_as
                         else "the state store does not say which Kafka cluster its last listing of this cluster was "
                              "of (an older release recorded it)"), ids
        return kept, ids

    def _note_running(self, cluster: str, now: datetime, started: Mapping[str, datetime], stopped: set[str], *,
                      first: bool) -> None:
        """A listing's changes, added to those not written yet (a first listing since leading
        starts over: it compares the store's rows with what it sees)."""
        _, unsaved_started, unsaved_stopped = ((now, {}, set()) if first else self.running_unsaved.get(cluster, (now, {}, set())))
        for name in stopped:
            unsaved_started.pop(name, None)
        unsaved_stopped |= stopped
        unsaved_stopped -= started.keys()
        unsaved_started.update(started)
        self.running_unsaved[cluster] = (now, unsaved_started, unsaved_stopped)

    def keep_running(self, cluster: str) -> None:
        """Write what the listings changed of since when connectors run, for the next leader.
        Last in a poll: on a full disk the poll's own writes report the failure, this one adds
        none (quiet while the store reports one). A failure keeps them for the next poll; the
        listing goes on (the next leader counts from its own first poll)."""
        unsaved = self.running_unsaved.get(cluster)
        if unsaved is None:
            return
        listed_at, started, stopped = unsaved
        try:
            self.state.record_running(cluster, listed_at, started, stopped, ids=self._listed_ids(cluster, started),
                                      identity=cluster_identity(self.config.clusters.get(cluster)))
        except Fenced:
            raise
        except StateStoreError as exc:
            log.debug("running_since_not_recorded", cluster=cluster, error=str(exc))
            return
        self.running_unsaved.pop(cluster, None)

    def _listed_ids(self, cluster: str, names: Iterable[str]) -> dict[str, str | None]:
        """The lcc- id each connector was last listed with, kept with its time (None: none given)."""
        ids: dict[str, str | None] = {}
        for name in names:
            status = self.statuses.get(ConnectorKey(cluster, name))
            ids[name] = (status.resource_id or None) if status is not None else None
        return ids

    def _say_judged_from(self, cluster: str, names: list[str], why: str, now: datetime) -> None:
        """Said once per stalled rule at a first listing that could not take the stored times: its
        checks judge these connectors only from the time given (silent before: the new leader's
        stalled rules judged nothing for 35 minutes, and nothing said so)."""
        for rule in self.config.rules:
            trigger = rule.trigger
            if not rule.enabled or not isinstance(trigger, StalledTrigger):
                continue
            chosen = [name for name in names if selects(rule.select, cluster, name)]
            if chosen:
                log.info("stall_checks_judge_from", cluster=cluster, rule=rule.name, connectors=len(chosen),
                         judge_from=judged_from(trigger, now).isoformat(),
                         note=f"{why}: a stall check judges a connector seen RUNNING through grace and its three "
                              "windows, so these are judged from then on; a stall before then is not restarted")
