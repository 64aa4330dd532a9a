"""Every decision recorded (metric and log event), held by the gates where they say so, and each
restart submitted to the queue; `RequestRecord` keeps what became of it for the API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from ..config import CloudCluster, Rule, ScheduleTrigger, StatusTrigger
from ..logs import without_known_secrets
from ..model import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    Decision,
    Health,
    Outcome,
    PendingPhase,
    RestartRequest,
    Trigger,
)
from ..policy import backoff_gap, give_up, quiet_since_signal, signal_cleared
from ..queue import QueueClosed, QueueFull, RestartJob, new_job_id
from ..report.attempts import attempts_note, history_to_read
from ..rules import selects
from ..state import StateStoreError
from ..windows import Windows
from .core import FAILURE_TRIGGERS, log
from .gates import Gates
from .recorder import store_noun
from .unroutable import may_be_refused_for_its_name, refused_for_its_name, refused_name_detail

# What the gates hold a wanted restart with (Gates.gate): a connector so held shows it in status.
GATE_HOLDS = frozenset({Decision.WINDOW_CLOSED, Decision.BREAKER_OPEN, Decision.BLOCKED})
# What `watchdog status --daemon` shows as holding a failing connector (EngineCore.held): the
# gates, a failure its rule has not confirmed yet (`unconfirmed`, the polls it still waits for in
# its detail), a user error its rule leaves alone, a name no call may address (`unaddressable`:
# restarted by nothing, ever), a restart the full queue refused
# (`queue_full`: decided again at the next poll); and a poll's `transient` that has a detail (a
# DEGRADED connector whose tasks await a worker, a state the watchdog does not know, an entry
# that cannot be read), not a PAUSED or PROVISIONING one, whose STATE says it. Not shown, its row
# said NEXT ALLOWED `now` all the while.
HELD_SHOWN = GATE_HOLDS | {Decision.UNCONFIRMED, Decision.USER_ERROR, Decision.QUEUE_FULL, Decision.UNADDRESSABLE}

# The firing alerts that join a queued restart with a request of their own (a state row, a
# restart_queued line, an id in its answers and its restart_finished line); more only enter its
# `alerts`, in memory, which a resolution consults the same way. One per alert, 3 webhooks of
# 3,000 per-task alerts made a job of 9,000 requests and state rows, a 171 KB answer to GET
# /v1/restarts/{id}, a restart_finished line naming 9,000 ids.
ALERTS_JOINED = 100
# Triggers whose request is made once and not decided again: a restart asked for by name, a
# schedule's run.
_ASKED_ONCE = frozenset({Trigger.MANUAL, Trigger.SCHEDULE})


def new_request_id() -> str:
    return secrets.token_hex(8)


@dataclass
class RequestRecord:
    """What became of one request, for the API: the decision now, the job's outcome later."""

    request_id: str
    key: ConnectorKey
    rule: str
    trigger: Trigger
    reason: str
    requested_at: datetime
    decision: Decision
    job: RestartJob | None = None
    detail: str = ""  # why it was skipped or held, as the decision log says it ("" for a plain restart)


class Decisions(Gates):
    def _decide_and_submit(
        self,
        rule: str,
        trigger: Trigger,
        key: ConnectorKey,
        decision: Decision,
        now: datetime,
        *,
        windows: Windows | None,
        reason: str,
        dry_run: bool,
        attempt: int | None = None,
        health: Health | None = None,
        status: ConnectorStatus | None = None,
        state: ConnectorState | None = None,
        origin: str = "",
        detail: str = "",
        transient_held: bool = False,
        defer: tuple[float, str] | None = None,
    ) -> RequestRecord:
        """`transient_held`: a poll's `transient` whose detail says what holds it (shown by
        status); any other detail only says why it was skipped. `defer`: (seconds, why) a new
        restart waits, queued, before its first turn (queue/deferral.py); `why` is its detail."""
        # Free text from outside (a caller's `reason`, an alert's summary) with the config's
        # secrets starred before anything keeps or answers it: only the log starred them, and the
        # API token a pipeline put in `--reason` was kept whole in the history, read by whoever
        # reads the state file (probe_callers F2).
        reason = without_known_secrets(reason)
        if key.cluster not in self.config.clusters:
            return self._cluster_gone(rule, trigger, key, now, reason)
        if decision is Decision.DUPLICATE and (trigger in _ASKED_ONCE or origin):
            # A request that would join the queued restart (below) is held by its windows first:
            # joined, a schedule run its blackout held said `duplicate` (or `merged`), never
            # `window_closed`, and the history showed it taking part (`schedule+status`).
            closed = self.window_hold(now, windows)
            if closed is not None:
                decision, detail = closed
        if (decision is Decision.RESTART and trigger in FAILURE_TRIGGERS and may_be_refused_for_its_name(key.connector)
                and self.self_managed(key.cluster)):
            # Its last restart was refused for its name alone (Jetty's 400 page): made again, it
            # was answered alike at each backoff gap, an error line each, for good with
            # max_restarts null (probe of real Kafka, F4).
            answered = self._name_refused(key)
            if answered is not None:
                decision, detail = Decision.UNADDRESSABLE, refused_name_detail(answered)
        if decision is Decision.RESTART:
            held = self.gate(key, now, windows, failure=trigger in FAILURE_TRIGGERS,
                             dry_run=self.config.dry_run or dry_run, count_queued=trigger is Trigger.STATUS,
                             last_restart=state.last_restart_at if state is not None else None, trigger=trigger)
            if held is not None:
                decision, detail = held
                if trigger is Trigger.ALERT and decision is Decision.BREAKER_OPEN:
                    detail += "; this alert restarts it if Alertmanager sends it again after then"
        if trigger is Trigger.STATUS and not (self.config.dry_run or dry_run):
            self._wait_for_fleet_room(key, decision, detail, state, now)
        if decision is Decision.RESTART:
            # Checked before the decision is recorded, so that a restart the queue cannot take
            # is counted and reported as what it is, never as requested.
            refused = self._queue_refusal(key)
            if refused is not None:
                decision, detail = refused
                self.queue_full += decision is Decision.QUEUE_FULL
                # The gate may have just granted it the open breaker's probe: not sent, the
                # probe is not spent (spent, the probe already queued lost it and was dropped
                # at its turn, and nothing went for a window more).
                self.breaker.probe_unsent(key.cluster, key.connector, dry_run=self.config.dry_run or dry_run,
                                          granted_at=now)
        self._record_decision(rule, trigger, key, decision, health=health, status=status, state=state, detail=detail,
                              transient_held=transient_held)
        deferred = defer if decision is Decision.RESTART and defer is not None and not self.queue.is_pending(key) else None
        record = RequestRecord(new_request_id(), key, rule, trigger, reason, now, decision,
                               detail=deferred[1] if deferred else "" if decision is Decision.RESTART else detail)
        if decision is Decision.RESTART:
            try:
                record.job = self._submit(record, dry_run=dry_run, attempt=attempt, origin=origin, defer=deferred)
            except StateStoreError:
                # Not queued: a probe the gate just granted it is not spent (spent, nothing went
                # for a window once the store was back).
                self.breaker.probe_unsent(key.cluster, key.connector, dry_run=self.config.dry_run or dry_run,
                                          granted_at=now)
                raise
            if record.job.evidence is None and status is not None:
                # The restart will erase the trace: keep the copy for the history.
                record.job.evidence = status.failure_evidence()
            if trigger in FAILURE_TRIGGERS and isinstance(self.config.clusters.get(key.cluster), CloudCluster):
                rule_config = next((r for r in self.config.rules if r.name == rule), None)
                record.job.wants_recommendations |= bool(rule_config and rule_config.fetch_recommendations)
        elif decision is Decision.DUPLICATE:
            record.job = self.queue.pending_job(key)
            if trigger in FAILURE_TRIGGERS:
                # The connector is down now: a restart a schedule planned for it goes before the
                # run's others, as one a failure asked for would (a poll's or a stall's `duplicate`
                # joins nothing, so nothing else moves it up).
                self.queue.hasten(key)
            joins = (trigger in _ASKED_ONCE and not self._asked_alike(record.job, trigger, rule, dry_run)) or (
                origin and record.job is not None and origin not in record.job.alerts
                and len(record.job.alerts) < ALERTS_JOINED)
            if record.job is not None and joins and not self.queue.closed:
                # Nobody asks again for these soon (a poll or a stall check decides anew each time;
                # Alertmanager sends an alert again after its repeat_interval, hours), so the
                # request joins the job, whose fate is then its own too: kept out of it, the job
                # was dropped at its turn by what held its own requests alone (its connector
                # looking healthy again, its rule disabled, narrowed or in dry-run by a reload, its
                # rule's windows, the fleet breaker) or withdrawn by another alert's resolution,
                # and the request told `duplicate` had no restart at all. An alert joins once (the
                # job's `alerts` then name it, and its resolution withdraws what it asked for), and
                # only the first ALERTS_JOINED do: the job's fate is the same for the others, which
                # it names in `alerts` alone (not kept across a restart of the daemon).
                record.job = self._submit(record, dry_run=dry_run, attempt=attempt, origin=origin)
            elif record.job is not None and origin:
                record.job.alerts.add(origin)
        self._remember(record)
        return record

    def _name_refused(self, key: ConnectorKey) -> str | None:
        """The message of the connector's last restart when the worker's web server refused it
        for the name alone (unroutable.refused_for_its_name), else None. Read from the history,
        so it holds after a restart of the daemon, and lifts once a restart (one by name: only
        failure restarts are held) is answered otherwise. One read per failure restart decided, of a
        self-managed cluster's connector whose name Jetty could refuse (may_be_refused_for_its_name)."""
        try:
            last = self.state.history(key, limit=1)
        except StateStoreError:
            return None  # not known now: the restart goes, and is answered as it is
        if last and last[0].outcome is Outcome.REJECTED and refused_for_its_name(last[0].status_code, last[0].message):
            return last[0].message
        return None

    def _asked_alike(self, job: RestartJob | None, trigger: Trigger, rule: str, dry_run: bool) -> bool:
        """Whether a request of this trigger, rule and dry-run-ness (no alert's) is on the job: it
        holds the job's fate for them already, and another adds only a state row, a history row
        and an id in every answer. A script asking every second for a restart a 429 paused made
        a job of 5,001 requests, each answer naming them all."""
        dry_run = self.config.dry_run or dry_run
        return job is not None and any(
            r.trigger is trigger and r.rule == rule and r.dry_run == dry_run and not r.origin for r in job.requests)

    def _cluster_gone(self, rule: str, trigger: Trigger, key: ConnectorKey, now: datetime, reason: str) -> RequestRecord:
        """A decision for a cluster the config no longer names: one made after an await during
        which a reload or discovery removed it. Nothing is queued (its route in the queue goes
        with its last pending restart: RestartQueue.remove_cluster), and it is said in a
        `decision` line; not counted, as the cluster's series went with it and a count would
        make them again for good."""
        detail = (f"cluster {key.cluster} is no longer configured (a reload or discovery removed it meanwhile); "
                  "nothing was queued")
        log.info("decision", cluster=key.cluster, connector=key.connector, rule=rule, trigger=trigger.value,
                 decision=Decision.MISSING.value, detail=detail)
        record = RequestRecord(new_request_id(), key, rule, trigger, reason, now, Decision.MISSING, detail=detail)
        self._remember(record)
        return record

    def _pending_for(self, key: ConnectorKey, *, dry_run: bool) -> bool:
        """Whether a restart queued for `key` already does what a new request would: any queued
        job for a dry-run request; a job that will go out for real for a live one. A live request
        behind a dry-run job (a rule on trial) joins it, which makes the job live (RestartJob.
        dry_run); answered `duplicate` instead, it ended `dry_run` with the job and an operator's
        restart, or an alert's, never went out."""
        job = self.queue.pending_job(key)
        if job is None:
            return False
        return dry_run or self.config.dry_run or not job.dry_run

    def _wait_for_fleet_room(self, key: ConnectorKey, decision: Decision, detail: str, state: ConnectorState | None,
                             now: datetime) -> None:
        """A poll's failure restart the fleet condition held waits for the fleet's room, ahead of
        the failing connectors restarted more recently (Breaker.wait_for_room); any other
        decision of a poll (queued, healthy, in its backoff, held by its cluster) ends its wait."""
        held_by_fleet = decision is Decision.BREAKER_OPEN and not self.held_by_cluster(key.cluster, detail)
        if held_by_fleet:
            asked_every = self.poll_every.get(key.cluster) or self.breaker.settings.window
            self.breaker.wait_for_room(key.cluster, key.connector, state.last_restart_at if state else None, now,
                                       asked_every=asked_every)
        else:
            self.breaker.stop_waiting(key.cluster, key.connector)

    def quiet_since_signal(self, key: ConnectorKey, rule: Rule, now: datetime) -> ConnectorState:
        """The connector's state before an alert or a stall is decided, its count reset when it
        stayed clear for the current gap (policy.quiet_since_signal); saved when it changed."""
        dry_run = self.config.dry_run or rule.dry_run
        state = self.load_state(key, dry_run=dry_run)
        quiet = quiet_since_signal(state, now, rule.backoff)
        if quiet is not state:
            log.info("restart_count_reset", cluster=key.cluster, connector=key.connector, rule=rule.name,
                     attempts=state.attempts, healthy_since=state.healthy_since.isoformat() if state.healthy_since else None,
                     gave_up_cleared=state.gave_up)
        quiet = self._budget_back(rule, key, quiet)
        if quiet is not state:
            self.save_state(key, quiet, dry_run=dry_run)
            self.show_state(key, quiet)
        return quiet

    def _budget_back(self, rule: Rule, key: ConnectorKey, state: ConnectorState) -> ConnectorState:
        """A connector marked gave-up whose rule, as the config has it now, has budget left for it
        (a reload raised max_restarts, or set it null, so that the watchdog keeps trying in an
        incident): the flag goes, and it is restarted again as its backoff allows. Kept, it was
        refused budget_spent until seen healthy, and WatchdogConnectorGaveUp went on paging."""
        if not state.gave_up or (rule.max_restarts is not None and state.attempts >= rule.max_restarts):
            return state
        # Or another rule that watches it (a status rule beside an alert or stall rule) gave up
        # at a lower max_restarts: said so, with those rules. The note spoke of the limit alone
        # ("now leaves it"), which docs/metrics.md explained as a reload, and nothing named the rule
        # whose `gave_up` line had just said "left alone" before this one restarted it.
        spent = self._other_rules(rule, key, state, spent=True)
        note = (f"rule {rule.name}'s max_restarts ({rule.max_restarts if rule.max_restarts is not None else 'null'}) "
                f"leaves it restarts to make, where {', '.join(spent)}'s is spent (each rule gives up at its own "
                f"max_restarts): restarted again as rule {rule.name}'s backoff allows" if spent
                else "the rule's max_restarts now leaves it restarts to make: restarted again as its backoff allows")
        log.info("gave_up_cleared", cluster=key.cluster, connector=key.connector, rule=rule.name,
                 attempts=state.attempts, max_restarts=rule.max_restarts, spent_for=spent,
                 dry_run=self.config.dry_run or rule.dry_run, note=note)
        return replace(state, gave_up=False)

    def _other_rules(self, rule: Rule, key: ConnectorKey, state: ConnectorState, *, spent: bool) -> list[str]:
        """The other rules that decide on the connector's failures whose max_restarts its restarts
        have reached (`spent`: they may have given up on it), or have not (they may still restart
        it): each gives up at its own. Those are the enabled alert and stall rules that select it,
        and the status rule it belongs to (the first that selects it); a schedule restarts what it
        selects whatever its count."""
        owner = self.status_owners.rule_for(key.cluster, key.connector)
        # A live rule's give-up names no rule on trial: one can never restart it.
        live = not (self.config.dry_run or rule.dry_run)
        return [other.name for other in self.config.rules
                if other is not rule and other.enabled and not isinstance(other.trigger, ScheduleTrigger)
                and not (live and other.dry_run)
                and (other is owner if isinstance(other.trigger, StatusTrigger)
                     else selects(other.select, key.cluster, key.connector))
                and (other.max_restarts is not None and state.attempts >= other.max_restarts) == spent]

    def _attempts_refused(self, key: ConnectorKey, state: ConnectorState) -> str | None:
        """What its attempts got, when the API accepted none of them (report/attempts.py)."""
        try:
            return attempts_note(state, self.state.history(key, history_to_read(state)))
        except StateStoreError:
            return None  # the history cannot be read now: the line goes without it

    def _give_up(self, rule: Rule, key: ConnectorKey, state: ConnectorState, *, save: bool = True) -> ConnectorState:
        """The rule's budget is spent: the connector is marked gave-up (its metric, which
        WatchdogConnectorGaveUp alerts on, and one `gave_up` line), whichever trigger found it so."""
        if state.gave_up:
            return state
        state = give_up(state)
        # The flag and the budget come back together, once the count resets (policy.observe):
        # "until it is seen healthy" promised a restart for a failure that came before that.
        gap = f"{backoff_gap(state.attempts, rule.backoff):g}s"
        dry_run = self.config.dry_run or rule.dry_run
        note = (f"left alone until it has stayed healthy for {gap} in a row, which resets its restart count"
                if isinstance(rule.trigger, StatusTrigger)
                else f"left alone until its signal has cleared and stayed clear for {gap}, which resets its restart count")
        others = self._other_rules(rule, key, state, spent=False)
        if others:
            # It is not left alone by those: without this, the line said "left alone" and the next
            # alert restarted it (gave_up_cleared).
            note += (f"; rule(s) {', '.join(others)}, with restarts left, may still restart it (each rule gives up at "
                     "its own max_restarts)")
        schedules = [other.name for other in self.config.rules
                     if other.enabled and isinstance(other.trigger, ScheduleTrigger)
                     and selects(other.select, key.cluster, key.connector)]
        if schedules:
            # Not left alone by them either: the line said "left alone" while an interval rule went
            # on restarting it every 10 s, 15 times in 150 s (a rules probe, 2026-12-06).
            note += (f"; schedule rule(s) {', '.join(schedules)} still restart it at each of their runs, whatever its "
                     "count (a schedule is no failure restart)")
        if dry_run:
            # Not paged (watchdog_connector_gave_up stays as the live state has it): said here.
            note = ("dry run: no restart was sent; the live run would give up here and leave it alone "
                    f"({note}); not shown on watchdog_connector_gave_up")
        # Failed calls count as attempts: a connector whose every call the API refused (500s) was
        # said given up on as if restarts had not fixed it (an audit). Read once, at the give-up.
        refused = None if dry_run else self._attempts_refused(key, state)
        log.warning("gave_up", cluster=key.cluster, connector=key.connector, rule=rule.name,
                    attempts=state.attempts, max_restarts=rule.max_restarts, dry_run=dry_run, note=note,
                    **({} if refused is None else {"attempts_not_accepted": refused}))
        if save:
            self.save_state(key, state, dry_run=dry_run)
            self.show_state(key, state)
        return state

    def _signal_cleared(self, key: ConnectorKey, now: datetime) -> None:
        """The alert resolved, or a stall check saw the connector moving (policy.signal_cleared)."""
        view = self.dry_states.get(key)
        if view is not None:
            self.dry_states[key] = signal_cleared(view, now)
        state = self.state.load(key)
        cleared = signal_cleared(state, now)
        if cleared is not state:
            self.state.save(key, cleared)
            if key in self.statuses:  # a resolution may come before any listing: it makes no series
                self.show_state(key, cleared)

    def _queue_refusal(self, key: ConnectorKey) -> tuple[Decision, str] | None:
        if self.queue.closed:
            return Decision.SHUTTING_DOWN, "the daemon is shutting down and takes no new restarts"
        full = self.queue.full_for(key)
        return None if full is None else (Decision.QUEUE_FULL, full)

    def _judged_id(self, key: ConnectorKey, trigger: Trigger) -> str:
        """The lcc- id of the connector a failure trigger judged (RestartRequest.resource_id)."""
        listed = self.statuses.get(key) if trigger in FAILURE_TRIGGERS else None
        return (listed.resource_id or "") if listed is not None else ""

    def _submit(self, record: RequestRecord, *, dry_run: bool, attempt: int | None, origin: str,
                defer: tuple[float, str] | None = None) -> RestartJob:
        key = record.key
        request = RestartRequest(
            id=record.request_id, key=key, rule=record.rule, trigger=record.trigger, reason=record.reason,
            requested_at=record.requested_at, dry_run=self.config.dry_run or dry_run, origin=origin,
            resource_id=self._judged_id(key, record.trigger),
            cluster_address=self.config.cluster_address(key.cluster),
        )
        pending = self.queue.pending_job(key)
        job_id = pending.id if pending is not None else new_job_id()
        # Joining a job whose call may be on the wire, the request is as possibly sent as the
        # job's own: kept `queued`, a crash then left it to be sent again at the next start,
        # beside the job's `interrupted` ones (a second restart).
        phase = PendingPhase.SENDING if pending is not None and pending.maybe_sent else PendingPhase.QUEUED
        try:
            # Remembered first: a restart the state file cannot record is not queued at all (a
            # crash would lose it, and its attempt could not be counted: no backoff would hold).
            self.state.add_pending(request, job_id, phase=phase)
        except StateStoreError:
            log.error("restart_not_recorded", cluster=key.cluster, connector=key.connector, rule=record.rule,
                      trigger=record.trigger.value, request=request.id,
                      note=f"the {store_noun(self.config.state)} cannot be written; nothing was queued")
            raise
        try:
            job, merged = self.queue.submit(request, job_id=job_id, defer=defer[0] if defer else 0.0,
                                            defer_note=defer[1] if defer else "")
        except (QueueClosed, QueueFull) as exc:  # checked just before, in the same step of the loop
            raise AssertionError(f"the queue refused a restart it had room for: {exc}") from exc
        self.metrics.init_connector(key.cluster, key.connector, record.rule, record.trigger, every_outcome=False)
        log.info(
            "restart_queued", cluster=key.cluster, connector=key.connector, rule=record.rule,
            trigger=record.trigger.value, request=request.id, job=job.id, merged=merged,
            dry_run=request.dry_run, attempt=attempt, reason=record.reason,
            **({"deferred_seconds": round(defer[0]), "note": defer[1]} if defer and not merged else {}),
        )
        return job

    def _record_decision(
        self,
        rule: str,
        trigger: Trigger,
        key: ConnectorKey,
        decision: Decision,
        *,
        health: Health | None = None,
        status: ConnectorStatus | None = None,
        state: ConnectorState | None = None,
        detail: str = "",
        transient_held: bool = False,
    ) -> None:
        self.metrics.count_decision(key, rule, trigger, decision)
        decided = self._last_decision.setdefault(key, {})
        previous = decided.get(rule)
        said = decided[rule] = self._said_as(key, decision, detail)
        if decision in HELD_SHOWN or (decision is Decision.TRANSIENT and trigger is Trigger.STATUS and transient_held):
            self.held[key] = (decision, detail, self._now())
        else:  # restarted, healthy again, or skipped for a reason of its own that status shows
            self.held.pop(key, None)
            self.alert_holds.decided(key, trigger, decision)  # an alert's refusal may stand
        fields: dict[str, object] = {
            "cluster": key.cluster, "connector": key.connector, "rule": rule, "trigger": trigger.value,
            "decision": decision.value,
        }
        if detail:
            fields["detail"] = detail
        if health is not None:
            fields["health"] = health.value
        if status is not None:
            fields["state"] = status.state
        if state is not None:
            fields["attempts"] = state.attempts
            fields["consecutive_failures"] = state.consecutive_failures
            if state.next_allowed_at is not None and decision is not Decision.BUDGET_SPENT:
                # Not for a spent budget: the backoff's next moment, seconds away, read as "goes
                # again then"; it goes again once its count resets, as its detail says.
                fields["next_allowed_at"] = state.next_allowed_at.isoformat()
        if decision is Decision.RESTART and status is not None and trigger in FAILURE_TRIGGERS:
            # The restart will erase the trace; this is the only copy the operator gets.
            fields["evidence"] = status.failure_evidence()
        # Every decision is counted; a repeated skip is logged at debug so that a connector that
        # stays paused does not write a line per poll. Not a schedule's that restarts nothing: each
        # run is an event of its own, which restarts (a line each) or says why not. Deduplicated, a
        # nightly run that a window held (or whose connector was missing) said so the first night
        # only, and every later night restarted nothing with no line above debug. `duplicate`
        # stays deduplicated: that restart is queued (a backlog behind the rate limit would
        # otherwise write a line per connector at every run of a frequent rule).
        said_each_run = trigger is Trigger.SCHEDULE and decision is not Decision.DUPLICATE
        if decision is Decision.RESTART or (decision is not Decision.HEALTHY and (said != previous or said_each_run)):
            log.info("decision", **fields)
        else:
            log.debug("decision", **fields)

    def _said_as(self, key: ConnectorKey, decision: Decision, detail: str) -> tuple[Decision, str]:
        """What a decision is compared on to tell a repeat (logged at debug) from news: the
        decision, and for `breaker_open` whose breaker holds it. After an outage the cluster's
        breaker closes and the fleet's limit holds the rest, `breaker_open` still: compared on the
        decision alone, that went to debug, and the log's last word on each connector was the
        cluster's breaker, closed since (300 connectors played against the simulator: 8 minutes of
        "300 of 300 watched connectors failing" after that breaker closed). Not the detail's
        words, whose counts change at each poll."""
        if decision is Decision.BREAKER_OPEN:
            return decision, "cluster" if self.held_by_cluster(key.cluster, detail) else "fleet"
        return decision, ""
