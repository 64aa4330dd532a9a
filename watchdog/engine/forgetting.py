"""What the engine forgets, and when: the series of a connector no status rule watches any more
(its backoff, budget and gave-up flag kept), connectors vanished from their cluster's listing
(their state too, once away for `state.forget_vanished_after`), what was known of a cluster a
reload removed or redefined, all a replica saw once it stopped leading, and, leading again,
the restart series of connectors deleted while it stood by. Split from
status_intake.py (540 lines), whose polls decide when a connector vanished or is unwatched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

from ..model import ConnectorKey, ConnectorState
from ..report import StatusRow
from ..state import Fenced, StateStoreError
from ..state.pruning import side_steps
from .core import POLL_SLICE_SECONDS, log
from .decisions import Decisions


class Forgetting(Decisions):
    def _unwatch(self, key: ConnectorKey) -> None:
        """No status rule selects it now (a rule turned off, a selector narrowed). Its series go,
        but its backoff, budget and gave-up flag stay for `state.forget_vanished_after`, as a
        vanished connector's do: forgotten at once, a rule turned off during an incident and on
        again (or a selector put back) handed every failing connector a fresh budget, the
        gave-up ones too."""
        log.info("connector_unwatched", cluster=key.cluster, connector=key.connector,
                 state_kept_seconds=self.config.state.forget_vanished_after,
                 note="no status rule selects it now; its state is kept in case one does again")
        self._drop_series(key)

    def _vanish(self, key: ConnectorKey) -> None:
        """Gone from the cluster's list. Its series go (dashboards show what exists), but its
        backoff, budget and gave-up flag stay for `state.forget_vanished_after`: an answer that
        briefly lists less than the cluster has must not hand a connector a fresh budget."""
        grace = self.config.state.forget_vanished_after
        log.info("connector_vanished", cluster=key.cluster, connector=key.connector,
                 state_kept_seconds=grace, note="its state is kept in case it comes back")
        self._drop_series(key)

    def _drop_series(self, key: ConnectorKey) -> None:
        self.flaps.forget(key)
        self.degraded_since.pop(key, None)
        self.degraded_reported.discard(key)
        self.unchosen_reported.discard(key)
        self.unroutable_names.forget(key)
        self.unknown_reported.pop(key, None)
        self.dry_states.pop(key, None)
        self._unjudged.pop(key, None)
        self._unresolved_said.pop(key, None)
        self._last_decision.pop(key, None)
        self.held.pop(key, None)
        self.alert_holds.pop(key, None)
        self.firing_alerts.pop(key, None)
        self._forget_series(key)

    def _forget_series(self, key: ConnectorKey) -> None:
        """A connector's series go when it does, unless a restart of it is still queued or on the
        wire: its end is counted (and its backoff shown) after the connector went. Removed then,
        the end made them again, at 1, for good: series of deleted connectors piled up, and
        Prometheus' increase() never saw the outcome (a series that starts at 1 has no increase).
        Kept, they go at the first hourly sweep after the restart ended (forget_late_series); so
        do those of a restart a listing ended just before (gone_jobs.py)."""
        if self.queue.is_pending(key) or key in self.late_series:
            self.late_series.add(key)
        else:
            self.metrics.forget_connector(key.cluster, key.connector)

    def forget_late_series(self) -> None:
        """Remove the series kept or made for restarts that ended after their connector went (see
        _forget_series), once none is pending and the connector is still not listed."""
        for key in list(self.late_series):
            listed = self._listed.get(key.cluster)
            if listed is not None and key.connector in listed:
                self.late_series.discard(key)  # back: its series describe it again
            elif not self.queue.is_pending(key):
                self.late_series.discard(key)
                self.metrics.forget_connector(key.cluster, key.connector)
                if key.cluster not in self.config.clusters and not any(
                        late.cluster == key.cluster for late in self.late_series):
                    # Its cluster went before this restart ended, which counted it there again.
                    self.metrics.forget_cluster_restarts(key.cluster)

    def forget_stood_by_series(self) -> None:
        """Remove the restart series of connectors deleted while this replica stood by: it keeps
        its counters when it stands by, not the gauges (Metrics.stand_by), and leading again it
        has no listing from before to see them go (stand_by), so nothing else removes them. Each
        goes once its cluster's listing is known and leaves it out, nothing pending for it;
        silently, as a vanished connector's series do (the leader of the time said
        `connector_vanished`). A connector with gauges is left to the polls and the prune."""
        for cluster, name in self.metrics.connectors_counted() - self.metrics.connectors_shown():
            listed = self._listed.get(cluster)
            key = ConnectorKey(cluster, name)
            if listed is None or name in listed or key in self.late_series or self.queue.is_pending(key):
                continue
            self.metrics.forget_connector(cluster, name)

    async def forget_vanished(self, not_known_yet: Callable[[str], bool] | None = None) -> int:
        """Forget connectors that the latest successful poll of their cluster did not list, or
        that no status rule watches any more, and that no poll has judged for
        `state.forget_vanished_after` (from the state file, so a restart of the daemon does not
        reset the grace); one no poll ever stamped (only a schedule, an alert or a person restarted
        it), once gone from its cluster's listing or with its cluster, by its newest restart time
        (rows_seen_before). Clusters not polled successfully since the daemon started are left
        alone: absence from no answer proves nothing. In slices, as a poll (_in_slices): the
        connectors of a cluster removed were forgotten one transaction each in one go (2,000 of
        them held the event loop 26 s with the database 1 ms away, and the lease was lost).
        Only the rows not seen within the grace are read: every row, the connectors each poll
        just saw included, cost 0.3 s of the event loop every hour at 20,000 connectors watched
        (0.7 to 0.9 s at 50,000), with nothing to forget. `not_known_yet(cluster)`: a cluster
        discovery may still find (its first refresh has not answered yet), left alone too: taken
        for one no longer watched, the sweep at a start after a long outage erased the backoff,
        budget and gave-up flag of every live discovered cluster's connectors."""
        self.forget_late_series()
        self.forget_stood_by_series()
        grace = timedelta(seconds=self.config.state.forget_vanished_after)
        gone = []
        for row in self.state.rows_seen_before(self._now() - grace):
            listed = self._listed.get(row.key.cluster)
            if (listed is None and row.key.cluster not in self.config.clusters
                    and not (not_known_yet is not None and not_known_yet(row.key.cluster))):
                # A cluster no longer watched (discovery dropped it, or the config no longer
                # names it): its connectors are gone with it, and go after the same grace.
                listed = set()
            # Judged by the latest poll (so listed by it): a status rule watches it. Or a stalled
            # rule does: the polls stamp its row too (stall_rows.py), and kept while listed unstamped
            # before, it went after the grace once its cluster's polls failed that long.
            watched = self.watches(row.key)
            # One no poll ever stamped (a schedule's, an alert's: dated by its restarts) goes
            # only once its cluster's listing leaves it out: no status rule watches it anyway.
            listed_now = row.seen_at is None and listed is not None and row.key.connector in listed
            if listed is not None and not watched and not listed_now:
                gone.append(row)

        forgotten = 0

        def forget(row: StatusRow) -> None:
            nonlocal forgotten
            if self.watches(row.key):
                return  # back, and judged by a poll that ran between two slices: its state is live
            log.info("connector_forgotten", cluster=row.key.cluster, connector=row.key.connector,
                     last_seen=row.seen_at.isoformat() if row.seen_at else None)
            self.state.forget(row.key)
            forgotten += 1

        await self._in_slices(gone, forget)
        await self._forget_stall_memory(grace, not_known_yet)
        return forgotten

    async def _forget_stall_memory(self, grace: timedelta, not_known_yet: Callable[[str], bool] | None) -> None:
        """What the store keeps for the stall checks of clusters no longer watched (last listed
        longer than `grace` ago: one back sooner finds its rows, too old to be taken anyway) and of
        stalled rules no longer configured (state/pruning.side_steps), in bounded steps that let
        the event loop go as a poll does. Kept, they grew with every cluster discovery ever
        watched and every rule renamed. A failure waits for the next hour (the store says it)."""
        def keep(cluster: str) -> bool:
            return (cluster in self.config.clusters or cluster in self._listed
                    or (not_known_yet is not None and not_known_yet(cluster)))

        rules = sorted({rule.name for rule in self.config.rules})
        removed, began = 0, time.monotonic()
        try:
            for count in side_steps(self.state, keep, rules, self._now() - grace):
                removed += count
                if time.monotonic() - began >= POLL_SLICE_SECONDS:
                    await asyncio.sleep(0)
                    began = time.monotonic()
        except Fenced:
            raise
        except StateStoreError as exc:
            log.debug("stall_memory_not_pruned", error=str(exc))
            return
        if removed:
            log.info("stall_memory_pruned", removed=removed, forget_vanished_after=self.config.state.forget_vanished_after,
                     rules_kept=rules, note="rows of since when connectors ran and of the windows stall checks judged, "
                     "of clusters not watched and last listed longer ago than state.forget_vanished_after, and of "
                     "rules no longer configured")

    def carry_state(self, old: str, new: str) -> None:
        """A reload renamed a cluster (`old` removed, `new` added, both naming the same Kafka
        cluster): its connectors' backoff, budget and gave-up flag go on under the new name. The
        state is kept by cluster name, and renamed, every connector the daemon had given up on was
        restarted again within seconds (found by a reload probe: `prod:` renamed `prod-eu:`).
        A connector the new name already has a state for (a rename back) keeps the later of the
        two restarts. The old name's rows stay, and age out as a removed cluster's do."""
        carried = 0
        try:
            with self.state.batch():
                # One read of the rows: the new name's are among them (a load per connector was a
                # round trip each to a PostgreSQL database).
                rows = dict(self.state.items())
                for key, state in rows.items():
                    if key.cluster != old:
                        continue
                    target = ConnectorKey(new, key.connector)
                    there = rows.get(target, ConnectorState())
                    if there == ConnectorState() or _restarted_later(state, there):
                        self.state.save(target, state)
                        carried += 1
        except StateStoreError as exc:
            log.error("cluster_state_not_carried", cluster=new, renamed_from=old, error=str(exc)[:300],
                      note="the renamed cluster's connectors start with fresh backoff and budgets")
            return
        log.info("cluster_state_carried", cluster=new, renamed_from=old, connectors=carried,
                 note="the same Kafka cluster under a new name: its connectors keep their backoff, budget and gave-up flag")

    def forget_cluster(self, cluster: str) -> None:
        """A reload (or discovery) removed or redefined the cluster: what was known of its
        listing no longer applies, and its connectors' series go. Their backoff, budget and
        gave-up flag stay for `state.forget_vanished_after`, as for connectors that vanish: a
        cluster redefined (a worker URL, a CA file, a credential) is the same cluster, and one
        removed may come back (a config rolled back, an environment the key lost access to for
        an hour). Forgotten at once, one ConfigMap edit handed every failing connector of the
        cluster a fresh budget, the one that had given up included: a restart storm."""
        self.new_incarnation(cluster)
        for name in self._watched.pop(cluster, set()):
            self._drop_series(ConnectorKey(cluster, name))
        self._unlist(cluster, keep=())
        self._listed.pop(cluster, None)
        self.ids_repeated.pop(cluster, None)
        self.forget_memory_of(cluster)
        # The caller removes every series of the cluster; a restart still pending makes its own
        # again when it ends, and the hourly sweep removes them once the cluster is not listed.
        self.late_series.update(key for key in self.queue.pending_keys() if key.cluster == cluster)

    def stand_by(self) -> None:
        """This replica stopped leading: what its polls showed is the new leader's to see. Kept,
        it decided the restarts recovered when this replica led again (a lease flap): one the
        other leader accepted for a connector seen PAUSED here hours before was dropped at its
        turn as paused, never sent. Leading again, the first polls show what is there then.
        The metrics are not touched here: Metrics.stand_by clears the gauges, and the counters
        keep what this replica did while it led (those of connectors deleted meanwhile go once it
        leads again: forget_stood_by_series)."""
        for known in (self.statuses, self._listed, self._by_resource_id, self._watched, self.running_since,
                      self.degraded_since, self.unknown_reported, self._unjudged, self._unresolved_said, self._last_decision,
                      self.dry_states, self.held, self.alert_holds, self.firing_alerts, self._retired_ids, self.unusable_names_said,
                      self.ids_repeated, self.stall_rows):
            known.clear()
        self.degraded_reported.clear()
        self.unchosen_reported.clear()
        self.unroutable_names.clear()

    def _unlist(self, cluster: str, keep: Iterable[str]) -> None:
        """Drop what the last listing of `cluster` showed and this one does not (`keep`)."""
        watched = self._watched.get(cluster, set())
        for name in self._listed.get(cluster, set()) - set(keep):
            key = ConnectorKey(cluster, name)
            status = self.statuses.pop(key, None)
            if status is not None and status.resource_id:
                self._by_resource_id.pop(status.resource_id, None)
                self._retired_ids.retire(status.resource_id, key)
            self.running_since.pop(key, None)
            if name not in watched:
                # Series made for a restart of a connector no status rule watches (an alert's, a
                # schedule's, a request's) go when the connector does, and so does what memory
                # holds of it (its last decisions, a gate's hold, the dry run's view: kept, one
                # entry per connector ever deleted); watched ones go with the rest of their state
                # when the poll forgets them.
                self._drop_series(key)

    async def prune_unwatched(self) -> None:
        """After a reload or discovery's change: connectors no rule watches any more lose their
        series (_unwatch). In slices, as a poll (_in_slices): in one go, asking of 1,500 rules
        whether each of 6,000 names is still selected held the event loop for seconds. Each name
        is asked at its turn, of the config in force then, and left alone if a poll judged it
        (or forgot it) meanwhile; a prune that a newer one began after stops: the newer one asks
        the same of a newer config."""
        self._prunes += 1
        prune = self._prunes

        def going_on() -> bool:
            return self._prunes == prune

        watched = [(cluster, name) for cluster, names in self._watched.items() for name in names]
        if not await self._in_slices(watched, self._unwatch_unselected, writes=False, going_on=going_on):
            return
        await asyncio.sleep(0)  # the last slice ended the turn's share; reading the series starts another
        if going_on():
            shown = list(self.metrics.connectors_shown())
            await self._in_slices(shown, self._drop_unnamed, writes=False, going_on=going_on)

    def _unwatch_unselected(self, where: tuple[str, str]) -> None:
        cluster, name = where
        names = self._watched.get(cluster)
        if names is not None and name in names and self.status_owners.rule_for(cluster, name) is None:
            names.discard(name)
            self._unwatch(ConnectorKey(cluster, name))

    def _drop_unnamed(self, where: tuple[str, str]) -> None:
        """Connectors only an alert or stall rule watched are in no poll's view: their series (a
        gave-up flag, which WatchdogConnectorGaveUp pages on) stayed for good once a reload
        removed, disabled or narrowed that rule, paging for a connector nothing watches."""
        cluster, name = where
        if cluster not in self.config.clusters or name in self._watched.get(cluster, ()):
            return  # a removed cluster's series go with it; a polled one's in _unwatch_unselected
        listed = self._listed.get(cluster)
        # A name its cluster's last poll did not list has series only because a rule named it
        # exactly (pre-initialised at 0): no longer named, they go, though a glob still matches
        # the name (kept, each typo fixed or name changed by a reload left 18 series for good).
        # Asked of the config's index, not rule by rule (RuleSelection).
        named_only = listed is not None and name not in listed and not self.rule_selection.named(cluster, name)
        if named_only or self.rule_selection.rule_for(cluster, name) is None:
            log.info("connector_unwatched", cluster=cluster, connector=name,
                     state_kept_seconds=self.config.state.forget_vanished_after,
                     note="no rule names it now and its cluster does not list it" if named_only
                     else "no rule selects it now; its state is kept in case one does again")
            self._drop_series(ConnectorKey(cluster, name))


def _restarted_later(state: ConnectorState, than: ConnectorState) -> bool:
    if state.last_restart_at is None:
        return False
    return than.last_restart_at is None or state.last_restart_at > than.last_restart_at
