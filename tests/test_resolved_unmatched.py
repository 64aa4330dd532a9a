"""A resolution of an alert that never matched anything (a connector no listing showed, of which
nothing is recorded) is what its firing side was: `unmatched`, counted so. Answered and counted
`resolved`, it said something was cleared of a connector the daemon never knew (9 `resolved`
after 2 real and 7 unmatched resolutions, in a probe). Still a 200: nothing to send again."""

from __future__ import annotations

import structlog

from .support import CLUSTER, World
from .test_api import AUTH, alert, payload, polled, world


def _count(w: World, result: str) -> float | None:
    return w.daemon.metrics.registry.get_sample_value("watchdog_webhook_alerts_total", {"result": result})


async def test_the_resolution_of_an_alert_for_a_connector_never_known_is_unmatched_not_resolved() -> None:
    w, http = world()
    await polled(w)
    fired = await http.post("/v1/alertmanager", json=payload(alert(connector="never-fired")), headers=AUTH)
    assert fired.json()["alerts"][0]["result"] == "unmatched"
    with structlog.testing.capture_logs() as logs:
        response = await http.post("/v1/alertmanager", json=payload(alert("resolved", connector="never-fired"),
                                                                     status="resolved"), headers=AUTH)
    assert response.status_code == 200
    assert response.json()["alerts"] == [{
        "fingerprint": "fp1", "status": "resolved", "result": "unmatched", "rule": None, "cluster": None,
        "connector": None, "decision": None, "request_id": None,
        "detail": f"connector 'never-fired' was not found in cluster '{CLUSTER}' at the last listing, and nothing is recorded "
                  "of it: this resolution cleared nothing"}]
    assert _count(w, "resolved") == 0 and _count(w, "unmatched") == 2
    # The firing side was warned about; its resolution is not warned about again.
    assert not [e for e in logs if e["event"] == "webhook_alerts_unmatched"]


async def test_the_resolution_of_an_alert_that_fired_for_a_listed_connector_is_still_resolved() -> None:
    w, http = world()
    await polled(w)
    await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    await w.daemon.queue.join()
    response = await http.post("/v1/alertmanager", json=payload(alert("resolved"), status="resolved"), headers=AUTH)
    assert response.json()["alerts"][0]["result"] == "resolved"
    assert _count(w, "resolved") == 1 and _count(w, "unmatched") == 0


async def test_a_resolution_before_any_listing_still_clears_what_it_can_as_resolved() -> None:
    # A daemon just started has listed nothing: whether the connector exists is not known, and
    # its resolution must still end the signal its name awaits (docs/alerts-and-api.md).
    w, http = world()
    response = await http.post("/v1/alertmanager", json=payload(alert("resolved", connector="never-fired"),
                                                                 status="resolved"), headers=AUTH)
    assert response.status_code == 200 and response.json()["alerts"][0]["result"] == "resolved"
