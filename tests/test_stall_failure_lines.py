"""A Metrics API that keeps failing is said when the failure starts, every few minutes while it
goes on, and when a check reads again: not `stall_check_failed` and `api_call_failed` at every
check for as long as it lasts (found 2026-12-02: 120 warnings an hour at a 60 s interval)."""

from __future__ import annotations

import pytest
import structlog

from watchdog.simulator import Scenario, Simulator
from watchdog.triggers.streak import REPEAT_EVERY_SECONDS

from .support import CLUSTER, Clock, daemon_config, sim_scenario
from .test_stalled import CONNECTORS, STALLED_RULE, _started, fleet, run, run_fleet, world

HOUR = 3600


async def test_a_metrics_api_failing_for_an_hour_logs_a_bounded_number_of_lines() -> None:
    w = world()
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"until": HOUR},
                             "action": {"status": 503}}])
    with structlog.testing.capture_logs() as logs:
        await run(w, HOUR + 180)

    failed = [c for c in w.simulator.calls if c.endpoint == "metrics_query" and c.status_code == 503]
    # Every check still asks, once: a failed query's cluster is not asked its other metrics.
    assert len(failed) >= 30 and len(failed) == len({c.t for c in failed}), "one query a check"
    warned = [e for e in logs if e["log_level"] == "warning" and e["event"] in ("stall_check_failed", "api_call_failed")]
    assert len(warned) <= 2 * 3 * (HOUR / REPEAT_EVERY_SECONDS + 1), f"{len(warned)} warnings for an hour of failed checks"
    said = [e for e in warned if e["event"] == "stall_check_failed"]
    # The first check says each metric it failed to read; later ones are repeats.
    assert len([e for e in said if "repeated" not in e]) <= 3 and any("failing_since" in e for e in said)
    [recovered] = [e for e in logs if e["event"] == "stall_check_recovered"]
    assert recovered["cluster"] == CLUSTER and recovered["failed_polls"] == len(failed), "one per failed check"
    await w.daemon.stop()



async def test_a_metrics_api_failing_is_said_once_a_check_however_many_clusters_it_checks() -> None:
    # One outage of the Metrics API (one service, one key) failed each metric's query of each
    # cluster, and each cluster's streak said every one: with 20 clusters, 120 warnings at its start
    # and again every 5 minutes (1,440 for this hour); one cluster's check said 6.
    w = fleet({f"c{i:02d}": [{"name": f"src-{i}"}, {"name": f"sink-{i}", "type": "sink"}] for i in range(20)})
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"until": HOUR + 1320},
                             "action": {"status": 503}}])
    with structlog.testing.capture_logs() as logs:
        await run_fleet(w, HOUR + 1320 + 120)  # judged from the 23rd minute (grace, windows, delay): an hour of failed checks

    failed = [c for c in w.simulator.calls if c.endpoint == "metrics_query" and c.status_code == 503]
    assert len(failed) >= 20 * 60, "every check still asks each cluster (once: its other metrics not asked)"
    warned = [e for e in logs if e["log_level"] == "warning" and e["event"] in ("stall_check_failed", "api_call_failed")]
    assert len(warned) <= 2 * (HOUR / REPEAT_EVERY_SECONDS + 1), f"{len(warned)} warnings for an hour of failed checks"
    assert [e for e in warned if e["event"] == "stall_check_failed" and "repeated" not in e] != [], "its start is said"
    assert len([e for e in logs if e["event"] == "stall_check_recovered"]) == 20, "each cluster's checks read again"
    await w.daemon.stop()

async def test_a_key_the_metrics_api_refuses_is_not_said_at_every_check() -> None:
    # A key without MetricsViewer on the cluster: every check's queries answered 403 logged
    # api_call_failed each time, 124 warnings an hour at a 60 s interval.
    w = world()
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "action": {"status": 403}}])
    with structlog.testing.capture_logs() as logs:
        await run(w, HOUR)

    refused = [c for c in w.simulator.calls if c.endpoint == "metrics_query" and c.status_code == 403]
    assert len(refused) >= 3 * 30, "every check still asks"
    warned = [e for e in logs if e["log_level"] == "warning" and e["event"] == "api_call_failed"]
    assert len(warned) <= 3 * (HOUR / REPEAT_EVERY_SECONDS + 1), f"{len(warned)} warnings for an hour of refusals"
    assert [e for e in logs if e["event"] == "stall_unjudged" and e["log_level"] == "warning"], "still seen"
    await w.daemon.stop()



async def test_the_refusals_of_a_batch_halved_to_find_them_are_said_once_a_check() -> None:
    # A key without MetricsViewer on a cluster of 20 sources and 20 sinks: each refused batch is
    # halved until its refused ids are found (2n - 1 queries a metric), and each of those queries
    # said api_call_failed at the first check and again each hour, when the refused ids go back
    # into the batches: 224 warnings in these two hours of checks, bursts of 117.
    w = world([{"name": f"src-{i:02d}"} for i in range(20)] + [{"name": f"sink-{i:02d}", "type": "sink"} for i in range(20)])
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "action": {"status": 403}}])
    with structlog.testing.capture_logs() as logs:
        await run(w, 2 * HOUR + 1200)

    refused = [c for c in w.simulator.calls if c.endpoint == "metrics_query" and c.status_code == 403]
    assert len(refused) > 3 * (2 * 20 - 1) * 3, "the batches are still halved, at the first check and each hour"
    warned = [e for e in logs if e["log_level"] == "warning" and e["event"] == "api_call_failed"]
    assert len(warned) <= 2 * HOUR / REPEAT_EVERY_SECONDS + 1, f"{len(warned)} warnings"
    assert len([e for e in logs if e["event"] == "stall_unjudged" and e["log_level"] == "warning"]) == 40
    await w.daemon.queue.abandon("the test is over")
    await w.daemon.stop()

async def test_a_replica_leading_again_does_not_report_the_metrics_api_failure_it_met_before_it_stood_by() -> None:
    w = world()
    assert w.clock is not None
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "action": {"status": 503}}])
    await run(w, 1500)  # the connectors are judged from the 23rd minute on: a few failed checks
    w.daemon.leadership.leading = False
    await w.daemon._follow("another replica took the lease over")
    w.clock.advance(2 * HOUR)
    w.simulator.set_faults([])
    w.daemon.leadership.leading = True
    with structlog.testing.capture_logs() as logs:
        for _ in range(24):  # polls again; judged again once its connectors ran the grace and three windows
            await w.daemon.pollers[CLUSTER].poll()
            await w.daemon.run_stall_check("stalled")
            w.clock.advance(60)
    assert [c for c in w.simulator.calls if c.endpoint == "metrics_query" and c.status_code == 200], "it read"
    assert [e for e in logs if e["event"] == "stall_check_recovered"] == [], "not this leader term's failure"
    await w.daemon.queue.abandon("the test is over")  # the queue does not run here: no drain to wait for
    await w.daemon.stop()


PROXY_PAGE = ("<!DOCTYPE html><html><head><title>Access Denied</title></head>"
              "<body>Your organization's policy blocks api.telemetry.confluent.cloud</body></html>")


@pytest.mark.parametrize("status", [403, 200])
async def test_a_proxys_html_page_answering_the_metrics_api_fails_the_check_and_refuses_no_id(status: int) -> None:
    # An egress proxy that blocks the Metrics API's host answers with its own HTML page. Its 403
    # was taken for the API refusing the ids: each batch halved down to single ids (2n - 1 queries
    # a metric), every connector reported `forbidden` ("the key needs MetricsViewer on it", the
    # wrong fix), and its 200 said only "unreadable response: Expecting value".
    w = world()
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"},
                             "action": {"status": status, "body": PROXY_PAGE, "headers": {"Content-Type": "text/html"}}}])
    with structlog.testing.capture_logs() as logs:
        await run(w, 1620)  # the connectors are judged from the 23rd minute on (grace, windows, delay)

    queries = [c for c in w.simulator.calls if c.endpoint == "metrics_query"]
    checks = len({c.t for c in queries})
    # One query a check: no batch split to find refused ids, and the cluster's other metrics are
    # not asked after its first query failed.
    assert checks >= 4 and len(queries) == checks, "one query a check"
    assert w.total("watchdog_stall_unjudged_total", reason="forbidden") == 0
    assert not [e for e in logs if e["event"] == "stall_unjudged"]
    [first, *_] = [e for e in logs if e["event"] == "stall_check_failed" and e["log_level"] == "warning"]
    assert first["message"] == f"answered {status} with an HTML page ('Access Denied'), not the API's answer (a proxy's page?)"
    assert w.total("watchdog_restarts_total") == 0
    await w.daemon.queue.abandon("the test is over")
    await w.daemon.stop()


@pytest.mark.parametrize(("status", "result"), [(503, "failed"), (403, "read")])
async def test_stall_checks_count_whether_they_read_the_metrics_api(status: int, result: str) -> None:
    # A Metrics API failing for good (a key revoked, a proxy blocking its host) left stall checks
    # blind with no page: polls and restarts were fine, and only logs said it.
    # WatchdogStallChecksFailing reads this count; ids refused (403) are answers read.
    w = world()
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"until": HOUR}, "action": {"status": status}}])
    await run(w, HOUR + 180)
    checks = len({c.t for c in w.simulator.calls if c.endpoint == "metrics_query"})
    answered = len({c.t for c in w.simulator.calls if c.endpoint == "metrics_query" and c.status_code == 200})
    assert answered == 3, "three checks after the fault ends"
    assert w.sample("watchdog_stall_check_reads_total", cluster=CLUSTER, result=result) >= checks - answered > 30
    expected = {"failed": checks - answered, "read": answered} if status == 503 else {"failed": 0, "read": checks}
    for counted, value in expected.items():
        assert w.sample("watchdog_stall_check_reads_total", cluster=CLUSTER, result=counted) == value, counted
    await w.daemon.queue.abandon("the test is over")
    await w.daemon.stop()


async def test_a_metrics_api_answer_past_its_deadline_names_the_metrics_api_setting() -> None:
    # A stall check's query that trickled past metrics_api.timeouts.total said "no complete answer
    # within 1s (timeouts.total)": read as api.timeouts.total, the Connect API's, which an operator
    # then raised to no effect. It names the Metrics API's own setting now.
    clock = Clock()
    scenario = sim_scenario(CONNECTORS, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    timeouts = {"connect": 1, "read": 1, "write": 1, "pool": 1, "total": 1}
    config = daemon_config([STALLED_RULE], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000,
                                                        "timeouts": timeouts},
                           rate_limit={"max_requests_per_second": 10000})
    w = _started(simulator, config, clock, None)
    await run(w, 1500)  # past the first checks' blind stretch: each check queries
    # Each byte within the 1 s read timeout: only the whole call's deadline ends it.
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "action": {"trickle_seconds": 0.2}}])
    with structlog.testing.capture_logs() as logs:
        await w.daemon.run_stall_check("stalled")
    said = [str(e) for e in logs if e["event"] in ("stall_check_failed", "api_call_failed")]
    assert said and all("(metrics_api.timeouts.total)" in line for line in said), said
    await w.daemon.stop()
