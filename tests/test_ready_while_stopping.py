"""/readyz and /healthz while the daemon stops: not Ready from the moment it refuses new work,
alive until the drain ends (docs/metrics.md)."""

from __future__ import annotations

import asyncio

import httpx

from .support import CLUSTER, daemon_config, in_process, sim_scenario, until
from .test_api import AUTH, CONNECTORS, RULES, TOKEN, alert, payload


async def test_a_stopping_daemon_says_not_ready_while_it_drains_and_stays_alive() -> None:
    # The restart on the wire takes 3 s: the stop drains for that long. Before, the leader's
    # /readyz answered 200 "ready", role leader, for the whole drain (20 s by default) while it
    # answered every webhook 503 shutting_down: a balancer that asks /readyz kept sending it
    # alerts to refuse, and the on-call engineer read "ready".
    slow = [{"match": {"endpoint": "restart"}, "action": {"delay_seconds": 3.0}}]
    w = in_process(sim_scenario(CONNECTORS, faults=slow), daemon_config(RULES, token=TOKEN, queue={"shutdown_deadline": 15}))
    await w.daemon.start()
    stopping: asyncio.Task[object] | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{w.daemon.bound_port}", timeout=10.0) as http:
            await until(lambda: w.daemon.pollers[CLUSTER].first_poll_done, "the first poll")
            ready = await http.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
            requested = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "billing-sink"}, headers=AUTH)
            assert requested.status_code == 202, requested.text
            await until(lambda: any(c.endpoint == "restart" for c in w.simulator.calls), "the restart on the wire")
            stopping = asyncio.create_task(w.daemon.stop())
            await until(lambda: w.daemon.stopping, "the stop")
            readyz = await http.get("/readyz")
            healthz = await http.get("/healthz")
            webhook = await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
            assert not stopping.done(), "the drain was over before the probes were asked"
    finally:
        await (stopping if stopping is not None else w.daemon.stop())
    assert webhook.status_code == 503 and "shutting down" in webhook.json()["error"], webhook.text
    # Its retry opens a new connection, which the Service sends to another pod: kept alive, the
    # retries came back here for the whole drain (59 in 29 s, a Kubernetes rollout probe).
    assert webhook.headers.get("connection") == "close", webhook.headers
    assert readyz.status_code == 503, readyz.text
    body = readyz.json()
    assert body["status"] == "not_ready"
    assert body["stopping"].startswith("the daemon is stopping: it takes no new webhook or restart"), body
    assert "for up to 15s (queue.shutdown_deadline)" in body["stopping"], body
    assert body["role"] == "leader", "still the leader while it drains: the body says so beside why it is not ready"
    assert healthz.status_code == 200 and healthz.json()["status"] == "ok", "a draining pod must not be killed"
