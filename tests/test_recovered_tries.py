"""A restart recovered `interrupted` (its call on the wire when the daemon stopped, or when the
replica that led lost the lead) says that a call went out: `tries` 1 at least, in its
`restart_finished` line, its history record and GET /v1/restarts/{id}. It said `tries: 0`,
and a reader counting calls from the log undercounted them (an HA probe: every takeover mid-call)."""

from __future__ import annotations

import httpx
import structlog

from watchdog.model import ConnectorKey, PendingPhase, Trigger
from watchdog.server import create_app

from .support import CLUSTER, daemon_config, in_process, sim_scenario
from .test_api import AUTH, TOKEN

RULE = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}


async def test_a_restart_recovered_interrupted_counts_the_call_that_went_out() -> None:
    w = in_process(sim_scenario([{"name": "orders-sink"}]), daemon_config([RULE], token=TOKEN))
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "orders-sink")
    other = in_process(sim_scenario([{"name": "orders-sink"}]), daemon_config([RULE]))
    await other.daemon.pollers[CLUSTER].poll()
    asked = other.daemon.engine.on_request(key, other.daemon.engine.statuses[key], trigger=Trigger.MANUAL,
                                           rule="manual", reason="operator")
    assert asked.job is not None
    (pending,) = other.daemon.state.pending()
    # Its call was on the wire when the daemon that sent it stopped.
    daemon.state.add_pending(pending.request, pending.job_id, phase=PendingPhase.SENDING)
    with structlog.testing.capture_logs() as logs:
        daemon.engine.recover(absence=None)
    (finished,) = [e for e in logs if e["event"] == "restart_finished"]
    (record,) = daemon.state.history()
    app = create_app(daemon.metrics.registry, daemon.probes, daemon.api_context())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as http:
        answer = (await http.get(f"/v1/restarts/{pending.request.id}", headers=AUTH)).json()
    assert (finished["outcome"], finished["tries"]) == ("interrupted", 1)
    assert (record.outcome.value, record.tries) == ("interrupted", 1)
    assert answer["job"]["tries"] == 1, answer


async def test_a_restart_on_the_wire_for_a_cluster_this_config_does_not_name_is_interrupted_not_dropped() -> None:
    # A failover to a replica whose config names the cluster otherwise (a rollout half done): the
    # restart on the wire was recorded `dropped`, tries 0, "the daemon restarted and its cluster is
    # no longer configured", though the API had it (an HA probe, 2026-12-06).
    other = in_process(sim_scenario([{"name": "orders-sink"}]), daemon_config([RULE]))
    key = ConnectorKey(CLUSTER, "orders-sink")
    await other.daemon.pollers[CLUSTER].poll()
    other.daemon.engine.on_request(key, other.daemon.engine.statuses[key], trigger=Trigger.MANUAL,
                                   rule="manual", reason="operator")
    (sending,) = other.daemon.state.pending()
    other.daemon.engine.on_request(ConnectorKey(CLUSTER, "other-sink"), None, trigger=Trigger.MANUAL, rule="manual",
                                   reason="operator", known_missing=False)
    (queued,) = [p for p in other.daemon.state.pending() if p.job_id != sending.job_id]
    renamed = daemon_config([RULE])
    renamed.clusters["production"] = renamed.clusters.pop(CLUSTER)
    w = in_process(sim_scenario([{"name": "orders-sink"}]), renamed)
    w.daemon.state.add_pending(sending.request, sending.job_id, phase=PendingPhase.SENDING)
    w.daemon.state.add_pending(queued.request, queued.job_id)
    with structlog.testing.capture_logs() as logs:
        w.daemon.engine.recover(absence=None)
    ended = {e["connector"]: e for e in logs if e["event"] == "restart_finished"}
    assert (ended["orders-sink"]["outcome"], ended["orders-sink"]["tries"]) == ("interrupted", 1), ended
    records = {r.key.connector: r for r in w.daemon.state.history()}
    assert records["orders-sink"].outcome.value == "interrupted"
    assert "may or may not have reached the API" in records["orders-sink"].message
    assert "its cluster is no longer configured" in records["orders-sink"].message
    assert "the daemon restarted" not in records["orders-sink"].message
    assert records["other-sink"].outcome.value == "dropped"
    assert records["other-sink"].message == "the daemon restarted and its cluster is no longer configured: not sent"
