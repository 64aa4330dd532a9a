"""GET /v1/restarts/{id}: what the daemon remembers of each request, per trigger, so that alert
and poll traffic cannot push a restart asked for through the API out of memory."""

from __future__ import annotations

import pytest

from watchdog.engine import core

from .support import CLUSTER
from .test_api import AUTH, alert, payload, polled, world


async def test_alert_and_poll_traffic_does_not_evict_a_restart_asked_for_through_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "REQUEST_MEMORY", 20)  # 10,000 in production: the same story, smaller
    w, http = world()
    await polled(w)
    asked = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "billing-sink"}, headers=AUTH)
    assert asked.status_code == 202
    request_id = asked.json()["id"]
    # Three webhooks of 30 alerts each (one restart, then duplicates and backoff refusals), and
    # ten polls of three watched connectors: 120 decisions, each remembered under its trigger.
    webhook_ids: list[str] = []
    for round_ in range(3):
        alerts = [alert(fingerprint=f"fp-{round_}-{i}") for i in range(30)]
        answer = await http.post("/v1/alertmanager", json=payload(*alerts), headers=AUTH)
        assert answer.status_code == 200
        webhook_ids += [a["request_id"] for a in answer.json()["alerts"]]
    for _ in range(10):
        await w.daemon.pollers[CLUSTER].poll()
    followed = await http.get(f"/v1/restarts/{request_id}", headers=AUTH)
    assert followed.status_code == 200, followed.text
    assert followed.json()["connector"] == "billing-sink" and followed.json()["trigger"] == "manual"
    # Each trigger's memory stays bounded: the newest alert is known, the oldest forgotten.
    assert (await http.get(f"/v1/restarts/{webhook_ids[-1]}", headers=AUTH)).status_code == 200
    assert (await http.get(f"/v1/restarts/{webhook_ids[0]}", headers=AUTH)).status_code == 404
    assert len(w.daemon.engine.requests) <= 3 * 20  # manual, alert and status
