"""Turns facts from triggers into decisions, and decisions into queued restarts.

Triggers (status polls, schedules, later alerts and API calls) gather facts and hand them here;
the pure functions of rules.py and policy.py decide; this module records each decision (metric and
log event), keeps the per-connector state, and submits restarts to the queue. `JobRecorder`
closes the loop when a restart job ends.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from .config import Backoff, Config, Rule
from .logs import get_logger
from .metrics import Metrics
from .model import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    Decision,
    Health,
    Outcome,
    RestartRequest,
    Trigger,
)
from .policy import give_up, observe, record_attempt, record_manual_restart
from .queue import QueueClosed, RestartJob, RestartQueue
from .rules import (
    classify,
    decide_on_request,
    decide_on_status,
    named_but_missing,
    selected,
    status_rule_for,
)
from .state import StateStore

log = get_logger("watchdog.engine")

WallClock = Callable[[], datetime]

# The rule name recorded for restarts asked for by name (CLI, API), which no rule decided.
MANUAL_RULE = "manual"

# Triggers whose restarts follow the failure backoff; schedules and manual requests are deliberate.
FAILURE_TRIGGERS = frozenset({Trigger.STATUS, Trigger.ALERT})


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_request_id() -> str:
    return secrets.token_hex(8)


class Engine:
    def __init__(
        self,
        config: Config,
        state: StateStore,
        queue: RestartQueue,
        metrics: Metrics,
        *,
        now: WallClock = utc_now,
    ) -> None:
        self.config = config
        self.state = state
        self.queue = queue
        self.metrics = metrics
        self._now = now
        self.statuses: dict[ConnectorKey, ConnectorStatus] = {}  # latest seen, watched connectors
        self._last_decision: dict[tuple[ConnectorKey, str], Decision] = {}
        self._watched: dict[str, set[str]] = {}

    # -- status polls ----------------------------------------------------------------------------

    def on_poll(self, cluster: str, statuses: Mapping[str, ConnectorStatus]) -> None:
        now = self._now()
        counts = dict.fromkeys(Health, 0)
        watched: set[str] = set()
        for name, status in statuses.items():
            rule = status_rule_for(self.config.rules, cluster, name)
            if rule is None:
                continue
            key = ConnectorKey(cluster, name)
            if name not in self._watched.get(cluster, set()):
                self.metrics.init_connector(cluster, name, rule.name, Trigger.STATUS)
            watched.add(name)
            health = classify(status)
            counts[health] += 1
            self.statuses[key] = status
            self._judge(rule, key, status, health, now)
        for name in self._watched.get(cluster, set()) - watched:
            self._forget(ConnectorKey(cluster, name))
        self._watched[cluster] = watched
        for health, count in counts.items():
            self.metrics.connectors.labels(cluster, health.value).set(count)

    def _judge(self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, health: Health, now: datetime) -> None:
        state = observe(self.state.load(key), health, now, rule.backoff)
        decision = decide_on_status(rule, state, health, now, pending=self.queue.is_pending(key))
        if decision is Decision.BUDGET_SPENT and not state.gave_up:
            state = give_up(state)
            log.warning(
                "gave_up", cluster=key.cluster, connector=key.connector, rule=rule.name,
                attempts=state.attempts, max_restarts=rule.max_restarts,
                note="left alone until it is seen healthy",
            )
        self.state.save(key, state)
        self.metrics.show_connector_state(key.cluster, key.connector, state)
        self._record_decision(rule.name, Trigger.STATUS, key, decision, health=health, status=status, state=state)
        if decision is Decision.RESTART:
            self._submit(
                rule.name, Trigger.STATUS, key, reason=f"{health.value}: connector {status.state}",
                dry_run=rule.dry_run, attempt=state.attempts + 1,
            )

    def _forget(self, key: ConnectorKey) -> None:
        log.info("connector_gone", cluster=key.cluster, connector=key.connector)
        self.state.forget(key)
        self.statuses.pop(key, None)
        for remembered in [k for k in self._last_decision if k[0] == key]:
            del self._last_decision[remembered]
        self.metrics.forget_connector(key.cluster, key.connector)

    def on_poll_failed(self, cluster: str, outcome: Outcome, message: str) -> None:
        self.metrics.polls.labels(cluster, outcome.value).inc()
        log.warning("poll_failed", cluster=cluster, outcome=outcome.value, message=message)

    # -- schedules -------------------------------------------------------------------------------

    def on_schedule(self, rule: Rule, cluster: str, statuses: Mapping[str, ConnectorStatus]) -> None:
        names = selected(rule, cluster, statuses) + named_but_missing(rule, cluster, statuses)
        for name in names:
            key = ConnectorKey(cluster, name)
            status = statuses.get(name)
            decision = decide_on_request(status, pending=self.queue.is_pending(key))
            self._record_decision(rule.name, Trigger.SCHEDULE, key, decision, status=status)
            if decision is Decision.RESTART:
                self._submit(rule.name, Trigger.SCHEDULE, key, reason="scheduled", dry_run=rule.dry_run)

    # -- requests from people and other systems --------------------------------------------------

    def on_request(
        self,
        key: ConnectorKey,
        status: ConnectorStatus | None,
        *,
        trigger: Trigger,
        rule: str,
        reason: str,
        dry_run: bool = False,
    ) -> tuple[Decision, RestartJob | None]:
        """A restart asked for by name (CLI, API): the same guards as a schedule."""
        decision = decide_on_request(status, pending=self.queue.is_pending(key))
        self._record_decision(rule, trigger, key, decision, status=status)
        job = None
        if decision is Decision.RESTART:
            job = self._submit(rule, trigger, key, reason=reason, dry_run=dry_run)
        elif decision is Decision.DUPLICATE:
            job = self.queue.pending_job(key)
        return decision, job

    # -- shared ----------------------------------------------------------------------------------

    def _submit(
        self, rule: str, trigger: Trigger, key: ConnectorKey, *, reason: str, dry_run: bool, attempt: int | None = None
    ) -> RestartJob | None:
        request = RestartRequest(
            id=new_request_id(),
            key=key,
            rule=rule,
            trigger=trigger,
            reason=reason,
            requested_at=self._now(),
            dry_run=self.config.dry_run or dry_run,
        )
        self.metrics.init_connector(key.cluster, key.connector, rule, trigger)
        try:
            job, merged = self.queue.submit(request)
        except QueueClosed:
            log.warning("restart_not_queued", cluster=key.cluster, connector=key.connector, rule=rule,
                        trigger=trigger.value, reason="shutting down")
            return None
        log.info(
            "restart_queued", cluster=key.cluster, connector=key.connector, rule=rule, trigger=trigger.value,
            request=request.id, job=job.id, merged=merged, dry_run=request.dry_run, attempt=attempt, reason=reason,
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
    ) -> None:
        self.metrics.decisions.labels(key.cluster, rule, trigger.value, decision.value).inc()
        previous = self._last_decision.get((key, rule))
        self._last_decision[(key, rule)] = decision
        fields: dict[str, object] = {
            "cluster": key.cluster, "connector": key.connector, "rule": rule, "trigger": trigger.value,
            "decision": decision.value,
        }
        if health is not None:
            fields["health"] = health.value
        if status is not None:
            fields["state"] = status.state
        if state is not None:
            fields["attempts"] = state.attempts
            fields["consecutive_failures"] = state.consecutive_failures
            if state.next_allowed_at is not None:
                fields["next_allowed_at"] = state.next_allowed_at.isoformat()
        if decision is Decision.RESTART and status is not None and trigger in FAILURE_TRIGGERS:
            # The restart will erase the trace; this is the only copy the operator gets.
            fields["evidence"] = status.failure_evidence()
        # Every decision is counted; a repeated skip is logged at debug so that a connector that
        # stays paused does not write a line per poll.
        if decision is Decision.RESTART or (decision is not Decision.HEALTHY and decision != previous):
            log.info("decision", **fields)
        else:
            log.debug("decision", **fields)


class JobRecorder:
    """The queue's observer: counts, logs and remembers every terminal outcome."""

    def __init__(
        self,
        config: Callable[[], Config],
        state: StateStore,
        metrics: Metrics,
        *,
        now: WallClock = utc_now,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._state = state
        self._metrics = metrics
        self._now = now
        self._rng = rng
        self.finished_jobs: list[RestartJob] = []  # the current run's jobs, for --once and summaries
        self.outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)

    def should_drop(self, job: RestartJob) -> bool:
        if any(r.trigger is not Trigger.STATUS for r in job.requests):
            return False
        return self._state.load(job.key).health is Health.HEALTHY

    def depth_changed(self, credential: str, depth: int) -> None:
        self._metrics.queue_depth.labels(credential).set(depth)

    def finished(self, job: RestartJob) -> None:
        assert job.outcome is not None
        primary = job.primary
        self.outcomes[job.outcome] += 1
        self.finished_jobs.append(job)
        self._metrics.restarts.labels(
            job.key.cluster, job.key.connector, primary.rule, primary.trigger.value, job.outcome.value
        ).inc()
        state = self._remember(job)
        fields = {
            "cluster": job.key.cluster, "connector": job.key.connector, "job": job.id, "outcome": job.outcome.value,
            "rule": primary.rule, "trigger": primary.trigger.value, "triggers": [t.value for t in job.triggers],
            "requests": [r.id for r in job.requests], "tries": job.tries, "status_code": job.status_code,
            "request_id": job.request_id, "attempt": state.attempts if state else None,
        }
        if job.message:
            fields["message"] = job.message
        if job.outcome in (Outcome.ACCEPTED, Outcome.DRY_RUN, Outcome.DROPPED, Outcome.CANCELLED):
            log.info("restart_finished", **fields)
        else:
            log.error("restart_finished", **fields)

    def _remember(self, job: RestartJob) -> ConnectorState | None:
        """Update the connector's memory from a finished job.

        For failure-driven restarts, a call that went out (or would have, in dry-run) is an
        attempt whatever its answer: counting failed calls is what keeps a revoked key or a broken
        endpoint from turning into a hot loop, since the backoff grows as for a failing connector.
        Deliberate restarts (schedule, manual) are remembered only once the API accepted them.
        """
        failure_requests = [r for r in job.requests if r.trigger in FAILURE_TRIGGERS]
        state = self._state.load(job.key)
        now = self._now()
        if failure_requests:
            if job.first_sent_at is None and job.outcome is not Outcome.DRY_RUN:
                return None
            rule = _rule_named(self._config(), failure_requests[0].rule)
            # A rule removed by a reload still leaves the connector a backoff, never none.
            backoff = rule.backoff if rule is not None else Backoff()
            state = record_attempt(state, now, backoff, self._rng())
        elif job.outcome is Outcome.ACCEPTED:
            state = record_manual_restart(state, now)
        else:
            return None
        self._state.save(job.key, state)
        self._metrics.show_connector_state(job.key.cluster, job.key.connector, state)
        return state


def _rule_named(config: Config, name: str) -> Rule | None:
    return next((rule for rule in config.rules if rule.name == name), None)
