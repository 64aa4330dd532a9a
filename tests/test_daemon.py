"""The daemon's rules end to end against the simulator, on a fake clock driven poll by poll.

The scheduler is not running here: each test calls the cluster poller itself and advances one
fake time shared by the simulator and the daemon, so minutes of backoff take milliseconds. Tests
that take the `backend` fixture run against Confluent Cloud and self-managed Kafka Connect alike.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.engine import MANUAL_RULE, recorder
from watchdog.model import ConnectorKey, Decision, Outcome, Trigger
from watchdog.simulator import Scenario, Simulator, create_app

from .faults.bounds import restart_gap
from .support import (
    CLOUD,
    CLUSTER,
    CLUSTER_ID,
    Clock,
    World,
    daemon_config,
    in_process,
    sim_cluster,
    sim_scenario,
)


def status_rule(**fields: Any) -> dict[str, Any]:
    rule = {
        "name": "heal",
        "trigger": {"type": "status", "interval": 5, "confirm_polls": 2},
        "select": {"include": ["*"]},
        "backoff": {"base": 1, "cap": 60, "jitter": 0.1},
    }
    rule.update(fields)
    return rule


def world(
    connectors: list[dict[str, Any]], rules: list[dict[str, Any]], scenario: dict[str, Any] | None = None,
    backend: str = CLOUD, **config: Any,
) -> World:
    scenario = scenario or sim_scenario(connectors, backend, restart={"delay_seconds": 2})
    # The limiter runs on real time; its local ceiling must not slow a fake-time test down.
    config.setdefault("rate_limit", {"max_requests_per_second": 10000})
    w = in_process(scenario, daemon_config(rules, backend=backend, **config), fake_time=True, rng=0.5)
    w.daemon.queue.start()
    return w


async def run_polls(w: World, seconds: float, every: float = 1.0) -> None:
    for _ in range(round(seconds / every)):
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        w.clock.advance(every)


def restart_times(w: World, connector: str) -> list[float]:
    return [c.t for c in w.simulator.restarts(connector=connector)]


async def test_a_connector_that_fails_after_every_restart_follows_the_strimzi_gaps(backend: str) -> None:
    w = world([{"name": "flaky", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}],
              [status_rule()], backend=backend)
    await run_polls(w, 300)
    times = restart_times(w, "flaky")
    assert len(times) >= 6
    backoff = w.daemon.config.rules[0].backoff
    # docs/configuration.md's gap(n) = min(base * (n^2 + n), cap): 2, 6, 12, 20, 30 s here
    # (base 1 s).
    assert [restart_gap(n, backoff) for n in range(1, 6)] == [2, 6, 12, 20, 30]
    for n, (earlier, later) in enumerate(zip(times, times[1:]), start=1):
        gap = restart_gap(n, backoff)
        assert later - earlier >= gap, f"restart {n + 1} came {later - earlier:.1f}s after restart {n}, gap is {gap}s"
        # Never much later either: the gap with jitter, then at most the next poll.
        assert later - earlier <= gap * 1.1 + 1.5, f"restart {n + 1} came late"


async def test_first_restart_waits_for_the_confirmation_polls(backend: str) -> None:
    w = world([{"name": "broken", "script": {"fail_at": 0, "recover_after_restarts": 1}}], [status_rule(trigger={"type": "status", "confirm_polls": 3})], backend=backend)
    await run_polls(w, 2)
    assert restart_times(w, "broken") == []
    await run_polls(w, 1)
    assert len(restart_times(w, "broken")) == 1
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="heal", trigger="status", decision="unconfirmed") == 2


async def test_a_recovered_connector_is_not_restarted_again_and_its_counter_resets(backend: str) -> None:
    w = world([{"name": "once", "script": {"initial": "FAILED", "recover_after_restarts": 1}}], [status_rule()], backend=backend)
    await run_polls(w, 60)
    assert len(restart_times(w, "once")) == 1
    state = w.daemon.state.load(ConnectorKey(CLUSTER, "once"))
    assert state.attempts == 0 and state.health.value == "healthy"
    assert w.sample("watchdog_connector_backoff_step", cluster=CLUSTER, connector="once") == 0


async def test_after_max_restarts_the_connector_is_marked_gave_up(backend: str) -> None:
    w = world([{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}],
              [status_rule(max_restarts=3)], backend=backend)
    await run_polls(w, 200)
    assert len(restart_times(w, "hopeless")) == 3
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 1
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="heal", trigger="status", decision="budget_spent") > 0


async def test_gave_up_clears_once_the_connector_recovers_by_itself(backend: str) -> None:
    w = world([{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}],
              [status_rule(max_restarts=1)], backend=backend)
    await run_polls(w, 20)
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 1
    w.simulator.set_state(sim_cluster(backend), "hopeless", "RUNNING")
    # The flag clears with the count, once healthy for its gap (2 s after one restart): at the
    # third healthy poll, not the first (which let a flapping connector be given up on again at
    # each failed poll: probe of rules, finding 4).
    await run_polls(w, 2)
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 1
    await run_polls(w, 1)
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 0


async def test_a_gave_up_connector_its_owner_paused_or_stopped_pages_no_more_until_it_fails_again(backend: str) -> None:
    # The watchdog gave up on it (WatchdogConnectorGaveUp, critical, "still fails after max_restarts
    # restarts"); its owner then stopped it (Kafka Connect 3.5+ STOPPED; Confluent Cloud and older
    # workers: PAUSED) until the fix ships. It fails no more, no restart is ever sent to it, and
    # the page went on for as long as it stayed so (live: 18 minutes and counting, the gauge at 1).
    # Resumed and failing again, it is given up on again at once (its count was not reset).
    held_as = "PAUSED" if backend == CLOUD else "STOPPED"
    w = world([{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}],
              [status_rule(max_restarts=1)], backend=backend)
    await run_polls(w, 20)
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 1
    w.simulator.set_state(sim_cluster(backend), "hopeless", held_as)
    await run_polls(w, 2)
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 0
    assert w.daemon.state.load(ConnectorKey(CLUSTER, "hopeless")).gave_up, "the flag stays: it was not seen well"
    w.simulator.set_state(sim_cluster(backend), "hopeless", "FAILED")
    await run_polls(w, 2)
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 1
    assert len(restart_times(w, "hopeless")) == 1


async def test_a_gave_up_connector_s_next_restart_gauge_says_not_until_healthy(backend: str) -> None:
    # Before: the gauge kept the last backoff time, already in the past (a dashboard's "next
    # restart in -3h"), while `watchdog status` said `when healthy`. Now +Inf, until it recovers.
    w = world([{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}],
              [status_rule(max_restarts=1)], backend=backend)
    await run_polls(w, 20)
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 1
    assert w.sample("watchdog_connector_next_restart_timestamp_seconds", cluster=CLUSTER, connector="hopeless") == float("inf")
    w.simulator.set_state(sim_cluster(backend), "hopeless", "RUNNING")
    await run_polls(w, 3)  # healthy for its gap (2 s): the count, and the flag, reset
    shown = w.sample("watchdog_connector_next_restart_timestamp_seconds", cluster=CLUSTER, connector="hopeless")
    assert shown is not None and shown < float("inf")


async def test_the_gave_up_line_says_how_long_the_connector_must_stay_healthy_for_a_fresh_budget() -> None:
    # Seen healthy once, the flag stays until the count resets; a failure before then is refused
    # (budget_spent). The line said "left alone until it is seen healthy", which promised more.
    w = world([{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}],
              [status_rule(max_restarts=2, backoff={"base": 60, "cap": 3600, "jitter": 0})])
    with capture_logs() as logs:
        await run_polls(w, 600, every=5)
        (gave_up,) = [e for e in logs if e["event"] == "gave_up"]
        assert gave_up["note"] == "left alone until it has stayed healthy for 360s in a row, which resets its restart count"
        w.simulator.set_state(sim_cluster(), "hopeless", "RUNNING")
        await run_polls(w, 5, every=5)
        w.simulator.set_state(sim_cluster(), "hopeless", "FAILED")
        await run_polls(w, 60, every=5)
    assert len(restart_times(w, "hopeless")) == 2, "a failure within the 360 s is not restarted, as the line says"

async def test_paused_provisioning_and_user_error_connectors_are_left_alone() -> None:
    connectors = [
        {"name": "paused", "script": {"initial": "PAUSED"}},
        {"name": "provisioning", "script": {"initial": "PROVISIONING"}},
        {"name": "bad-config", "script": {"initial": "USER_ACTIONABLE_ERROR", "recover_after_restarts": "never"}},
    ]
    w = world(connectors, [status_rule()])
    await run_polls(w, 30)
    assert w.simulator.restarts() == []
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="transient") == 2
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="user_error") == 1
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="heal", trigger="status", decision="user_error") == 30


async def test_a_rule_can_opt_in_to_restarting_user_errors() -> None:
    connectors = [{"name": "bad-config", "script": {"initial": "USER_ACTIONABLE_ERROR", "recover_after_restarts": 1}}]
    w = world(connectors, [status_rule(restart_user_errors=True)])
    await run_polls(w, 5)
    assert len(restart_times(w, "bad-config")) == 1


async def test_a_revoked_key_backs_off_like_a_failing_connector(backend: str) -> None:
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    scenario = sim_scenario(connectors, backend, faults=[{"match": {"endpoint": "restart"}, "action": {"status": 401}}])
    w = world(connectors, [status_rule()], scenario=scenario, backend=backend)
    await run_polls(w, 60)
    calls = [c.t for c in w.simulator.calls if c.endpoint == "restart"]
    # The second poll (t=1) confirms the failure; then gaps of 2, 6, 12, 20 s, each lengthened by
    # 5% jitter (rng 0.5 of 10%) and met at the next whole-second poll: t = 1, 4, 11, 24, 45, and
    # the sixth would be due at 76.5 s. A 401 is never retried: one call per attempt.
    assert calls == [1, 4, 11, 24, 45]
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="broken", rule="heal", trigger="status", outcome="unauthorized") == len(calls)


async def test_a_glob_found_connectors_first_restart_rises_on_its_clusters_count(backend: str) -> None:
    # The shipped alerts count with increase(), which sees a rise between two scrapes only. A
    # connector a glob selects gets its watchdog_restarts_total series with its first restart,
    # already at 1: a key refused once (403) raised no WatchdogApiKeyRejected, and a first
    # failure of each of three connectors added nothing to WatchdogRestartsFailing.
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    scenario = sim_scenario(connectors, backend, faults=[{"match": {"endpoint": "restart"}, "action": {"status": 403}}])
    w = world(connectors, [status_rule()], scenario=scenario, backend=backend)
    per_cluster = {"cluster": CLUSTER, "rule": "heal", "trigger": "status", "outcome": "forbidden"}
    per_connector = {**per_cluster, "connector": "broken"}
    registry = w.daemon.metrics.registry
    assert registry.get_sample_value("watchdog_cluster_restarts_total", per_cluster) == 0, "scraped at 0 first"
    assert registry.get_sample_value("watchdog_restarts_total", per_connector) is None
    await run_polls(w, 2)  # the second poll confirms the failure; its restart is refused
    assert registry.get_sample_value("watchdog_cluster_restarts_total", per_cluster) == 1
    assert registry.get_sample_value("watchdog_restarts_total", per_connector) == 1
    assert w.total("watchdog_cluster_restarts_total") == w.total("watchdog_restarts_total") == 1, "counted once"


async def test_a_schedule_over_many_connectors_adds_a_restart_series_per_outcome_met_not_fifteen() -> None:
    # Every connector a rule restarted got watchdog_restarts_total at 0 for each of the 15
    # outcomes, kept for as long as it was listed: against the simulator, one run of a schedule
    # rule over 624 of 5,000 connectors took /metrics from 19,377 series to 28,947 (1.8 to
    # 3.0 MB), 11,612 of its 12,300 restart series at 0; over all 5,000, 98,832 series, 11.8 MB
    # and 1.7 s of CPU per scrape. A connector a glob found now has `accepted` (at 0 from its
    # first restart) and the outcomes it met; the per-cluster counts keep every outcome from 0.
    connectors = [{"name": f"jdbc-{i:03d}"} for i in range(40)]
    schedule = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["jdbc-*"]}}
    w = in_process(sim_scenario(connectors), daemon_config([schedule], rate_limit={"max_requests_per_second": 10000}))
    assert await w.daemon.run_once() == 0
    assert len(w.simulator.restarts()) == 40
    series = [s for metric in w.daemon.metrics.registry.collect() for s in metric.samples if s.name == "watchdog_restarts_total"]
    assert sorted((s.labels["outcome"], s.value) for s in series) == [("accepted", 1.0)] * 40
    per_cluster = {"cluster": CLUSTER, "rule": "nightly", "trigger": "schedule"}
    assert w.sample("watchdog_cluster_restarts_total", **per_cluster, outcome="rejected") == 0, "still made at 0"


async def test_dry_run_counts_the_decision_and_sends_nothing(backend: str) -> None:
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    w = world(connectors, [status_rule()], backend=backend, dry_run=True)
    await run_polls(w, 10)
    assert w.simulator.restarts(accepted_only=False) == []
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="broken", rule="heal", trigger="status", outcome="dry_run") >= 1



@pytest.mark.parametrize("where", ["global", "rule"])
async def test_a_dry_run_that_spends_its_budget_does_not_page_as_gave_up(where: str) -> None:
    # WatchdogConnectorGaveUp pages "still fails after max_restarts restarts" from this gauge:
    # in dry-run no restart was sent, so the would-be give-up is said in the log, not paged.
    connectors = [{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    rule = status_rule(trigger={"type": "status", "confirm_polls": 1}, max_restarts=2,
                       backoff={"base": 1, "cap": 2, "jitter": 0})
    if where == "rule":
        rule["dry_run"] = True
    w = world(connectors, [rule], dry_run=where == "global")
    with capture_logs() as logs:
        await run_polls(w, 30)
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="hopeless", rule="heal", trigger="status",
                    outcome="dry_run") == 2
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="heal", trigger="status",
                    decision="budget_spent") > 0
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 0
    # Not paged, but the dry run restarts it no more: its next restart says "not until healthy".
    assert w.sample("watchdog_connector_next_restart_timestamp_seconds", cluster=CLUSTER, connector="hopeless") == float("inf")
    (gave_up,) = [e for e in logs if e["event"] == "gave_up"]
    assert gave_up["dry_run"] is True and "no restart was sent" in gave_up["note"]


async def test_in_dry_run_the_api_and_status_show_the_dry_run_s_cadence_as_the_gauges_do() -> None:
    # Before: /v1/connectors and `watchdog status` showed the live state (attempts 0, next
    # allowed "now") while watchdog_connector_backoff_step and the log showed the dry run's.
    from watchdog.report import parse_timestamp, render_status, status_rows_from_json

    connectors = [{"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    rule = status_rule(trigger={"type": "status", "confirm_polls": 1}, backoff={"base": 60, "cap": 600, "jitter": 0})
    w = world(connectors, [rule], dry_run=True)
    await run_polls(w, 3)
    (row,) = w.daemon.connector_rows()  # what GET /v1/connectors answers
    step = w.sample("watchdog_connector_backoff_step", cluster=CLUSTER, connector="hopeless")
    assert row["dry_run"] is True and row["attempts"] == step == 1
    assert parse_timestamp(row["next_allowed_at"]).timestamp() == w.sample(
        "watchdog_connector_next_restart_timestamp_seconds", cluster=CLUSTER, connector="hopeless")
    assert w.daemon.state.load(ConnectorKey(CLUSTER, "hopeless")).attempts == 0, "the state file is left live"
    lines = render_status(status_rows_from_json({"connectors": [row]}), now=w.clock.wall()).splitlines()
    assert "1 (dry run)" in lines[3] and "in 1m (dry run)" in lines[3], lines
    assert "dry run" in lines[-1] and "nothing was sent" in lines[-1], lines


async def test_going_live_after_a_dry_run_finds_the_live_budget_unspent(tmp_path: Path) -> None:
    # The runbook's first step in an incident is dry-run. Its restarts advance the backoff and the
    # budget as real ones would (the log shows production's cadence), but they were written to
    # the state file: the pod restarted live after the incident found the connector gave-up, and
    # it was never restarted, though nothing had ever been sent.
    clock = Clock()
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    simulator = Simulator(Scenario.model_validate(sim_scenario(connectors)), clock=clock.monotonic)
    rules = [status_rule(trigger={"type": "status", "confirm_polls": 1}, max_restarts=3,
                         backoff={"base": 1, "cap": 60, "jitter": 0})]
    outcomes = []
    for dry_run in (True, False):
        config = daemon_config(rules, dry_run=dry_run, state={"path": str(tmp_path / "state.db")},
                               rate_limit={"max_requests_per_second": 10000})
        w = World(simulator, Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)),
                                    now=clock.wall, rng=lambda: 0.5), clock)
        w.daemon.queue.start()
        await run_polls(w, 120, every=5)
        outcomes.append({o.value: n for o, n in w.daemon.recorder.outcomes.items() if n})
        assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="heal", trigger="status",
                        decision="budget_spent") > 0, "each run spends its budget, and says so"
        await w.daemon.queue.close(deadline=1.0)
        w.daemon.state.close()
    assert outcomes == [{"dry_run": 3}, {"accepted": 3}]
    assert len(simulator.restarts()) == 3


async def test_restart_finished_gives_an_attempt_number_to_failure_restarts_only() -> None:
    connectors = [{"name": "orders", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    w = world(connectors, [status_rule(trigger={"type": "status", "confirm_polls": 1})])
    key = ConnectorKey(CLUSTER, "orders")
    with capture_logs() as logs:
        await run_polls(w, 1)
        w.clock.advance(3600)
        await w.daemon.pollers[CLUSTER].poll()
        w.daemon.engine.on_request(key, w.daemon.engine.statuses[key], trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                   reason="operator")
        await w.daemon.queue.join()
    finished = [(e["trigger"], e["attempt"]) for e in logs if e["event"] == "restart_finished"]
    assert finished == [("status", 1), ("manual", None)], "a restart by name is not attempt 1 of a failure backoff"

async def test_a_real_restart_asked_for_while_a_dry_run_one_is_queued_is_sent(backend: str) -> None:
    # A rule on trial (dry_run) queued a restart, waiting its turn behind the rate limit; an
    # operator asks for a real one by name. Before, the request was answered `duplicate` and the
    # job ended `dry_run`: nothing restarted, though a live request joining a dry-run job is meant
    # to make it live. Now it joins the job, which goes out for real, once.
    rules = [status_rule(trigger={"type": "status", "confirm_polls": 1}, dry_run=True)]
    scenario = sim_scenario([{"name": "orders", "script": {"initial": "FAILED", "recover_after_restarts": 1}}], backend)
    w = in_process(scenario, daemon_config(rules, backend=backend), fake_time=True, rng=0.5)  # queue not started: it waits
    await w.daemon.pollers[CLUSTER].poll()
    key = ConnectorKey(CLUSTER, "orders")
    engine = w.daemon.engine

    def ask(dry_run: bool) -> Any:
        return engine.on_request(key, engine.statuses[key], trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="operator",
                                 dry_run=dry_run)

    live = ask(dry_run=False)
    assert live.decision is Decision.RESTART
    assert ask(dry_run=True).decision is Decision.DUPLICATE, "a dry-run request behind a live one adds nothing"
    w.daemon.queue.start()
    await w.daemon.queue.join()
    assert live.job is not None and live.job.outcome is Outcome.ACCEPTED
    assert len(w.simulator.restarts(connector="orders")) == 1
    await w.daemon.stop()


async def test_a_deleted_connector_loses_its_series_at_once_and_its_state_after_the_grace(backend: str) -> None:
    w = world([{"name": "short-lived"}, {"name": "stays"}], [status_rule()], backend=backend)
    await run_polls(w, 2)
    assert w.daemon.metrics.registry.get_sample_value("watchdog_connector_backoff_step", {"cluster": CLUSTER, "connector": "short-lived"}) == 0
    w.simulator.delete_connector(sim_cluster(backend), "short-lived")
    await run_polls(w, 1)
    assert w.daemon.metrics.registry.get_sample_value("watchdog_connector_backoff_step", {"cluster": CLUSTER, "connector": "short-lived"}) is None
    # Its state outlives it for state.forget_vanished_after (issue 12, item 14), then goes.
    assert ConnectorKey(CLUSTER, "short-lived") in dict(w.daemon.state.items())
    w.clock.advance(w.daemon.config.state.forget_vanished_after)
    await run_polls(w, 1)
    await w.daemon.engine.forget_vanished()
    assert ConnectorKey(CLUSTER, "short-lived") not in dict(w.daemon.state.items())
    assert ConnectorKey(CLUSTER, "stays") in dict(w.daemon.state.items())


async def test_a_connector_deleted_and_created_again_under_its_name_keeps_its_budget() -> None:
    # Said which (docs/configuration.md, the runbook's WatchdogConnectorGaveUp): a name's backoff,
    # budget and gave-up flag stay for state.forget_vanished_after after it leaves the listing,
    # whatever the new connector's lcc- id: a listing that left it out a while cannot be told from a
    # deletion on Kafka Connect, and a fresh budget per re-creation would let a tool that re-creates
    # a failing connector restart it without end. A restart by name still goes at once.
    hopeless = {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}
    w = world([{"name": "orders", "id": "lcc-old001", "script": hopeless}], [status_rule(max_restarts=1)])
    await run_polls(w, 20)
    assert len(restart_times(w, "orders")) == 1
    w.simulator.delete_connector(CLUSTER_ID, "orders")
    await run_polls(w, 5)
    w.simulator.add_connector(CLUSTER_ID, {"name": "orders", "id": "lcc-new001", "script": hopeless})
    await run_polls(w, 60)
    assert len(restart_times(w, "orders")) == 1, "the connector created again was restarted on a fresh budget"
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="orders") == 1
    key = ConnectorKey(CLUSTER, "orders")
    asked = w.daemon.engine.on_request(key, w.daemon.engine.statuses[key], trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                       reason="operator")
    assert asked.decision is Decision.RESTART, asked.detail
    await w.daemon.queue.join()
    assert len(restart_times(w, "orders")) == 2


def connector_series(w: World, connector: str) -> dict[tuple[str, str | None], float]:
    return {(s.name, s.labels.get("outcome")): s.value for metric in w.daemon.metrics.registry.collect()
            for s in metric.samples if s.labels.get("connector") == connector and not s.name.endswith("_created")}


async def test_a_connector_deleted_while_its_restart_waits_leaves_no_series_for_good(backend: str) -> None:
    connectors = [{"name": "doomed", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    w = in_process(sim_scenario(connectors, backend, restart={"delay_seconds": 2}),
                   daemon_config([status_rule()], backend=backend, rate_limit={"max_requests_per_second": 10000}),
                   fake_time=True, rng=0.5)
    poll = w.daemon.pollers[CLUSTER].poll
    for _ in range(2):  # confirm_polls: 2; the queue is not running yet, so the restart waits
        await poll()
        w.clock.advance(1)
    assert w.daemon.queue.is_pending(ConnectorKey(CLUSTER, "doomed"))
    w.simulator.delete_connector(sim_cluster(backend), "doomed")
    await poll()  # a listing that empties the cluster is believed once the next confirms it (triggers/emptied.py)
    await poll()

    # Its end is still to be counted. Only `accepted` waits at 0 (a connector a glob found has the
    # series of the outcomes it meets, not 15 at 0 for good); `dropped` comes with its count (the
    # latest listing no longer shows it: not sent, where it was once answered not_found).
    assert connector_series(w, "doomed")[("watchdog_restarts_total", "accepted")] == 0
    assert ("watchdog_restarts_total", "dropped") not in connector_series(w, "doomed")
    w.daemon.queue.start()
    await w.daemon.queue.join()
    assert connector_series(w, "doomed")[("watchdog_restarts_total", "dropped")] == 1
    assert ("watchdog_restarts_total", "not_found") not in connector_series(w, "doomed")

    await poll()
    await w.daemon.engine.forget_vanished()  # the hourly sweep
    # Before, its series were made again by the restart's end and stayed for good: one set per
    # connector deleted while a restart of it waited.
    assert connector_series(w, "doomed") == {}


async def test_a_long_running_daemon_keeps_only_its_latest_finished_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every finished job (with its evidence) was kept for the life of the process: a connector
    # that keeps failing grew the daemon by one job per restart, for good.
    monkeypatch.setattr(recorder, "FINISHED_KEPT", 3)
    w = world([{"name": "flaky", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}],
              [status_rule(backoff={"base": 1, "cap": 2, "jitter": 0.1}, max_restarts=100)])
    await run_polls(w, 60)
    restarts = len(restart_times(w, "flaky"))
    assert restarts >= 10
    assert len(w.daemon.recorder.finished_jobs) < 2 * 3
    assert w.daemon.recorder.outcomes[Outcome.ACCEPTED] == restarts, "every outcome is still counted"


async def test_a_finished_restart_keeps_its_evidence_in_the_history_not_in_memory() -> None:
    # The failure evidence (up to 4 KB of trace per task and the connector) stayed with every
    # finished job the daemon remembers, for the latest 10,000 jobs and every request the API still
    # answers for: hundreds of megabytes for a fleet that keeps failing.
    trace = "org.apache.kafka.connect.errors.ConnectException: sink down\n" + "\tat x.y.Z.method(Z.java:1)\n" * 400
    w = world([{"name": "flaky", "tasks": 4, "script": {"initial": "FAILED", "recover_after_restarts": "never",
                                                          "refail_after": 1, "trace": trace}}],
              [status_rule(backoff={"base": 1, "cap": 2, "jitter": 0.1}, max_restarts=100)])
    await run_polls(w, 30)
    finished = w.daemon.recorder.finished_jobs
    assert len(finished) >= 5
    history = w.daemon.state.history(cluster=CLUSTER, connector="flaky")
    assert len(history) == len(finished) and all("sink down" in r.evidence["trace"] for r in history if r.evidence)
    assert sum(1 for r in history if r.evidence) == len(finished), "each restart's history keeps the trace it erased"
    assert [job.evidence for job in finished] == [None] * len(finished)


@pytest.mark.parametrize(("status", "headers"), [(429, {"Retry-After": "1"}), (503, {})])
async def test_a_scheduled_run_whose_listing_fails_once_lists_again_and_restarts(
    status: int, headers: dict[str, str]
) -> None:
    # The key is shared with the polls and the discovery that wake at the same time: one 429 on
    # the run's listing skipped the cluster's whole scheduled run (scheduled_restart_skipped), its
    # restarts lost until the next night.
    faults = [{"match": {"endpoint": "list"}, "when": {"count": 1}, "action": {"status": status, "headers": headers}}]
    schedule = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["a"]}}
    w = world([{"name": "a"}], [schedule], scenario=sim_scenario([{"name": "a"}], faults=faults))
    with capture_logs() as logs:
        await asyncio.wait_for(w.daemon.run_schedule_rule("nightly"), 10)
        await asyncio.wait_for(w.daemon.queue.join(), 10)
    assert [c.connector for c in w.simulator.restarts()] == ["a"]
    assert [e["event"] for e in logs if e["event"].startswith("scheduled_")] == ["scheduled_listing_retried"]


async def test_a_scheduled_run_refused_its_listing_for_good_is_skipped_at_once() -> None:
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 401}}]
    schedule = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["a"]}}
    w = in_process(sim_scenario([{"name": "a"}], faults=faults), daemon_config([schedule]))
    with capture_logs() as logs:
        await asyncio.wait_for(w.daemon.run_schedule_rule("nightly"), 5)
    assert w.simulator.restarts() == []
    (skipped,) = [e for e in logs if e["event"].startswith("scheduled_")]
    assert skipped["event"] == "scheduled_restart_skipped" and "unauthorized" in skipped["reason"], skipped


async def test_schedule_rule_restarts_running_connectors_and_skips_refusing_states() -> None:
    connectors = [{"name": "a"}, {"name": "b", "script": {"initial": "PAUSED"}}, {"name": "c", "script": {"initial": "PROVISIONING"}}]
    schedule = {"name": "nightly", "trigger": {"type": "schedule", "interval": 3600}, "select": {"connectors": ["a", "b", "c", "gone"]}}
    w = world(connectors, [schedule])
    await w.daemon.run_schedule_rule("nightly")
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.restarts()] == ["a"]
    decisions = {d: w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="nightly", trigger="schedule", decision=d)
                 for d in ("restart", "transient", "missing")}
    assert decisions == {"restart": 1, "transient": 2, "missing": 1}


@pytest.mark.parametrize(("fault", "code"), [(None, 0), ({"status": 500}, 1)])
async def test_once_exits_non_zero_when_a_restart_failed(fault: dict[str, Any] | None, code: int) -> None:
    connectors = [{"name": "a"}]
    faults = [{"match": {"endpoint": "restart"}, "action": fault}] if fault else []
    schedule = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["a"]}}
    w = in_process(sim_scenario(connectors, faults=faults), daemon_config([schedule], rate_limit={"backoff": {"base": 0.01, "cap": 0.01}}))
    assert await w.daemon.run_once() == code


async def test_once_exits_non_zero_when_its_pass_was_refused_restarts_for_want_of_room() -> None:
    """`run --once` whose schedule pass selects more connectors than `queue.max_jobs_per_lane`
    lets wait (a nightly CronJob over a large cluster): those past the cap are refused
    `queue_full`, never sent. It exited 0, as if every restart had been made (6 of 20 were);
    nobody saw those accepted, so it exits 1, and its `stopped` line says how many."""
    connectors = [{"name": f"c{i}"} for i in range(20)]
    schedule = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}
    w = in_process(sim_scenario(connectors), daemon_config([schedule], queue={"max_jobs_per_lane": 5}))
    with capture_logs() as logs:
        code = await w.daemon.run_once()
    sent = len(w.simulator.restarts())
    refused = w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="nightly", trigger="schedule",
                       decision="queue_full")
    assert sent < 20 and refused == 20 - sent
    assert code == 1
    assert [e.get("queue_full") for e in logs if e["event"] == "stopped"] == [20 - sent]


async def test_a_credential_sent_over_plain_http_is_warned_about_once_at_start() -> None:
    import structlog

    w = world([{"name": "a"}], [status_rule()])  # the simulator's URL is http://
    with structlog.testing.capture_logs() as logs:
        await w.daemon.run_once()
    warnings = [e for e in logs if e["event"] == "credentials_over_plain_http"]
    assert len(warnings) == 1 and warnings[0]["settings"] == ["api.base_url"]


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"])
def test_credentials_sent_to_a_loopback_address_are_not_warned_about(host: str) -> None:
    # README's first command (the demo, its simulator on 127.0.0.1) opened on a warning to use
    # https://, as does a TLS sidecar or a port-forward in the pod: nothing crosses a network.
    assert daemon_config([status_rule()], base_url=f"http://{host}").plaintext_credential_urls() == []
    assert daemon_config([status_rule()], base_url="http://127.0.0.1.example.com").plaintext_credential_urls() != []


@pytest.mark.parametrize("where", ["global", "rule"])
async def test_run_once_in_dry_run_says_so_before_its_first_decision(where: str) -> None:
    # `run --once --dry-run`, README's way to see a schedule's pass first: its log had no
    # `dry_run` line (start() alone said it), only `decision: restart` lines and, per restart,
    # `dry_run: true`. It is said once, before anything is decided, as at a daemon's start; a
    # rule on trial is named (before: no line at all, even at a start).
    import structlog

    schedule = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["a"]},
                "dry_run": where == "rule"}
    w = in_process(sim_scenario([{"name": "a"}]), daemon_config([schedule], dry_run=where == "global"))
    with structlog.testing.capture_logs() as logs:
        assert await w.daemon.run_once() == 0
    events = [e["event"] for e in logs]
    assert events.count("dry_run") == 1 and events.index("dry_run") < events.index("decision"), events
    (said,) = [e for e in logs if e["event"] == "dry_run"]
    assert said.get("rules") == (["nightly"] if where == "rule" else None)
    assert w.simulator.restarts(accepted_only=False) == []


async def test_the_daemon_says_once_at_start_which_variables_it_ignores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_IMAGE_TAG", "v1")
    w = world([{"name": "a"}], [status_rule()])
    import structlog

    with structlog.testing.capture_logs() as logs:
        await w.daemon.run_once()
    ignored = [e for e in logs if e["event"] == "environment_variables_ignored"]
    assert len(ignored) == 1 and ignored[0]["variables"] == ["WATCHDOG_IMAGE_TAG"]
