"""A replica that stood by and leads again (a lease flap): what it saw while it led before is the
last leader's to have seen since, and must not decide the restarts it recovers."""

from __future__ import annotations

import httpx
import structlog

from watchdog.model import ConnectorKey, Trigger

from .support import CLUSTER, daemon_config, in_process, sim_cluster, sim_scenario

RULE = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}


async def test_a_restart_recovered_on_leading_again_is_not_dropped_for_a_state_seen_before_standing_by() -> None:
    # The replica led and saw orders-sink PAUSED; it lost the lease. The other leader saw it
    # resumed and accepted a restart of it by name, then died before sending it. Leading again,
    # this replica recovered the restart and dropped it at its turn, 'transient: connector
    # PAUSED when its turn came', from its own listing of hours before: a restart answered
    # accepted, never sent.
    w = in_process(sim_scenario([{"name": "orders-sink"}]), daemon_config([RULE]))
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "orders-sink")
    w.simulator.set_state(sim_cluster(), "orders-sink", "PAUSED")
    await daemon.pollers[CLUSTER].poll()
    assert daemon.engine.statuses[key].state == "PAUSED"
    daemon.leadership.leading = False  # as the elector does when it loses the lease
    await daemon._follow("another replica took the lease over")

    # Meanwhile, the other leader: the connector resumed, a restart asked for by name, kept.
    w.simulator.set_state(sim_cluster(), "orders-sink", "RUNNING")
    other = in_process(sim_scenario([{"name": "orders-sink"}]), daemon_config([RULE]))
    await other.daemon.pollers[CLUSTER].poll()
    asked = other.daemon.engine.on_request(key, other.daemon.engine.statuses[key], trigger=Trigger.MANUAL,
                                           rule="manual", reason="operator")
    assert asked.job is not None
    (pending,) = other.daemon.state.pending()
    daemon.state.add_pending(pending.request, pending.job_id)

    daemon.leadership.leading = True  # leading again: what _lead does, without the triggers
    with structlog.testing.capture_logs() as logs:
        daemon.engine.recover(absence=None)
        daemon.queue.start()
        await daemon.queue.join()
    await daemon.queue.close(0)
    (finished,) = [e for e in logs if e["event"] == "restart_finished"]
    assert finished["outcome"] == "accepted", finished["message"]
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"]


async def test_a_restart_asked_for_right_after_leading_again_finds_its_connector() -> None:
    # Standing by, the replica forgets what its polls listed; leading again, a restart asked for
    # by name before its first poll must list the cluster, not answer 404 'not found at the last
    # listing' from a listing it no longer has (the poller still said it had listed lately).
    from watchdog.server import create_app

    from .test_api import AUTH, TOKEN
    w = in_process(sim_scenario([{"name": "orders-sink"}]), daemon_config([RULE], token=TOKEN))
    daemon = w.daemon
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(daemon.metrics.registry, daemon.probes,
                                                                          daemon.api_context())), base_url="http://d")
    await daemon.pollers[CLUSTER].poll()
    daemon.leadership.leading = False
    await daemon._follow("another replica took the lease over")
    daemon.leadership.leading = True
    daemon.engine.recover(absence=None)
    daemon.queue.start()
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"}, headers=AUTH)
    assert response.status_code == 202, response.text
    await daemon.queue.join()
    await daemon.queue.close(0)
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"]


async def test_standing_by_keeps_the_counters_of_what_the_replica_did_while_it_led() -> None:
    # docs/metrics.md: a replica that stands by clears its gauges, and its counters keep counting
    # what it did while it led; forgetting its polls' view must not take its restart series with it.
    failing = {"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": 1}}
    w = in_process(sim_scenario([failing]), daemon_config([RULE]))
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    labels = {"cluster": CLUSTER, "connector": "orders-sink", "rule": "heal", "trigger": "status", "outcome": "accepted"}
    assert w.daemon.metrics.registry.get_sample_value("watchdog_restarts_total", labels) == 1
    w.daemon.leadership.leading = False
    await w.daemon._follow("another replica took the lease over")
    assert w.daemon.metrics.registry.get_sample_value("watchdog_restarts_total", labels) == 1
    # Its gauges go (no rule names it: a replica that never led has none of it), as a deleted
    # connector's: kept at 0, they stayed for every connector it had seen (probe soak F2).
    assert w.daemon.metrics.registry.get_sample_value(
        "watchdog_connector_backoff_step", {"cluster": CLUSTER, "connector": "orders-sink"}) is None


async def test_a_restart_left_on_the_wire_by_a_replica_that_lost_the_lead_is_not_said_to_be_a_daemon_restart() -> None:
    # The leader lost the lease with a call on the wire (a database failover): the replica that
    # leads next ends it `interrupted`. Its history said 'the daemon stopped while this restart
    # was being sent', and an operator looked for a pod that had restarted; none had.
    from watchdog.model import PendingPhase

    w = in_process(sim_scenario([{"name": "orders-sink"}]), daemon_config([RULE]))
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "orders-sink")
    other = in_process(sim_scenario([{"name": "orders-sink"}]), daemon_config([RULE]))
    await other.daemon.pollers[CLUSTER].poll()
    other.daemon.engine.on_request(key, other.daemon.engine.statuses[key], trigger=Trigger.MANUAL, rule="manual",
                                   reason="operator")
    (pending,) = other.daemon.state.pending()
    daemon.state.add_pending(pending.request, pending.job_id, phase=PendingPhase.SENDING)
    daemon.engine.recover(absence=None)
    (record,) = daemon.state.history()
    assert record.outcome.value == "interrupted"
    assert "lost the lead" in record.message, record.message
