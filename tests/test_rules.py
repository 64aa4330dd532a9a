"""Health classification of every state, selectors, and the decisions of status and schedule rules."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchdog.config import Rule, StatusTrigger
from watchdog.model import ConnectorState, ConnectorStatus, Decision, Health, TaskStatus, Unusable
from watchdog.rules import (
    AlertRules,
    RuleSelection,
    StatusOwners,
    classify,
    decide_on_request,
    decide_on_signal,
    decide_on_status,
    named_but_missing,
    refused_because,
    selected,
    selects,
    unaddressable,
    unknown_states,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def status(state: str, *task_states: str) -> ConnectorStatus:
    return ConnectorStatus(
        name="c", state=state, tasks=tuple(TaskStatus(id=i, state=s) for i, s in enumerate(task_states))
    )


CONFIG_TRACE = "There were some errors with your configuration:\ntopics: Provided Kafka ApiKey is invalid\n"


@pytest.mark.parametrize(
    ("trace", "validation_errors", "tasks", "health"),
    [
        # The connect/v1 spec's own FAILED example: no tasks, a configuration error.
        pytest.param(CONFIG_TRACE, (), (), Health.USER_ERROR, id="spec-example"),
        pytest.param("", ("topics: Provided Kafka ApiKey is invalid",), (), Health.USER_ERROR, id="validation-errors"),
        pytest.param("java.net.SocketTimeoutException", (), (), Health.FAILED, id="other-trace"),
        pytest.param("", (), (), Health.FAILED, id="no-evidence"),
        # A task a restart can heal wins over the configuration message.
        pytest.param(CONFIG_TRACE, (), ("SYSTEM_ERROR",), Health.FAILED, id="system-error-task-wins"),
    ],
)
def test_failed_with_a_configuration_error_is_a_user_error(
    trace: str, validation_errors: tuple[str, ...], tasks: tuple[str, ...], health: Health
) -> None:
    failed = ConnectorStatus(
        name="c", state="FAILED", trace=trace, validation_errors=validation_errors,
        tasks=tuple(TaskStatus(id=i, state=s) for i, s in enumerate(tasks)),
    )
    assert classify(failed) is health


@pytest.mark.parametrize("connector", ["RUNNING", "DEGRADED", "PROVISIONING"])
def test_a_task_provisioning_is_waited_for_without_an_unknown_state_warning(connector: str) -> None:
    # Confluent's MCP integration expects tasks PROVISIONING while a connector is created: not a
    # state to restart on, and not one to warn of as unknown (a warning for every new connector).
    provisioning = status(connector, "RUNNING", "PROVISIONING")
    assert classify(provisioning) is Health.TRANSIENT
    assert unknown_states(provisioning) == ()
    # ... a FAILED task beside it is still restarted on, as beside any task waiting for a worker.
    assert classify(status(connector, "FAILED", "PROVISIONING")) is (Health.TRANSIENT if connector == "PROVISIONING" else Health.FAILED)


def test_max_restarts_is_finite_by_default() -> None:
    assert rule().max_restarts == 10
    assert rule(max_restarts=None).max_restarts is None  # null: no limit, if asked for


@pytest.mark.parametrize(
    ("connector", "tasks", "health"),
    [
        pytest.param("RUNNING", ("RUNNING", "RUNNING"), Health.HEALTHY, id="all-running"),
        pytest.param("RUNNING", (), Health.HEALTHY, id="running-no-tasks"),
        pytest.param("PROVISIONING", ("STOPPED",), Health.TRANSIENT, id="provisioning"),
        pytest.param("PAUSED", ("STOPPED",), Health.TRANSIENT, id="paused"),
        pytest.param("PAUSED", ("SYSTEM_ERROR",), Health.TRANSIENT, id="paused-wins-over-tasks"),
        pytest.param("NONE", (), Health.TRANSIENT, id="none"),
        pytest.param("DELETED", (), Health.TRANSIENT, id="deleted"),
        pytest.param("RUNNING", ("RUNNING", "UNASSIGNED"), Health.TRANSIENT, id="task-unassigned"),
        pytest.param("RUNNING", ("RESTARTING",), Health.TRANSIENT, id="task-restarting"),
        pytest.param("RUNNING", ("SOMETHING_NEW",), Health.TRANSIENT, id="unknown-task-state"),
        pytest.param("SOMETHING_NEW", (), Health.TRANSIENT, id="unknown-connector-state"),
        pytest.param("FAILED", (), Health.FAILED, id="failed-no-tasks"),
        pytest.param("FAILED", ("SYSTEM_ERROR",), Health.FAILED, id="failed-system-error"),
        pytest.param("RUNNING", ("RUNNING", "FAILED"), Health.FAILED, id="running-with-failed-task"),
        pytest.param("DEGRADED", ("RUNNING", "SYSTEM_ERROR"), Health.FAILED, id="degraded"),
        # Tasks awaiting a worker: Confluent allocates them; a restart would stop the running one.
        pytest.param("DEGRADED", ("RUNNING", "UNASSIGNED"), Health.TRANSIENT, id="degraded-unassigned"),
        pytest.param("DEGRADED", ("UNASSIGNED", "UNASSIGNED"), Health.TRANSIENT, id="degraded-all-unassigned"),
        pytest.param("DEGRADED", (), Health.TRANSIENT, id="degraded-no-tasks"),
        pytest.param("DEGRADED", ("RUNNING", "FAILED"), Health.FAILED, id="degraded-failed-task"),
        # Kafka Connect: the instance awaits a worker; its FAILED tasks a restart of what failed heals.
        pytest.param("UNASSIGNED", ("RUNNING", "UNASSIGNED"), Health.TRANSIENT, id="unassigned"),
        pytest.param("UNASSIGNED", ("RUNNING", "FAILED"), Health.FAILED, id="unassigned-failed-task"),
        pytest.param("FAILED", ("USER_ACTIONABLE_ERROR",), Health.USER_ERROR, id="user-error"),
        pytest.param("DEGRADED", ("RUNNING", "USER_ACTIONABLE_ERROR"), Health.USER_ERROR, id="degraded-user-error"),
        pytest.param("FAILED", ("USER_ACTIONABLE_ERROR", "SYSTEM_ERROR"), Health.FAILED, id="system-error-wins"),
        pytest.param("running", ("running",), Health.HEALTHY, id="case-insensitive"),
    ],
)
def test_classify(connector: str, tasks: tuple[str, ...], health: Health) -> None:
    assert classify(status(connector, *tasks)) is health


def rule(**fields) -> Rule:
    data = {"name": "r", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    data.update(fields)
    return Rule.model_validate(data)


def test_selectors_combine_names_and_globs_and_exclusion_wins() -> None:
    r = rule(select={"clusters": ["prod"], "connectors": ["exact"], "include": ["orders-*"], "exclude": ["*-tmp"]})
    names = ["exact", "orders-sink", "orders-tmp", "payments", "exactly"]
    assert selected(r, "prod", names) == ["exact", "orders-sink"]
    assert selected(r, "staging", names) == []
    assert not selects(r.select, "prod", "orders-tmp")


def test_named_connectors_missing_from_the_cluster_are_reported() -> None:
    r = rule(select={"connectors": ["a", "b", "gone"], "exclude": ["b"]})
    assert named_but_missing(r, "prod", ["a"]) == ["gone"]


def test_first_matching_status_rule_owns_a_connector() -> None:
    first = rule(name="first", select={"include": ["orders-*"]})
    second = rule(name="second", select={"include": ["*"]})
    disabled = rule(name="off", enabled=False, select={"include": ["*"]})
    schedule = rule(name="sched", trigger={"type": "schedule", "interval": 60}, select={"include": ["*"]})
    rules = [schedule, disabled, first, second]
    owners = StatusOwners(rules)
    assert owners.rule_for("prod", "orders-1").name == "first"
    assert owners.rule_for("prod", "other").name == "second"


def status_rule_by_rule(rules: list[Rule], cluster: str, connector: str) -> Rule | None:
    """The definition StatusOwners indexes, rule by rule: the first enabled status rule that selects it."""
    return next((r for r in rules if r.enabled and isinstance(r.trigger, StatusTrigger)
                 and selects(r.select, cluster, connector)), None)


def test_the_status_rule_index_finds_the_owner_status_rule_for_finds() -> None:
    # StatusOwners answers a poll's connectors in one match each; it must name the very rule the
    # rule-by-rule search names: exact names, several globs, a rule's own exclusion handing the
    # connector to a later rule, cluster filters, disabled and non-status rules skipped.
    rules = [
        rule(name="sched", trigger={"type": "schedule", "interval": 60}, select={"include": ["*"]}),
        rule(name="off", enabled=False, select={"include": ["*"]}),
        rule(name="staging-only", select={"clusters": ["staging*"], "include": ["*"]}),
        rule(name="orders", select={"include": ["orders-*", "*-orders"], "exclude": ["*-tmp"]}),
        rule(name="exact", select={"connectors": ["orders-tmp", "billing"], "exclude": ["billing"]}),
        rule(name="star-star", select={"include": ["a*b*c", "[xy]?z"]}),
        rule(name="prod-rest", select={"clusters": ["prod"], "include": ["*"], "exclude": ["keep-*"]}),
    ]
    owners = StatusOwners(rules)
    names = ["orders-1", "eu-orders", "orders-tmp", "billing", "abxc", "ac", "xqz", "keep-me", "other", "a.b.c",
             "orders-\n", "*", "[xy]?z", ""]
    for cluster in ("prod", "staging-1", "dev"):
        for name in names:
            expected = status_rule_by_rule(rules, cluster, name)
            found = owners.rule_for(cluster, name)
            assert (found and found.name) == (expected and expected.name), (cluster, name)
    assert owners.rule_for("prod", "orders-tmp").name == "exact"  # excluded by orders, named by exact
    assert owners.rule_for("dev", "billing") is None


def rule_by_rule(rules: list[Rule], cluster: str, connector: str) -> Rule | None:
    """The definition RuleSelection indexes: the first enabled rule, whatever its trigger."""
    return next((r for r in rules if r.enabled and selects(r.select, cluster, connector)), None)


def assert_index_agrees(rules: list[Rule], names: list[str], clusters: tuple[str, ...] = ("prod",)) -> None:
    owners, selection = StatusOwners(rules), RuleSelection(rules)
    for cluster in clusters:
        for name in names:
            expected = status_rule_by_rule(rules, cluster, name)
            found = owners.rule_for(cluster, name)
            assert (found and found.name) == (expected and expected.name), ("status", cluster, name)
            expected = rule_by_rule(rules, cluster, name)
            found = selection.rule_for(cluster, name)
            assert (found and found.name) == (expected and expected.name), ("any", cluster, name)


def test_the_glob_index_agrees_with_rule_by_rule_on_prefixes_suffixes_and_classes() -> None:
    # The index files each glob under its literal prefix (before the first `*`, `?`, `[`) or,
    # `*`-led, its literal suffix, and matches only the globs a name's own prefixes and suffixes
    # find: it must still name the very rule rule-by-rule names. Prefixes of each other, classes
    # (closed, unclosed, `]` first, negated), `?`, unanchored globs, a glob with no wildcard.
    rules = [
        rule(name="deep", select={"include": ["orders-eu-*"], "exclude": ["*-tmp"]}),
        rule(name="shallow", select={"include": ["orders-*", "o*"]}),
        rule(name="one-char", select={"include": ["o?"]}),
        rule(name="classes", select={"include": ["[pq]ay-*", "x[!a]z", "y[]]*", "z[ab", "lit[a-c]*-end"]}),
        rule(name="suffix", select={"include": ["*-sink", "*[0-9]-src", "*?-q"]}, trigger={"type": "schedule", "interval": 60}),
        rule(name="infix", select={"include": ["*mid*", "*"]}, enabled=False),
        rule(name="plain", select={"include": ["exact-glob"], "connectors": ["orders-eu-tmp"]}),
        rule(name="both-ends", select={"include": ["ab*yz", "a*z"]}),
        rule(name="middle", select={"include": ["*mid*"], "exclude": ["*-no"]}),
        rule(name="rest", select={"include": ["*"], "exclude": ["keep-*"]}),
    ]
    names = ["orders-eu-1", "orders-eu-tmp", "orders-eu-", "orders-", "orders", "o", "ox", "oxx", "pay-1", "qay-",
             "ray-1", "xbz", "xaz", "y]", "y]]z", "ya", "z[ab", "zab", "za", "litb-end", "litd-end", "lit-end",
             "a-sink", "-sink", "sink", "a1-src", "a-src", "1-src", "-q", "a-q", "exact-glob", "exact-glob2",
             "abyz", "aby", "az", "abz", "yz", "a-mid-b", "mid", "x-mid-no", "keep-1", "", "*", "?", "[", "]",
             "orders-eu-1\n", "\u00e9-sink"]
    assert_index_agrees(rules, names)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    globs=st.lists(st.lists(st.text("ab-*?[]!", min_size=1, max_size=6), min_size=1, max_size=3), min_size=1, max_size=6),
    excludes=st.lists(st.lists(st.text("ab-*?[]", min_size=1, max_size=4), max_size=2), min_size=6, max_size=6),
    names=st.lists(st.text("ab-[]!*?", max_size=7), min_size=1, max_size=12),
)
def test_the_glob_index_agrees_with_rule_by_rule_on_any_globs(
        globs: list[list[str]], excludes: list[list[str]], names: list[str]) -> None:
    exact = [name for name in names if name and not set(name) & set("*?[")]
    rules = [rule(name=f"r{i}", select={"include": include, "exclude": excludes[i], "connectors": exact[i:i + 1]})
             for i, include in enumerate(globs)]
    assert_index_agrees(rules, names + [g for include in globs for g in include])


def failing(consecutive: int, attempts: int = 0, next_allowed: datetime | None = None, gave_up: bool = False) -> ConnectorState:
    return ConnectorState(consecutive_failures=consecutive, attempts=attempts, next_allowed_at=next_allowed, gave_up=gave_up)


def test_failure_needs_the_configured_number_of_polls() -> None:
    r = rule(trigger={"type": "status", "confirm_polls": 3})
    assert decide_on_status(r, failing(2), Health.FAILED, T0, pending=False) is Decision.UNCONFIRMED
    assert decide_on_status(r, failing(3), Health.FAILED, T0, pending=False) is Decision.RESTART


def test_confirmation_applies_to_the_first_restart_only() -> None:
    r = rule(trigger={"type": "status", "confirm_polls": 3})
    assert decide_on_status(r, failing(0, attempts=1, next_allowed=T0), Health.FAILED, T0, pending=False) is Decision.RESTART


def test_backoff_holds_until_the_next_allowed_time() -> None:
    r = rule()
    state = failing(0, attempts=2, next_allowed=T0 + timedelta(minutes=6))
    assert decide_on_status(r, state, Health.FAILED, T0 + timedelta(minutes=5), pending=False) is Decision.BACKOFF
    assert decide_on_status(r, state, Health.FAILED, T0 + timedelta(minutes=6), pending=False) is Decision.RESTART


def test_budget_spent_after_max_restarts() -> None:
    r = rule(max_restarts=3)
    assert decide_on_status(r, failing(5, attempts=3), Health.FAILED, T0, pending=False) is Decision.BUDGET_SPENT
    assert decide_on_status(r, failing(5, attempts=2), Health.FAILED, T0, pending=False) is Decision.RESTART
    assert decide_on_status(rule(), failing(5, gave_up=True), Health.FAILED, T0, pending=False) is Decision.BUDGET_SPENT


def test_user_errors_are_reported_unless_the_rule_opts_in() -> None:
    assert decide_on_status(rule(), failing(5), Health.USER_ERROR, T0, pending=False) is Decision.USER_ERROR
    opted = rule(restart_user_errors=True)
    assert decide_on_status(opted, failing(5), Health.USER_ERROR, T0, pending=False) is Decision.RESTART


@pytest.mark.parametrize(("health", "decision"), [(Health.HEALTHY, Decision.HEALTHY), (Health.TRANSIENT, Decision.TRANSIENT)])
def test_not_actionable_states_are_skipped(health: Health, decision: Decision) -> None:
    assert decide_on_status(rule(), failing(9), health, T0, pending=False) is decision


def test_a_queued_restart_absorbs_the_next_decision() -> None:
    assert decide_on_status(rule(), failing(9), Health.FAILED, T0, pending=True) is Decision.DUPLICATE


@pytest.mark.parametrize(
    ("state", "decision"),
    [("RUNNING", Decision.RESTART), ("FAILED", Decision.RESTART), ("DEGRADED", Decision.RESTART),
     ("PROVISIONING", Decision.TRANSIENT), ("PAUSED", Decision.TRANSIENT), ("DELETED", Decision.TRANSIENT),
     # Kafka Connect 3.5+ (KIP-875): stopped on purpose; a real worker answers 202 and stays STOPPED.
     ("STOPPED", Decision.TRANSIENT)],
)
def test_scheduled_restarts_skip_states_that_refuse_them(state: str, decision: Decision) -> None:
    assert decide_on_request(status(state), pending=False) is decision


@pytest.mark.parametrize("state", ["SUSPENDED", "PAUSING", " PAUSED", "PAUSED\n", "RUNNING "])
def test_no_trigger_restarts_a_connector_in_a_state_no_api_reports(state: str) -> None:
    # Status rules held back from such a state (classify); a schedule, a request by name, an alert
    # and a stall restarted it. A state with stray whitespace is such a state too: its owner may
    # have paused it, and the daemon cannot tell.
    odd = ConnectorStatus(name="c", state=state, tasks=(TaskStatus(0, "FAILED"),))
    assert decide_on_request(odd, pending=False) is Decision.TRANSIENT
    assert decide_on_signal(rule(), ConnectorState(), odd, T0, pending=False) is Decision.TRANSIENT
    assert refused_because(odd) == (f"its state {state!r} is none a known Connect API reports: it is not restarted "
                                    "while it lasts (a new state may be a deletion, a migration or a suspension)")


def test_a_request_for_a_connector_whose_entry_could_not_be_read_is_left_to_the_api() -> None:
    # No state to judge: as for a connector no fresh listing shows, the API's answer settles it (a
    # self-managed connector whose status was too large to read is most likely failed).
    unread = ConnectorStatus(name="c", state="", tasks=(), unusable=Unusable.STATUS_NOT_READ)
    assert decide_on_request(unread, pending=False) is Decision.RESTART
    assert decide_on_signal(rule(), ConnectorState(), unread, T0, pending=False) is Decision.RESTART


def test_a_stopped_connector_is_transient_and_refuses_alert_and_stall_restarts() -> None:
    stopped = ConnectorStatus(name="c", state="STOPPED", tasks=())
    assert classify(stopped) is Health.TRANSIENT
    assert decide_on_signal(rule(), ConnectorState(), stopped, T0, pending=False) is Decision.TRANSIENT


def test_scheduled_restart_of_a_missing_or_queued_connector() -> None:
    assert decide_on_request(None, pending=False) is Decision.MISSING
    assert decide_on_request(status("RUNNING"), pending=True) is Decision.DUPLICATE


@pytest.mark.parametrize(
    ("name", "refused"),
    [("orders", False), ("a/b", False), (".", False), ("..", False), ("a.b/..c", False),
     ("x/../y", True), ("../y", True), ("x/.", True), ("./x", True),
     # Empty parts: a gateway that merges slashes after decoding %2F routes these to `orders`.
     ("/orders", True), ("orders/", True), ("a//b", True), ("/", True)],
)
def test_names_whose_parts_are_dot_segments_or_empty_are_unaddressable(name: str, refused: bool) -> None:
    assert unaddressable(name) is refused


_LABEL_VALUES = {"alertname": ["ConnectorStalled", "DiskFull", ""], "team": ["a", "b", ""], "severity": ["critical", "warning", ""]}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(sorted(_LABEL_VALUES)), st.sampled_from(["ConnectorStalled", "a", "b", "critical", ""]),
                            max_size=2),
            st.dictionaries(st.sampled_from(sorted(_LABEL_VALUES)), st.sampled_from(["critical|warning", "a|b", ".*", ""]),
                            max_size=1),
            st.booleans(),
        ),
        max_size=12,
    ),
    st.lists(st.dictionaries(st.sampled_from(sorted(_LABEL_VALUES)), st.sampled_from(["ConnectorStalled", "DiskFull", "a", "b",
                                                                                      "critical", "warning", ""])),
             min_size=1, max_size=5),
)
def test_the_alert_rule_index_takes_exactly_the_rules_their_matchers_take_in_order(specs, label_sets) -> None:
    # The index (an alert's own label pairs looked up, plus the rules filed under none) must take
    # every rule matching one by one would, in config order: `label: ""` (the label missing),
    # match_re alone, disabled rules, several rules sharing their rarest pair.
    rules = [rule(name=f"r{i}", enabled=enabled, trigger={"type": "alert", "match": match, "match_re": match_re})
             for i, (match, match_re, enabled) in enumerate(specs) if match or match_re]
    index = AlertRules(rules)
    for labels in label_sets:
        expected = [r.name for r in rules if r.enabled and r.trigger.matches(labels)]
        assert [r.name for r in index.matching(labels)] == expected
