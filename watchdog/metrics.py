"""Every Prometheus metric the daemon exports, on an injected registry.

Names follow DESIGN.md: prefix `watchdog_`, base units, counters end in `_total`. Label values
come only from bounded sets (config names, connectors seen in configured clusters, the enums of
model.py). Series are created at 0 as soon as their labels are known, so `increase()` sees the
first event, and a connector's series are removed when it disappears from its cluster.

One exception, for scale: a connector's `watchdog_restarts_total` series (one per outcome) are
created for connectors named in the config at start-up, but for connectors found by globs only
when their first restart is queued. At 10,000 connectors, creating them all up front cost 150,000
series, about 100 MiB and seconds of CPU per scrape (docs/benchmarks.md); the per-connector
gauges (backoff step, gave-up, next restart) still exist from the first poll. Such a series
appears at 1, which Prometheus' increase() does not count: `watchdog_cluster_restarts_total`,
the same counts without the connector label, exists at 0 from the start for what counts over time.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics

from . import release
from .lane_metrics import LaneMetrics
from .model import FLEET, ConnectorKey, ConnectorState, Decision, Health, Outcome, Trigger, Unusable
from .stall import Unjudged

# prometheus-client exposes, beside every counter and histogram series, a `_created` series
# holding the Unix time it was made (watchdog_restarts_created, watchdog_decisions_created, ...):
# 226 of the 492 series of a one-cluster daemon, none of them documented or used by an alert,
# each a series Prometheus stores. Process-wide: the daemon exports no other metrics.
disable_created_metrics()

RELOAD_RESULTS = ("success", "error")
WEBHOOK_RESULTS = ("restart_requested", "duplicate", "unmatched", "resolved", "cancelled", "refused")
BLOCKING_RESULTS = ("clear", "blocked", "error_blocked", "error_allowed")
STALL_VERDICTS = ("moving", "idle", "stalling", "stalled")
# Whether a stall check read a cluster's Metrics API answers (refusals of ids included), or a
# query failed (no verdicts for its connectors): what WatchdogStallChecksFailing reads.
STALL_READS = ("read", "failed")
HTTP_ROUTES = ("alertmanager", "restarts", "restart_status", "connectors", "history")
# Every answer of the HTTP server is counted: the API routes above, the open ones, and `other`
# for any path that matches no route (404, 405).
SERVED_ROUTES = (*HTTP_ROUTES, "metrics", "healthz", "readyz", "other")
SCHEDULER_EVENTS = ("missed", "error", "max_instances")
# Polls are reads: never unsent, cancelled or unconfirmed (a read is simply asked again).
# `unusable`: the answer was a map whose entries could not be read, none of them.
# `state_error`: the list call worked but its connectors could not be judged, because the state
# file could not record the decisions (a full disk).
# `emptied`: a listing of no connector for a cluster that had some, not believed until the next
# listing confirms it (triggers/emptied.py).
POLL_RESULTS = ("ok", "unusable", "state_error", "emptied", *(o.value for o in Outcome if o not in (
    Outcome.ACCEPTED, Outcome.DRY_RUN, Outcome.DROPPED, Outcome.UNSENT, Outcome.CANCELLED, Outcome.UNCONFIRMED)))


class Metrics(LaneMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # `revision` tells releases apart where `version` does not (every release so far is 0.1.0):
        # the image's REVISION build argument, a source checkout's commit, else `unknown`.
        build = release.build()
        self.build_info = Gauge(
            "watchdog_build_info", "Always 1; labels carry the version and the revision it was built from.",
            ["version", "revision", "python_version"], registry=r
        )
        self.build_info.labels(build.version, build.revision, platform.python_version()).set(1)
        # The (rule, trigger) of each connector's restart series, made only here (init_connector,
        # count_restart), True once init_connector made them all at 0 with the connector's
        # gauges (a connector the config names; one a glob found has only the outcomes it met,
        # and `accepted`): forget_connector removes them by name. prometheus-client's
        # remove_by_labels looks at every series of the metric, so forgetting connectors one by
        # one cost the number of connectors times the number of series: a reload that turned off
        # the rule watching 3,000 connectors held the event loop 7.7 s, one that removed a cluster
        # of 2,000, 3 s.
        self._restart_rules: dict[tuple[str, str], dict[tuple[str, str], bool]] = {}
        # The (cluster, rule, trigger) with decision, restart or cluster restart series, made only
        # here (init_cluster, init_connector, count_decision, count_restart), True once
        # init_cluster made its decision and cluster restart series at 0: forget_rules finds
        # the series of rules gone here, and a reload makes only the series it does not have
        # (made again at each reload, the 57,000 of 1,500 rules held the event loop 0.2 s).
        self._rule_series: dict[tuple[str, str, str], bool] = {}
        self._breaker_scopes = {FLEET}  # fleet and each cluster in service: show_breaker
        self.restarts = Counter(
            "watchdog_restarts",
            "Restart jobs by terminal outcome (one per job; merged requests share it).",
            ["cluster", "connector", "rule", "trigger", "outcome"],
            registry=r,
        )
        # The same counts without the connector label, created at 0 with the cluster's series.
        # A connector found by a glob gets its watchdog_restarts_total series at its first restart
        # (see above), so they appear at 1 and Prometheus' increase() never sees that restart:
        # a key refused once (403) did not raise WatchdogApiKeyRejected, and failures of several
        # connectors, each its first since the daemon started, added nothing to
        # WatchdogRestartsFailing. The alerts and the dashboard count restarts from these.
        self.cluster_restarts = Counter(
            "watchdog_cluster_restarts",
            "Restart jobs by terminal outcome, per cluster (watchdog_restarts_total without connector; "
            "its series exist from the start, so increase() sees each connector's first restart).",
            ["cluster", "rule", "trigger", "outcome"],
            registry=r,
        )
        self.decisions = Counter(
            "watchdog_decisions",
            "Rule decisions: `restart` or the reason a connector was skipped.",
            ["cluster", "rule", "trigger", "decision"],
            registry=r,
        )
        self._make_lane_metrics(r)
        self.connectors = Gauge(
            "watchdog_connectors", "Watched connectors by health class.", ["cluster", "health"], registry=r
        )
        self.backoff_step = Gauge(
            "watchdog_connector_backoff_step",
            "Restarts since the connector's backoff last reset (n in gap(n)).",
            ["cluster", "connector"],
            registry=r,
        )
        self.gave_up = Gauge(
            "watchdog_connector_gave_up",
            "1 while the connector has used its restart budget and is left alone until it recovers "
            "(0 while its owner has it PAUSED or STOPPED).",
            ["cluster", "connector"],
            registry=r,
        )
        self.next_restart = Gauge(
            "watchdog_connector_next_restart_timestamp_seconds",
            "Earliest time the next failure restart is allowed (0: now; +Inf: gave up, not until it is healthy).",
            ["cluster", "connector"],
            registry=r,
        )
        self.degraded_too_long = Gauge(
            "watchdog_connectors_degraded_too_long",
            "Watched connectors DEGRADED with no task in error (or transient for another reason nobody "
            "chose: PROVISIONING, an unknown state) for longer than their rule's degraded_report_after "
            "(reported, not restarted).",
            ["cluster"],
            registry=r,
        )
        self.last_poll = Gauge(
            "watchdog_last_successful_poll_timestamp_seconds",
            "When the cluster's connectors were last listed successfully.",
            ["cluster"],
            registry=r,
        )
        self.polls = Counter("watchdog_polls", "Status polls by result.", ["cluster", "result"], registry=r)
        self.unusable_entries = Counter(
            "watchdog_unusable_entries",
            "Entries of a status poll's answer that could not be read, by reason (judged transient, state kept).",
            ["cluster", "reason"],
            registry=r,
        )
        self.config_reloads = Counter(
            "watchdog_config_reloads", "Config reloads by result.", ["result"], registry=r
        )
        # 0 from a refused reload until one applies: the daemon runs an older config than its
        # file, and nothing else said so (WatchdogConfigReloadFailing). 1 at the start.
        self.config_last_reload_successful = Gauge(
            "watchdog_config_last_reload_successful",
            "1 if the last config reload applied (or none was asked for since the start), 0 if it was refused: "
            "the daemon runs an older config than its file.",
            registry=r,
        )
        self.config_last_reload_successful.set(1)
        # Which replica runs in dry run cannot be told apart otherwise: one reloaded to `dry_run:
        # true` beside one still live took over and ended six live requests `dry_run`, none sent,
        # and nothing showed the two configs differed (an HA probe, 2026-12-06).
        self.dry_run = Gauge(
            "watchdog_dry_run",
            "1 while the config in force says dry_run (every restart decided and logged, none sent; "
            "rules on trial alone are not counted), 0 otherwise.",
            registry=r,
        )
        self.config_info = Gauge(
            "watchdog_config_info",
            "1, labelled with the digest of the config in force (Config.digest: secrets left out); replicas "
            "whose digests differ run different configs.",
            ["digest"],
            registry=r,
        )
        self.scheduler_events = Counter(
            "watchdog_scheduler_job_events",
            "Scheduler jobs that were missed, failed, or skipped because the previous run was still going.",
            ["event"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "watchdog_breaker_open",
            "1 while restarts are stopped because too much is failing at once (scope: a cluster, or fleet).",
            ["scope"],
            registry=r,
        )
        self.webhook_alerts = Counter(
            "watchdog_webhook_alerts",
            "Alerts received from Alertmanager, by what became of them.",
            ["result"],
            registry=r,
        )
        self.webhook_truncated_alerts = Counter(
            "watchdog_webhook_truncated_alerts",
            "Alerts Alertmanager left out of a webhook to keep to the receiver's max_alerts (its truncatedAlerts): never seen here.",
            registry=r,
        )
        self.http_requests = Counter(
            "watchdog_http_requests",
            "Answers of the daemon's HTTP server (webhook, restart API, metrics, probes), by route and status class.",
            ["route", "status_class"],
            registry=r,
        )
        self.http_auth_failures = Counter(
            "watchdog_http_auth_failures",
            "Requests to the webhook and restart API refused by authentication (401; 403 while no token is set).",
            registry=r,
        )
        self.state_store_errors = Counter(
            "watchdog_state_store_errors",
            "Reads and writes of the state file that failed (a full disk, a read-only file): "
            "decisions that could not be recorded were not acted on.",
            registry=r,
        )
        self.state_store_writable = Gauge(
            "watchdog_state_store_writable",
            "1 while the state file takes writes; 0 from a failed write until one succeeds again.",
            registry=r,
        )
        self.stall_checks = Counter(
            "watchdog_stall_checks",
            "Stall checks of RUNNING connectors against the Metrics API, by verdict.",
            ["cluster", "verdict"],
            registry=r,
        )
        self.stall_reads = Counter(
            "watchdog_stall_check_reads",
            "Stall checks of a cluster's connectors, by whether the Metrics API's answers were read or a query failed.",
            ["cluster", "result"],
            registry=r,
        )
        self.stall_unjudged = Counter(
            "watchdog_stall_unjudged",
            "Connectors a stall check selected but could not judge, by reason (never restarted for a stall).",
            ["cluster", "reason"],
            registry=r,
        )
        # Set by each check of a stalled rule (triggers/stall.py); without it, a rule that could
        # not judge yet (a new daemon, connectors new or restarted: grace, delay and three
        # windows, 46 minutes with the defaults) looked silent to whatever watched its metrics.
        self.stall_waiting = Gauge(
            "watchdog_stall_connectors_waiting",
            "Connectors a stalled rule selects, RUNNING, that its last check could not judge yet: not run, "
            "unrestarted, through its grace and three windows.",
            ["cluster", "rule"],
            registry=r,
        )
        self.blocking_checks = Counter(
            "watchdog_blocking_checks",
            "Checks of Alertmanager for blocking alerts, by result (error_*: no usable answer: unreachable, refused or unreadable).",
            ["result"],
            registry=r,
        )
        for result in RELOAD_RESULTS:
            self.config_reloads.labels(result)
        for result in WEBHOOK_RESULTS:
            self.webhook_alerts.labels(result)
        for result in BLOCKING_RESULTS:
            self.blocking_checks.labels(result)
        for route in SERVED_ROUTES:
            for status_class in ("2xx", "4xx", "5xx"):
                self.http_requests.labels(route, status_class)
        self.state_store_writable.set(1)
        self.breaker_open.labels("fleet").set(0)
        for event in SCHEDULER_EVENTS:
            self.scheduler_events.labels(event)

    # -- pre-initialisation ----------------------------------------------------------------------

    def count_unrouted_answer(self, status: int) -> None:
        """An answer of the daemon's port that no route gave (the server's own: a head h11 cannot
        read, a request that did not arrive in time, a connection refused at the cap), under
        route `other`."""
        self.http_requests.labels("other", f"{min(status // 100, 5)}xx").inc()

    def init_cluster(self, cluster: str, rules: Iterable[tuple[str, Trigger]]) -> None:
        # Series are created at 0, never set to 0: this runs again for every cluster on each
        # reload and discovery change, and must not blank what a cluster's last poll showed.
        self.breaker_open.labels(cluster)
        self._breaker_scopes.add(cluster)
        for verdict in STALL_VERDICTS:
            self.stall_checks.labels(cluster, verdict)
        for reason in Unjudged:
            self.stall_unjudged.labels(cluster, reason.value)
        for result in STALL_READS:
            self.stall_reads.labels(cluster, result)
        for health in Health:
            self.connectors.labels(cluster, health.value)
        self.degraded_too_long.labels(cluster)
        for result in POLL_RESULTS:
            self.polls.labels(cluster, result)
        for unusable in Unusable:
            self.unusable_entries.labels(cluster, unusable.value)
        for rule, trigger in rules:
            if trigger is Trigger.STALLED:
                self.stall_waiting.labels(cluster, rule)
            if self._rule_series.get((cluster, rule, trigger.value)):
                continue
            self._rule_series[cluster, rule, trigger.value] = True
            for decision in Decision:
                self.decisions.labels(cluster, rule, trigger.value, decision.value)
            for outcome in Outcome:
                self.cluster_restarts.labels(cluster, rule, trigger.value, outcome.value)

    def init_connector(self, cluster: str, connector: str, rule: str, trigger: Trigger, *, every_outcome: bool = True) -> None:
        """The connector's gauges and its restart series for (rule, trigger): every outcome's at 0
        for a connector the config names (a bounded set, known at start), only `accepted`'s for
        one a glob found, at its first restart (`every_outcome=False`); each other outcome's
        series comes with its first count (count_restart). All fifteen at 0 for every connector
        a rule ever restarted made /metrics grow with the fleet: against the simulator, one run
        of a schedule rule over 624 of 5,000 connectors took a scrape from 19,377 series to
        28,947 (1.8 to 3.0 MB), 11,612 of its 12,300 restart series at 0 for good; a nightly
        rule over all 5,000 made 98,832 series, 11.8 MB and 1.7 s of CPU per scrape."""
        self._rule_series.setdefault((cluster, rule, trigger.value), False)
        made = self._restart_rules.setdefault((cluster, connector), {})
        if made.get((rule, trigger.value)):
            return
        if every_outcome:
            made[rule, trigger.value] = True
            for outcome in Outcome:
                self.restarts.labels(cluster, connector, rule, trigger.value, outcome.value)
        else:
            made.setdefault((rule, trigger.value), False)
            self.restarts.labels(cluster, connector, rule, trigger.value, Outcome.ACCEPTED.value)
        self.backoff_step.labels(cluster, connector)
        self.gave_up.labels(cluster, connector)
        self.next_restart.labels(cluster, connector)

    def count_restart(self, key: ConnectorKey, rule: str, trigger: Trigger, outcome: Outcome) -> None:
        """A restart job's terminal outcome, counted once, per connector and per cluster."""
        self._rule_series.setdefault((key.cluster, rule, trigger.value), False)
        self._restart_rules.setdefault((key.cluster, key.connector), {}).setdefault((rule, trigger.value), False)
        self.restarts.labels(key.cluster, key.connector, rule, trigger.value, outcome.value).inc()
        self.cluster_restarts.labels(key.cluster, rule, trigger.value, outcome.value).inc()

    def count_decision(self, key: ConnectorKey, rule: str, trigger: Trigger, decision: Decision) -> None:
        self._rule_series.setdefault((key.cluster, rule, trigger.value), False)
        self.decisions.labels(key.cluster, rule, trigger.value, decision.value).inc()

    def show_connector_state(self, cluster: str, connector: str, state: ConnectorState, *,
                             paged_gave_up: bool | None = None) -> None:
        """`paged_gave_up`: the gave-up flag to page on, where it is not the state's own (a dry
        run's would-be give-up is not paged: engine/core.py's show_state)."""
        self.backoff_step.labels(cluster, connector).set(state.attempts)
        self.gave_up.labels(cluster, connector).set(1 if (state.gave_up if paged_gave_up is None else paged_gave_up) else 0)
        self.next_restart.labels(cluster, connector).set(next_restart_value(state))

    def show_breaker(self, scope: str, opened: bool) -> None:
        """Not the close of a cluster's breaker a reload or discovery removed (its condition went
        with it): set again at 0, its series stayed for good, one per cluster removed while open."""
        if scope in self._breaker_scopes:
            self.breaker_open.labels(scope).set(1 if opened else 0)

    def connectors_shown(self) -> set[tuple[str, str]]:
        """The (cluster, connector) pairs that have per-connector gauges now."""
        return {(labels["cluster"], labels["connector"]) for labels in _series_labels(self.gave_up)}

    def connectors_counted(self) -> set[tuple[str, str]]:
        """The (cluster, connector) pairs that have `watchdog_restarts_total` series now (known,
        not read back: connectors_shown's gauges may be gone, Metrics.stand_by)."""
        return set(self._restart_rules)

    def forget_connector(self, cluster: str, connector: str) -> None:
        """Its series, each removed by its labels (in a few steps, whatever the number of series)."""
        for rule, trigger in self._restart_rules.pop((cluster, connector), ()):
            for outcome in Outcome:
                self.restarts.remove(cluster, connector, rule, trigger, outcome.value)
        for gauge in (self.backoff_step, self.gave_up, self.next_restart):
            gauge.remove(cluster, connector)

    def stand_by(self) -> None:
        """This replica stopped leading. Its gauges of connectors, clusters and the breaker showed
        the leader's view, which it no longer has: kept, they stayed for ever as at the moment it
        stood by (a gave-up connector the new leader saw recover, a breaker it saw close). Now
        they show what a daemon that has not polled shows: nothing failing, given up or held,
        and no poll (the new leader's own series are the present).

        The per-connector gauges go, but for the connectors a rule names (pre-initialised at 0
        at the start, as a replica that never led has them): kept at 0, one set stayed for every
        connector it had seen, deleted ones included, for as long as it stood by (nothing polls
        there to remove them; a soak probe's standby had 109 series where a replica that never
        led had none), and leading again its first prune took those of connectors deleted
        meanwhile for names a reload dropped (`connector_unwatched`). Its counters stay, its
        per-connector `watchdog_restarts_total` too: what it did while it led."""
        named = {where for where, made in self._restart_rules.items() if any(made.values())}
        for gauge in (self.backoff_step, self.gave_up, self.next_restart):
            for labels in _series_labels(gauge):
                if (labels["cluster"], labels["connector"]) in named:
                    gauge.labels(**labels).set(0)
                else:
                    gauge.remove(labels["cluster"], labels["connector"])
        for gauge in (self.connectors, self.degraded_too_long, self.breaker_open, self.stall_waiting):
            for labels in _series_labels(gauge):
                gauge.labels(**labels).set(0)
        self.last_poll.clear()

    def show_config(self, dry_run: bool, digest: str) -> None:
        """The config in force: whether it says dry_run, and its digest (one series)."""
        self.dry_run.set(1 if dry_run else 0)
        self.config_info.clear()
        self.config_info.labels(digest).set(1)

    def forget_cluster(self, cluster: str) -> None:
        for metric in (self.connectors, self.degraded_too_long, self.polls, self.unusable_entries, self.decisions, self.last_poll, self.restarts,
                       self.cluster_restarts, self.backoff_step, self.gave_up, self.next_restart, self.stall_checks, self.stall_unjudged,
                       self.stall_reads, self.stall_waiting):
            metric.remove_by_labels({"cluster": cluster})
        for gone in [key for key in self._restart_rules if key[0] == cluster]:
            del self._restart_rules[gone]
        self._rule_series = {where: made for where, made in self._rule_series.items() if where[0] != cluster}
        self.breaker_open.remove_by_labels({"scope": cluster})  # its label is `scope` (a cluster, or fleet)
        self._breaker_scopes.discard(cluster)

    def forget_cluster_restarts(self, cluster: str) -> None:
        """The per-cluster restart counts a restart that ended after its cluster went made again."""
        self.cluster_restarts.remove_by_labels({"cluster": cluster})
        for where in self._rule_series:
            if where[0] == cluster:
                self._rule_series[where] = False

    def forget_rules(self, keep: set[tuple[str, str, str]], busy: set[tuple[str, str]]) -> bool:
        """Remove the decision and restart series of every (cluster, rule, trigger) not in `keep`
        (what the config now has): a rule removed, renamed, disabled or no longer selecting a
        cluster kept its series for the life of the process, one set more per reload that renamed
        it. A connector in `busy` (a restart of it pending) keeps its restart series until its
        end is counted; True when some were kept so, for the hourly sweep to call this again.
        The series are known (_rule_series, _restart_rules), not read back: reading them all
        (97,000 samples with 1,500 rules and 3,000 connectors named) cost each reload 0.6 s."""
        gone = self._rule_series.keys() - keep
        kept = False
        for cluster, rule, trigger in gone:
            for decision in Decision:
                self.decisions.remove(cluster, rule, trigger, decision.value)
            if trigger == Trigger.STALLED.value:
                self.stall_waiting.remove_by_labels({"cluster": cluster, "rule": rule})
        for where, rules in list(self._restart_rules.items()) if gone else ():
            for rule, trigger in [(r, t) for r, t in rules if (where[0], r, t) in gone]:
                if where in busy:
                    kept = True
                    continue
                for outcome in Outcome:
                    self.restarts.remove(*where, rule, trigger, outcome.value)
                del rules[rule, trigger]
            if not rules:
                del self._restart_rules[where]
        busy_clusters = {cluster for cluster, _ in busy}
        for cluster, rule, trigger in gone:
            if cluster in busy_clusters:
                kept = True  # its restart counts are still to come; its decisions are gone
                self._rule_series[cluster, rule, trigger] = False
                continue
            for outcome in Outcome:
                self.cluster_restarts.remove(cluster, rule, trigger, outcome.value)
            del self._rule_series[cluster, rule, trigger]
        return kept


def _series_labels(gauge: Gauge) -> list[dict[str, str]]:
    return [sample.labels for metric in gauge.collect() for sample in metric.samples]


def next_restart_value(state: ConnectorState) -> float:
    """`watchdog_connector_next_restart_timestamp_seconds` of a state. A gave-up connector is not
    restarted at any time until it is seen healthy (`watchdog status`: `when healthy`): +Inf,
    where its last backoff time, already past, read on a dashboard as "next restart 3h ago"."""
    if state.gave_up:
        return math.inf
    return state.next_allowed_at.timestamp() if state.next_allowed_at else 0
