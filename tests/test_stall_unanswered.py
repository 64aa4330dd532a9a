"""A Metrics API that does not answer (timeouts, refused or reset connections) costs a stall check
one query per cluster at most, and stops the check once two clusters in a row got no answer: each
such query waits `metrics_api.timeouts.total` (30 s), and a check that made every query of 10
clusters (3 metrics each) took ~15 minutes, the checks due meanwhile skipped. The clusters not
asked count a failed read; the first check that reads again catches the span up (stall.catch_up)."""

from __future__ import annotations

import structlog

from .support import World
from .test_stalled import STALL_AT, fleet, run_fleet

OUTAGE = (1380, 1920)  # the Metrics API answers nothing for nine checks, from just before the stall shows


def _world() -> World:
    return fleet({
        "c0": [{"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}},
               {"name": "steady-source", "records_per_second": 10},
               {"name": "steady-sink", "type": "sink", "records_per_second": 5}],
        "c1": [{"name": "idle-source", "records_per_second": 0}, {"name": "steady-source", "records_per_second": 10}],
        "c2": [{"name": "steady-source", "records_per_second": 10}],
        "c3": [{"name": "steady-source", "records_per_second": 10}],
    }, timeouts={"total": 0.05, "connect": 0.05, "read": 0.05, "write": 0.05, "pool": 0.05})  # the in-process simulator's delay is real time: kept short


# No answer within metrics_api.timeouts.total (a reset needs a real connection).
NO_ANSWER = {"delay_seconds": 0.5}


def _queries(w: World, start: float, end: float) -> list[str | None]:
    return [c.cluster for c in w.simulator.calls if c.endpoint == "metrics_query" and start <= c.t < end]


async def test_an_unanswering_metrics_api_costs_a_check_two_queries_and_the_stall_is_restarted_after_it() -> None:
    w = _world()
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"from": OUTAGE[0], "until": OUTAGE[1]},
                             "action": NO_ANSWER}])
    with structlog.testing.capture_logs() as logs:
        await run_fleet(w, OUTAGE[1] + 300)

    checks = (OUTAGE[1] - OUTAGE[0]) // 60
    during = _queries(w, OUTAGE[0], OUTAGE[1])
    # One query of the first cluster (its other two metrics not asked), one of the second: the
    # API answers no cluster, the check stops. Before: every metric of every cluster, 6 a check.
    assert len(during) == 2 * checks, during
    for cluster in ("c0", "c1", "c2", "c3"):
        assert w.sample("watchdog_stall_check_reads_total", cluster=cluster, result="failed") == checks, cluster
    said = [e for e in logs if e["event"] == "stall_clusters_not_checked" and e["log_level"] == "warning"]
    assert [(e["clusters"], e["outcome"]) for e in said] == [(["c2", "c3"], "network_error")], "once for the outage"
    assert "got no answer" in said[0]["note"], said[0]["note"]
    # After the outage the stall is found on the span missed, and nothing else is restarted.
    restarted = [(c.cluster, c.connector, c.t) for c in w.simulator.restarts()]
    assert [(cluster, connector) for cluster, connector, _ in restarted] == [("lkc-c0", "orders-source")], restarted
    assert restarted[0][2] >= OUTAGE[1]
    await w.daemon.stop()


async def test_one_query_without_an_answer_does_not_stop_the_other_clusters_being_read() -> None:
    # One query times out (its answer too big or slow, say): the clusters after it are read.
    w = _world()
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"from": OUTAGE[0], "count": 1},
                             "action": NO_ANSWER}])
    with structlog.testing.capture_logs() as logs:
        await run_fleet(w, OUTAGE[0] + 300)

    check = _queries(w, OUTAGE[0], OUTAGE[0] + 60)
    assert len(check) == 4, "c0's first query, then one query of each other cluster; c0's other two not asked"
    assert w.sample("watchdog_stall_check_reads_total", cluster="c0", result="failed") == 1
    for cluster in ("c1", "c2", "c3"):
        assert w.sample("watchdog_stall_check_reads_total", cluster=cluster, result="failed") == 0, cluster
    assert not [e for e in logs if e["event"] == "stall_clusters_not_checked"]
    await w.daemon.stop()
