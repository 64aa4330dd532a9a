"""A redirect is followed only where it names the resource asked for (redirects.py): a restart of
`x` answered `308 Location: .../connectors/y-prod-critical/restart` restarted the healthy
`y-prod-critical`, recorded as `x`'s restart, at every poll; a connector named `..` (sent as
`%2E%2E`) redirected to the cluster's own `/restart`; a list redirected to another cluster's read
that cluster's FAILED `orders` as this one's (a world probe, 2026-12-06)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.connect import ConfluentCloudBackend
from watchdog.connect.transfer import CallLimits
from watchdog.model import Outcome

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, sim_scenario
from .test_daemon import run_polls, status_rule, world

PREFIX = f"/connect/v1/environments/{ENVIRONMENT}/clusters/{CLUSTER_ID}"
FAILING = {"name": "x", "script": {"initial": "FAILED", "recover_after_restarts": 1}}
HEALTHY = {"name": "y-prod-critical"}


def restarted(w: Any) -> list[str]:
    return [c.connector for c in w.simulator.restarts()]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_restart_redirected_to_another_connector_is_not_sent_there(status: int) -> None:
    faults = [{"match": {"endpoint": "restart", "connector": "x"},
               "action": {"status": status, "headers": {"Location": f"{PREFIX}/connectors/y-prod-critical/restart"}}}]
    connectors = [FAILING, HEALTHY]
    w = world(connectors, [status_rule()], scenario=sim_scenario(connectors, faults=faults))
    await run_polls(w, 3)
    paths = [c.connector for c in w.simulator.calls if c.endpoint == "restart"]
    assert "y-prod-critical" not in paths, "the healthy connector the redirect named was restarted"
    [record] = list(w.daemon.state.history(limit=1))
    assert record.outcome is Outcome.REJECTED
    assert "names another resource than the one asked for" in record.message
    assert f"{PREFIX}/connectors/x/restart" in record.message, record.message


async def test_a_connector_named_dot_dot_redirected_to_the_clusters_restart_is_not_sent_there() -> None:
    dots = {"name": "..", "script": {"initial": "FAILED"}}
    faults = [{"match": {"endpoint": "restart"},
               "action": {"status": 301, "headers": {"Location": f"{PREFIX}/restart"}}}]
    w = world([dots], [status_rule()], scenario=sim_scenario([dots], faults=faults))
    with capture_logs() as logs:
        await run_polls(w, 2)
    posted = [c for c in w.simulator.calls if c.endpoint != "list"]
    assert len(posted) == 1, [c.endpoint for c in posted]  # the one sent for `..`, never the cluster's
    [said] = [e for e in logs if e["event"] == "api_redirected"]
    # As sent: `..` went as `%2E%2E`; the line read `connectors/../restart`, the path avoided.
    assert said["path"] == f"{PREFIX}/connectors/%2E%2E/restart" and said["followed"] is False, said


async def test_a_list_redirected_to_another_clusters_list_fails_the_poll_and_restarts_nothing() -> None:
    here = [{"name": "orders"}]
    other = [{"name": "orders", "script": {"initial": "FAILED"}}]
    scenario = sim_scenario(here)
    scenario["environments"][0]["clusters"].append({"id": "lkc-other", "connectors": copy.deepcopy(other)})
    scenario["faults"] = [{"match": {"endpoint": "list", "cluster": CLUSTER_ID}, "action": {
        "status": 307, "headers": {"Location": f"/connect/v1/environments/{ENVIRONMENT}/clusters/lkc-other/connectors"
                                               "?expand=info,status,id"}}}]
    w = world(here, [status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 1})], scenario=scenario)
    await run_polls(w, 3)
    assert restarted(w) == [], "another cluster's FAILED connector restarted this cluster's healthy one"
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="rejected") == 3
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 0


async def test_a_list_moved_under_another_prefix_is_still_followed() -> None:
    moved = f"/v2{PREFIX}/connectors"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == moved:
            return httpx.Response(200, json={"a": {"status": {"name": "a", "connector": {"state": "RUNNING"}, "tasks": []}}})
        return httpx.Response(308, headers={"Location": moved + "?expand=info,status,id"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="https://api.example",
                             auth=(TEST_API_KEY, TEST_API_SECRET))
    result = await ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID, CallLimits()).list_connectors()
    assert result.ok and list(result.value or {}) == ["a"], result
