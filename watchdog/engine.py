"""Turns facts from triggers into decisions, and decisions into queued restarts.

Triggers (status polls, schedules, alerts, API and CLI requests) gather facts and hand them here;
the pure functions of rules.py and policy.py decide; the safety gates (maintenance windows, the
global breaker, blocking alerts) may still hold a restart; this module records each decision
(metric and log event), keeps the per-connector state, and submits restarts to the queue.
`JobRecorder` closes the loop when a restart job is sent and when it ends.
"""

from __future__ import annotations

import random
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .alerts import Alert, WebhookPayload
from .blocking import AlertBlocker
from .breaker import Breaker
from .config import AlertTrigger, Backoff, CloudCluster, Config, Rule, StalledTrigger
from .logs import get_logger
from .metrics import Metrics
from .model import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    Decision,
    Health,
    HistoryRecord,
    Outcome,
    PendingPhase,
    RestartRequest,
    Trigger,
)
from .policy import give_up, observe, record_attempt, record_manual_restart, signal_cleared
from .queue import QueueClosed, RestartJob, RestartQueue
from .rules import (
    classify,
    decide_on_request,
    decide_on_signal,
    decide_on_status,
    named_but_missing,
    selected,
    selects,
    status_rule_for,
)
from .stall import Judgement, StallVerdict
from .state import SqliteStateStore
from .windows import Windows

log = get_logger("watchdog.engine")

WallClock = Callable[[], datetime]

# The rule name recorded for restarts asked for by name (CLI, API), which no rule decided.
MANUAL_RULE = "manual"

# Triggers whose restarts follow the failure backoff; schedules and manual requests are deliberate.
FAILURE_TRIGGERS = frozenset({Trigger.STATUS, Trigger.ALERT, Trigger.STALLED})
# Failures the status API cannot see: their backoff resets only after the signal clears.
SIGNAL_TRIGGERS = frozenset({Trigger.ALERT, Trigger.STALLED})

# Requests the API can be asked about (GET /v1/restarts/{id}); the oldest are forgotten first.
REQUEST_MEMORY = 10_000


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


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


@dataclass
class AlertResult:
    fingerprint: str
    status: str
    result: str  # one of metrics.WEBHOOK_RESULTS
    rule: str | None = None
    cluster: str | None = None
    connector: str | None = None
    decision: str | None = None
    request_id: str | None = None
    detail: str = ""


@dataclass
class WebhookResult:
    alerts: list[AlertResult] = field(default_factory=list)


class Engine:
    def __init__(
        self,
        config: Config,
        state: SqliteStateStore,
        queue: RestartQueue,
        metrics: Metrics,
        *,
        breaker: Breaker,
        blocker: AlertBlocker | None = None,
        now: WallClock = utc_now,
    ) -> None:
        self.state = state
        self.queue = queue
        self.metrics = metrics
        self.breaker = breaker
        self.blocker = blocker
        self._now = now
        # The latest status of every connector listed in a polled cluster, watched or not: the API
        # and alerts need to know what exists, and lcc- ids are learned here.
        self.statuses: dict[ConnectorKey, ConnectorStatus] = {}
        # Indexes over `statuses`, so that a poll, an alert or a stall check touches its own
        # cluster and connector rather than every connector of every cluster.
        self._listed: dict[str, set[str]] = {}  # cluster -> the names its last poll listed
        self._by_resource_id: dict[str, ConnectorKey] = {}
        self.requests: OrderedDict[str, RequestRecord] = OrderedDict()
        self._last_decision: dict[tuple[ConnectorKey, str], Decision] = {}
        self._watched: dict[str, set[str]] = {}
        # Since when each listed connector has been seen RUNNING (stall checks wait for a grace
        # period first). Learned by polling; after a restart of the daemon the grace starts over.
        self.running_since: dict[ConnectorKey, datetime] = {}
        self.set_config(config)

    def set_config(self, config: Config) -> None:
        self.config = config
        self._global_windows = config.windows.compile() if config.windows.configured else None
        self._rule_windows: dict[str, Windows] = {r.name: r.windows.compile() for r in config.rules if r.windows}
        self._cluster_ids = {c.kafka_cluster_id: name for name, c in config.clusters.items() if isinstance(c, CloudCluster)}

    # -- status polls ----------------------------------------------------------------------------

    def on_poll(self, cluster: str, statuses: Mapping[str, ConnectorStatus]) -> None:
        now = self._now()
        counts = dict.fromkeys(Health, 0)
        judged: list[tuple[Rule, ConnectorKey, ConnectorStatus, Health]] = []
        self._unlist(cluster, keep=statuses.keys())
        self._listed[cluster] = set(statuses)
        for name, status in statuses.items():
            key = ConnectorKey(cluster, name)
            self.statuses[key] = status
            if status.resource_id:
                self._by_resource_id[status.resource_id] = key
            health = classify(status)
            if health is Health.HEALTHY:
                self.running_since.setdefault(key, now)
            else:
                self.running_since.pop(key, None)
            rule = status_rule_for(self.config.rules, cluster, name)
            if rule is None:
                continue
            counts[health] += 1
            judged.append((rule, key, status, health))
        for name in self._watched.get(cluster, set()) - {key.connector for _, key, _, _ in judged}:
            self._forget(ConnectorKey(cluster, name))
        self._watched[cluster] = {key.connector for _, key, _, _ in judged}
        for health, count in counts.items():
            self.metrics.connectors.labels(cluster, health.value).set(count)
        # The breaker sees the whole cluster before any connector of it is judged.
        self.breaker.observe_cluster(cluster, counts[Health.FAILED] + counts[Health.USER_ERROR], len(judged))
        self.update_breaker(now)
        for rule, key, status, health in judged:
            self._judge(rule, key, status, health, now)

    def _judge(self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, health: Health, now: datetime) -> None:
        self.state.observe_status(key, status.state, now)
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
        self._decide_and_submit(
            rule.name, Trigger.STATUS, key, decision, now, windows=self._rule_windows.get(rule.name),
            reason=f"{health.value}: connector {status.state}", dry_run=rule.dry_run,
            attempt=state.attempts + 1, health=health, status=status, state=state,
        )

    def _forget(self, key: ConnectorKey) -> None:
        log.info("connector_unwatched", cluster=key.cluster, connector=key.connector)
        self.state.forget(key)
        for remembered in [k for k in self._last_decision if k[0] == key]:
            del self._last_decision[remembered]
        self.metrics.forget_connector(key.cluster, key.connector)

    def forget_cluster(self, cluster: str) -> None:
        """A reload removed (or redefined) the cluster: what was known of it no longer applies."""
        for name in self._watched.pop(cluster, set()):
            self._forget(ConnectorKey(cluster, name))
        self._unlist(cluster, keep=())
        self._listed.pop(cluster, None)

    def _unlist(self, cluster: str, keep: Iterable[str]) -> None:
        """Drop what the last poll of `cluster` listed and this one does not (`keep`)."""
        for name in self._listed.get(cluster, set()) - set(keep):
            key = ConnectorKey(cluster, name)
            status = self.statuses.pop(key, None)
            if status is not None and status.resource_id:
                self._by_resource_id.pop(status.resource_id, None)
            self.running_since.pop(key, None)

    def prune_unwatched(self) -> None:
        """After a reload: connectors no rule watches any more lose their state and series."""
        for cluster, names in self._watched.items():
            for name in [n for n in names if status_rule_for(self.config.rules, cluster, n) is None]:
                names.discard(name)
                self._forget(ConnectorKey(cluster, name))

    def on_poll_failed(self, cluster: str, outcome: Outcome, message: str) -> None:
        self.metrics.polls.labels(cluster, outcome.value).inc()
        log.warning("poll_failed", cluster=cluster, outcome=outcome.value, message=message)

    # -- schedules -------------------------------------------------------------------------------

    def on_schedule(self, rule: Rule, cluster: str, statuses: Mapping[str, ConnectorStatus]) -> None:
        now = self._now()
        for name in selected(rule, cluster, statuses) + named_but_missing(rule, cluster, statuses):
            key = ConnectorKey(cluster, name)
            status = statuses.get(name)
            decision = decide_on_request(status, pending=self.queue.is_pending(key))
            self._decide_and_submit(
                rule.name, Trigger.SCHEDULE, key, decision, now, windows=self._rule_windows.get(rule.name),
                reason="scheduled", dry_run=rule.dry_run, status=status,
            )

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
        known_missing: bool = True,
    ) -> RequestRecord:
        """A restart asked for by name (CLI, API): the same guards as a schedule.

        `known_missing=False` when no fresh listing says whether the connector exists: the
        request then goes ahead and the API's own answer (404) settles it.
        """
        now = self._now()
        if status is None and not known_missing:
            decision = Decision.DUPLICATE if self.queue.is_pending(key) else Decision.RESTART
        else:
            decision = decide_on_request(status, pending=self.queue.is_pending(key))
        return self._decide_and_submit(
            rule, trigger, key, decision, now, windows=None, reason=reason, dry_run=dry_run, status=status
        )

    def watched_rules(self, key: ConnectorKey) -> list[Rule]:
        """The enabled rules that select a connector: the API restarts only watched connectors."""
        return [r for r in self.config.rules if r.enabled and selects(r.select, key.cluster, key.connector)]

    def cluster_named(self, label: str) -> str | None:
        """A configured cluster from its name or its kafka_cluster_id."""
        if label in self.config.clusters:
            return label
        return self._cluster_ids.get(label)

    # -- alerts ----------------------------------------------------------------------------------

    def on_alerts(self, payload: WebhookPayload) -> WebhookResult:
        now = self._now()
        result = WebhookResult()
        for alert in payload.alerts:
            outcome = self._on_alert(alert, now)
            self.metrics.webhook_alerts.labels(outcome.result).inc()
            result.alerts.append(outcome)
        return result

    def _on_alert(self, alert: Alert, now: datetime) -> AlertResult:
        base = AlertResult(fingerprint=alert.identity, status=alert.status, result="unmatched")
        rules = [r for r in self.config.rules if r.enabled and isinstance(r.trigger, AlertTrigger) and r.trigger.matches(alert.labels)]
        for rule in rules:
            trigger = rule.trigger
            assert isinstance(trigger, AlertTrigger)
            target = self._alert_target(alert, trigger)
            if isinstance(target, str):
                base.detail = target
                continue
            key = target
            if not selects(rule.select, key.cluster, key.connector):
                base.detail = f"{key} is not selected by rule {rule.name}"
                continue
            if key.cluster in self._listed and key not in self.statuses:
                base.detail = f"{key} was not found in its cluster at the last poll"
                continue
            if alert.status == "resolved":
                return self._on_resolved(alert, rule, key, now)
            # A re-send of the same firing episode is decided like any other: it finds its
            # restart queued (duplicate) or the connector inside its backoff, and restarts again
            # only when the backoff allows it, i.e. when the connector still fails after the gap.
            state = self.state.load(key)
            status = self.statuses.get(key)
            decision = decide_on_signal(rule, state, status, now, pending=self.queue.is_pending(key))
            summary = alert.annotations.get("summary") or alert.labels.get("alertname", "alert")
            record = self._decide_and_submit(
                rule.name, Trigger.ALERT, key, decision, now, windows=self._rule_windows.get(rule.name),
                reason=f"alert {summary}", dry_run=rule.dry_run, status=status, state=state, origin=alert.identity,
            )
            if record.decision is Decision.RESTART:
                result = "restart_requested"
            elif record.decision is Decision.DUPLICATE:
                result = "duplicate"
            else:
                result = "refused"
            return AlertResult(
                fingerprint=alert.identity, status=alert.status, result=result, rule=rule.name,
                cluster=key.cluster, connector=key.connector, decision=record.decision.value,
                request_id=record.request_id,
            )
        return base

    def _on_resolved(self, alert: Alert, rule: Rule, key: ConnectorKey, now: datetime) -> AlertResult:
        """The alert stopped firing: withdraw its restart if still queued, and let the backoff
        count health from now (polling could not see the failure the alert reported)."""
        self.state.save(key, signal_cleared(self.state.load(key), now))
        cancelled = self.queue.withdraw(key, lambda r: r.origin == alert.identity)
        self.state.withdraw_pending([r.id for r in cancelled])
        result = AlertResult(
            fingerprint=alert.identity, status=alert.status, result="cancelled" if cancelled else "resolved",
            rule=rule.name, cluster=key.cluster, connector=key.connector,
        )
        if cancelled:
            result.detail = f"withdrew {len(cancelled)} queued restart(s)"
            log.info("signal_cleared_restart_cancelled", fingerprint=alert.identity, cluster=key.cluster,
                     connector=key.connector, requests=[r.id for r in cancelled])
        return result

    def _alert_target(self, alert: Alert, trigger: AlertTrigger) -> ConnectorKey | str:
        """The connector an alert names, or why it names none we watch.

        Confluent's exported metrics label a connector only by its lcc- id, which is unique
        across clusters: such an alert needs no cluster label (the id was learned by polling).
        """
        cluster_label = alert.labels.get(trigger.cluster_label)
        connector_label = alert.labels.get(trigger.connector_label)
        if not connector_label:
            return f"alert lacks the connector label {trigger.connector_label!r}"
        if not cluster_label:
            key = self._connector_by_id(connector_label)
            return key or f"alert lacks the cluster label {trigger.cluster_label!r} and {connector_label!r} is not a known lcc- id"
        cluster = self.cluster_named(cluster_label)
        if cluster is None:
            return f"cluster {cluster_label!r} is not configured"
        key = self._connector_by_id(connector_label)
        return key if key is not None and key.cluster == cluster else ConnectorKey(cluster, connector_label)

    def _connector_by_id(self, resource_id: str) -> ConnectorKey | None:
        return self._by_resource_id.get(resource_id) if resource_id.startswith("lcc-") else None

    # -- stall checks ----------------------------------------------------------------------------

    def stall_candidates(self, rule: Rule, cluster: str, judged_from: datetime) -> list[tuple[ConnectorKey, ConnectorStatus]]:
        """Connectors a stalled rule checks: selected, with a known lcc- id (the Metrics API names
        connectors by id only), and seen RUNNING for at least the grace period and for the whole
        time being judged (from `judged_from`): a window from before it ran proves nothing."""
        assert isinstance(rule.trigger, StalledTrigger)
        since = min(self._now() - timedelta(seconds=rule.trigger.grace), judged_from)
        keys = [ConnectorKey(cluster, name) for name in sorted(self._listed.get(cluster, ()))]
        return [
            (key, self.statuses[key]) for key in keys
            if self.statuses[key].resource_id and selects(rule.select, cluster, key.connector)
            and key in self.running_since and self.running_since[key] <= since
        ]

    def on_stall_check(self, rule: Rule, key: ConnectorKey, judgement: Judgement) -> None:
        now = self._now()
        self.metrics.stall_checks.labels(key.cluster, judgement.verdict.value).inc()
        if judgement.verdict is not StallVerdict.STALLED:
            if judgement.verdict in (StallVerdict.MOVING, StallVerdict.IDLE):
                self.state.save(key, signal_cleared(self.state.load(key), now))
            log.debug("stall_check", cluster=key.cluster, connector=key.connector, rule=rule.name,
                      verdict=judgement.verdict.value, detail=judgement.detail)
            return
        state = self.state.load(key)
        status = self.statuses.get(key)
        decision = decide_on_signal(rule, state, status, now, pending=self.queue.is_pending(key))
        self._decide_and_submit(
            rule.name, Trigger.STALLED, key, decision, now, windows=self._rule_windows.get(rule.name),
            reason=f"stalled: {judgement.detail}", dry_run=rule.dry_run, status=status, state=state,
            detail=judgement.detail,
        )

    # -- recovery after a restart of the daemon --------------------------------------------------

    def recover(self) -> tuple[int, int]:
        """Requests accepted but not finished before the daemon stopped (or was killed).

        - Never sent (`queued`): queued again, so nothing accepted is lost, except status-
          triggered ones: the first poll decides again with the backoff and failure counts the
          store kept (a connector that recovered meanwhile is then left alone).
        - Perhaps sent (`sending`: the process died with the call on the wire): ended as
          `interrupted` and reported, not sent again, so one request never restarts a connector
          twice. The attempt was counted before the call, so the backoff holds either way.
        - For a cluster no longer configured: ended as `dropped`.
        Returns (requeued, ended).
        """
        requeued = ended = 0
        now = self._now()
        for pending in self.state.pending():
            request = pending.request
            why = ""
            outcome = Outcome.DROPPED
            if request.key.cluster not in self.config.clusters:
                why = "the daemon restarted and its cluster is no longer configured"
            elif pending.phase is PendingPhase.SENDING:
                outcome = Outcome.INTERRUPTED
                why = "the daemon stopped while this restart was being sent; it may or may not have reached the API"
            elif request.trigger is Trigger.STATUS:
                why = "the daemon restarted before sending it; the next poll decides again"
            if why:
                self.state.finish(pending.job_id, request.key, None, _ended(pending.job_id, request, now, outcome, why))
                self.metrics.restarts.labels(request.key.cluster, request.key.connector, request.rule,
                                             request.trigger.value, outcome.value).inc()
                log.warning("recovered_request_ended", cluster=request.key.cluster, connector=request.key.connector,
                            request=request.id, outcome=outcome.value, reason=why)
                ended += 1
                continue
            job, _ = self.queue.submit(request)
            self.state.add_pending(request, job.id)
            requeued += 1
        if requeued or ended:
            log.warning("recovered_requests", requeued=requeued, ended=ended)
        return requeued, ended

    # -- gates and submission --------------------------------------------------------------------

    def gate(
        self, key: ConnectorKey, now: datetime, windows: Windows | None, *, failure: bool
    ) -> tuple[Decision, str] | None:
        """Why a restart must not go now, whatever the rule decided; None when it may.
        `failure`: a status- or alert-triggered restart (the fleet breaker holds only those)."""
        if self._global_windows is not None and not self._global_windows.is_open(now):
            return Decision.WINDOW_CLOSED, f"global windows closed; next open {_when(self._global_windows.next_open(now))}"
        if windows is not None and not windows.is_open(now):
            return Decision.WINDOW_CLOSED, f"rule windows closed; next open {_when(windows.next_open(now))}"
        reason = self.breaker.open_reason(key.cluster, failure=failure)
        if reason is not None:
            return Decision.BREAKER_OPEN, reason
        if self.blocker is not None:
            verdict = self.blocker.verdict()
            if verdict.blocked:
                return Decision.BLOCKED, verdict.reason
        return None

    def dispatch_gate(self, job: RestartJob) -> str | None:
        """The gates again when a job's turn comes: a queued restart can wait for minutes behind
        the rate limit, and the breaker may have opened or a blocking alert started meanwhile."""
        now = self._now()
        self.update_breaker(now)
        rule = next((r for r in self.config.rules if r.name == job.primary.rule), None)
        failure = any(r.trigger in FAILURE_TRIGGERS for r in job.requests)
        held = self.gate(job.key, now, self._rule_windows.get(rule.name) if rule else None, failure=failure)
        return None if held is None else f"{held[0].value}: {held[1]}"

    def update_breaker(self, now: datetime) -> None:
        for change in self.breaker.evaluate(now):
            self.metrics.breaker_open.labels(change.scope).set(1 if change.opened else 0)
            if change.opened:
                log.error("breaker_opened", scope=change.scope, reason=change.reason,
                          note="restarts are held until the condition clears")
            else:
                log.warning("breaker_closed", scope=change.scope)

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
    ) -> RequestRecord:
        if decision is Decision.RESTART:
            held = self.gate(key, now, windows, failure=trigger in FAILURE_TRIGGERS)
            if held is not None:
                decision, detail = held
        self._record_decision(rule, trigger, key, decision, health=health, status=status, state=state, detail=detail)
        record = RequestRecord(new_request_id(), key, rule, trigger, reason, now, decision)
        if decision is Decision.RESTART:
            record.job = self._submit(record, dry_run=dry_run, attempt=attempt, origin=origin)
            if record.job is not None and record.job.evidence is None and status is not None:
                # The restart will erase the trace: keep the copy for the history.
                record.job.evidence = status.failure_evidence()
            if record.job is not None and trigger in FAILURE_TRIGGERS and isinstance(self.config.clusters.get(key.cluster), CloudCluster):
                rule_config = next((r for r in self.config.rules if r.name == rule), None)
                record.job.wants_recommendations |= bool(rule_config and rule_config.fetch_recommendations)
        elif decision is Decision.DUPLICATE:
            record.job = self.queue.pending_job(key)
        self.requests[record.request_id] = record
        while len(self.requests) > REQUEST_MEMORY:
            self.requests.popitem(last=False)
        return record

    def _submit(self, record: RequestRecord, *, dry_run: bool, attempt: int | None, origin: str) -> RestartJob | None:
        key = record.key
        request = RestartRequest(
            id=record.request_id, key=key, rule=record.rule, trigger=record.trigger, reason=record.reason,
            requested_at=record.requested_at, dry_run=self.config.dry_run or dry_run, origin=origin,
        )
        self.metrics.init_connector(key.cluster, key.connector, record.rule, record.trigger)
        try:
            job, merged = self.queue.submit(request)
            self.state.add_pending(request, job.id)
        except QueueClosed:
            log.warning("restart_not_queued", cluster=key.cluster, connector=key.connector, rule=record.rule,
                        trigger=record.trigger.value, reason="shutting down")
            return None
        log.info(
            "restart_queued", cluster=key.cluster, connector=key.connector, rule=record.rule,
            trigger=record.trigger.value, request=request.id, job=job.id, merged=merged,
            dry_run=request.dry_run, attempt=attempt, reason=record.reason,
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
    ) -> None:
        self.metrics.decisions.labels(key.cluster, rule, trigger.value, decision.value).inc()
        previous = self._last_decision.get((key, rule))
        self._last_decision[(key, rule)] = decision
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


def _ended(job_id: str, request: RestartRequest, now: datetime, outcome: Outcome, why: str) -> HistoryRecord:
    return HistoryRecord(
        at=now, key=request.key, job_id=job_id, rule=request.rule, trigger=request.trigger,
        triggers=(request.trigger,), outcome=outcome, message=why,
    )


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else "not within the next year"


class JobRecorder:
    """The queue's observer: counts, logs and remembers every send and every terminal outcome."""

    def __init__(
        self,
        config: Callable[[], Config],
        state: SqliteStateStore,
        metrics: Metrics,
        breaker: Breaker,
        *,
        now: WallClock = utc_now,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._state = state
        self._metrics = metrics
        self._breaker = breaker
        self._now = now
        self._rng = rng
        self.gate: Callable[[RestartJob], str | None] = lambda job: None  # set by the composition root
        self.finished_jobs: list[RestartJob] = []  # the current run's jobs, for --once and summaries
        self.outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)

    def drop_reason(self, job: RestartJob) -> str | None:
        if all(r.trigger is Trigger.STATUS for r in job.requests) and self._state.load(job.key).health is Health.HEALTHY:
            return "connector healthy again before its turn"
        return self.gate(job)

    def depth_changed(self, credential: str, depth: int) -> None:
        self._metrics.queue_depth.labels(credential).set(depth)

    def sending(self, job: RestartJob) -> None:
        """The first call of a job is about to go out. The attempt is counted now, in the same
        transaction that marks the requests as sending, not after the answer: a kill -9 between
        the call and its answer then cannot undo the backoff (no restart storm after a crash)."""
        state = self._state.load(job.key)
        if self._failure_requests(job) and not job.attempt_counted:
            now = self._now()
            self._breaker.record_restart(now)
            state = self._attempt(job, state, now)
            job.attempt_counted = True
        self._state.mark_sending(job.id, job.key, state)
        self._metrics.show_connector_state(job.key.cluster, job.key.connector, state)

    def finished(self, job: RestartJob) -> None:
        assert job.outcome is not None
        primary = job.primary
        self.outcomes[job.outcome] += 1
        self.finished_jobs.append(job)
        self._metrics.restarts.labels(
            job.key.cluster, job.key.connector, primary.rule, primary.trigger.value, job.outcome.value
        ).inc()
        now = self._now()
        state = self._state.load(job.key)
        changed: ConnectorState | None = None
        if job.outcome is Outcome.DRY_RUN and self._failure_requests(job):
            # Dry-run advances the backoff as a real restart would, so the log shows the cadence
            # production would have.
            changed = self._attempt(job, state, now)
        elif job.outcome is Outcome.ACCEPTED and not self._failure_requests(job):
            changed = record_manual_restart(state, now)
        state = changed or state
        if job.outcome is Outcome.UNSENT:
            # Still pending in the state file: the next start of the daemon sends it.
            pass
        else:
            self._state.finish(job.id, job.key, changed, self._history(job, state, now))
        if changed is not None:
            self._metrics.show_connector_state(job.key.cluster, job.key.connector, changed)
        fields: dict[str, object] = {
            "cluster": job.key.cluster, "connector": job.key.connector, "job": job.id, "outcome": job.outcome.value,
            "rule": primary.rule, "trigger": primary.trigger.value, "triggers": [t.value for t in job.triggers],
            "requests": [r.id for r in job.requests], "tries": job.tries, "status_code": job.status_code,
            "request_id": job.request_id, "attempt": state.attempts,
        }
        if job.first_sent_at is not None:
            # How long it waited in the queue (rate limit, pauses) and how long its calls took.
            fields["queued_seconds"] = round(job.first_sent_at - job.enqueued_at, 3)
            if job.finished_at is not None:
                fields["sending_seconds"] = round(job.finished_at - job.first_sent_at, 3)
        if job.message:
            fields["message"] = job.message
        if job.outcome is Outcome.UNSENT:
            fields["note"] = "kept in the state file; sent at the next start"
        if job.outcome in (Outcome.ACCEPTED, Outcome.DRY_RUN, Outcome.DROPPED, Outcome.CANCELLED):
            log.info("restart_finished", **fields)
        else:
            log.error("restart_finished", **fields)

    def _history(self, job: RestartJob, state: ConnectorState, now: datetime) -> HistoryRecord:
        assert job.outcome is not None
        return HistoryRecord(
            at=now, key=job.key, job_id=job.id, rule=job.primary.rule, trigger=job.primary.trigger,
            triggers=tuple(job.triggers), outcome=job.outcome, status_code=job.status_code,
            request_id=job.request_id, message=job.message, tries=job.tries,
            attempt=state.attempts if self._failure_requests(job) else None,
            evidence=job.evidence, recommendations=job.recommendations,
        )

    def _failure_requests(self, job: RestartJob) -> list[RestartRequest]:
        return [r for r in job.requests if r.trigger in FAILURE_TRIGGERS]

    def _attempt(self, job: RestartJob, state: ConnectorState, now: datetime) -> ConnectorState:
        """A failure restart that went out (or would have, in dry-run) is an attempt whatever its
        answer: counting failed calls keeps a revoked key or a broken endpoint from becoming a
        hot loop, since the backoff grows exactly as for a connector that keeps failing."""
        failures = self._failure_requests(job)
        rule = _rule_named(self._config(), failures[0].rule)
        # A rule removed by a reload still leaves the connector a backoff, never none.
        backoff = rule.backoff if rule is not None else Backoff()
        from_signal = all(r.trigger in SIGNAL_TRIGGERS for r in failures)
        return record_attempt(state, now, backoff, self._rng(), from_signal=from_signal)


def _rule_named(config: Config, name: str) -> Rule | None:
    return next((rule for rule in config.rules if rule.name == name), None)
