"""One `{}` list answer (legal: no connectors) for a cluster that listed 8 the poll before made all
8 vanish at once: 8 connector_vanished lines, every per-connector series dropped, so
`watchdog_connectors{health="failed"}` went to 0 and a Prometheus alert on failed connectors
resolved during a one-poll API glitch (session 70's probe, F5). Such a listing is now a failed
poll (`emptied`) said in one warning naming the cluster and how many; the connectors' state and
series are kept until the next listing confirms it. A real deletion of every connector is seen one
listing later."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from watchdog.model import ConnectorKey

from .support import CLUSTER, CLUSTER_ID, sim_scenario
from .test_daemon import run_polls, status_rule, world

FAILED = {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}
EIGHT = ([{"name": f"x{n}", "script": FAILED} for n in range(3)] + [{"name": f"ok{n}"} for n in range(5)])


def _world(faults: list[dict[str, Any]] | None = None) -> Any:
    return world(EIGHT, [status_rule(max_restarts=1)],
                 scenario=sim_scenario(EIGHT, restart={"delay_seconds": 2}, faults=faults or []))


def _failed_gauge(w: Any) -> float:
    return w.sample("watchdog_connectors", cluster=CLUSTER, health="failed")


async def test_one_empty_listing_of_a_cluster_that_had_connectors_is_said_once_and_vanishes_nothing() -> None:
    w = _world([{"match": {"endpoint": "list"}, "when": {"from": 30, "until": 31},
                 "action": {"status": 200, "body": {}}}])
    await run_polls(w, 30)
    assert _failed_gauge(w) == 3 and w.daemon.state.load(ConnectorKey(CLUSTER, "x1")).gave_up

    with capture_logs() as logs:
        await run_polls(w, 10)

    [said] = [e for e in logs if e["log_level"] == "warning"]
    assert (said["event"], said["cluster"], said["outcome"]) == ("poll_failed", CLUSTER, "emptied"), said
    assert said["message"].startswith("the answer listed none of the cluster's 8 connectors; not believed at once"), said
    assert "they vanish if the next listing is empty too" in said["message"]
    assert [e for e in logs if e["event"] == "connector_vanished"] == []
    assert _failed_gauge(w) == 3, "the failed connectors' gauge dropped during a one-poll glitch"
    assert w.daemon.metrics.registry.get_sample_value(
        "watchdog_connector_gave_up", {"cluster": CLUSTER, "connector": "x1"}) == 1, "its series were dropped"
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="emptied") == 1
    assert w.daemon.state.load(ConnectorKey(CLUSTER, "x1")).gave_up


async def test_every_connector_deleted_vanishes_one_listing_later() -> None:
    w = _world()
    await run_polls(w, 30)
    for connector in EIGHT:
        w.simulator.delete_connector(CLUSTER_ID, connector["name"])

    with capture_logs() as logs:
        await run_polls(w, 1)
        assert [e for e in logs if e["event"] == "connector_vanished"] == []
        await run_polls(w, 1)

    assert len([e for e in logs if e["event"] == "connector_vanished"]) == 8
    assert _failed_gauge(w) == 0
    assert w.daemon.metrics.registry.get_sample_value(
        "watchdog_connector_gave_up", {"cluster": CLUSTER, "connector": "x1"}) is None
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="emptied") == 1
    assert w.daemon.state.load(ConnectorKey(CLUSTER, "x1")).gave_up, "state kept for the grace, as before"
