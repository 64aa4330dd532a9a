"""A stall check query that fails (a 5xx, an answer that cannot be read) leaves its cluster
unjudged this check (`check_failed`): the cluster's other metrics are not asked then, since their
answers could not make it judged, and each such query costs up to its ids + 1 requests of the
Metrics API's per-IP limit. The other clusters are read as usual, and the next check reads the
span this one missed (stall.catch_up)."""

from __future__ import annotations

import pytest
import structlog

from .support import World
from .test_stalled import fleet, run_fleet

FAILS_AT = 1500  # a check that judges (grace, delay and three windows have passed)


def _world() -> World:
    return fleet({
        "c0": [{"name": "orders-source", "records_per_second": 10},
               {"name": "orders-sink", "type": "sink", "records_per_second": 5}],
        "c1": [{"name": "steady-source", "records_per_second": 10},
               {"name": "steady-sink", "type": "sink", "records_per_second": 5}],
    })


def _queries(w: World, start: float, end: float) -> list[bool]:
    """Whether each Metrics API query in [start, end) met the fault, in order (the simulator does
    not record a query's cluster: a check asks c0's metrics, then c1's)."""
    return [c.fault is not None for c in w.simulator.calls if c.endpoint == "metrics_query" and start <= c.t < end]


@pytest.mark.parametrize("action", [{"status": 503}, {"invalid_json": True}], ids=["503", "malformed"])
async def test_a_failed_query_is_the_last_its_cluster_makes_in_that_check(action: dict[str, object]) -> None:
    w = _world()
    # The check's first query (c0's sent_records) fails once.
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"from": FAILS_AT, "count": 1},
                             "action": action}])
    with structlog.testing.capture_logs() as logs:
        await run_fleet(w, FAILS_AT + 120)

    check = _queries(w, FAILS_AT, FAILS_AT + 60)
    # c0's failed query, then c1's three. Before: 6 queries, c0's received and lag asked though
    # its sent query had failed and the cluster could not be judged.
    assert check == [True, False, False, False], check
    assert w.sample("watchdog_stall_check_reads_total", cluster="c0", result="failed") == 1
    assert w.sample("watchdog_stall_check_reads_total", cluster="c1", result="failed") == 0
    [failed] = [e for e in logs if e["event"] == "stall_check_failed"]
    assert failed["cluster"] == "c0" and "not asked" in failed["note"], failed
    assert w.simulator.restarts() == []
    # The next check reads c0 again, all three metrics.
    assert _queries(w, FAILS_AT + 60, FAILS_AT + 120) == [False] * 6
    await w.daemon.stop()
