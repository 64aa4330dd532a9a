"""A status rule's `confirm_polls` counts polls at the rule's own `interval`, however often its
cluster is polled for another rule: a cluster is polled at its rules' shortest interval
(plan.poll_intervals), and a rule written `interval: 5m, confirm_polls: 2` had its connectors
restarted 5 s after a failure was first seen whenever another rule polled the cluster every 5 s."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.config import Config
from watchdog.plan import poll_intervals
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, Clock, World, daemon_config, sim_scenario
from .test_daemon import restart_times, run_polls, status_rule, world

BACKOFF = {"base": 60, "cap": 3600, "jitter": 0.1}


def _rules(slow: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        status_rule(name="payments", trigger={"type": "status", "interval": 5, "confirm_polls": 2},
                    select={"connectors": ["payments-sink"]}, backoff=BACKOFF),
        status_rule(name="batch", trigger=slow, select={"include": ["*"]}, backoff=BACKOFF),
    ]


async def test_a_slow_rules_confirmation_is_not_cut_short_by_a_faster_rule_polling_its_cluster() -> None:
    connectors = [{"name": "payments-sink", "script": {"fail_at": 10}},
                  {"name": "nightly-export", "script": {"fail_at": 10}}]
    w = world(connectors, _rules({"type": "status", "interval": 300, "confirm_polls": 2}))
    assert poll_intervals(w.daemon.config)[CLUSTER] == 5, "the cluster is polled at the payments rule's interval"
    with capture_logs() as logs:
        await run_polls(w, 70, every=5)  # both FAILED from t = 10 s, for a minute
    # The payments rule polls every 5 s and confirms on 2 polls: restarted 5 s after first seen.
    assert restart_times(w, "payments-sink") == [15.0]
    # The batch rule asked for its failure to be seen on 2 of its polls 5 minutes apart: a
    # failure of a minute is not restarted (before: at the second poll of the cluster, 5 s).
    assert restart_times(w, "nightly-export") == [], "restarted before its rule's confirmation"
    waiting = [e for e in logs if e["event"] == "decision" and e.get("connector") == "nightly-export"
               and e["decision"] == "unconfirmed"]
    assert waiting and "300s" in waiting[0]["detail"], "the decision says what it waits for"
    # A failure that lasts the rule's interval is restarted then, at the first poll after it.
    await run_polls(w, 250, every=5)
    (restarted,) = restart_times(w, "nightly-export")
    assert 10 + 300 <= restarted <= 10 + 300 + 5


async def test_a_rule_polled_at_its_own_interval_confirms_on_its_polls_as_before() -> None:
    connectors = [{"name": "nightly-export", "script": {"fail_at": 10}}]
    w = world(connectors, [status_rule(name="batch", trigger={"type": "status", "interval": 30, "confirm_polls": 3},
                                       backoff=BACKOFF)])
    await run_polls(w, 120, every=30)
    # Seen failed at 30, 60 and 90 s: restarted at the third poll.
    assert restart_times(w, "nightly-export") == [90.0]


def _reloadable(connectors: list[dict[str, Any]], rules: list[dict[str, Any]]) -> tuple[World, dict[str, Config]]:
    """A world on fake time whose daemon reloads whatever `configs["now"]` holds then."""
    configs = {"now": daemon_config(rules, rate_limit={"max_requests_per_second": 10000})}
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario(connectors, restart={"delay_seconds": 2})),
                          clock=clock.monotonic)
    daemon = Daemon(configs["now"], transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall,
                    rng=lambda: 0.5, reload_config=lambda: configs["now"])
    daemon.queue.start()
    return World(simulator, daemon, clock), configs


@pytest.mark.parametrize("raised_to", [4, None], ids=["4", "null"])
async def test_a_reload_that_raises_max_restarts_lets_a_gave_up_connector_be_restarted_again(
        raised_to: int | None) -> None:
    # An operator raises max_restarts (or sets null) during an incident so that the watchdog
    # keeps trying: the connectors it had given up on were still refused budget_spent for good
    # (until seen healthy), the flag and WatchdogConnectorGaveUp stayed, though the rule in force
    # had budget left for them.
    failing = {"name": "orders", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}
    rule = status_rule(max_restarts=2)
    w, configs = _reloadable([failing], [rule])
    await run_polls(w, 60)
    assert len(restart_times(w, "orders")) == 2
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="orders") == 1

    configs["now"] = daemon_config([{**rule, "max_restarts": raised_to}], rate_limit={"max_requests_per_second": 10000})
    assert await w.daemon.reload("test") is True
    with capture_logs() as logs:
        await run_polls(w, 200)
    restarts = restart_times(w, "orders")
    if raised_to is None:
        assert len(restarts) > 4, "no limit: restarted by its backoff"
        assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="orders") == 0
    else:
        assert len(restarts) == raised_to, "the raised budget was not used"
        assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="orders") == 1, "spent again"
    assert all(later - earlier >= 6 for earlier, later in zip(restarts[2:], restarts[3:])), "by the backoff"
    (lifted,) = [e for e in logs if e["event"] == "gave_up_cleared"]
    assert lifted["attempts"] == 2 and lifted["max_restarts"] == raised_to
