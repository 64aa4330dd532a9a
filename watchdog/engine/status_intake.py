"""The status trigger: what a poll of a cluster listed, judged connector by connector (and by the
breaker as a whole). What it says once (a state it does not know, a connector awaiting a worker
too long, a rule's names not listed) is poll_watch.py's; what is forgotten of connectors and
clusters is forgetting.py's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from ..config import Rule, StatusTrigger
from ..model import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    Decision,
    Health,
    Trigger,
    Unusable,
    connector_name_problem,
)
from ..policy import last_restart_turn, observe
from ..rules import (
    USER_ERROR_DETAIL,
    awaiting_a_worker,
    classify,
    decide_on_status,
    failure_words,
    left_as_user_error,
    polls_to_confirm,
)
from .core import log
from .flapping import flapping_note
from .forgetting import Forgetting
from .gone_jobs import drop_jobs_of_unlisted
from .name_shown import NAME_CHARS_SHOWN, NAMES_SHOWN, escaped_names
from .poll_pace import PollPace, next_polls
from .poll_watch import TASKS_SHOWN, UNKNOWN_DONE, PollWatch, unassigned_failed_words
from .repeated_ids import repeated_ids, say_changes
from .restart_gap import failure_too_soon
from .running_memory import RunningMemory
from .skip_words import skipped_because
from .stall_rows import stamp_stall_only

_FAILING = frozenset({Health.FAILED, Health.USER_ERROR})


def _say_count_reset(rule: Rule, key: ConnectorKey, before: ConnectorState, after: ConnectorState, now: datetime,
                     *, dry_run: bool) -> None:
    """A poll that reset a connector's restart count (healthy for its gap, policy.observe): said
    once, as the alert path says it (EngineCore.quiet_since_signal). Silent, a connector the
    `gave_up` line had left to a person was next seen restarted with attempts 0, and nothing said
    when or why it was taken back (probe of a soak, F3). After the reset the count is 0 and the
    flag down, so the next healthy poll does not say it again."""
    if not (before.attempts or before.gave_up) or after.attempts or after.gave_up:
        return
    since = after.healthy_since
    healthy_for = round((now - since).total_seconds(), 3) if since is not None else None
    log.info("restart_count_reset", cluster=key.cluster, connector=key.connector, rule=rule.name,
             attempts=before.attempts, healthy_since=since.isoformat() if since is not None else None,
             healthy_for_seconds=healthy_for, gave_up_cleared=before.gave_up, dry_run=dry_run,
             note=("stayed healthy for its backoff gap: its restart count starts again"
                   + (" and the gave-up flag is cleared (the watchdog restarts its failures again, up to "
                      "max_restarts)" if before.gave_up else "")))


class StatusIntake(PollWatch, Forgetting, RunningMemory):
    def on_listing(self, cluster: str, statuses: Mapping[str, ConnectorStatus], *, began: datetime | None = None,
                   by: str = "listing") -> Mapping[str, ConnectorStatus]:
        """What a listing of the cluster showed (a poll, a schedule's turn, or one made on demand
        for an alert or a request): the connectors that exist, their lcc- ids, since when they
        run. Only connectors a listing showed are ever acted on. Returns the listing without the
        names no connector can have (longer than 255 characters, control characters, not valid
        Unicode), which an upstream we do not trust could send to grow our series and state.
        `began`: when the list call went out (the poller's); restarts queued before it for
        connectors it no longer shows end `dropped` (gone_jobs.py, `by` naming it)."""
        now = self._now()
        unusable = [name for name in statuses if connector_name_problem(name) is not None]
        if len(unusable) != self.unusable_names_said.get(cluster, 0):
            # Said when the count changes (at every poll, 6 lines in 30 s said one thing), with the
            # first few names escaped and cut short (they may be huge or hostile): the count alone
            # left the operator unable to tell which FAILED connector nothing watches.
            self.unusable_names_said[cluster] = len(unusable)
            (log.warning if unusable else log.info)(
                "unusable_connector_names_ignored", cluster=cluster, count=len(unusable),
                names=escaped_names(unusable),
                note="names longer than 255 characters, with control characters or not valid Unicode (shown escaped, "
                     f"the first {NAMES_SHOWN}, {NAME_CHARS_SHOWN} characters each); said again when the count "
                     "changes" if unusable else "the listing holds no such name any more")
        elif unusable:
            log.debug("unusable_connector_names_ignored", cluster=cluster, count=len(unusable))
        if unusable:
            self.metrics.unusable_entries.labels(cluster, Unusable.CONNECTOR_NAME_UNUSABLE.value).inc(len(unusable))
            statuses = {name: status for name, status in statuses.items() if connector_name_problem(name) is None}
        # What this listing changes of since when connectors run, kept in the store for the next
        # leader (state/running.py); the first listing since leading takes what the last one kept.
        first = cluster not in self._listed
        running_before = {name for name in self._listed.get(cluster, ()) if ConnectorKey(cluster, name) in self.running_since}
        kept, kept_ids = self._kept_at_first_listing(cluster, now, first)
        self._unlist(cluster, keep=statuses.keys())
        self._listed[cluster] = set(statuses)
        if began is not None:
            # Their `dropped` series stay until the hourly sweep, as a late end's (_forget_series):
            # removed with the connector in this very poll, no scrape saw the count.
            self.late_series.update(drop_jobs_of_unlisted(self.queue, cluster, self._listed[cluster], began, by))
        started: dict[str, datetime] = {}  # those this listing sees become healthy, not seeded from the store
        replaced: list[str] = []  # those whose kept time is of another id
        for name, status in statuses.items():
            key = ConnectorKey(cluster, name)
            before = self.statuses.get(key)
            # Absent from a listing in between (deleted, then created again a poll or more later),
            # its old id is the one retired last under its name.
            gone_id = self._retired_ids.last_of(key) if before is None else None
            if gone_id is not None and status.resource_id and gone_id != status.resource_id:
                self._said_replaced(key, gone_id, status.resource_id, absent=True)
                self.running_since.pop(key, None)  # another connector: counted from this listing
            if before is not None and before.resource_id and before.resource_id != status.resource_id:
                # Deleted and created again under its name since the last listing (Terraform
                # replacing it): the old lcc- id names no connector now. Kept, an alert of the old
                # one (a stall alert on the Metrics API's connector id, sent again until it
                # resolves) restarted the new connector, and each such replacement left its entry
                # for good. Its restart budget is the name's, and stays (docs/configuration.md,
                # vanished connectors).
                if self._by_resource_id.get(before.resource_id) == key:
                    del self._by_resource_id[before.resource_id]
                self._retired_ids.retire(before.resource_id, key)
                self._said_replaced(key, before.resource_id, status.resource_id or None, absent=False)
                # Another connector: running since this listing, not since its namesake's time
                # (kept, a new one was judged on windows from before it existed).
                self.running_since.pop(key, None)
            self.statuses[key] = status
            if status.resource_id:
                self._by_resource_id[status.resource_id] = key
                self._retired_ids.revive(status.resource_id)
            if classify(status) is Health.HEALTHY:
                if key not in self.running_since:
                    seeded = kept.since.get(name) if kept is not None else None
                    if seeded is not None and kept_ids.get(name) != (status.resource_id or None):
                        # Kept for another lcc- id (created again under the name while no daemon
                        # listed it), or for one not known (an older release's row): not its time.
                        seeded = None
                        replaced.append(name)
                    self.running_since[key] = seeded or now
                    if seeded is None:
                        started[name] = now
            else:
                self.running_since.pop(key, None)
        self._after_listing(cluster, now, statuses.keys(), running_before, kept, started, replaced, first=first,
                            write=by != "poll")  # a poll's go after its own writes (on_poll)
        self._note_repeated_ids(cluster, statuses)
        return statuses

    def _note_repeated_ids(self, cluster: str, statuses: Mapping[str, ConnectorStatus]) -> None:
        """Ids the listing gives more than one connector name none of them (repeated_ids.py): left
        out of the id index (an alert of one took the last connector listed with it), kept for
        the stall check (stall_candidates), said when that changes."""
        repeated = repeated_ids(statuses)
        for resource_id in repeated:
            if (named := self._by_resource_id.get(resource_id)) is not None and named.cluster == cluster:
                del self._by_resource_id[resource_id]
        say_changes(cluster, self.ids_repeated.get(cluster, {}), repeated)
        if repeated:
            self.ids_repeated[cluster] = repeated
        else:
            self.ids_repeated.pop(cluster, None)

    def _held_unaddressable(self, key: ConnectorKey) -> bool:
        """Whether the connector's last decision held it `unaddressable` (EngineCore.held)."""
        held = self.held.get(key)
        return held is not None and held[0] is Decision.UNADDRESSABLE

    def _said_replaced(self, key: ConnectorKey, old_id: str, new_id: str | None, *, absent: bool) -> None:
        """A connector deleted and created again under its name (`absent`: a listing in between
        did not show it). Said: a team that re-created a connector to fix it saw it given up at
        once, its old failure streak counted on, and no line said why (a soak probe)."""
        log.info("connector_replaced", cluster=key.cluster, connector=key.connector, old_id=old_id, new_id=new_id,
                 absent_from_a_listing_between=absent,
                 note="deleted and created again under its name: its restart budget, backoff and gave-up "
                      "flag are the name's, and stay (docs/configuration.md); `watchdog restart` "
                      "restarts it by name whatever they say")

    async def on_poll(self, cluster: str, statuses: Mapping[str, ConnectorStatus], *, generation: int | None = None,
                      began: datetime | None = None) -> bool:
        """Judge what a poll listed. `generation`: the cluster's (cluster_generation) when the poll
        began; a reload or discovery that forgot the cluster since (removed, or redefined) ends
        the poll there, quietly, False: judged after forget_cluster, a removed cluster's every
        connector got its series back, for good. `began`: when its list call went out (on_listing)."""
        going_on = self.cluster_unchanged(cluster, generation)
        if not going_on():
            return False
        now = self._now()
        self.poll_pace.polled(cluster, generation, now)
        counts = dict.fromkeys(Health, 0)
        judged: list[tuple[Rule, ConnectorKey, ConnectorStatus, Health]] = []
        statuses = self.on_listing(cluster, statuses, began=began, by="poll")
        owners = self.run_owners  # the config's as the poll began, should a reload come meanwhile
        # Rules on trial judged beside the live rule that owns the connector (trial_owners.py).
        trials: dict[ConnectorKey, Rule] = {}
        stall_owners, stalled, stall_only = self.stall_owners, set[str](), list[tuple[str, ConnectorStatus]]()

        def sort(item: tuple[str, ConnectorStatus]) -> None:
            name, status = item
            rule, trial = owners.owners(cluster, name)
            if stall_owners.rule_for(cluster, name) is not None:  # shown watched by its stall checks (stall_rows.py)
                stalled.add(name)
                if rule is None:
                    stall_only.append(item)
            if rule is not None:
                health = classify(status)
                counts[health] += 1
                judged.append((rule, ConnectorKey(cluster, name), status, health))
                if trial is not None:
                    trials[judged[-1][1]] = trial

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
        # And those no failure restart can reach (`unaddressable`, as the last poll held them: a name
        # no call may address, or one the worker's web server refused; unroutable.py): left to
        # people as well. Counted, one such connector and one other failure of a cluster of three
        # held every restart there.
        left_alone = sum(1 for rule, key, _, health in failing_now if loaded[key].gave_up or (
            left_as_user_error(rule, health)) or self._held_unaddressable(key))
        failing = len(failing_now) - left_alone
        self.breaker.observe_cluster(cluster, failing, len(judged) - left_alone)
        self.update_breaker(now)
        # Failing connectors are judged, and so queued, least recently restarted first (never
        # restarted first): the fleet breaker lets `max_restarts` out per window in queue order,
        # and in listing order the same connectors took that budget window after window (f0 and
        # f1 four restarts each in an hour) while others failing as long had none.
        judged.sort(key=lambda item: last_restart_turn(loaded.get(item[1])))
        # Each connector judged on its state as read in the slice that saves it: `loaded` is from
        # before the event loop was let go, and the queue may have sent a restart meanwhile (its
        # attempt counted in the state). Judged on `loaded`, the poll saved over that attempt: the
        # backoff started over and max_restarts was never reached.
        stored.clear()
        def judge(item: tuple[Rule, ConnectorKey, ConnectorStatus, Health]) -> None:
            before = stored.pop(item[1])
            self._judge(*item, now, before)
            trial = trials.get(item[1])
            if trial is not None:
                self._judge_trial(trial, *item[1:], now, before)

        if not await self._in_slices(judged, judge, going_on=going_on, read=read):
            return False
        self.stall_rows.polled(cluster, stalled)
        if not await stamp_stall_only(self._in_slices, self.state, cluster, stall_only, now, going_on):
            return False
        self._watch_probe(cluster, failing, now)
        self._watch_named(cluster, statuses.keys())
        self.metrics.degraded_too_long.labels(cluster).set(
            sum(1 for key in self.degraded_reported if key.cluster == cluster)
        )
        self.keep_running(cluster)
        return True

    def _judge(
        self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, health: Health, now: datetime,
        stored: ConnectorState,
    ) -> None:
        """`stored`: the connector's state, read in this slice (load_many). The status seen and the
        state are written in one statement (observe_status with the state)."""
        self._watch_degraded(rule, key, status, now)
        self._watch_unroutable(rule, key, status, now)
        self._watch_unknown(rule, key, status, health)
        flapping = self.flaps.observe(key, stored.health in _FAILING, health in _FAILING, now)
        if flapping is not None:
            log.warning("connector_flapping", cluster=key.cluster, connector=key.connector, rule=rule.name, **flapping,
                        gave_up=stored.gave_up, note=flapping_note(stored.gave_up))
        dry_run = self.config.dry_run or rule.dry_run
        known = self.load_state(key, dry_run=dry_run, stored=stored)
        observed = observe(known, health, now, rule.backoff)
        _say_count_reset(rule, key, known, observed, now, dry_run=dry_run)
        state = self._budget_back(rule, key, observed)
        polled_every = self.poll_every.get(key.cluster)
        decision = decide_on_status(rule, state, health, now, pending=self._pending_for(key, dry_run=rule.dry_run),
                                    polled_every=polled_every)
        if decision is Decision.BUDGET_SPENT:
            state = self._give_up(rule, key, state, save=False)
        # Restarted by a schedule or by name moments ago: waits out the gap (restart_gap.py).
        too_soon = failure_too_soon(self.state, key, state, now, self.config.queue.manual_restart_gap,
                                    dry_run=dry_run) if decision is Decision.RESTART else ""
        if too_soon:
            decision = Decision.RECENTLY_RESTARTED
        self.save_state(key, state, dry_run=dry_run, seen=(status.state or "UNUSABLE", now))
        self.show_state(key, state)
        if state.attempts and not dry_run:
            # Restarted for failures before (by this process or one before it): its `accepted`
            # series at 0 now, not at 1 with its next restart, which increase() (the alert
            # WatchdogConnectorRestartedTooOften) missed once per daemon restart. Failing ones alone: bounded.
            self.metrics.init_connector(key.cluster, key.connector, rule.name, Trigger.STATUS, every_outcome=False)
        detail = ""
        if status.unusable is not None:
            detail = f"its list entry could not be read ({status.unusable}): health unknown, looked at again next poll"
        elif awaiting_a_worker(status) and status.state.upper() == "DEGRADED":
            detail = "DEGRADED with no task in error: tasks await a worker; Confluent allocates them"
        elif awaiting_a_worker(status) and health is not Health.FAILED:
            detail = "UNASSIGNED: awaiting a worker (a rebalance assigns it)"
        elif decision is Decision.UNCONFIRMED:
            detail = _confirming(rule, state, polled_every, self.poll_pace, key.cluster)
        elif decision is Decision.USER_ERROR:
            detail = USER_ERROR_DETAIL
        elif decision is Decision.TRANSIENT and key in self.unknown_reported:
            # Said once as `unknown_state`; its row shows it for as long as it lasts.
            detail = f"in a state the watchdog does not know ({', '.join(self.unknown_reported[key][:TASKS_SHOWN])}): {UNKNOWN_DONE}"
        elif decision is Decision.TRANSIENT and key in self.unchosen_reported:
            # Said once as `transient_too_long`; "in passing, the next poll looks again" went on
            # at every poll, and in status, for a connector RESTARTING for good (probe of real Kafka, F2).
            assert isinstance(rule.trigger, StatusTrigger)
            detail = (f"{status.state} for over {rule.trigger.degraded_report_after:g} s (transient_too_long): not "
                      "restarted; the warning says what to look at")
        # Those above hold it, as status shows (a `transient` among them: EngineCore.held); the
        # words of a skip of its own (a PAUSED connector, its backoff, its spent budget) do not.
        shown_held = bool(detail)
        detail = detail or too_soon or skipped_because(decision, Trigger.STATUS, rule, status, state, now)
        if health is Health.FAILED and status.state.upper() == "UNASSIGNED":
            # Its reason says the tasks failed; this says what a restart does to the rest.
            said = unassigned_failed_words(status, self_managed=self.self_managed(key.cluster))
            detail = f"{said}{'; ' if detail else ''}{detail}"
        self._decide_and_submit(
            rule.name, Trigger.STATUS, key, decision, now, windows=self._rule_windows.get(rule.name),
            reason=failure_words(health, status), dry_run=rule.dry_run,
            attempt=state.attempts + 1, health=health, status=status, state=state, detail=detail,
            transient_held=shown_held,
        )

    def _judge_trial(self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, health: Health, now: datetime,
                     before: ConnectorState) -> None:
        """A rule on trial beside the live rule that owns the connector (trial_owners.py), judged
        after it, as in dry-run: on the dry run's view (EngineCore.dry_states) where there is one,
        else on the state as this poll found it (`before`: the live rule's observation of the
        same poll is not counted twice). It writes neither the live state nor the gauges, nor what
        status shows holding the connector: those are the live rule's."""
        view = self.dry_states.get(key)
        state = self._budget_back(rule, key, observe(view or before, health, now, rule.backoff))
        polled_every = self.poll_every.get(key.cluster)
        decision = decide_on_status(rule, state, health, now, pending=self._pending_for(key, dry_run=True),
                                    polled_every=polled_every)
        if decision is Decision.BUDGET_SPENT:
            state = self._give_up(rule, key, state, save=False)
        if view is not None or state.gave_up != before.gave_up:
            # Its own give-up (or its budget back where the live rule gave up) kept in its view:
            # each said once, as a live one is, not at every poll.
            self.dry_states[key] = state
        if decision is Decision.UNCONFIRMED:
            detail = _confirming(rule, state, polled_every, self.poll_pace, key.cluster)
        elif decision is Decision.USER_ERROR:
            detail = USER_ERROR_DETAIL
        else:
            detail = skipped_because(decision, Trigger.STATUS, rule, status, state, now)
        held = self.held.get(key)
        self._decide_and_submit(
            rule.name, Trigger.STATUS, key, decision, now, windows=self._rule_windows.get(rule.name),
            reason=failure_words(health, status), dry_run=True, attempt=state.attempts + 1, health=health,
            status=status, state=state, detail=detail,
        )
        if held is None:
            self.held.pop(key, None)
        else:
            self.held[key] = held

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

    def on_poll_failed(self, cluster: str, result: str) -> None:
        """A poll that decided nothing: `result` is its outcome (server_error...) or `unusable`.
        Counted every time; the poller says it (`poll_failed`), at most every few minutes while
        it goes on (triggers/streak.py)."""
        self.metrics.polls.labels(cluster, result).inc()


def _confirming(rule: Rule, state: ConnectorState, polled_every: float | None, pace: PollPace,
                cluster: str) -> str:
    """What an `unconfirmed` decision waits for: the polls in a row that confirm the failure
    (rules.polls_to_confirm), and about when the first restart comes if it goes on. Said in its
    decision line and, while it waits, in `watchdog status --daemon` (EngineCore.held): the row
    said NEXT ALLOWED `now` for the whole confirmation (two minutes with `interval: 60s,
    confirm_polls: 3`), read as a restart that should have been made already. Its time comes from
    the interval while polls come at it, not while they are held (`pace`: poll_pace.next_polls)."""
    trigger = rule.trigger
    assert isinstance(trigger, StatusTrigger)
    needed = polls_to_confirm(trigger, polled_every)
    seen = state.consecutive_failures
    own_pace = needed == trigger.confirm_polls or polled_every is None
    step = trigger.interval if own_pace else polled_every
    assert step is not None
    left = ("restarted at the last of them if it still fails, "
            + next_polls(max(needed - seen, 0), step, pace.held(cluster, step)))
    if own_pace:
        return (f"seen failed on {seen} of the {needed} polls in a row that confirm it (confirm_polls "
                f"{trigger.confirm_polls}, every {trigger.interval:g}s): {left}")
    return (f"seen failed on {seen} of the {needed} polls in a row that confirm it: confirm_polls "
            f"{trigger.confirm_polls} of the rule's {trigger.interval:g}s interval, the cluster being "
            f"polled every {polled_every:g}s for another rule; {left}")
