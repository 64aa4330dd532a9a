"""Selectors, health classification and rule decisions. Pure functions of their arguments."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from fnmatch import fnmatchcase

from .config import AlertTrigger, Rule, Selector, StatusTrigger
from .model import ConnectorState, ConnectorStatus, Decision, Health
from .rule_index import GlobIndex

# Confluent Cloud answers a restart with 400 in these states (observed by Confluent's own MCP
# integration tests); a deleted connector has nothing to restart. STOPPED (Kafka Connect 3.5+,
# KIP-875: `PUT /connectors/{name}/stop`) and PAUSED are an operator's deliberate choice: a real
# Kafka Connect worker answers a restart of either 202 and leaves it as it was (observed on
# 4.3.1), so sending one would only report a success that did nothing.
# The states a connector's owner puts it in: it fails no more, and no trigger restarts it; a
# gave-up connector so held is not paged (engine/core.show_state).
OWNER_HELD_STATES = frozenset({"PAUSED", "STOPPED"})
RESTART_REFUSED_STATES = OWNER_HELD_STATES | {"PROVISIONING", "DELETED"}

_TRANSIENT_CONNECTOR_STATES = frozenset(
    {"PROVISIONING", "PAUSED", "STOPPED", "NONE", "DELETED", "UNASSIGNED", "RESTARTING"}
)
_FAILED_TASK_STATES = frozenset({"FAILED", "SYSTEM_ERROR"})
_USER_ERROR_STATE = "USER_ACTIONABLE_ERROR"
_ERROR_TASK_STATES = _FAILED_TASK_STATES | {_USER_ERROR_STATE}
# Every state the Connect APIs are known to report (Confluent's spec and status docs, Kafka
# Connect's AbstractStatus.State). Any other is classified `transient` (never restarted on it) and
# reported: a state added tomorrow must neither start a restart storm nor go unsaid.
_KNOWN_CONNECTOR_STATES = _TRANSIENT_CONNECTOR_STATES | {"RUNNING", "DEGRADED", "FAILED", _USER_ERROR_STATE}
# A task PROVISIONING: Confluent's own MCP integration expects it of a connector being created
# (research/confluent-api.md); judged as an unknown state is (transient: wait), but not warned
# about as one: a warning per new connector is noise the operator learns to skip.
_KNOWN_TASK_STATES = _ERROR_TASK_STATES | {"RUNNING", "UNASSIGNED", "RESTARTING", "PAUSED", "STOPPED", "PROVISIONING"}
# How Confluent Cloud words a connector that cannot start because of its configuration (the
# connect/v1 spec's own FAILED example: no tasks, this trace, then "field: message" lines).
_CONFIGURATION_ERROR_MARKERS = ("there were some errors with your configuration",)


def classify(status: ConnectorStatus) -> Health:
    """The health class of a connector, from its connector and task states.

    Order matters:
    0. A connector whose list entry could not be read is `transient`: look again next poll.
    1. A connector that is provisioning, paused or gone, or in a state no API is known to report
       (one Confluent adds tomorrow: a connector being deleted, migrated or suspended may show its
       tasks FAILED), is not actionable, whatever its tasks say. But a connector UNASSIGNED with
       a task FAILED or SYSTEM_ERROR is `failed` (see below).
    2. Any task in SYSTEM_ERROR or FAILED makes it `failed`: a restart can heal that task, even if
       another task has a user error.
    3. Otherwise any USER_ACTIONABLE_ERROR task makes it `user_error` (bad config or data).
    4. Otherwise a FAILED connector is `failed`, unless its status says its configuration is
       wrong (Confluent's `validation_errors`, or the trace Confluent gives such a connector):
       then it is `user_error`, since no restart can fix a configuration.
    5. Otherwise (a DEGRADED connector among them: its tasks are RUNNING or UNASSIGNED, "awaiting
       allocation to a cloud worker" in Confluent's words, which Confluent heals by itself) any
       state but RUNNING, or any task that is not RUNNING (restarting, unassigned, or a state we
       do not know), makes it `transient`: wait and look again rather than act on something we
       cannot read. On Confluent Cloud a restart restarts every task, so restarting a DEGRADED
       connector for its unassigned tasks would stop the ones that run.
    """
    if status.unusable:
        return Health.TRANSIENT  # its list entry could not be read: nothing is known
    state = status.state.upper()
    task_states = {task.state.upper() for task in status.tasks}
    if state == "UNASSIGNED" and task_states & _FAILED_TASK_STATES:
        # Kafka Connect: the connector instance awaits a worker (its worker left: reassigned after
        # scheduled.rebalance.max.delay.ms, 5 min by default; before 3.6, KAFKA-12525, a stale
        # UNASSIGNED may last for good) while its tasks FAILED on a live worker stay FAILED. Left
        # "in passing", they were neither restarted nor reported for that long (real 4.3.1
        # workers, 2026-12-06). A restart of what failed heals them and leaves the instance alone:
        # Kafka's RestartRequest.shouldRestartTask is `includeTasks && (!onlyFailed || FAILED)`,
        # whatever the connector's state, shouldRestartConnector `!onlyFailed || FAILED`, and
        # each worker restarts the planned tasks it runs (DistributedHerder
        # .doRestartConnectorAndTasks). So it is a failure like any other: confirm_polls, backoff
        # and budget apply, and a rolling restart's blip (instances UNASSIGNED, none FAILED) is
        # still transient. Confluent Cloud's spec lists no UNASSIGNED connector state.
        return Health.FAILED
    if state in _TRANSIENT_CONNECTOR_STATES or state not in _KNOWN_CONNECTOR_STATES:
        return Health.TRANSIENT
    if task_states & _FAILED_TASK_STATES:
        return Health.FAILED
    if _USER_ERROR_STATE in task_states or state == _USER_ERROR_STATE:
        return Health.USER_ERROR
    if state == "FAILED":
        return Health.USER_ERROR if configuration_error(status) else Health.FAILED
    if state != "RUNNING" or task_states - {"RUNNING"}:
        return Health.TRANSIENT
    return Health.HEALTHY


def failure_words(health: Health, status: ConnectorStatus) -> str:
    """Why a poll asks for the restart, as its REASON says it: the connector's state, and the
    failed tasks where the connector itself is not FAILED. `failed: connector RUNNING` alone, the
    reason of every restart for a failed task, read as a restart made because it ran."""
    said = f"{health.value}: connector {status.state}"
    failed = failed_tasks(status)
    if not failed or status.state.upper() == "FAILED":
        return said
    return f"{health.value}: {tasks_said(failed)} failed (connector {status.state})"


def failed_tasks(status: ConnectorStatus) -> list[int]:
    """The ids of the connector's tasks FAILED or in SYSTEM_ERROR."""
    return [task.id for task in status.tasks if task.state.upper() in _FAILED_TASK_STATES]


def tasks_said(ids: Sequence[int]) -> str:
    """Task ids as a reason says them: `task 0`, `tasks 0, 1, 2 and 4 more`."""
    shown = ", ".join(str(task_id) for task_id in ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    return f"task{'s' if len(ids) > 1 else ''} {shown}"


def unknown_states(status: ConnectorStatus) -> tuple[str, ...]:
    """The connector's and its tasks' states that no known API reports, sorted (empty if none)."""
    if status.unusable:
        return ()
    found = {status.state} if status.state.upper() not in _KNOWN_CONNECTOR_STATES else set()
    found |= {task.state for task in status.tasks if task.state.upper() not in _KNOWN_TASK_STATES}
    return tuple(sorted(found))


def configuration_error(status: ConnectorStatus) -> bool:
    """The status names a configuration problem: Cloud's validation errors, or its trace."""
    trace = status.trace.lower()
    return bool(status.validation_errors) or any(marker in trace for marker in _CONFIGURATION_ERROR_MARKERS)


def degraded_without_error(status: ConnectorStatus) -> bool:
    """DEGRADED with no task in error: tasks awaiting a worker, not a failure (see classify)."""
    return status.state.upper() == "DEGRADED" and not any(
        task.state.upper() in _ERROR_TASK_STATES for task in status.tasks
    )


def awaiting_a_worker(status: ConnectorStatus) -> bool:
    """Waiting for a worker, not failed: DEGRADED with no task in error (Confluent), or a
    connector UNASSIGNED, or RUNNING with a task UNASSIGNED and none in error (Kafka Connect has
    no DEGRADED: its connector stays RUNNING while a task awaits a worker). Transient (classify);
    reported when it lasts (degraded_report_after). On Kafka Connect UNASSIGNED is what a worker
    that stopped writes for its instances until another takes them (after
    scheduled.rebalance.max.delay.ms, 5 minutes by default): one that stays so is run by no worker
    (or, before Kafka 2.6, a task lowering tasks.max removed; before 3.6, a stale status), and no
    restart of the failed instances touches it. A connector UNASSIGNED awaits a worker whatever its
    tasks: one whose tasks FAILED (classify: `failed`, their restart leaves it UNASSIGNED) was
    reported by nothing until a worker took it."""
    if degraded_without_error(status):
        return True
    state = status.state.upper()
    if state == "UNASSIGNED":
        return True
    if any(task.state.upper() in _ERROR_TASK_STATES for task in status.tasks):
        return False
    return state == "RUNNING" and any(t.state.upper() == "UNASSIGNED" for t in status.tasks)


def unaddressable(name: str) -> bool:
    """A name no request can be trusted to reach: `/`-separated parts `.`, `..` or empty
    (`a/../b`, `/orders`, `orders/`, `a//b`).

    Sent percent-encoded it is one segment, but a server or gateway that decodes %2F before
    routing (and removes dot segments, as RFC 3986 says, and merges adjacent slashes, as nginx
    does by default) would route `a%2F..%2Fb/restart` to the connector `b`, and `%2Forders/restart`
    or `orders%2F/restart` to `orders`. Confluent does not say how its gateway routes; restarting
    the wrong connector is worse than not restarting this one, so it is never addressed. The
    names `.` and `..` alone are safe: at worst such a server answers 404.
    """
    parts = name.split("/")
    return len(parts) > 1 and any(part in ("", ".", "..") for part in parts)


def selects(selector: Selector, cluster: str, connector: str) -> bool:
    """Exact names and `include` globs add, `exclude` globs remove; exclusion always wins."""
    return selector.selects_cluster(cluster) and _selects_connector(selector, connector)


def selected(rule: Rule, cluster: str, connectors: Iterable[str]) -> list[str]:
    return sorted(name for name in connectors if selects(rule.select, cluster, name))


def named_but_missing(rule: Rule, cluster: str, present: Iterable[str]) -> list[str]:
    """Connectors a rule names exactly that the cluster does not have (a typo or a deletion)."""
    if not rule.select.selects_cluster(cluster):
        return []
    known = set(present)
    return sorted(
        name
        for name in rule.select.connectors
        if name not in known and not any(fnmatchcase(name, p) for p in rule.select.exclude)
    )


# Connectors whose owner one cluster's index remembers (StatusOwners).
_OWNERS_REMEMBERED = 200_000


class AlertRules:
    """The enabled alert rules whose matchers take an alert's labels, in config order, in a few
    matches per alert instead of one per rule: rule by rule, 1,500 team alert rules held the
    event loop 4.5 s finding the clusters a webhook of 3,000 alerts names (before its first chunk;
    the liveness probe's timeout is 3 s), and deciding cost 1.3 ms an alert. Each rule with an
    exact matcher of a non-empty value (`alertname: ConnectorStalled`, `team: payments`) is filed
    under the one of its pairs fewest rules share; an alert looks up its own label pairs and
    matches only the rules filed there, plus those filed nowhere (match_re alone, or `label: ""`,
    which a missing label satisfies). An alert lacking a rule's filed pair fails that matcher:
    no rule that matches is ever missed."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules = tuple(r for r in rules if r.enabled and isinstance(r.trigger, AlertTrigger))
        shared = Counter(pair for rule in self._rules for pair in self._pairs(rule))
        self._by_pair: dict[tuple[str, str], list[int]] = {}
        self._unfiled: list[int] = []
        for position, rule in enumerate(self._rules):
            pairs = self._pairs(rule)
            if pairs:
                self._by_pair.setdefault(min(pairs, key=shared.__getitem__), []).append(position)
            else:
                self._unfiled.append(position)

    @staticmethod
    def _pairs(rule: Rule) -> list[tuple[str, str]]:
        assert isinstance(rule.trigger, AlertTrigger)
        return [(name, value) for name, value in rule.trigger.match.items() if value]

    def matching(self, labels: dict[str, str]) -> list[Rule]:
        candidates = list(self._unfiled)
        for pair in labels.items():
            candidates += self._by_pair.get(pair, ())
        matched = []
        for position in sorted(candidates):
            rule = self._rules[position]
            assert isinstance(rule.trigger, AlertTrigger)
            if rule.trigger.matches(labels):
                matched.append(rule)
        return matched


class StatusOwners:
    """The status rule that owns each connector a poll lists (the first enabled status rule that
    selects it: one policy per connector), for one config's rules, in about one glob match per
    connector instead of one per rule: rule by rule, 500 status rules held the event loop 10 s
    per poll of 3,000 connectors, and a reload 18 s (the liveness probe failed, the lease was
    lost). The rules that select a cluster are indexed once (shared by every cluster they all
    select): the exact names in a dict, every rule's `include` globs by their literal prefix or
    suffix (rule_index.GlobIndex; one compiled alternation of them all, which `re` tries branch
    by branch, still cost 0.7 ms a name with 1,500 rules). Each answer is remembered for the life
    of the config."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules = tuple(r for r in rules if self._indexed(r))
        self._of_cluster: dict[str, _Owners] = {}
        self._of_subset: dict[tuple[int, ...], _Owners] = {}

    @staticmethod
    def _indexed(rule: Rule) -> bool:
        return rule.enabled and isinstance(rule.trigger, StatusTrigger)

    def rule_for(self, cluster: str, connector: str) -> Rule | None:
        return self._owners(cluster).rule_for(connector)

    def named(self, cluster: str, connector: str) -> bool:
        """Whether a rule that selects the cluster names the connector exactly (its `exclude`
        aside): a name with series only because a rule named it (a typo, not made yet)."""
        return self._owners(cluster).named(connector)

    def _owners(self, cluster: str) -> _Owners:
        owners = self._of_cluster.get(cluster)
        if owners is None:
            subset = tuple(i for i, rule in enumerate(self._rules) if rule.select.selects_cluster(cluster))
            owners = self._of_subset.get(subset)
            if owners is None:
                owners = self._of_subset[subset] = _Owners([self._rules[i] for i in subset])
            self._of_cluster[cluster] = owners
        return owners


class RuleSelection(StatusOwners):
    """The same index over every enabled rule, whatever its trigger: whether any rule selects a
    connector (the first that does), for the series a reload keeps or drops. Rule by rule, a
    reload of 1,500 rules naming 3,000 connectors no poll listed yet held the event loop 4.7 s."""

    @staticmethod
    def _indexed(rule: Rule) -> bool:
        return rule.enabled


class _Owners:
    """The index of StatusOwners for the rules (in order) that select one cluster."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = rules
        self._exact: dict[str, list[int]] = {}
        for i, rule in enumerate(rules):
            for name in rule.select.connectors:
                self._exact.setdefault(name, []).append(i)
        self._include = GlobIndex(rule.select.include for rule in rules)
        self._known: dict[str, Rule | None] = {}

    def named(self, connector: str) -> bool:
        return connector in self._exact

    def rule_for(self, connector: str) -> Rule | None:
        # Remembered: the next polls of the same connectors cost a dict lookup each. Bounded (a
        # fleet whose names churn under one config), forgotten all at once when full.
        if connector in self._known:
            return self._known[connector]
        if len(self._known) >= _OWNERS_REMEMBERED:
            self._known.clear()
        owner = self._known[connector] = self._find(connector)
        return owner

    def _find(self, connector: str) -> Rule | None:
        after = 0
        while True:
            first = next((i for i in self._exact.get(connector, ()) if i >= after), len(self._rules))
            found = self._include.first(connector, after, before=first)
            first = first if found is None else found
            if first == len(self._rules):
                return None
            if not any(fnmatchcase(connector, pattern) for pattern in self._rules[first].select.exclude):
                return self._rules[first]
            # Its own `exclude` leaves it out: a later rule may still take it, asked of the index
            # too (rule by rule, each of 1,500 team rules excluding `*-test` cost every such name
            # 1,500 glob matches).
            after = first + 1


def _selects_connector(selector: Selector, connector: str) -> bool:
    """`selects` for a selector already known to select the cluster."""
    if any(fnmatchcase(connector, pattern) for pattern in selector.exclude):
        return False
    return connector in selector.connectors or any(fnmatchcase(connector, pattern) for pattern in selector.include)


def polls_to_confirm(trigger: StatusTrigger, polled_every: float | None) -> int:
    """The polls in a row that must see a failure before a first restart: the rule's
    `confirm_polls` of its own `interval`. A cluster is polled at its rules' shortest interval
    (plan.poll_intervals), and counted as they came, `interval: 5m, confirm_polls: 2` confirmed
    a failure 5 s after it was first seen when another rule polled the cluster every 5 s. Polled
    faster than the rule asks, its count spans the same time instead: the first sighting and
    (confirm_polls - 1) of the rule's intervals after it, in the cluster's polls (`polled_every`)."""
    if polled_every is None or polled_every <= 0 or polled_every >= trigger.interval or trigger.confirm_polls <= 1:
        return trigger.confirm_polls
    # 1e-9: 300 / 5 read as 60.000000001 would ask one poll more.
    return 1 + (trigger.confirm_polls - 1) * math.ceil(trigger.interval / polled_every - 1e-9)


def left_as_user_error(rule: Rule, health: Health | None) -> bool:
    """A connector in a configuration or data error its rule does not restart (no restart fixes
    one; `restart_user_errors` opts in): what the poll and a signal decide `user_error`, what the
    fleet breaker leaves out, and what status read from the state file shows held."""
    return health is Health.USER_ERROR and not rule.restart_user_errors


def decide_on_status(
    rule: Rule, state: ConnectorState, health: Health, now: datetime, *, pending: bool,
    polled_every: float | None = None,
) -> Decision:
    """Decide for one polled connector. `state` already includes this poll's observation.
    `polled_every`: how often its cluster is polled (polls_to_confirm)."""
    assert isinstance(rule.trigger, StatusTrigger)
    if health is Health.HEALTHY:
        return Decision.HEALTHY
    if health is Health.TRANSIENT:
        return Decision.TRANSIENT
    if left_as_user_error(rule, health):
        return Decision.USER_ERROR
    if pending:
        return Decision.DUPLICATE
    if state.gave_up or (rule.max_restarts is not None and state.attempts >= rule.max_restarts):
        return Decision.BUDGET_SPENT
    # Debounce only the first restart: after that the backoff decides, and the connector has
    # already proven it fails for real.
    if state.attempts == 0 and state.consecutive_failures < polls_to_confirm(rule.trigger, polled_every):
        return Decision.UNCONFIRMED
    if state.next_allowed_at is not None and now < state.next_allowed_at:
        return Decision.BACKOFF
    return Decision.RESTART


def decide_on_signal(
    rule: Rule, state: ConnectorState, status: ConnectorStatus | None, now: datetime, *, pending: bool
) -> Decision:
    """A firing alert or a confirmed stall names a connector as failing: no confirmation polls
    (the signal was confirmed at its source), but the same backoff and budget as a failure seen
    by polling. The connector may look healthy to the status API (a stalled connector is
    RUNNING): that is the point."""
    if status is not None and refuses_restart(status):
        return Decision.TRANSIENT
    # An alert about a connector whose status names a configuration or data error is what a
    # status rule reports and leaves alone: no restart fixes it (the rule may opt in).
    if status is not None and left_as_user_error(rule, classify(status)):
        return Decision.USER_ERROR
    if pending:
        return Decision.DUPLICATE
    if state.gave_up or (rule.max_restarts is not None and state.attempts >= rule.max_restarts):
        return Decision.BUDGET_SPENT
    if state.next_allowed_at is not None and now < state.next_allowed_at:
        return Decision.BACKOFF
    return Decision.RESTART


USER_ERROR_DETAIL = ("its status names a configuration or data error (USER_ACTIONABLE_ERROR, or Confluent's "
                     "validation errors): no restart fixes it; the rule may set restart_user_errors")

# Why a connector in a state that refuses restarts (RESTART_REFUSED_STATES) is not restarted when
# asked for by name or by an alert: "not restarted (transient)" alone left the operator to find
# its state elsewhere.
_REFUSED_BECAUSE = {
    "PROVISIONING": "it is PROVISIONING: Confluent refuses restarts until it is provisioned",
    "PAUSED": "it is PAUSED: resume it, and it starts again without a restart",
    "STOPPED": "it is STOPPED: resume it, and it starts again without a restart",
    "DELETED": "it is being deleted",
}


def refuses_restart(status: ConnectorStatus) -> bool:
    """No restart is sent into this listed state, whatever asks for it (a schedule, an alert, a
    stall, a request by name): one the API refuses or its owner chose (RESTART_REFUSED_STATES),
    or one no known API reports, which classify calls not actionable: a state added tomorrow may
    be a deletion, a migration or a suspension. Before, only status rules held back from those; a
    schedule rule restarted a connector listed `SUSPENDED` or ` PAUSED` (found 2026-12-06 against
    an independent fake of the Connect API).
    An entry that could not be read says no state at all, and is left to the API as a connector
    no fresh listing shows is: its answer settles it (a 400 for a paused one). Held back, a
    self-managed connector whose status is too large to read (its traces: Unusable.STATUS_NOT_READ),
    most likely failed, could not be restarted by its schedule or by name."""
    if status.unusable:
        return False
    state = status.state.upper()
    return state in RESTART_REFUSED_STATES or state not in _KNOWN_CONNECTOR_STATES


def refused_because(status: ConnectorStatus) -> str:
    """Why a restart asked for in this connector's listed state is not made (decision
    `transient`, refuses_restart)."""
    state = status.state.upper()
    failed = failed_tasks(status)
    if state == "PAUSED" and failed:
        # A resume does not restart a FAILED task: on real 4.3.1 workers it stayed FAILED 15 s
        # after the resume, until a restart (onlyFailed=true). "It starts again without a restart"
        # left an operator with only an alert rule or restarts by name with a FAILED task.
        return (f"it is PAUSED with {tasks_said(failed)} FAILED: resume it, then "
                "restart it (its FAILED tasks stay FAILED after a resume)")
    if state in _REFUSED_BECAUSE:
        return _REFUSED_BECAUSE[state]
    if state not in _KNOWN_CONNECTOR_STATES:
        return (f"its state {status.state!r} is none a known Connect API reports: it is not restarted while "
                "it lasts (a new state may be a deletion, a migration or a suspension)")
    return f"it is {status.state}: a restart would be refused"


def decide_on_request(
    status: ConnectorStatus | None, *, pending: bool, too_soon: bool = False
) -> Decision:
    """A scheduled or requested restart: deliberate, so no backoff, but never into a state that
    refuses it (the API would answer 400), nor one no known API reports (refuses_restart), and
    never twice at once. `too_soon`: asked for by name within the manual gap of the connector's last
    restart (decide_manual_gap)."""
    if status is None:
        return Decision.MISSING
    if refuses_restart(status):
        return Decision.TRANSIENT
    if pending:
        return Decision.DUPLICATE
    if too_soon:
        return Decision.RECENTLY_RESTARTED
    return Decision.RESTART


def manual_gap_left(state: ConnectorState, now: datetime, gap: float) -> float:
    """Seconds before a restart asked for by name may go, after the connector's last restart
    (`queue.manual_restart_gap`); 0 when it may go now. A careless loop or a double click must
    not restart a connector several times a second: the duplicate check holds only while a
    restart is queued, and once its 202 came, the next request (the last listing still RUNNING)
    went out again, 97 times in 20 s for one connector."""
    if state.last_restart_at is None or gap <= 0:
        return 0.0
    return max(0.0, gap - (now - state.last_restart_at).total_seconds())
