"""A restart whose call is on the wire (phase `sending`) is shown as being sent, not as queued.

A probe (probe_restart F4) held four restart calls unanswered: /v1/connectors and `watchdog
status --daemon` said of each `held: queued`, "its restart is queued, not sent yet", and
GET /v1/restarts/{id} `tries: 0`, while the state store held them `sending`, the attempt counted.
An operator reading "not sent" restarts it by hand, or kills the daemon thinking nothing went out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from watchdog.report import places_from_json, render_status, status_rows_from_json
from watchdog.server import create_app

from .support import CLUSTER, HeldCalls, World, daemon_config, in_process, sim_scenario

TOKEN = "on-the-wire-token-7c2e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RULES = [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}]


def _http(w: World) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
        w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon")


async def test_a_restart_on_the_wire_is_said_sending_with_its_try_and_since_when() -> None:
    scenario = sim_scenario([{"name": "orders-sink"}, {"name": "billing-sink"}])
    w = in_process(scenario, daemon_config(RULES, token=TOKEN), fake_time=True)
    assert w.clock is not None
    held = HeldCalls(w, "/restart")
    w.daemon.queue.start()
    try:
        await w.daemon.pollers[CLUSTER].poll()
        async with _http(w) as http, asyncio.timeout(10):
            asked = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"}, headers=AUTH)
            assert asked.status_code == 202, asked.text
            await held.reached.wait()  # its call is on the wire, unanswered
            document: dict[str, Any] = (await http.get("/v1/connectors", headers=AUTH)).json()
            followed = (await http.get(f"/v1/restarts/{asked.json()['id']}", headers=AUTH)).json()
        rows = {row["connector"]: row for row in document["connectors"]}
        shown = rows["orders-sink"]["held"]
        assert shown is not None and shown["decision"] == "sending", shown
        assert shown["detail"] == ("its restart call is on the wire since 2026-03-01T12:00:00Z (try 1), not answered "
                                   "yet; it cannot be withdrawn now: the API may have received it"), shown
        assert rows["billing-sink"]["held"] is None
        table = render_status(status_rows_from_json(document), now=w.clock.wall(), places=places_from_json(document),
                              failing=document["polls_failing"], paused=document["polls_paused"])
        assert "held: sending" in next(line for line in table.splitlines() if "orders-sink " in line), table
        assert followed["state"] == "pending" and followed["job"]["outcome"] is None, followed
        assert followed["job"]["tries"] == 1, followed  # the try in progress counts (before: 0)
        assert "its restart call is on the wire since 2026-03-01T12:00:00Z (try 1)" in followed["job"]["message"]
    finally:
        held.release()
        await w.daemon.queue.join()
        await w.daemon.queue.close(1.0)
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"]
