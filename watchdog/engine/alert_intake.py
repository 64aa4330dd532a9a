"""The alert trigger: Alertmanager's webhook, each alert matched to a rule and a connector; a
resolved alert withdraws the restart it asked for if that is still queued and no other firing
alert waits on it (one that joined it, or was answered `duplicate` because of it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from ..alerts import Alert, WebhookPayload
from ..config import AlertTrigger, Config, Rule
from ..model import (
    REPLACED_CHAR,
    REPLACED_PROBLEM,
    ConnectorKey,
    ConnectorState,
    Decision,
    Trigger,
    connector_name_problem,
)
from ..policy import NEVER_RESTARTED, backoff_gap, last_restart_turn, settling_left, signal_seen
from ..rules import decide_on_signal, selects
from ..state import StateStoreError
from .alert_answers import (
    CLOSE_HINTS_PER_CHUNK,
    LISTED_AGAIN,
    NO_RULE,
    AlertAnswers,
    AlertResult,
    WebhookResult,
    not_found,
)
from .core import log
from .decisions import HELD_SHOWN, Decisions
from .skip_words import skipped_because

# The firing alerts remembered per connector (EngineCore.firing_alerts): the most recently sent
# ones, and none sent last longer ago than this (Alertmanager sends a firing alert again at least
# every repeat_interval, 4 h by default; one whose resolution never came, send_resolved false or
# lost, holds its connector's signal this long at most).
FIRING_KEPT = 1000
FIRING_FORGOTTEN_AFTER = timedelta(hours=24)
# Decisions that say "not now" rather than "no": the same alert sent again may be acted on.
_RETRY_DECISIONS = frozenset({Decision.QUEUE_FULL, Decision.SHUTTING_DOWN})


class AlertIntake(AlertAnswers, Decisions):
    def set_config(self, config: Config) -> None:
        super().set_config(config)
        self.alert_holds.reloaded(self._decided_for, self._still_firing)

    def _decided_for(self, alert: Alert) -> ConnectorKey | None:
        """The connector the alert, sent firing again, would be decided for under the config in
        force (the first rule that takes it and names a connector it selects, as _on_alert)."""
        for rule in self.alert_rules.matching(alert.labels):
            assert isinstance(rule.trigger, AlertTrigger)
            target = self._alert_target(alert, rule.trigger)
            if isinstance(target, ConnectorKey) and selects(rule.select, target.cluster, target.connector):
                return target
        return None

    def _still_firing(self, key: ConnectorKey) -> bool:
        """Whether an alert sent firing for the connector within FIRING_FORGOTTEN_AFTER has not resolved."""
        now = self._now()
        return any(now - seen < FIRING_FORGOTTEN_AFTER for seen in self.firing_alerts.get(key, {}).values())

    def on_alerts(
        self, alerts: WebhookPayload | Sequence[Alert], *, unlisted: Mapping[str, str] | None = None,
        relisted: Mapping[str, str | None] | None = None,
    ) -> WebhookResult:
        """Decide each alert. Only connectors that a listing of their cluster showed are acted
        on; `unlisted` names the clusters that could not be listed just now, and why; `relisted`
        the clusters listed again for a connector their last listing lacked (alert_clusters),
        with why that listing failed (None: it worked)."""
        now = self._now()
        result = WebhookResult()
        self._close_hints_left = CLOSE_HINTS_PER_CHUNK
        if isinstance(alerts, WebhookPayload):
            self.note_truncation(alerts)
        for alert in alerts.alerts if isinstance(alerts, WebhookPayload) else alerts:
            outcome = self._on_alert(alert, now, unlisted or {}, relisted or {})
            self.metrics.webhook_alerts.labels(outcome.result).inc()
            result.alerts.append(outcome)
        return result

    def fleet_rations(self, alerts: int) -> bool:
        """Whether the fleet breaker's room for this window may be too small for `alerts` failure
        restarts (those queued counted as taking it): the webhook then decides its alerts least
        recently restarted first (firing_targets, least_recently_restarted_first). While the
        room suffices, the order changes nothing, and costs nothing."""
        self.update_breaker(self._now())
        room = self.breaker.fleet_room()
        return room is not None and room < alerts + self.queue.depth()

    def firing_targets(self, alerts: Sequence[Alert]) -> list[ConnectorKey | None]:
        """The connector each firing alert names for its first matching rule (None for any other
        alert), as it is decided (_on_alert)."""
        targets: list[ConnectorKey | None] = []
        for alert in alerts:
            rule = next(iter(self.alert_rules.matching(alert.labels)), None) if alert.status == "firing" else None
            target = self._alert_target(alert, rule.trigger) if rule is not None and isinstance(
                rule.trigger, AlertTrigger) else None
            targets.append(target if isinstance(target, ConnectorKey) else None)
        return targets

    def least_recently_restarted_first(self, targets: Sequence[ConnectorKey | None]) -> list[int]:
        """The order a webhook's alerts are decided in while the fleet breaker rations restarts
        (indices into `targets`, firing_targets'): the connectors least recently restarted first
        (never restarted first), as a poll orders its failing ones; the rest last, as sent.
        Decided in the order Alertmanager sends them (the same at every repeat of a group), a
        group of 180 had its first 30 restarted at every repeat and 94 never (a probe,
        2026-12-06). One read of the states (StateStore.load_many)."""
        keys = list(dict.fromkeys(key for key in targets if key is not None))
        try:
            states = self.state.load_many(keys) if len(keys) > 1 else {}
        except StateStoreError:
            states = {}  # each alert meets the store's failure on its own

        def turn(index: int) -> tuple[bool, datetime]:
            key = targets[index]
            return (key is None, NEVER_RESTARTED if key is None else last_restart_turn(states.get(key)))

        return sorted(range(len(targets)), key=turn)

    def alert_clusters(self, alerts: Iterable[Alert]) -> tuple[set[str], set[str]]:
        """The configured clusters that firing alerts name through a matching rule: the ones
        whose listing must be fresh before the alerts are decided; and, among them, those whose
        last listing lacks the connector such an alert names through a rule selecting it (one
        created since): listed again, at most every few seconds (triggers/poller.list_again).
        Before, its alert was `unmatched` from the old listing, a 200 Alertmanager takes as
        delivered, and waited for its repeat_interval (hours). One match of each alert."""
        clusters: set[str] = set()
        lacking: set[str] = set()
        for alert in alerts:
            if alert.status != "firing":
                continue
            for rule in self.alert_rules.matching(alert.labels):
                assert isinstance(rule.trigger, AlertTrigger)
                label = alert.labels.get(rule.trigger.cluster_label)
                cluster = self.cluster_named(label) if label else None
                if cluster is None:
                    continue
                clusters.add(cluster)
                key = self._alert_target(alert, rule.trigger)
                if isinstance(key, ConnectorKey) and key not in self.statuses and selects(rule.select, key.cluster, key.connector):
                    lacking.add(key.cluster)
        return clusters, lacking

    def _on_alert(self, alert: Alert, now: datetime, unlisted: Mapping[str, str],
                  relisted: Mapping[str, str | None]) -> AlertResult:
        base = AlertResult(fingerprint=alert.identity, status=alert.status, result="unmatched")
        rules = self.alert_rules.matching(alert.labels)
        if not rules:
            name = alert.labels.get("alertname", "")
            base.detail = f"{NO_RULE} (alertname {name[:100]!r}{'...' if len(name) > 100 else ''})"
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
            if alert.status == "resolved":
                # Taken whether or not a listing showed the connector: it asks nothing of the API
                # and only clears what this daemon recorded (a signal awaited, a queued restart),
                # so an unknown name grows nothing. Required listed, every resolution a new
                # daemon got before a firing alert had its cluster listed (after each rollout,
                # with alert rules only) was `unmatched`, said nowhere and never sent again: the
                # connector awaited it for good and its count never reset.
                return self._on_resolved(alert, rule, key, now)
            if key.cluster in unlisted:
                base.result, base.retry = "refused", True
                base.rule, base.cluster, base.connector = rule.name, key.cluster, key.connector
                base.detail = f"cluster {key.cluster} could not be listed ({unlisted[key.cluster]}); send again later"
                continue
            if key not in self.statuses:
                # Only what a listing showed is acted on: names nobody listed would otherwise grow
                # metric series, state rows and the queue, and be sent to the real API.
                base.detail = not_found(key)
                if key.cluster in relisted and relisted[key.cluster] is not None:
                    # Whether it was created since is not known: sent again, it is looked for again.
                    base.result, base.retry = "refused", True
                    base.rule, base.cluster, base.connector = rule.name, key.cluster, key.connector
                    base.detail += f", and listing it again failed ({relisted[key.cluster]}); send again later"
                elif key.cluster in relisted:
                    base.detail = not_found(key, LISTED_AGAIN)
                base.detail += self._name_hint(key)  # not matched, whatever it resembles: name_hints says why
                continue
            # A re-send of the same firing episode is decided like any other: it finds its
            # restart queued (duplicate) or the connector inside its backoff, and restarts again
            # only when the backoff allows it, i.e. when the connector still fails after the gap.
            if alert.identity not in self.firing_alerts.get(key, {}):
                # A new firing (the alert's first, or its first since it resolved): its decision is
                # news, said at info even where it repeats the last one. Taken as a repeat, the
                # open breaker's refusal of an alert that fired again went to debug, and nothing
                # said "this firing alert was not acted on" but a counter.
                self._last_decision.get(key, {}).pop(rule.name, None)
            self._note_firing(key, alert.identity, now)
            state = self.quiet_since_signal(key, rule, now)
            status = self.statuses.get(key)
            decision = decide_on_signal(rule, state, status, now, pending=self._pending_for(key, dry_run=rule.dry_run))
            if decision is not Decision.RESTART:
                # Nothing sent for it now (its backoff, its spent budget...): the signal is there all
                # the same. (A restart marks it when it is sent: no write of its own.)
                state = self._signal_seen(key, rule, state)
            if decision is Decision.BUDGET_SPENT:
                state = self._give_up(rule, key, state)
            summary = (alert.annotations.get("summary") or alert.labels.get("alertname", "alert"))[:200]
            record = self._decide_and_submit(
                rule.name, Trigger.ALERT, key, decision, now, windows=self._rule_windows.get(rule.name),
                reason=f"alert {summary}", dry_run=rule.dry_run, status=status, state=state, origin=alert.identity,
                detail=skipped_because(decision, Trigger.ALERT, rule, status, state, now),
                defer=settling(rule, state, now) if decision is Decision.RESTART else None,
            )
            if decision is Decision.RESTART and record.decision is not Decision.RESTART:
                self._signal_seen(key, rule, state)  # held by a gate, or the queue is full: nothing sent
            if record.decision in HELD_SHOWN:
                self.alert_holds.made(key, alert)
            if record.decision is Decision.RESTART and record.job is not None:
                result = "restart_requested"
            elif record.decision is Decision.DUPLICATE:
                result = "duplicate"
            else:
                result = "refused"
            return AlertResult(
                fingerprint=alert.identity, status=alert.status, result=result, rule=rule.name,
                cluster=key.cluster, connector=key.connector, decision=record.decision.value,
                request_id=record.request_id, detail=record.detail, retry=record.decision in _RETRY_DECISIONS,
            )
        return base

    def _on_resolved(self, alert: Alert, rule: Rule, key: ConnectorKey, now: datetime) -> AlertResult:
        """The alert stopped firing: withdraw its restart if still queued, unless another firing
        alert still waits on it, and let the backoff count health from now (polling could not see
        the failure the alert reported)."""
        if self._knows_nothing_of(key, alert.identity):
            # Answered `unmatched`, as its firing side was (counted so, not warned about again):
            # answered and counted `resolved`, it said something was cleared of a connector the
            # daemon never knew. Still a 200: Alertmanager has nothing to send again.
            return AlertResult(fingerprint=alert.identity, status=alert.status, result="unmatched",
                               detail=f"{not_found(key)}, and nothing is recorded of it: this resolution cleared nothing")
        result = AlertResult(
            fingerprint=alert.identity, status=alert.status, result="resolved",
            rule=rule.name, cluster=key.cluster, connector=key.connector,
        )
        still = self._note_resolved(key, alert.identity, now)
        if still:
            # Another alert (another task's, another alertname's) still says it fails: its count
            # does not start resetting, nor its gave-up flag clear. Cleared here, a connector given
            # up on was restarted again at the next re-send of the alert that never stopped firing.
            result.detail = f"{still} other firing alert(s) still name {key.connector}: its restart count is kept"
        else:
            self.alert_holds.resolved(key)  # its restart is no longer wanted (first: memory only, it cannot fail)
            self._signal_cleared(key, now)
        job = self.queue.pending_job(key)
        if job is not None:
            job.alerts.discard(alert.identity)
            others = sorted({r.trigger.value for r in job.requests if not r.origin})
            if job.alerts or others:
                # Another alert (another task's, say) still fires and was answered `duplicate` or
                # joined this job: Alertmanager will not send it again for its repeat_interval, so
                # withdrawing the job would leave that failure unrestarted, unsaid. A poll, a
                # schedule or a person asked for it too: theirs is never withdrawn by an alert
                # (only the alert's requests went, and the answer said `cancelled` of a restart
                # that still went out).
                waiting = [f"{len(job.alerts)} other firing alert(s)"] if job.alerts else []
                if others:
                    waiting.append(f"requests of other triggers ({', '.join(others)})")
                result.detail = "; ".join(filter(None, [
                    f"the queued restart stays: {' and '.join(waiting)} wait on it", result.detail]))
                log.info("signal_cleared_restart_kept", fingerprint=alert.identity, cluster=key.cluster,
                         connector=key.connector, job=job.id, waiting_alerts=sorted(job.alerts)[:10],
                         other_triggers=others)
                return result
        # No firing alert waits on it: every request an alert made goes (this one's, and those of
        # alerts resolved while another still waited); requests of other triggers stay.
        # Why it ended, kept with its record: the history, GET /v1/restarts/{id} and
        # restart_finished said `cancelled` with an empty message (probe_ledger F3).
        cancelled = self.queue.withdraw(key, lambda r: bool(r.origin), message=(
            f"withdrawn before it was sent: the alert that asked for it resolved (fingerprint {alert.identity}) "
            "and no other firing alert or trigger waited on it"))
        self.state.withdraw_pending([r.id for r in cancelled])
        if cancelled:
            result.result = "cancelled"
            result.detail = "withdrew 1 queued restart(s)"  # one job, whatever the alerts that joined it
            log.info("signal_cleared_restart_cancelled", fingerprint=alert.identity, cluster=key.cluster,
                     connector=key.connector, requests=[r.id for r in cancelled])
        return result

    def _knows_nothing_of(self, key: ConnectorKey, identity: str) -> bool:
        """Whether a resolution names a connector its cluster's last listing lacked, of which nothing
        is recorded (no firing alert, no queued restart, no state). A cluster not listed yet (a
        daemon just started) is not known to lack it: that resolution clears what it can, as before."""
        return (key.cluster in self._listed and key not in self.statuses and key not in self.firing_alerts
                and key not in self.dry_states and self.queue.pending_job(key) is None
                and self.state.load(key) == ConnectorState())

    def _signal_seen(self, key: ConnectorKey, rule: Rule, state: ConnectorState) -> ConnectorState:
        """The firing alert names the connector as failing (policy.signal_seen); saved if that changed."""
        seen = signal_seen(state)
        if seen is not state:
            self.save_state(key, seen, dry_run=self.config.dry_run or rule.dry_run)
        return seen

    def _note_firing(self, key: ConnectorKey, identity: str, now: datetime) -> None:
        firing = self.firing_alerts.setdefault(key, {})
        firing.pop(identity, None)
        firing[identity] = now  # last: the dict stays in the order they were last sent
        while len(firing) > FIRING_KEPT:
            del firing[next(iter(firing))]

    def _note_resolved(self, key: ConnectorKey, identity: str, now: datetime) -> int:
        """How many other alerts still fire for the connector, as last sent (none sent for
        FIRING_FORGOTTEN_AFTER counts: its resolution was never delivered, or it fires no more)."""
        firing = self.firing_alerts.get(key, {})
        firing.pop(identity, None)
        for other, seen in list(firing.items()):
            if now - seen < FIRING_FORGOTTEN_AFTER:
                break
            del firing[other]
        if not firing:
            self.firing_alerts.pop(key, None)
        return len(firing)

    def _alert_target(self, alert: Alert, trigger: AlertTrigger) -> ConnectorKey | str:
        """The connector an alert names, or why it names none we watch.

        Confluent's exported metrics label a connector only by its lcc- id, which is unique
        across clusters: such an alert needs no cluster label (the id was learned by polling).
        With a cluster label, a connector of that exact name there comes first, then the id.
        """
        cluster_label = alert.labels.get(trigger.cluster_label)
        connector_label = alert.labels.get(trigger.connector_label)
        if not connector_label:
            return f"alert lacks the connector label {trigger.connector_label!r}"
        problem = connector_name_problem(connector_label)
        if problem is not None:  # the value is not quoted back: it may be huge or hostile
            return f"the connector label {trigger.connector_label!r} {problem}"
        # A NUL or half a surrogate pair, made U+FFFD as the body was read: said, as the restart
        # API says it, not looked up (and listed again for) as a name nobody sent.
        for kind, name, value in (("connector", trigger.connector_label, connector_label),
                                  ("cluster", trigger.cluster_label, cluster_label)):
            if value is not None and REPLACED_CHAR in value:
                return f"the {kind} label {name!r} {REPLACED_PROBLEM}"
        if cluster_label is not None and len(cluster_label) > 255:
            return f"the cluster label {trigger.cluster_label!r} is longer than 255 characters"
        repeated = self._repeated_id(connector_label, cluster_label)
        if repeated is not None:
            return repeated
        by_id = self._connector_by_id(connector_label, resolved=alert.status == "resolved")
        if not cluster_label:
            # A value that is one connector's lcc- id and another's name (a connector called
            # `lcc-bbb`) is refused, naming both: taken as the id, the alert restarted the one
            # connector while `watchdog restart` and POST /v1/restarts took the other, by name.
            named = [ConnectorKey(c, connector_label) for c in sorted(self.config.clusters)] if by_id else []
            named = [key for key in named if key in self.statuses and key != by_id]
            if by_id is not None and named:
                return (f"{connector_label!r} is both the lcc- id of {by_id} and the name of {', '.join(map(str, named))}: "
                        f"give the alert the cluster label {trigger.cluster_label!r} (the name in that cluster is meant)")
            return by_id or f"alert lacks the cluster label {trigger.cluster_label!r} and {connector_label!r} is not a known lcc- id"
        cluster = self.cluster_named(cluster_label)
        if cluster is None:
            return f"cluster {cluster_label!r} is not configured"
        by_name = ConnectorKey(cluster, connector_label)
        if by_name in self.statuses:
            return by_name  # an exact name in the named cluster wins, as for the API and the CLI
        return by_id if by_id is not None and by_id.cluster == cluster else by_name

    def _repeated_id(self, connector_label: str, cluster_label: str | None) -> str | None:
        """Why an alert naming an lcc- id the listing gives more than one connector acts on none
        (repeated_ids.py): taken from the id index, it restarted the last connector listed with
        it, whichever the alert was about. A connector of that exact name in the labelled cluster
        is still meant (as for an id that is another's name)."""
        for cluster in sorted(self.ids_repeated):
            names = self.ids_repeated[cluster].get(connector_label)
            if names is None:
                continue
            labelled = self.cluster_named(cluster_label) if cluster_label else None
            if labelled is not None and ConnectorKey(labelled, connector_label) in self.statuses:
                return None
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            return (f"{connector_label!r} is the lcc- id the listing of {cluster} gives more than one connector "
                    f"({shown}): it names none of them while it repeats (connector_ids_repeated)")
        return None

    def _connector_by_id(self, resource_id: str, *, resolved: bool = False) -> ConnectorKey | None:
        """The connector the id names. `resolved`: an alert that stopped firing, whose id may name
        a connector deleted since, or deleted and created again under its name (a new id): its
        resolution is the end of the signal that name awaits. Taken for a connector called
        "lcc-...", it cleared nothing, and the name awaited it for good: its count never reset and
        its gave-up flag stayed, the new connector's first alert refused `budget_spent`. A firing
        alert of such an id names nothing (docs/alerts-and-api.md: an old id's alert restarts
        nothing)."""
        # Custom connectors' ids start clcc- (Confluent's recorded answers, Terraform fixtures).
        if not resource_id.startswith(("lcc-", "clcc-")):
            return None
        key = self._by_resource_id.get(resource_id)
        return key if key is not None or not resolved else self._retired_ids.named(resource_id)


def settling(rule: Rule, state: ConnectorState, now: datetime) -> tuple[float, str] | None:
    """How long an alert's restart waits, queued, and why, when the connector was restarted moments
    ago (by a schedule, by name, by another rule): the alert may be that restart's own flip of its
    status, or news that has not caught up with it. Sent at once, it restarted the connector a second
    time seconds after the first; refused, it waited for Alertmanager's repeat_interval (hours). It
    waits the rule's first backoff gap after that restart (policy.settling_left), is withdrawn if
    the alert resolves meanwhile, and otherwise goes then (queue/deferral.py). None: not deferred."""
    left = settling_left(state, now, rule.backoff)
    if left <= 0 or state.last_restart_at is None:
        return None
    ago = (now - state.last_restart_at).total_seconds()
    at = (now + timedelta(seconds=left)).isoformat(timespec="seconds")
    # Worded to stay true at every read: the request's `detail` keeps this text after the wait is
    # over (GET /v1/restarts/{id}, status), where "sent at <time> unless the alert resolves first"
    # read, once that time had passed, as a promise still ahead or one not kept. What the job
    # waits for now is its message (cleared when the wait ends, queue/deferral.py).
    return left, (f"deferred {left:.0f} s, held until {at}: the connector was restarted {ago:.0f} s before this "
                  f"alert, which may be that restart's own effect or not caught up with it; withdrawn if the "
                  f"alert resolves before then, its turn then otherwise (the rule's first backoff gap, "
                  f"{backoff_gap(1, rule.backoff):g} s, after any restart)")
