"""The status trigger: what a poll of a cluster listed, judged connector by connector (and by the
breaker as a whole); connectors no rule watches any more forgotten, and those that vanished from
their cluster forgotten once they have stayed away for `state.forget_vanished_after`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone

from ..config import Rule, StatusTrigger
from ..model import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    Decision,
    Health,
    Trigger,
    connector_name_problem,
)
from ..policy import observe
from ..report import StatusRow, format_span
from ..rules import (
    USER_ERROR_DETAIL,
    awaiting_a_worker,
    classify,
    decide_on_status,
    named_but_missing,
    polls_to_confirm,
    unknown_states,
)
from .core import log
from .decisions import Decisions

_FAILING = frozenset({Health.FAILED, Health.USER_ERROR})
_NAMES_SHOWN = 20  # of a rule's names not listed, in one log line
_NEVER = datetime.min.replace(tzinfo=timezone.utc)
# Tasks (and unknown states) named in one `unknown_state` or `degraded_too_long` line; the rest
# are counted. A connector listed with 50,000 tasks made lines of 1.4 MB.
_TASKS_SHOWN = 20
# What `unknown_state` says will happen (StatusIntake._watch_unknown).
_UNKNOWN_DONE = ("taken as transient, not restarted; look at the connector, and restart it by hand (watchdog "
                 "restart) if it has failed")
_UNKNOWN_NOTE = f"a state the watchdog does not know: {_UNKNOWN_DONE}"
_UNKNOWN_KNOWN_BESIDE_NOTE = ("a task state the watchdog does not know, beside tasks in states it does: the connector is "
                              "judged {health} for those, and decided as the rule says; look at the connector")


def _last_restart(state: ConnectorState | None) -> datetime:
    """A failing connector's place in a poll's turn: never restarted first, then by its last restart."""
    return _NEVER if state is None or state.last_restart_at is None else state.last_restart_at


class StatusIntake(Decisions):
    def on_listing(self, cluster: str, statuses: Mapping[str, ConnectorStatus]) -> Mapping[str, ConnectorStatus]:
        """What a listing of the cluster showed (a poll, a schedule's turn, or one made on demand
        for an alert or a request): the connectors that exist, their lcc- ids, since when they
        run. Only connectors a listing showed are ever acted on. Returns the listing without the
        names no connector can have (longer than 255 characters, control characters, not valid
        Unicode), which an upstream we do not trust could send to grow our series and state."""
        now = self._now()
        unusable = [name for name in statuses if connector_name_problem(name) is not None]
        if unusable:
            log.warning("unusable_connector_names_ignored", cluster=cluster, count=len(unusable),
                        note="names longer than 255 characters, with control characters or not valid Unicode")
            statuses = {name: status for name, status in statuses.items() if connector_name_problem(name) is None}
        self._unlist(cluster, keep=statuses.keys())
        self._listed[cluster] = set(statuses)
        for name, status in statuses.items():
            key = ConnectorKey(cluster, name)
            before = self.statuses.get(key)
            if before is not None and before.resource_id and before.resource_id != status.resource_id:
                # Deleted and created again under its name since the last listing (Terraform
                # replacing it): the old lcc- id names no connector now. Kept, an alert of the old
                # one (a stall alert on the Metrics API's connector id, sent again until it
                # resolves) restarted the new connector, and each such replacement left its entry
                # for good. Its restart budget is the name's, and stays (README, vanished connectors).
                if self._by_resource_id.get(before.resource_id) == key:
                    del self._by_resource_id[before.resource_id]
                self._retired_ids.retire(before.resource_id, key)
            self.statuses[key] = status
            if status.resource_id:
                self._by_resource_id[status.resource_id] = key
                self._retired_ids.revive(status.resource_id)
            if classify(status) is Health.HEALTHY:
                self.running_since.setdefault(key, now)
            else:
                self.running_since.pop(key, None)
        return statuses

    async def on_poll(self, cluster: str, statuses: Mapping[str, ConnectorStatus], *, generation: int | None = None) -> bool:
        """Judge what a poll listed. `generation`: the cluster's (cluster_generation) when the poll
        began; a reload or discovery that forgot the cluster since (removed, or redefined) ends
        the poll there, quietly, False: judged after forget_cluster, a removed cluster's every
        connector got its series back, for good."""
        going_on = self.cluster_unchanged(cluster, generation)
        if not going_on():
            return False
        now = self._now()
        counts = dict.fromkeys(Health, 0)
        judged: list[tuple[Rule, ConnectorKey, ConnectorStatus, Health]] = []
        statuses = self.on_listing(cluster, statuses)
        owners = self.status_owners  # the config's as the poll began, should a reload come meanwhile

        def sort(item: tuple[str, ConnectorStatus]) -> None:
            name, status = item
            rule = owners.rule_for(cluster, name)
            if rule is not None:
                health = classify(status)
                counts[health] += 1
                judged.append((rule, ConnectorKey(cluster, name), status, health))

        if not await self._in_slices(list(statuses.items()), sort, writes=False, going_on=going_on):
            return False
        for name in self._watched.get(cluster, set()) - {key.connector for _, key, _, _ in judged}:
            if name in statuses:
                self._unwatch(ConnectorKey(cluster, name))  # listed, but no rule selects it now
            else:
                self._vanish(ConnectorKey(cluster, name))
        self._watched[cluster] = {key.connector for _, key, _, _ in judged}
        for health, count in counts.items():
            self.metrics.connectors.labels(cluster, health.value).set(count)
        loaded: dict[ConnectorKey, ConnectorState] = {}
        stored: dict[ConnectorKey, ConnectorState] = {}

        def read(items: Sequence[tuple[Rule, ConnectorKey, ConnectorStatus, Health]]) -> None:
            stored.update(self.state.load_many([key for _, key, _, _ in items]))

        def load(item: tuple[Rule, ConnectorKey, ConnectorStatus, Health]) -> None:
            rule, key, _, _ = item
            loaded[key] = self.load_state(key, dry_run=self.config.dry_run or rule.dry_run, stored=stored.pop(key))

        failing_now = [item for item in judged if item[3] in _FAILING]
        if not await self._in_slices(failing_now, load, going_on=going_on, read=read):
            return False
        # The breaker sees the whole cluster before any connector of it is judged. Connectors
        # given up on are known broken and left to people, not signs of an outage: counted, three
        # that had failed one by one over days kept a cluster of five open for good, every
        # restart there (a person's, a schedule's) held. So are those in a user error their rule
        # does not restart (no restart fixes a configuration): three connectors deployed with a
        # bad configuration held a cluster of five open alike.
        left_alone = sum(1 for rule, key, _, health in failing_now if loaded[key].gave_up or (
            health is Health.USER_ERROR and not rule.restart_user_errors))
        failing = len(failing_now) - left_alone
        self.breaker.observe_cluster(cluster, failing, len(judged) - left_alone)
        self.update_breaker(now)
        # Failing connectors are judged, and so queued, least recently restarted first (never
        # restarted first): the fleet breaker lets `max_restarts` out per window in queue order,
        # and in listing order the same connectors took that budget window after window (f0 and
        # f1 four restarts each in an hour) while others failing as long had none.
        judged.sort(key=lambda item: _last_restart(loaded.get(item[1])))
        # Each connector judged on its state as read in the slice that saves it: `loaded` is from
        # before the event loop was let go, and the queue may have sent a restart meanwhile (its
        # attempt counted in the state). Judged on `loaded`, the poll saved over that attempt: the
        # backoff started over and max_restarts was never reached.
        stored.clear()
        if not await self._in_slices(judged, lambda item: self._judge(*item, now, stored.pop(item[1])),
                                     going_on=going_on, read=read):
            return False
        self._watch_probe(cluster, failing, now)
        self._watch_named(cluster, statuses.keys())
        self.metrics.degraded_too_long.labels(cluster).set(
            sum(1 for key in self.degraded_reported if key.cluster == cluster)
        )
        return True

    def _judge(
        self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, health: Health, now: datetime,
        stored: ConnectorState,
    ) -> None:
        """`stored`: the connector's state, read in this slice (load_many). The status seen and the
        state are written in one statement (observe_status with the state)."""
        self._watch_degraded(rule, key, status, now)
        self._watch_unknown(rule, key, status, health)
        dry_run = self.config.dry_run or rule.dry_run
        state = self._budget_back(rule, key, observe(self.load_state(key, dry_run=dry_run, stored=stored), health, now,
                                                     rule.backoff))
        polled_every = self.poll_every.get(key.cluster)
        decision = decide_on_status(rule, state, health, now, pending=self._pending_for(key, dry_run=rule.dry_run),
                                    polled_every=polled_every)
        if decision is Decision.BUDGET_SPENT:
            state = self._give_up(rule, key, state, save=False)
        self.save_state(key, state, dry_run=dry_run, seen=(status.state or "UNUSABLE", now))
        self.show_state(key, state)
        detail = ""
        if status.unusable is not None:
            detail = f"its list entry could not be read ({status.unusable}): health unknown, looked at again next poll"
        elif key in self.degraded_since and status.state.upper() == "DEGRADED":
            detail = "DEGRADED with no task in error: tasks await a worker; Confluent allocates them"
        elif key in self.degraded_since:
            detail = "UNASSIGNED: awaiting a worker (a rebalance assigns it)"
        elif decision is Decision.UNCONFIRMED:
            detail = _confirming(rule, state, polled_every)
        elif decision is Decision.USER_ERROR:
            detail = USER_ERROR_DETAIL
        elif decision is Decision.TRANSIENT and key in self.unknown_reported:
            # Said once as `unknown_state`; its row shows it for as long as it lasts.
            detail = f"in a state the watchdog does not know ({', '.join(self.unknown_reported[key][:_TASKS_SHOWN])}): {_UNKNOWN_DONE}"
        self._decide_and_submit(
            rule.name, Trigger.STATUS, key, decision, now, windows=self._rule_windows.get(rule.name),
            reason=f"{health.value}: connector {status.state}", dry_run=rule.dry_run,
            attempt=state.attempts + 1, health=health, status=status, state=state, detail=detail,
        )

    def _watch_probe(self, cluster: str, failing: int, now: datetime) -> None:
        """The cluster breaker's probe (Breaker.probe) heals once its connector, restarted as the
        probe, has stayed healthy long enough for its restart count to reset (policy.observe):
        the outage is over, and the failures still seen are left from it."""
        probe = self.breaker.probe_of(cluster)
        if probe is None:
            return
        connector, granted_at = probe
        state = self.state.load(ConnectorKey(cluster, connector))
        restarted = state.last_restart_at is not None and state.last_restart_at >= granted_at
        if not (restarted and state.health is Health.HEALTHY and state.attempts == 0):
            return
        self.breaker.probe_healed(cluster, failing)
        log.warning("breaker_probe_healed", cluster=cluster, connector=connector, failing=failing,
                    note="the outage is over: these failures no longer hold restarts; each is restarted by its own "
                         "backoff, paced by the fleet breaker")
        self.update_breaker(now)

    def _watch_named(self, cluster: str, listed: Iterable[str]) -> None:
        """A status rule's exact `connectors:` names that its cluster does not list (a typo, a
        name written with a space, a connector renamed or deleted) watch nothing: a failure of
        the connector meant was never restarted, and nothing said so. Said once per rule and
        cluster when such names appear or change, and when they are all listed again."""
        present = set(listed)
        watching = {rule.name for rule in self.config.rules if rule.enabled and isinstance(rule.trigger, StatusTrigger)}
        for where in [where for where in self.named_missing_reported if where[1] == cluster and where[0] not in watching]:
            del self.named_missing_reported[where]  # a rule removed or turned off: said afresh if it returns
        for rule in self.config.rules:
            if rule.name not in watching:
                continue
            missing = tuple(named_but_missing(rule, cluster, present))
            where = (rule.name, cluster)
            if missing == self.named_missing_reported.get(where, ()):
                continue
            if missing:
                self.named_missing_reported[where] = missing
                log.warning("selected_connectors_not_listed", cluster=cluster, rule=rule.name,
                            connectors=list(missing[:_NAMES_SHOWN]), count=len(missing),
                            note="the rule names these connectors exactly and the cluster has none of that name "
                                 "(a typo? renamed? deleted?): nothing watches them")
            else:
                del self.named_missing_reported[where]
                log.info("selected_connectors_listed", cluster=cluster, rule=rule.name)

    def _watch_unknown(self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, health: Health) -> None:
        """A state no known API reports (one Confluent adds tomorrow) is classified `transient`,
        so it is never restarted on; it is said once, with the state, when it appears or changes.
        Left unsaid, a failure reported under a new name was never restarted, and nothing told.
        A task in one beside a FAILED (or USER_ACTIONABLE_ERROR) task of a connector in a known
        state is judged by that task (rules.classify), and the line says so: it said "not
        restarted" as the restart went."""
        unknown = unknown_states(status)
        if unknown == self.unknown_reported.get(key, ()):
            return
        if unknown:
            self.unknown_reported[key] = unknown
            log.warning("unknown_state", cluster=key.cluster, connector=key.connector, rule=rule.name,
                        states=list(unknown[:_TASKS_SHOWN]), connector_state=status.state,
                        **_shown_tasks(status, unknown_first=True),
                        **({"states_not_shown": len(unknown) - _TASKS_SHOWN} if len(unknown) > _TASKS_SHOWN else {}),
                        note=_UNKNOWN_NOTE if health is Health.TRANSIENT else _UNKNOWN_KNOWN_BESIDE_NOTE.format(
                            health=health.value))
        else:
            del self.unknown_reported[key]
            log.info("unknown_state_ended", cluster=key.cluster, connector=key.connector, state=status.state)

    def _watch_degraded(self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, now: datetime) -> None:
        """A connector DEGRADED with no task in error is not restarted (its tasks await a worker);
        one that stays so longer than the rule's `degraded_report_after` is reported once. So is
        one UNASSIGNED or RUNNING with a task UNASSIGNED (awaiting_a_worker): Kafka Connect has no
        DEGRADED, and such a connector of a self-managed cluster stayed unreported for good."""
        if not awaiting_a_worker(status):
            self.degraded_since.pop(key, None)
            if key in self.degraded_reported:
                self.degraded_reported.discard(key)
                log.info("degraded_ended", cluster=key.cluster, connector=key.connector, state=status.state)
            return
        since = self.degraded_since.setdefault(key, now)
        assert isinstance(rule.trigger, StatusTrigger)
        limit = rule.trigger.degraded_report_after
        if key not in self.degraded_reported and (now - since).total_seconds() >= limit:
            self.degraded_reported.add(key)
            log.warning(
                "degraded_too_long", cluster=key.cluster, connector=key.connector, rule=rule.name,
                since=since.isoformat(), report_after_seconds=limit,
                state=status.state, **_shown_tasks(status), note=_awaiting_note(status),
            )

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
        self.degraded_since.pop(key, None)
        self.degraded_reported.discard(key)
        self.unknown_reported.pop(key, None)
        self.dry_states.pop(key, None)
        self._unjudged.pop(key, None)
        self._unresolved_said.pop(key, None)
        self._last_decision.pop(key, None)
        self.held.pop(key, None)
        self.firing_alerts.pop(key, None)
        self._forget_series(key)

    def _forget_series(self, key: ConnectorKey) -> None:
        """A connector's series go when it does, unless a restart of it is still queued or on the
        wire: its end is counted (and its backoff shown) after the connector went. Removed then,
        the end made them again, at 1, for good: series of deleted connectors piled up, and
        Prometheus' increase() never saw the outcome (a series that starts at 1 has no increase).
        Kept, they go at the first hourly sweep after the restart ended (forget_late_series)."""
        if self.queue.is_pending(key):
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

    async def forget_vanished(self) -> int:
        """Forget connectors that the latest successful poll of their cluster did not list, or
        that no status rule watches any more, and that no poll has judged for
        `state.forget_vanished_after` (from the state file, so a restart of the daemon does not
        reset the grace). Clusters not polled successfully since the daemon started are left
        alone: absence from no answer proves nothing. In slices, as a poll (_in_slices): the
        connectors of a cluster removed were forgotten one transaction each in one go (2,000 of
        them held the event loop 26 s with the database 1 ms away, and the lease was lost).
        Only the rows not seen within the grace are read: every row, the connectors each poll
        just saw included, cost 0.3 s of the event loop every hour at 20,000 connectors watched
        (0.7 to 0.9 s at 50,000), with nothing to forget."""
        self.forget_late_series()
        grace = timedelta(seconds=self.config.state.forget_vanished_after)
        gone = []
        for row in self.state.rows_seen_before(self._now() - grace):
            listed = self._listed.get(row.key.cluster)
            if listed is None and row.key.cluster not in self.config.clusters:
                # A cluster no longer watched (discovery dropped it, or the config no longer
                # names it): its connectors are gone with it, and go after the same grace.
                listed = set()
            # Judged by the latest poll (so listed by it): a status rule watches it.
            watched = row.key.connector in self._watched.get(row.key.cluster, set())
            if listed is not None and not watched:
                gone.append(row)

        forgotten = 0

        def forget(row: StatusRow) -> None:
            nonlocal forgotten
            if row.key.connector in self._watched.get(row.key.cluster, set()):
                return  # back, and judged by a poll that ran between two slices: its state is live
            log.info("connector_forgotten", cluster=row.key.cluster, connector=row.key.connector,
                     last_seen=row.seen_at.isoformat() if row.seen_at else None)
            self.state.forget(row.key)
            forgotten += 1

        await self._in_slices(gone, forget)
        return forgotten

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
        self.forget_memory_of(cluster)
        # The caller removes every series of the cluster; a restart still pending makes its own
        # again when it ends, and the hourly sweep removes them once the cluster is not listed.
        self.late_series.update(key for key in self.queue.pending_keys() if key.cluster == cluster)

    def stand_by(self) -> None:
        """This replica stopped leading: what its polls showed is the new leader's to see. Kept,
        it decided the restarts recovered when this replica led again (a lease flap): one the
        other leader accepted for a connector seen PAUSED here hours before was dropped at its
        turn as paused, never sent. Leading again, the first polls show what is there then.
        The metrics are not touched here: Metrics.stand_by zeroes the gauges, and the counters
        keep what this replica did while it led."""
        for known in (self.statuses, self._listed, self._by_resource_id, self._watched, self.running_since,
                      self.degraded_since, self.unknown_reported, self._unjudged, self._unresolved_said, self._last_decision,
                      self.dry_states, self.held, self.firing_alerts, self._retired_ids):
            known.clear()
        self.degraded_reported.clear()

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

    def on_poll_failed(self, cluster: str, result: str) -> None:
        """A poll that decided nothing: `result` is its outcome (server_error...) or `unusable`.
        Counted every time; the poller says it (`poll_failed`), at most every few minutes while
        it goes on (triggers/streak.py)."""
        self.metrics.polls.labels(cluster, result).inc()


def _confirming(rule: Rule, state: ConnectorState, polled_every: float | None) -> str:
    """What an `unconfirmed` decision waits for: the polls in a row that confirm the failure
    (rules.polls_to_confirm), and about when the first restart comes if it goes on. Said in its
    decision line and, while it waits, in `watchdog status --daemon` (EngineCore.held): the row
    said NEXT ALLOWED `now` for the whole confirmation (two minutes with `interval: 60s,
    confirm_polls: 3`), read as a restart that should have been made already."""
    trigger = rule.trigger
    assert isinstance(trigger, StatusTrigger)
    needed = polls_to_confirm(trigger, polled_every)
    seen = state.consecutive_failures
    own_pace = needed == trigger.confirm_polls or polled_every is None
    step = trigger.interval if own_pace else polled_every
    assert step is not None
    left = f"restarted at the last of them if it still fails, in about {format_span(max(needed - seen, 0) * step)}"
    if own_pace:
        return (f"seen failed on {seen} of the {needed} polls in a row that confirm it (confirm_polls "
                f"{trigger.confirm_polls}, every {trigger.interval:g}s): {left}")
    return (f"seen failed on {seen} of the {needed} polls in a row that confirm it: confirm_polls "
            f"{trigger.confirm_polls} of the rule's {trigger.interval:g}s interval, the cluster being "
            f"polled every {polled_every:g}s for another rule; {left}")


def _shown_tasks(status: ConnectorStatus, *, unknown_first: bool = False) -> dict[str, object]:
    """The `tasks` of a log line (id: state), at most _TASKS_SHOWN of them (those in a state no API
    reports first, with `unknown_first`), and how many were left out."""
    tasks = list(status.tasks)
    if unknown_first:
        unknown = set(unknown_states(status))
        tasks.sort(key=lambda task: task.state not in unknown)
    shown: dict[str, object] = {"tasks": {t.id: t.state for t in tasks[:_TASKS_SHOWN]}}
    if len(tasks) > _TASKS_SHOWN:
        shown["tasks_not_shown"] = len(tasks) - _TASKS_SHOWN
    return shown


def _awaiting_note(status: ConnectorStatus) -> str:
    """What a `degraded_too_long` line advises: Confluent allocates a DEGRADED connector's tasks;
    a Kafka Connect instance UNASSIGNED that long is run by no worker."""
    if status.state.upper() == "DEGRADED":
        return "DEGRADED with no task in error (tasks await a worker): not restarted; ask Confluent support if it stays"
    # Not "no worker runs it": before Kafka 2.6 (KAFKA-9472) a task removed by lowering tasks.max
    # stays listed UNASSIGNED for good, and before 3.6 (KAFKA-12525) a stale UNASSIGNED can hide a
    # task that runs.
    return ("UNASSIGNED: no worker has said it runs it (a worker that left has its instances reassigned after "
            "scheduled.rebalance.max.delay.ms, 5 minutes by default; before Kafka 2.6 a task removed by lowering "
            "tasks.max stays listed so, and before 3.6 a stale UNASSIGNED can hide one that runs): not restarted, "
            "a restart of what failed leaves it; check the workers, or restart it by hand (watchdog restart)")
