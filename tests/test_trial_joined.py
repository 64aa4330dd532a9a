"""A rule on trial (dry_run) and a live rule on the same connector: a live restart that joins the
trial's queued dry-run restart goes out, counted under the live rule alone."""

from __future__ import annotations

from datetime import timedelta

import httpx

from watchdog.model import ConnectorKey
from watchdog.server import create_app

from .support import CLUSTER, daemon_config, in_process, sim_scenario
from .test_api import AUTH, TOKEN, alert, payload

TRIAL = {"name": "heal", "dry_run": True, "trigger": {"type": "status", "confirm_polls": 1},
         "select": {"include": ["*"]}, "backoff": {"base": 3600, "cap": 3600, "jitter": 0}}
LIVE = {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled"},
                                        "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
        "select": {"include": ["*"]}, "backoff": {"base": 60, "cap": 600, "jitter": 0}}


async def test_a_live_alert_joining_a_dry_run_restart_is_paced_by_the_live_rule() -> None:
    # The status rule on trial queued its dry-run restart of orders-sink; a live alert rule's
    # alert joined it, so the restart went out. Its attempt was counted under the rule on trial:
    # the live rule's next restart was held for the trial's hour-long backoff, not its own minute.
    failing = {"name": "orders-sink", "id": "lcc-orders1", "script": {"initial": "FAILED", "recover_after_restarts": 1}}
    w = in_process(sim_scenario([failing]), daemon_config([TRIAL, LIVE], token=TOKEN))
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "orders-sink")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(daemon.metrics.registry, daemon.probes,
                                                                          daemon.api_context())), base_url="http://d")
    await daemon.pollers[CLUSTER].poll()
    assert daemon.queue.is_pending(key), "the trial's dry-run restart, queued"
    response = await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    assert response.status_code == 200, response.text
    daemon.queue.start()
    await daemon.queue.join()
    await daemon.queue.close(0)
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"]
    state = daemon.state.load(key)
    assert state.last_restart_at is not None and state.next_allowed_at is not None
    assert state.next_allowed_at - state.last_restart_at <= timedelta(seconds=600), "the live rule's backoff (cap 600 s)"


async def test_a_rule_on_trial_keeps_its_cadence_beside_a_live_rule_polling_the_connector() -> None:
    # Each decision of the live status rule (a healthy poll's too) dropped the trial's view of the
    # connector: the alert rule on trial, its alert sent again every second, showed a dry-run
    # restart at every poll, each its first, and never gave up, where live it restarts three
    # times (gaps 4 s, then 12 s) and gives up. Nothing was sent either way.
    healthy = {"name": "orders-sink", "id": "lcc-orders1"}
    live = {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1}, "select": {"include": ["*"]}}
    trial = {**LIVE, "dry_run": True, "max_restarts": 3, "backoff": {"base": 2, "cap": 600, "jitter": 0}}
    w = in_process(sim_scenario([healthy]), daemon_config([live, trial], token=TOKEN), fake_time=True)
    assert w.clock is not None
    daemon = w.daemon
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(daemon.metrics.registry, daemon.probes,
                                                                          daemon.api_context())), base_url="http://d")
    daemon.queue.start()
    answers: list[tuple[int, str]] = []
    for second in range(40):
        if second % 5 == 0:
            await daemon.pollers[CLUSTER].poll()
        response = await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
        answers.append((second, response.json()["alerts"][0]["decision"]))
        await daemon.queue.join()
        w.clock.advance(1)
    await daemon.queue.close(0)
    restarted = [second for second, decision in answers if decision == "restart"]
    assert restarted == [0, 4, 16], answers
    assert {decision for second, decision in answers if second > 16} == {"budget_spent"}, answers
    assert w.simulator.restarts() == [], "a rule on trial sends nothing"
    assert daemon.state.load(ConnectorKey(CLUSTER, "orders-sink")).attempts == 0, "nor spends the live budget"
