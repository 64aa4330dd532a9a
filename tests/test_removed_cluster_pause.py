"""A restart asked for by name is kept when a reload removes its cluster, and is still sent
once the 429 pause of its API key ends. While it waits, GET /v1/restarts/{id} and `watchdog
status --daemon` must go on saying why, and must not say that nothing restarts the cluster's
connectors (probe_races F4: the pause was read through the removed cluster's poller, gone with
the reload, so the job read a bare `pending`, and the status heading said no restart would come)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from watchdog.report import places_from_json, render_status, status_rows_from_json
from watchdog.server import create_app

from .support import in_process, sim_scenario, until
from .test_removed_clusters import AUTH, with_other


async def test_a_restart_kept_after_its_cluster_was_removed_still_says_it_waits_out_the_pause() -> None:
    faults = [{"match": {"endpoint": "restart", "connector": "orders"}, "when": {"count": 1},
               "action": {"status": 429, "headers": {"Retry-After": "30"}}}]
    sim = sim_scenario([], faults=faults)
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [{"name": "orders"}]})
    w = in_process(sim, with_other(True))
    daemon = w.daemon
    daemon._reload_config = lambda: with_other(False)
    daemon.queue.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(
        app=create_app(daemon.metrics.registry, daemon.probes, daemon.api_context())), base_url="http://daemon")
    try:
        asked = await http.post("/v1/restarts", json={"cluster": "other", "connector": "orders"}, headers=AUTH)
        assert asked.status_code == 202, asked.text
        await until(lambda: any(call.status_code == 429 for call in w.simulator.calls), "the 429")
        assert await daemon.reload("test") is True
        assert "other" not in daemon.pollers and daemon.queue.depth() == 1  # kept, as restarts by name are
        followed = (await http.get(f"/v1/restarts/{asked.json()['id']}", headers=AUTH)).json()
        # Before: state pending, message '' (the pause read through the removed cluster's poller).
        assert followed["state"] == "pending", followed
        message = followed["job"]["message"]
        assert message.startswith("waiting: every call of its API key is paused for "), followed
        assert 25 <= int(message.split("paused for ")[1].split(" s more")[0]) <= 40, followed  # 30 s, and a jitter

        document = {"connectors": daemon.connector_rows()}
        row = next(r for r in document["connectors"] if r["connector"] == "orders")
        assert row["cluster_unwatched"] is True, row
        table = render_status(status_rows_from_json(document), now=datetime.now(UTC),
                              places=places_from_json(document))
        held = next(line for line in table.splitlines() if line.strip().startswith("other/orders: queued"))
        assert "every call of its API key is paused for " in held, table  # before: no word of the pause
        cluster = next(line for line in table.splitlines() if line.strip().startswith("CLUSTER other"))
        # Before: only the group heading's "nothing polls or restarts their connectors".
        assert cluster.endswith(": 1 queued restart still sent (see Held below)"), table
    finally:
        await http.aclose()
        daemon.hurry()  # the restart waits 30 s: ends unsent now
        await asyncio.wait_for(daemon.stop(), 15)


async def test_a_rules_restart_queued_when_a_reload_removes_its_cluster_is_said_to_be_dropped_not_still_sent() -> None:
    # The rule's restart (not one asked for by name) waits out a 429 when a reload removes its
    # cluster: at its turn it ends `dropped`, not sent. Status said "1 queued restart still sent"
    # of it, under a heading saying a restart queued before is still sent (verification of F4).
    faults = [{"match": {"endpoint": "restart", "connector": "orders"}, "when": {"count": 1},
               "action": {"status": 429, "headers": {"Retry-After": "30"}}}]
    sim = sim_scenario([], faults=faults)
    sim["environments"][0]["clusters"].append(
        {"id": "lkc-other1", "connectors": [{"name": "orders", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]})
    w = in_process(sim, with_other(True))
    daemon = w.daemon
    daemon._reload_config = lambda: with_other(False)
    daemon.queue.start()
    try:
        await daemon.pollers["other"].poll()
        await until(lambda: any(call.status_code == 429 for call in w.simulator.calls), "the 429")
        assert await daemon.reload("test") is True
        assert daemon.queue.depth() == 1  # still queued: dropped only at its turn

        document = {"connectors": daemon.connector_rows()}
        row = next(r for r in document["connectors"] if r["connector"] == "orders")
        assert row["held"]["decision"] == "to be dropped", row  # before: "queued", waiting out the pause
        assert "its cluster other is no longer configured" in row["held"]["detail"], row
        table = render_status(status_rows_from_json(document), now=datetime.now(UTC), places=places_from_json(document))
        assert "still sent" not in next(line for line in table.splitlines() if line.strip().startswith("CLUSTER other")), table
        assert "other/orders: to be dropped (" in table, table
    finally:
        daemon.hurry()
        await asyncio.wait_for(daemon.stop(), 15)
