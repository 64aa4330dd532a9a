"""An alert's connector label that is one connector's lcc- id and another connector's name.

In prod, `orders-sink` has the id lcc-bbb and another connector is *called* `lcc-bbb` (id lcc-ccc).
Taken as the id first, the alert {cluster=prod, connector=lcc-bbb} restarted orders-sink, said
nowhere, while `watchdog restart prod lcc-bbb` and POST /v1/restarts restart the connector of that
name (a probe, 2026-12-06).
"""

from __future__ import annotations

from typing import Any

import httpx

from watchdog.server import create_app

from .support import CLUSTER, World, daemon_config, in_process, sim_scenario
from .test_api import AUTH, RULES, TOKEN, alert, payload

CONNECTORS = [{"name": "orders-sink", "id": "lcc-bbb"}, {"name": "lcc-bbb", "id": "lcc-ccc"}]


async def listed_world() -> tuple[World, httpx.AsyncClient]:
    w = in_process(sim_scenario(CONNECTORS), daemon_config([RULES[1]], token=TOKEN))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].list()
    return w, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


def labelled(connector: str, fingerprint: str, *, cluster: bool = True) -> dict[str, Any]:
    sent = alert(connector=connector, fingerprint=fingerprint)
    if not cluster:
        sent["labels"] = {"alertname": "ConnectorStalled", "connector": connector}
    return sent


async def test_with_a_cluster_label_the_connector_of_that_name_is_restarted_as_by_the_api() -> None:
    w, http = await listed_world()
    answer = (await http.post("/v1/alertmanager", json=payload(labelled("lcc-bbb", "fp1")), headers=AUTH)).json()["alerts"][0]
    await w.daemon.queue.join()
    # Before: "orders-sink", the connector whose id is lcc-bbb.
    assert (answer["result"], answer["cluster"], answer["connector"]) == ("restart_requested", CLUSTER, "lcc-bbb")
    assert [c.connector for c in w.simulator.restarts()] == ["lcc-bbb"]
    # The API takes the same string for the same connector: it was restarted moments ago.
    api = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "lcc-bbb"}, headers=AUTH)
    assert api.json()["connector"] == "lcc-bbb"
    # An id no connector is named after still names its connector, with the cluster label too.
    by_id = (await http.post("/v1/alertmanager", json=payload(labelled("lcc-ccc", "fp2")), headers=AUTH)).json()["alerts"][0]
    assert by_id["connector"] == "lcc-bbb"
    await w.daemon.queue.join()


async def test_without_a_cluster_label_a_value_that_is_an_id_and_a_name_is_refused_naming_both() -> None:
    w, http = await listed_world()
    answer = (await http.post("/v1/alertmanager", json=payload(labelled("lcc-bbb", "fp1", cluster=False)),
                              headers=AUTH)).json()["alerts"][0]
    await w.daemon.queue.join()
    # Before: restart_requested, orders-sink.
    assert (answer["result"], answer["detail"]) == (
        "unmatched", "'lcc-bbb' is both the lcc- id of prod/orders-sink and the name of prod/lcc-bbb: give the alert "
                     "the cluster label 'kafka_cluster_id' (the name in that cluster is meant)")
    assert w.simulator.restarts() == []
    # An id that is nobody's name is taken as before.
    by_id = (await http.post("/v1/alertmanager", json=payload(labelled("lcc-ccc", "fp2", cluster=False)),
                             headers=AUTH)).json()["alerts"][0]
    await w.daemon.queue.join()
    assert (by_id["result"], by_id["connector"]) == ("restart_requested", "lcc-bbb")
