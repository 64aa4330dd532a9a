"""Decisions against situations real Confluent Cloud produces (issue 11), each played by the
simulator: a connector whose tasks await a worker, unusable list entries, configuration errors,
connectors of type "unknown". Fake clock, poll by poll, as in test_daemon.py."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from watchdog.model import ConnectorKey, ConnectorState, ConnectorStatus, Decision, TaskStatus

from .support import CLUSTER, CLUSTER_ID, daemon_config, in_process, sim_scenario
from .test_daemon import restart_times, run_polls, status_rule, world


def rule_with(**trigger: Any) -> dict[str, Any]:
    return status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 2, **trigger})


# -- 1. DEGRADED with no task in error ------------------------------------------------------------


async def test_degraded_with_tasks_awaiting_a_worker_is_reported_not_restarted() -> None:
    connectors = [
        {"name": "allocating", "tasks": 2, "script": {"unassigned": {"tasks": 1}}},
        # The control: DEGRADED because a task failed is a failure and is restarted.
        {"name": "broken", "tasks": 2, "script": {"initial": "DEGRADED", "recover_after_restarts": 1}},
    ]
    w = world(connectors, [rule_with(degraded_report_after="60s")])

    with capture_logs() as logs:
        await run_polls(w, 59)
        assert w.sample("watchdog_connectors_degraded_too_long", cluster=CLUSTER) == 0
        await run_polls(w, 3)

    assert restart_times(w, "allocating") == [], "a DEGRADED connector without a failed task was restarted"
    assert len(restart_times(w, "broken")) == 1
    assert w.sample("watchdog_connectors_degraded_too_long", cluster=CLUSTER) == 1
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="transient") == 1
    reports = [e for e in logs if e["event"] == "degraded_too_long"]
    assert [(e["connector"], e["log_level"]) for e in reports] == [("allocating", "warning")], "reported once"

    w.simulator.change_connector(CLUSTER_ID, "allocating", {"unassigned": 0})
    await run_polls(w, 1)
    assert w.sample("watchdog_connectors_degraded_too_long", cluster=CLUSTER) == 0
    assert restart_times(w, "allocating") == []



async def test_degraded_with_a_task_in_user_error_is_a_user_error_restarted_only_by_opt_in() -> None:
    # Confluent's status docs: DEGRADED may be tasks RUNNING beside one USER_ACTIONABLE_ERROR (bad
    # config or unprocessable data): no restart fixes that, and a restart stops the tasks that run.
    # It is reported as a user error, not as "DEGRADED too long", and restarted only by opt-in.
    connectors = [{"name": "half", "tasks": 3, "script": {"initial": "DEGRADED", "failed_task": "USER_ACTIONABLE_ERROR",
                                                          "recover_after_restarts": 1}}]
    for opted_in in (False, True):
        w = world(connectors, [rule_with(confirm_polls=1, degraded_report_after="10s") | {"restart_user_errors": opted_in}])
        with capture_logs() as logs:
            await run_polls(w, 20)
        assert len(restart_times(w, "half")) == (1 if opted_in else 0)
        assert not [e for e in logs if e["event"] == "degraded_too_long"]
        if not opted_in:
            assert w.sample("watchdog_connectors", cluster=CLUSTER, health="user_error") == 1
            [said] = {e["decision"] for e in logs if e["event"] == "decision" and e["connector"] == "half"}
            assert said == "user_error"


async def test_a_failed_connector_whose_tasks_await_a_worker_by_its_restarts_turn_is_not_restarted() -> None:
    # Queued while FAILED; by its turn (behind the rate limit; here the queue is not running yet)
    # the next poll shows it DEGRADED with a task awaiting a worker, which a poll would leave to
    # Confluent. Sent anyway, the restart stopped the task that ran again.
    scenario = sim_scenario([{"name": "f0", "tasks": 2, "script": {"initial": "FAILED", "recover_after_restarts": 1}}])
    w = in_process(scenario, daemon_config([rule_with(confirm_polls=1)]), fake_time=True, rng=0.5)
    assert w.clock is not None
    await w.daemon.pollers[CLUSTER].poll()
    w.simulator.set_script(CLUSTER_ID, "f0", {"unassigned": {"tasks": 1}})
    w.clock.advance(5)
    await w.daemon.pollers[CLUSTER].poll()
    with capture_logs() as logs:
        w.daemon.queue.start()
        await w.daemon.queue.join()
    assert w.simulator.restarts() == []
    (finished,) = [e for e in logs if e["event"] == "restart_finished"]
    assert (finished["outcome"], finished["message"]) == (
        "dropped", "connector no longer failed before its turn (transient); the next poll decides again")


async def test_a_rebalance_between_healthy_polls_does_not_keep_a_recovered_connector_s_backoff_for_good() -> None:
    # Healed by its third restart (gap(3) = 12 minutes), then a task awaiting a worker at one poll
    # every 5 minutes (rebalances: workers rolled, connectors deployed): never a failed poll, yet
    # each such poll started its healthy clock over, so its restart count never reset. Its next
    # failure, hours later, waited a 20-minute gap after one restart and got 7 restarts, not 10.
    # docs/configuration.md: the counter resets once it has stayed healthy, without one failed poll,
    # for the gap.
    connectors = [{"name": "orders", "tasks": 2, "script": {"initial": "FAILED", "recover_after_restarts": 3}}]
    w = world(connectors, [rule_with(confirm_polls=1) | {"backoff": {"base": 60, "cap": 3600, "jitter": 0}}])
    await run_polls(w, 540, every=30)  # restarted at 0, 2 and 8 minutes: healthy from then
    assert len(restart_times(w, "orders")) == 3
    key = ConnectorKey(CLUSTER, "orders")
    assert w.daemon.state.load(key).attempts == 3, "reset only after 12 minutes healthy"
    for _ in range(6):  # 30 minutes: at each fifth minute, one poll of a task awaiting a worker
        w.simulator.set_unassigned(CLUSTER_ID, "orders", 1)
        await run_polls(w, 30, every=30)
        w.simulator.set_unassigned(CLUSTER_ID, "orders", 0)
        await run_polls(w, 270, every=30)
    state = w.daemon.state.load(key)
    assert (state.attempts, state.next_allowed_at) == (0, None), "no failed poll for 30 minutes: the count resets"
    assert w.sample("watchdog_connector_backoff_step", cluster=CLUSTER, connector="orders") == 0

# -- 2. one unusable list entry, 14. an answer with no usable entry --------------------------------


async def test_an_unusable_entry_does_not_cost_its_neighbours_their_poll() -> None:
    connectors = [
        {"name": "odd", "list_entry": "status_null"},
        {"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1}},
    ]
    w = world(connectors, [status_rule()])

    await run_polls(w, 3)

    assert len(restart_times(w, "broken")) == 1, "a FAILED neighbour of an unusable entry was not restarted"
    assert w.sample("watchdog_unusable_entries_total", cluster=CLUSTER, reason="status_not_object") == 3
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 3
    assert restart_times(w, "odd") == []


@pytest.mark.parametrize("list_entry", ["status_null", "status_empty", "status_missing", "connector_null"])
async def test_an_unusable_entry_keeps_the_connectors_state(list_entry: str) -> None:
    w = world([{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}},
               {"name": "fine"}], [status_rule(max_restarts=2)])
    await run_polls(w, 30)
    assert len(restart_times(w, "hopeless")) == 2
    assert w.daemon.state.load(ConnectorKey(CLUSTER, "hopeless")).gave_up

    w.simulator.change_connector(CLUSTER_ID, "hopeless", {"list_entry": list_entry})
    await run_polls(w, 3)
    w.simulator.change_connector(CLUSTER_ID, "hopeless", {"list_entry": "complete"})
    await run_polls(w, 30)

    assert w.daemon.state.load(ConnectorKey(CLUSTER, "hopeless")).gave_up, "the gave-up flag was forgotten"
    assert len(restart_times(w, "hopeless")) == 2, "restarted past max_restarts after an unusable entry"


async def test_an_answer_with_no_usable_entry_is_a_failed_poll_and_wipes_nothing() -> None:
    faults = [{"match": {"endpoint": "list"}, "when": {"from": 30, "until": 35},
               "action": {"status": 200, "body": {"message": "Service temporarily unavailable"}}}]
    connectors = [{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}]
    w = world(connectors, [status_rule(max_restarts=2)],
              scenario=sim_scenario(connectors, restart={"delay_seconds": 2}, faults=faults))

    await run_polls(w, 80)

    assert len(restart_times(w, "hopeless")) == 2, "restarted past max_restarts after a 200 with no usable entry"
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="unusable") == 5
    assert w.sample("watchdog_unusable_entries_total", cluster=CLUSTER, reason="entry_not_object") == 5
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 1


async def test_an_empty_cluster_is_legal_and_vanished_connectors_keep_their_state_for_the_grace() -> None:
    connectors = [{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}]
    w = world(connectors, [status_rule(max_restarts=2)])
    await run_polls(w, 30)
    key = ConnectorKey(CLUSTER, "hopeless")
    spec = {"type": "source", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}

    w.simulator.delete_connector(CLUSTER_ID, "hopeless")  # the answer is now `{}`
    await run_polls(w, 3)
    # An empty map is a cluster without connectors once a second listing confirms it: the first,
    # after a listing that had one, is not believed at once (tests/test_emptied_listing.py).
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="emptied") == 1
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 32, "an empty map is a cluster without connectors"
    assert w.daemon.metrics.registry.get_sample_value("watchdog_connector_gave_up", {"cluster": CLUSTER, "connector": "hopeless"}) is None
    await w.daemon.engine.forget_vanished()
    assert w.daemon.state.load(key).gave_up, "state forgotten before the grace period"

    w.simulator.change_connector(CLUSTER_ID, "hopeless", {"create": spec})  # back within the grace
    await run_polls(w, 10)
    assert len(restart_times(w, "hopeless")) == 2 and w.daemon.state.load(key).gave_up

    w.simulator.delete_connector(CLUSTER_ID, "hopeless")
    await run_polls(w, 1)
    w.clock.advance(w.daemon.config.state.forget_vanished_after)
    await run_polls(w, 1)
    assert await w.daemon.engine.forget_vanished() == 1
    assert w.daemon.state.load(key) == ConnectorState()


# -- 3. FAILED with no tasks and a configuration error ---------------------------------------------


async def test_a_configuration_error_is_reported_not_restarted() -> None:
    connectors = [{"name": "misconfigured", "script": {"initial": "CONFIG_ERROR", "recover_after_restarts": "never"}}]
    w = world(connectors, [status_rule()])

    await run_polls(w, 60)

    assert restart_times(w, "misconfigured") == [], "a connector whose configuration is wrong was restarted"
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="user_error") == 1
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="heal", trigger="status", decision="user_error") == 60


async def test_a_configuration_error_restarted_by_opt_in_goes_without_advice_and_keeps_asking_for_others() -> None:
    # Confluent has no error recommendations for a connector that failed at config validation (no
    # task ran, no stack trace): 400 "could not generate recommendations ...", as for a healthy one.
    # That refusal is no failure of the endpoint: the restart goes, and the next connector's
    # restart still asks (a server error would pause asking for the cluster).
    connectors = [{"name": "misconfigured", "script": {"initial": "CONFIG_ERROR", "recover_after_restarts": 1}},
                  {"name": "crashed", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    rule = status_rule(restart_user_errors=True, fetch_recommendations=True)
    w = world(connectors, [rule | {"select": {"connectors": ["misconfigured"]}},
                           rule | {"name": "heal-crashed", "select": {"connectors": ["crashed"]}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert len(restart_times(w, "misconfigured")) == len(restart_times(w, "crashed")) == 1
    asked = [(c.connector, c.status_code) for c in w.simulator.calls if c.endpoint == "error_recommendations"]
    assert sorted(asked) == [("crashed", 200), ("misconfigured", 400)]
    records = {record.key.connector: record for record in w.daemon.state.history()}
    assert records["misconfigured"].recommendations == () and records["crashed"].recommendations
    assert not [e for e in logs if e["event"] == "recommendations_paused"]


async def test_without_max_restarts_a_connector_is_given_up_after_ten() -> None:
    rule = status_rule()
    assert "max_restarts" not in rule
    connectors = [{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}]
    w = world(connectors, [rule])

    await run_polls(w, 400)

    assert len(restart_times(w, "hopeless")) == 10
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 1


# -- a restart that shows nothing for a while after its 202 ---------------------------------------


async def test_a_restart_still_showing_failed_after_its_202_is_not_sent_again() -> None:
    # Confluent's restart is asynchronous: "the connector will not transition to another state at
    # the same time". The polls after the 202 may still show FAILED, the trace and tasks from
    # before; a daemon that took them for a restart that did not help would send another (and
    # count it towards giving up). config.example.yaml's status rule: 60 s polls, 2 to confirm,
    # base 1m.
    connectors = [{"name": "orders", "tasks": 2, "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    rule = rule_with(interval=60) | {"backoff": {"base": 60, "cap": 3600, "jitter": 0.1}}
    scenario = sim_scenario(connectors, restart={"delay_seconds": 3, "lag_seconds": 90})
    w = world(connectors, [rule], scenario=scenario)

    with capture_logs() as logs:
        await run_polls(w, 600, every=60)

    assert restart_times(w, "orders") == [60.0], "sent again while the first restart had not begun"
    decisions = [e["decision"] for e in logs if e["event"] == "decision" and e["connector"] == "orders"]
    assert decisions[:4] == ["unconfirmed", "restart", "backoff", "healthy"]
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="healthy") == 1


async def test_the_shapes_of_confluents_recorded_answers_are_judged_as_the_spec_s() -> None:
    # `extensions: {}` on each entry, a custom connector's status with errors_from_trace,
    # validation_errors and override_message in every state, in the list: read as any entry is.
    connectors = [{"name": "mine", "custom": True}, {"name": "mine-broken", "custom": True, "tasks": 2, "script": FAILED_ONCE},
                  {"name": "mine-misconfigured", "custom": True, "script": {"initial": "CONFIG_ERROR"}},
                  {"name": "managed-broken", "script": FAILED_ONCE}]
    w = world(connectors, [rule_with(confirm_polls=1)],
              scenario=sim_scenario(connectors, restart={"delay_seconds": 2}, recorded_extras=True))

    await run_polls(w, 10)

    restarted = {name: len(restart_times(w, name)) for name in ("mine", "mine-broken", "mine-misconfigured", "managed-broken")}
    assert restarted == {"mine": 0, "mine-broken": 1, "mine-misconfigured": 0, "managed-broken": 1}
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="healthy") == 3
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="user_error") == 1


# -- names with '/', '.' and '..' ------------------------------------------------------------------

FAILED_ONCE = {"initial": "FAILED", "recover_after_restarts": 1}


async def test_connectors_named_with_slashes_and_dots_are_restarted_by_their_own_path() -> None:
    names = ["a/b", ".", ".."]
    healthy = [{"name": f"fine-{i}"} for i in range(4)]  # so that the cluster breaker stays closed
    w = world([{"name": name, "script": FAILED_ONCE} for name in names] + healthy, [status_rule()])

    await run_polls(w, 3)

    for name in names:
        assert len(restart_times(w, name)) == 1, f"{name!r} was not restarted"
    assert [c.status_code for c in w.simulator.calls if c.endpoint != "list"] == [202, 202, 202]


@pytest.mark.parametrize("name", ["x/../y", "/y", "y/"])
async def test_a_name_whose_path_could_reach_another_connector_is_never_addressed(name: str) -> None:
    connectors = [{"name": name, "script": FAILED_ONCE}, {"name": "y"}]
    # A gateway that decodes %2F before routing (and merges slashes, as nginx does) would take
    # x%2F..%2Fy/restart, %2Fy/restart and y%2F/restart to y.
    scenario = sim_scenario(connectors, restart={"delay_seconds": 2}, routing={"encoded_slash": "decode"})
    w = world(connectors, [status_rule()], scenario=scenario)

    await run_polls(w, 10)

    assert w.simulator.restarts() == [], f"a restart meant for {name!r} went out (and reached y)"
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="heal", trigger="status", decision="unaddressable") == 9
    # And status says what holds it: its row read NEXT ALLOWED `now` with no reason, a restart
    # that never comes (a probe, 2026-12-06); only the `decision` line said why.
    held = w.daemon.engine.held.get(ConnectorKey(CLUSTER, name))
    assert held is not None and held[0] is Decision.UNADDRESSABLE and "could reach another connector" in held[1], held


# -- a state no known API reports ------------------------------------------------------------------


async def test_a_state_no_api_is_known_to_report_is_said_once_and_never_restarted_on() -> None:
    # Confluent adds a connector state tomorrow (or renames a failure): it must start no restart
    # storm, and must not pass unsaid either (before, one `decision: transient` info line among
    # every other decision was all that showed it, and it was never restarted).
    w = world([{"name": "odd"}], [status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 1})])
    assert w.clock is not None
    odd = ConnectorStatus(name="odd", state="SUSPENDED", tasks=(TaskStatus(0, "RUNNING"), TaskStatus(1, "QUIESCED")))
    with capture_logs() as logs:
        for _ in range(5):
            await w.daemon.engine.on_poll(CLUSTER, {"odd": odd})
            await w.daemon.queue.join()
            w.clock.advance(5)
        await w.daemon.engine.on_poll(CLUSTER, {"odd": ConnectorStatus(name="odd", state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),))})
    assert w.simulator.restarts() == []
    said = [e for e in logs if e["event"].startswith("unknown_state")]
    assert [(e["event"], e["log_level"]) for e in said] == [("unknown_state", "warning"), ("unknown_state_ended", "info")]
    assert said[0]["states"] == ["QUIESCED", "SUSPENDED"] and said[0]["connector"] == "odd"
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="healthy") == 1


@pytest.mark.parametrize(("connector_state", "tasks", "health"), [
    ("SUSPENDED", ["FAILED"], "transient"), ("suspended", ["FAILED", "RUNNING"], "transient"),
    ("FAILED ", ["SYSTEM_ERROR"], "transient"),
    ("RUNNING", ["FAILED", "QUIESCED"], "failed"), ("RUNNING", ["USER_ACTIONABLE_ERROR", "QUIESCED"], "user_error"),
])
async def test_a_connector_in_a_state_no_api_reports_is_not_restarted_whatever_its_tasks_say(
        connector_state: str, tasks: list[str], health: str) -> None:
    # A connector state Confluent adds tomorrow (one being deleted, migrated or suspended may show
    # its tasks FAILED) was judged failed for its tasks and restarted, right after an
    # `unknown_state` warning that said "taken as transient, not restarted". A connector in a known
    # state with a FAILED task beside a task in an unknown state is restarted for that task, and
    # the warning says so.
    connectors = [{"name": "odd"}]
    status = {"name": "odd", "type": "sink", "connector": {"state": connector_state, "worker_id": "w"},
              "tasks": [{"id": i, "state": state} for i, state in enumerate(tasks)]}
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": {"odd": {"status": status}}}}]
    w = world(connectors, [rule_with(confirm_polls=1) | {"restart_user_errors": True}],
              scenario=sim_scenario(connectors, faults=faults))

    with capture_logs() as logs:
        await run_polls(w, 3)

    [said] = [e for e in logs if e["event"] == "unknown_state"]
    restarted = health != "transient"
    assert len(restart_times(w, "odd")) == (1 if restarted else 0), "restarted" if not restarted else "not restarted"
    assert ("not restarted" in said["note"]) is not restarted, said["note"]
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health=health) == 1


@pytest.mark.parametrize("state", ["SUSPENDED", " PAUSED", "PAUSED\n", "PAUSING"])
async def test_a_schedule_rule_leaves_a_connector_in_a_state_no_api_reports_alone_and_says_why(state: str) -> None:
    # Only status rules held back from a state no known API reports: a schedule rule restarted a
    # connector listed SUSPENDED, PAUSING or ` PAUSED` (found against an independent fake of the
    # Connect API), and its decision line said nothing of the state. Known states and an entry
    # that could not be read are decided as before: the first restarted or refused as they are,
    # the last left to the API's own answer (no state to judge).
    connectors = [{"name": "odd"}, {"name": "ok"}, {"name": "paused"}, {"name": "unread"}]
    body = {"odd": {"status": {"name": "odd", "type": "sink", "connector": {"state": state, "worker_id": "w"},
                               "tasks": [{"id": 0, "state": "RUNNING"}]}},
            "ok": _entry("ok", [{"id": 0, "state": "RUNNING"}]),
            "paused": {"status": {"name": "paused", "type": "sink", "connector": {"state": "paused", "worker_id": "w"},
                                  "tasks": []}},
            "unread": {"status": None}}
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": body}}]
    schedule = {"name": "nightly", "trigger": {"type": "schedule", "interval": 3600}, "select": {"include": ["*"]}}
    w = world(connectors, [schedule], scenario=sim_scenario(connectors, faults=faults))

    with capture_logs() as logs:
        await w.daemon.run_schedule_rule("nightly")
        await w.daemon.queue.join()

    assert sorted(c.connector for c in w.simulator.restarts()) == ["ok", "unread"]
    decided = {e["connector"]: e for e in logs if e["event"] == "decision"}
    assert decided["odd"]["decision"] == "transient"
    assert decided["odd"]["detail"] == (f"its state {state!r} is none a known Connect API reports: it is not restarted "
                                        "while it lasts (a new state may be a deletion, a migration or a suspension)")
    assert decided["paused"]["decision"] == "transient"
    assert decided["paused"]["detail"] == "it is PAUSED: resume it, and it starts again without a restart"
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="nightly", trigger="schedule", decision="transient") == 2



def _entry(name: str, tasks: list[Any]) -> dict[str, Any]:
    return {"status": {"name": name, "type": "sink", "connector": {"state": "RUNNING", "worker_id": "w"}, "tasks": tasks}}


@pytest.mark.parametrize("task", [{"id": 0, "state": None}, {"id": 0}, {"id": 0, "state": {"name": "FAILED"}}, "FAILED", None],
                         ids=["state-null", "state-missing", "state-object", "entry-string", "entry-null"])
async def test_a_task_whose_state_cannot_be_read_is_said_and_never_judged_healthy(task: object) -> None:
    # A RUNNING connector whose tasks' states could not be read (a task's state null, missing or
    # of another shape tomorrow) had those tasks left out, and was judged healthy: counted in
    # watchdog_connectors{health="healthy"}, its backoff let reset, and nothing said. It is a
    # state the daemon does not know: transient and said once, as an unknown state is. A task
    # that did say FAILED beside it still gets its connector restarted.
    connectors = [{"name": "odd"}, {"name": "broken"}]
    body = {"odd": _entry("odd", [task]), "broken": _entry("broken", [{"id": 0, "state": "FAILED"}, task])}
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": body}}]
    w = world(connectors, [rule_with(confirm_polls=1)], scenario=sim_scenario(connectors, faults=faults))

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="healthy") == 0, "judged healthy"
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="transient") == 1
    said = [e for e in logs if e["event"] == "unknown_state"]
    assert sorted((e["connector"], e["log_level"], e["states"]) for e in said) == [
        ("broken", "warning", [""]), ("odd", "warning", [""])], "said once each"
    assert restart_times(w, "odd") == []
    assert len(restart_times(w, "broken")) == 1, "the task that said FAILED was not restarted"


async def test_the_failed_task_of_many_is_in_the_evidence_whatever_tasks_come_before_it() -> None:
    # One task of 50 failed while twelve listed before it awaited a worker (a rebalance, Cloud
    # allocating): the evidence kept the first ten tasks not RUNNING, all twelve UNASSIGNED with
    # nothing to say, and left out the FAILED one, whose message and trace the restart erased.
    # The decision line, the history and `watchdog history`'s error had nothing of why.
    from watchdog.report import captured_error

    tasks: list[dict[str, Any]] = [{"id": i, "state": "UNASSIGNED", "worker_id": ""} for i in range(12)]
    tasks += [{"id": i, "state": "RUNNING", "worker_id": "w"} for i in range(12, 50)]
    tasks[37] = {"id": 37, "state": "FAILED", "worker_id": "w", "trace": "org.apache.kafka.connect.errors."
                 "ConnectException: sink refused the batch\n\tat Sink.put(Sink.java:42)"}
    connectors = [{"name": "wide", "tasks": 50}]
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": {"wide": _entry("wide", tasks)}}}]
    w = world(connectors, [rule_with(confirm_polls=1)], scenario=sim_scenario(connectors, faults=faults))

    with capture_logs() as logs:
        await run_polls(w, 1)

    assert len(restart_times(w, "wide")) == 1
    (decided,) = [e for e in logs if e["event"] == "decision" and e["decision"] == "restart"]
    assert [t["id"] for t in decided["evidence"]["tasks"]][:1] == [37], "the FAILED task comes first"
    (record,) = w.daemon.state.history(cluster=CLUSTER, connector="wide")
    assert record.evidence is not None and record.evidence["tasks"][0]["id"] == 37
    assert record.evidence["tasks_left_out"] == 3, "12 UNASSIGNED and the FAILED one: 10 kept"
    assert captured_error(record) == "task 37: org.apache.kafka.connect.errors.ConnectException: sink refused the batch"


# -- a status rule naming a connector its cluster does not have ------------------------------------


async def test_a_status_rule_naming_a_connector_the_cluster_does_not_list_says_so_once() -> None:
    # `connectors: [orders-snik]` (a typo) watched nothing: the failing orders-sink was never
    # restarted, and no line, metric or decision said why.
    rule = status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 1})
    rule["select"] = {"connectors": ["orders-sink", "orders-snik", "payments "]}
    w = world([{"name": "orders-sink"}], [rule])
    assert w.clock is not None
    running = ConnectorStatus(name="orders-sink", state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),))
    with capture_logs() as logs:
        for _ in range(3):
            await w.daemon.engine.on_poll(CLUSTER, {"orders-sink": running})
            w.clock.advance(5)
        await w.daemon.engine.on_poll(CLUSTER, {"orders-sink": running, "orders-snik": running, "payments ": running})
    said = [e for e in logs if e["event"].startswith("selected_connectors")]
    assert [(e["event"], e["log_level"]) for e in said] == [
        ("selected_connectors_not_listed", "warning"), ("selected_connectors_listed", "info")]
    assert said[0]["connectors"] == ["orders-snik", "payments "] and said[0]["rule"] == "heal"
    assert said[0]["cluster"] == CLUSTER


async def test_a_rule_turned_off_and_on_again_says_its_names_not_listed_again() -> None:
    rule = status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 1})
    rule["select"] = {"connectors": ["orders-snik"]}
    w = world([{"name": "orders-sink"}], [rule])
    running = ConnectorStatus(name="orders-sink", state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),))
    config = w.daemon.engine.config
    off = config.model_copy(update={"rules": [config.rules[0].model_copy(update={"enabled": False})]})
    with capture_logs() as logs:
        for current in (config, off, config):
            w.daemon.engine.set_config(current)
            await w.daemon.engine.on_poll(CLUSTER, {"orders-sink": running})
    assert [e["event"] for e in logs if e["event"].startswith("selected_connectors")] == [
        "selected_connectors_not_listed", "selected_connectors_not_listed"]
