"""The alert trigger: Alertmanager's webhook, each alert matched to a rule and a connector; a
resolved alert withdraws the restart it asked for if that is still queued."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..alerts import Alert, WebhookPayload
from ..config import AlertTrigger, Rule
from ..model import ConnectorKey, Decision, Trigger
from ..policy import signal_cleared
from ..rules import decide_on_signal, selects
from .core import log
from .decisions import Decisions


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


class AlertIntake(Decisions):
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
        # Custom connectors' ids start clcc- (Confluent's recorded answers, Terraform fixtures).
        return self._by_resource_id.get(resource_id) if resource_id.startswith(("lcc-", "clcc-")) else None
