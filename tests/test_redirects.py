"""Redirects (issue 11, item 10): Confluent's compatibility policy says clients must follow 301
and 307. Followed and counted; an API key never goes to another host."""

from __future__ import annotations

from structlog.testing import capture_logs

from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, sim_scenario
from .test_daemon import restart_times, run_polls, status_rule, world
from .test_stall_real_shapes import STALL_AT, restarts, run
from .test_stall_real_shapes import world as stall_world

LIST_PATH = f"/connect/v1/environments/{ENVIRONMENT}/clusters/{CLUSTER_ID}/connectors?expand=info,status,id"


async def test_a_poll_answered_with_a_redirect_follows_it() -> None:
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    faults = [{"match": {"endpoint": "list"}, "when": {"count": 2},
               "action": {"status": 307, "headers": {"Location": LIST_PATH}}}]
    w = world(connectors, [status_rule()], scenario=sim_scenario(connectors, restart={"delay_seconds": 2}, faults=faults))

    await run_polls(w, 3)

    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 3, "a redirected poll failed"
    assert len(restart_times(w, "broken")) == 1
    assert w.sample("watchdog_api_redirects_total", credential="main", status_code="307") == 2
    redirected = [c for c in w.simulator.calls if c.fault is None and c.endpoint == "list"]
    assert all(c.api_key is not None for c in redirected), "the same host got the request without its key"


async def test_a_redirect_to_another_host_does_not_carry_the_key() -> None:
    w = stall_world([{"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}}])
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"count": 1},
                             "action": {"status": 307, "headers": {"Location": "http://mirror.example:8443/v2/metrics/cloud/query"}}}])

    with capture_logs() as logs:
        await run(w, 1800)

    followed = [c for c in w.simulator.calls if c.endpoint == "metrics_query" and c.fault is None]
    assert followed[0].api_key is None and followed[0].status_code == 401, "the key went to another host"
    assert all(c.api_key is not None for c in followed[1:])
    assert w.sample("watchdog_api_redirects_total", credential="metrics-api", status_code="307") == 1
    [event] = [e for e in logs if e["event"] == "api_redirected"]
    assert event["to"] == "http://mirror.example:8443/v2/metrics/cloud/query" and event["credentials_sent"] is False
    assert len(restarts(w, "orders-source")) == 1, "stall checks did not carry on after the redirect"
