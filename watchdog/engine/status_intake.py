"""The status trigger: what a poll of a cluster listed, judged connector by connector (and by the
breaker as a whole), and the connectors no rule watches any more forgotten."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from ..config import Rule
from ..model import (
    ConnectorKey,
    ConnectorStatus,
    Decision,
    Health,
    Outcome,
    Trigger,
    connector_name_problem,
)
from ..policy import give_up, observe
from ..rules import classify, decide_on_status, status_rule_for
from .core import log
from .decisions import Decisions


class StatusIntake(Decisions):
    def on_listing(self, cluster: str, statuses: Mapping[str, ConnectorStatus]) -> Mapping[str, ConnectorStatus]:
        """What a listing of the cluster showed (a poll, a schedule's turn, or one made on demand
        for an alert or a request): the connectors that exist, their lcc- ids, since when they
        run. Only connectors a listing showed are ever acted on. Returns the listing without the
        names no connector can have (longer than 255 characters, control characters), which an
        upstream we do not trust could send to grow our series and state."""
        now = self._now()
        unusable = [name for name in statuses if connector_name_problem(name) is not None]
        if unusable:
            log.warning("unusable_connector_names_ignored", cluster=cluster, count=len(unusable),
                        note="names longer than 255 characters or with control characters")
            statuses = {name: status for name, status in statuses.items() if connector_name_problem(name) is None}
        self._unlist(cluster, keep=statuses.keys())
        self._listed[cluster] = set(statuses)
        for name, status in statuses.items():
            key = ConnectorKey(cluster, name)
            self.statuses[key] = status
            if status.resource_id:
                self._by_resource_id[status.resource_id] = key
            if classify(status) is Health.HEALTHY:
                self.running_since.setdefault(key, now)
            else:
                self.running_since.pop(key, None)
        return statuses

    def on_poll(self, cluster: str, statuses: Mapping[str, ConnectorStatus]) -> None:
        now = self._now()
        counts = dict.fromkeys(Health, 0)
        judged: list[tuple[Rule, ConnectorKey, ConnectorStatus, Health]] = []
        statuses = self.on_listing(cluster, statuses)
        for name, status in statuses.items():
            key = ConnectorKey(cluster, name)
            health = classify(status)
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
        """Drop what the last listing of `cluster` showed and this one does not (`keep`)."""
        watched = self._watched.get(cluster, set())
        for name in self._listed.get(cluster, set()) - set(keep):
            key = ConnectorKey(cluster, name)
            status = self.statuses.pop(key, None)
            if status is not None and status.resource_id:
                self._by_resource_id.pop(status.resource_id, None)
            self.running_since.pop(key, None)
            if name not in watched:
                # Series made for a restart of a connector no status rule watches (an alert's, a
                # schedule's, a request's) go when the connector does; watched ones go with the
                # rest of their state when the poll forgets them.
                self.metrics.forget_connector(cluster, name)

    def prune_unwatched(self) -> None:
        """After a reload: connectors no rule watches any more lose their state and series."""
        for cluster, names in self._watched.items():
            for name in [n for n in names if status_rule_for(self.config.rules, cluster, n) is None]:
                names.discard(name)
                self._forget(ConnectorKey(cluster, name))

    def on_poll_failed(self, cluster: str, outcome: Outcome, message: str) -> None:
        self.metrics.polls.labels(cluster, outcome.value).inc()
        log.warning("poll_failed", cluster=cluster, outcome=outcome.value, message=message)
