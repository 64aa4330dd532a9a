"""Most of a cluster's moving connectors stopping in the same check is a shared cause, not as many
stalls: the Metrics API answering 0-valued points for every source (a Kafka cluster or a shared
source system unreachable while the tasks still report, or the API's pipeline writing zeros) read
as 100 sources stalled at once, and each was restarted as fast as the fleet breaker let it (a
storm probe, 2026-12-06). `data_late` caught only an answer with no point at all."""

from __future__ import annotations

import structlog

from .support import CLUSTER
from .test_stalled import STALL_AT, restarts, run, world


def sources(stalling: int, steady: int) -> list[dict[str, object]]:
    return ([{"name": f"src-{n}", "records_per_second": 10, "script": {"stall_at": STALL_AT}} for n in range(stalling)]
            + [{"name": f"steady-{n}", "records_per_second": 10} for n in range(steady)])


async def test_most_sources_of_a_cluster_stopping_together_are_not_restarted_and_it_is_said_once_a_check() -> None:
    w = world(sources(stalling=5, steady=1), zero_points="emit")  # 0-valued points, not missing ones
    with structlog.testing.capture_logs() as logs:
        await run(w, 1800)
    assert [c.connector for c in w.simulator.restarts()] == [], "sources that stopped together were restarted"
    held = [e for e in logs if e["event"] == "stalls_held_together"]
    assert held and held[0]["log_level"] == "warning" and (held[0]["stalled"], held[0]["moved"]) == (5, 6), held[:1]
    assert "a shared cause" in held[0]["note"] and "none is restarted" in held[0]["note"]
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="stopped_together") >= 5
    assert w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="stalled") == 0


async def test_a_few_sources_stalling_beside_many_that_move_are_still_restarted() -> None:
    w = world(sources(stalling=3, steady=4), zero_points="emit")  # 3 of 7: not more than half
    with structlog.testing.capture_logs() as logs:
        await run(w, 1800)
    assert sorted({c.connector for c in w.simulator.restarts()}) == ["src-0", "src-1", "src-2"]
    assert all(len(restarts(w, f"src-{n}")) == 1 for n in range(3))
    assert not [e for e in logs if e["event"] == "stalls_held_together"]
