"""A connector name that differs from a listed one only in Unicode normalisation (`zürich-sink`
typed or templated as NFD, u and U+0308, where the connector was created NFC). Not matched: the
Connect API compares names exactly, and both forms can be two connectors. But said as such, both
names escaped: the "did you mean" printed back the same-looking name, and an alert's `unmatched`
said only that the connector was not found in a cluster that lists it."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from watchdog.server import create_app

from .support import CLUSTER, daemon_config, in_process, sim_scenario
from .test_api import AUTH, RULES, TOKEN, alert, payload, polled, restart_calls

NFC = "z\u00fcrich-sink"
NFD = "zu\u0308rich-sink"
NOTE = (r"'zu\u0308rich-sink' differs from the listed 'z\xfcrich-sink' only in Unicode normalisation (NFD vs NFC): "
        "connector names are matched exactly, as the Connect API matches them; use the listed name")


def _world() -> tuple[Any, httpx.AsyncClient]:
    w = in_process(sim_scenario([{"name": NFC}, {"name": "orders-sink", "id": "lcc-orders1"}]),
                   daemon_config(RULES, token=TOKEN))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    return w, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


async def test_a_restart_of_the_nfd_form_of_a_listed_name_says_how_the_two_differ() -> None:
    w, http = _world()
    await polled(w)
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": NFD}, headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == (f"connector {NFD!r} was not found in cluster {CLUSTER!r} at the last listing; "
                                        f"{NOTE}")
    assert "did you mean" not in response.json()["error"]
    assert restart_calls(w) == 0, "nothing is restarted for a name no listing showed"


async def test_an_alert_naming_the_nfd_form_is_unmatched_and_says_how_the_names_differ() -> None:
    w, http = _world()
    await polled(w)
    with structlog.testing.capture_logs() as logs:
        response = await http.post("/v1/alertmanager", json=payload(alert(connector=NFD)), headers=AUTH)
    answer = response.json()["alerts"][0]
    assert response.status_code == 200 and answer["result"] == "unmatched"
    assert answer["detail"].endswith(f"; {NOTE}")
    warning = next(e for e in logs if e["event"] == "webhook_alerts_unmatched")
    assert warning["first"][0]["detail"].endswith(f"; {NOTE}")
    await w.daemon.queue.join()
    assert restart_calls(w) == 0


async def test_a_name_listed_in_both_forms_is_each_its_own_connector() -> None:
    # Both forms can be two connectors: each is addressed exactly as listed.
    w = in_process(sim_scenario([{"name": NFC}, {"name": NFD}]), daemon_config(RULES, token=TOKEN))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    await polled(w)
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": NFD}, headers=AUTH)
    assert response.status_code == 202 and response.json()["connector"] == NFD
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.calls if c.endpoint == "restart"] == [NFD]
