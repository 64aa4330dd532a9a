"""A connector PAUSED while its task is FAILED: every trigger refuses it (transient), and the words
say what brings it back. They said "resume it, and it starts again without a restart", false on
real Kafka Connect 4.3.1 workers: after the resume the task stayed FAILED (+5, +10, +15 s) until
a restart with onlyFailed=true (a probe, 2026-12-06). An operator with only an alert rule or
restarts by name who followed it was left with a FAILED task."""

from __future__ import annotations

from typing import Any

import httpx
from structlog.testing import capture_logs

from watchdog.server import create_app

from .support import CLUSTER, daemon_config, in_process, sim_scenario
from .test_api import AUTH, RULES, TOKEN


def _paused(name: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": {"name": name, "type": "sink", "connector": {"state": "PAUSED", "worker_id": "w"},
                       "tasks": tasks}}


async def test_a_paused_connector_whose_task_failed_is_told_to_be_resumed_then_restarted() -> None:
    connectors = [{"name": "paused-failed"}, {"name": "paused-ok"}]
    body = {"paused-failed": _paused("paused-failed", [{"id": 0, "state": "FAILED", "worker_id": "w"},
                                                       {"id": 1, "state": "PAUSED", "worker_id": "w"}]),
            "paused-ok": _paused("paused-ok", [{"id": 0, "state": "PAUSED", "worker_id": "w"}])}
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": body}}]
    w = in_process(sim_scenario(connectors, faults=faults), daemon_config(RULES, token=TOKEN), fake_time=True)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    w.daemon.queue.start()
    try:
        with capture_logs() as logs:
            await w.daemon.pollers[CLUSTER].poll()
            answers = {}
            for name in ("paused-failed", "paused-ok"):
                response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": name}, headers=AUTH)
                assert response.status_code == 202, response.text
                answers[name] = response.json()
            await w.daemon.queue.join()
    finally:
        await w.daemon.queue.close(1.0)
        await http.aclose()

    advice = "it is PAUSED with task 0 FAILED: resume it, then restart it (its FAILED tasks stay FAILED after a resume)"
    assert (answers["paused-failed"]["decision"], answers["paused-failed"]["detail"]) == ("transient", advice)
    # Paused with no task failed, a resume does bring it back: those words stay.
    assert answers["paused-ok"]["detail"] == "it is PAUSED: resume it, and it starts again without a restart"
    # The status rule's decision line says the same of it.
    said = [e["detail"] for e in logs if e["event"] == "decision" and e["connector"] == "paused-failed"]
    assert said and all(detail == advice for detail in said), said
    assert w.simulator.restarts() == []
