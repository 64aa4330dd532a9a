"""A status rule on trial (`dry_run: true`) beside a live status rule that selects the same
connector: each acts, the live one for real and the trial in dry-run (probe of rules, finding 1).
One ownership across both let a trial placed above a live catch-all take its connector (left
FAILED, never restarted), and a trial placed below decide nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from watchdog.model import ConnectorKey, ConnectorState

from .support import CLUSTER, daemon_config, in_process, sim_scenario

_BACKOFF = {"base": 5, "cap": 10, "jitter": 0}


def _trial(name: str, connector: str) -> dict[str, Any]:
    return {"name": name, "dry_run": True, "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
            "select": {"connectors": [connector]}, "backoff": _BACKOFF}


LIVE = {"name": "heal-live", "trigger": {"type": "status", "interval": 5, "confirm_polls": 3},
        "select": {"include": ["*"]}, "backoff": _BACKOFF}


async def test_a_trial_above_and_one_below_a_live_catch_all_both_act_beside_it() -> None:
    failing = [{"name": name, "id": f"lcc-{name.split('-')[0]}", "script": {"initial": "FAILED"}}
               for name in ("orders-sink", "payments-sink")]
    rules = [_trial("trial-fast-orders", "orders-sink"), LIVE, _trial("trial-fast-payments", "payments-sink")]
    w = in_process(sim_scenario(failing), daemon_config(rules), fake_time=True)
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    decided: list[tuple[int, str, str, str]] = []
    queued: list[tuple[int, str, str, bool]] = []
    try:
        for poll in range(3):
            with structlog.testing.capture_logs() as logs:
                await daemon.pollers[CLUSTER].poll()
                await daemon.queue.join()
            decided += [(poll, e["connector"], e["rule"], e["decision"]) for e in logs if e["event"] == "decision"]
            queued += [(poll, e["connector"], e["rule"], e["dry_run"]) for e in logs if e["event"] == "restart_queued"]
            if poll == 0:
                assert w.simulator.restarts() == [], "the trials send nothing; the live rule confirms first"
                held = daemon.engine.held.get(ConnectorKey(CLUSTER, "orders-sink"))
                assert held is not None and held[0].value == "unconfirmed", "status shows the live rule's hold"
            w.clock.advance(5)
    finally:
        await daemon.queue.close(0)
    for connector, trial in (("orders-sink", "trial-fast-orders"), ("payments-sink", "trial-fast-payments")):
        assert (0, connector, trial, "restart") in decided, decided
        assert (0, connector, "heal-live", "unconfirmed") in decided, decided
        assert (0, connector, trial, True) in queued, queued
        assert (2, connector, "heal-live", "restart") in decided, decided
        assert (2, connector, "heal-live", False) in queued, queued
    assert sorted(c.connector for c in w.simulator.restarts()) == ["orders-sink", "payments-sink"], \
        "the live rule restarts both for real"
    for connector in ("orders-sink", "payments-sink"):
        assert daemon.state.load(ConnectorKey(CLUSTER, connector)).attempts == 1, "the live attempt alone is counted"


async def test_a_trial_with_budget_left_beside_a_live_rule_that_gave_up_says_so_once() -> None:
    # The live rule gave up (its state, kept across a restart of the daemon); the trial beside it
    # has restarts left: its `gave_up_cleared` is said once, not at every poll.
    failing = [{"name": "orders-sink", "id": "lcc-orders1", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    live = {**LIVE, "max_restarts": 1, "trigger": {"type": "status", "interval": 5, "confirm_polls": 1}}
    trial = {**_trial("trial-fast-orders", "orders-sink"), "max_restarts": 5}
    w = in_process(sim_scenario(failing), daemon_config([live, trial]), fake_time=True)
    assert w.clock is not None
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "orders-sink")
    given_up = ConnectorState(attempts=1, gave_up=True, last_restart_at=w.clock.wall() - timedelta(hours=1),
                              next_allowed_at=w.clock.wall() - timedelta(minutes=59))
    daemon.state.save(key, given_up)
    daemon.queue.start()
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(4):
                await daemon.pollers[CLUSTER].poll()
                await daemon.queue.join()
                w.clock.advance(5)
    finally:
        await daemon.queue.close(0)
    cleared = [e for e in logs if e["event"] == "gave_up_cleared"]
    assert [e["rule"] for e in cleared] == ["trial-fast-orders"], cleared
    assert w.simulator.restarts() == [], "the live rule gave up; the trial sends nothing"
    assert daemon.state.load(key).gave_up, "the live state stays given up"


async def test_a_live_give_up_is_paged_and_names_no_trial_beside_it() -> None:
    # The live rule gave up while a trial with restarts left selects the connector: the gauge
    # showed the trial's view (0, WatchdogConnectorGaveUp silent), and the `gave_up` line said the
    # trial "may still restart it", which a rule on trial never does (a verification of the rules
    # probe's finding 1, 2026-12-06).
    failing = [{"name": "orders-sink", "id": "lcc-orders1", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    live = {**LIVE, "max_restarts": 1, "trigger": {"type": "status", "interval": 5, "confirm_polls": 1}}
    trial = {**_trial("trial-fast-orders", "orders-sink"), "max_restarts": 5}
    w = in_process(sim_scenario(failing), daemon_config([trial, live]), fake_time=True)  # the trial above, as the probe had it
    assert w.clock is not None
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "orders-sink")
    daemon.queue.start()
    paged: list[float] = []
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(12):
                await daemon.pollers[CLUSTER].poll()
                await daemon.queue.join()
                if daemon.state.load(key).gave_up:
                    paged.append(w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="orders-sink"))
                w.clock.advance(5)
    finally:
        await daemon.queue.close(0)
    assert paged, "the live rule gave up"
    [gave_up] = [e for e in logs if e["event"] == "gave_up" and e["rule"] == "heal-live"]
    assert "trial-fast-orders" not in gave_up["note"], gave_up["note"]
    assert [e for e in logs if e["event"] == "restart_finished" and e["outcome"] == "dry_run"], "the trial restarted"
    assert set(paged) == {1.0}, f"the trial's view hid the live give-up from the page at some polls: {paged}"
