"""What a cluster removed by a reload or by discovery leaves behind: nothing, once the restarts
queued for it have ended. Discovery adds and drops clusters all day in a large organisation and
a daemon runs for months, so every per-cluster structure is bounded by the clusters that exist
now; and a request or a listing that was on its way when its cluster went ends with a clear
answer, never a KeyError or a restart sent for a cluster the config no longer names."""

from __future__ import annotations

import asyncio

import httpx
import structlog

from watchdog.config import Config
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Decision, Trigger
from watchdog.server import create_app

from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    daemon_config,
    in_process,
    sim_scenario,
    until,
)

TOKEN = "test-token-5d1c0e2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 60, "confirm_polls": 1}, "select": {"include": ["*"]}}


def with_other(other: bool) -> Config:
    clusters = {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}}
    if other:
        clusters["other"] = {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-other1"}
    return daemon_config([HEAL], token=TOKEN, clusters=clusters)


async def test_a_restart_asked_for_while_a_reload_removes_its_cluster_is_refused_and_nothing_is_sent() -> None:
    # POST /v1/restarts lists the cluster first (its last listing is too old) and a reload removes
    # the cluster while that list call is out. The listing's answer was taken in for the removed
    # cluster, and the restart decided on it: 202, and a restart sent for a cluster the config
    # no longer names (its connectors known again for good, in the engine's maps).
    sim = sim_scenario([], latency_seconds=0.3)
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [{"name": "orders"}, {"name": "billing"}]})
    w = in_process(sim, with_other(True))
    daemon = w.daemon
    daemon._reload_config = lambda: with_other(False)
    daemon.queue.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(
        app=create_app(daemon.metrics.registry, daemon.probes, daemon.api_context())), base_url="http://daemon")
    try:
        asked = asyncio.create_task(http.post("/v1/restarts", json={"cluster": "other", "connector": "orders"}, headers=AUTH))
        await until(lambda: daemon.pollers["other"]._on_demand is not None, "the listing on its way")
        assert await daemon.reload("test") is True
        answer = await asked
        assert answer.status_code == 404, answer.text
        assert "was removed" in answer.json()["error"]
        await daemon.queue.join()
        assert [c for c in w.simulator.calls if c.endpoint == "restart"] == []
        assert [key for key in daemon.engine.statuses if key.cluster == "other"] == []
        assert daemon.engine.listed("other") is None
    finally:
        await http.aclose()
        await daemon.stop()


async def test_a_restart_decided_for_a_cluster_removed_meanwhile_is_said_and_not_queued() -> None:
    # Whatever path decides after an await (a webhook's next chunk, a stall check's verdicts, a
    # request): the cluster's route in the queue goes with it, so a restart submitted for it
    # raised KeyError (or, while a restart kept the route, was sent for a cluster not named).
    w = in_process(sim_scenario([{"name": "orders"}]), with_other(True))
    daemon = w.daemon
    daemon._reload_config = lambda: with_other(False)
    assert await daemon.reload("test") is True
    with structlog.testing.capture_logs() as logs:
        record = daemon.engine.on_request(ConnectorKey("other", "orders"), None, trigger=Trigger.MANUAL,
                                          rule=MANUAL_RULE, reason="test", known_missing=False)
    assert record.decision is Decision.MISSING and record.job is None
    assert "no longer configured" in record.detail
    assert [line["detail"] for line in logs if line["event"] == "decision"] == [record.detail]
    assert daemon.metrics.registry.get_sample_value(
        "watchdog_decisions_total", {"cluster": "other", "rule": MANUAL_RULE, "trigger": "manual", "decision": "missing"}) is None
    assert daemon.engine.requests[record.request_id] is record  # GET /v1/restarts/{id} says it
    await daemon.stop()
