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
