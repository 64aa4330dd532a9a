"""A stall that shows only while the Metrics API cannot be read (a 429 storm, an outage, checks
skipped) is caught by the first check that reads again: its `before` window stretches back over
the span missed (stall.catch_up). Pure, on an injected clock; never a restart on missing data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from watchdog.stall import (
    CATCH_UP_LIMIT,
    StallVerdict,
    Windows,
    catch_up,
    caught_up_partly,
    judge_source,
)

from .test_stalled import STALL_AT, fleet, run_fleet

T0 = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
WINDOW, DELAY, INTERVAL = 60, 300, 60


def at(minutes: float) -> Windows:
    return Windows.ending(T0 + timedelta(minutes=minutes), WINDOW, DELAY)


def sent(moving_until: float, *, rate: float = 100, back_to: float = -60) -> list[tuple[datetime, float]]:
    """One point a minute: `rate` records from `back_to` to `moving_until` (minutes from T0), 0 after."""
    return [(T0 + timedelta(minutes=m), rate if m < moving_until else 0.0) for m in range(int(back_to), 60)]


def test_a_stall_inside_a_gap_is_caught_by_the_first_check_after_it() -> None:
    # Judged at minute 10 (windows 16:02-16:05: moving); checks at 11..17 failed (429); the source
    # stopped at 16:07, so [moved, 0, 0] showed only to the check of minute 14 (16:06-16:09).
    last, now = at(10), at(18)
    points = sent(moving_until=7)
    assert judge_source(now, points).verdict is StallVerdict.IDLE, "the bug: the three windows read 0"
    span = catch_up(now, last, INTERVAL)
    assert span.start == last.earlier and (span.earlier, span.later, span.end) == (now.earlier, now.later, now.end)
    judged = judge_source(span, points)
    assert judged.verdict is StallVerdict.STALLED
    # Where in the stretched span the records last were: read as one span, "sent 400 records in
    # 16:03-16:11" was taken for a source moving until 16:11 (verification of a90e2b3).
    assert judged.detail.startswith("source sent 400 records in 16:03-16:11 (the last of them in 16:06-16:07), "
                                    "then 0 in 16:11-16:12 and 16:12-16:13"), judged.detail


def test_a_source_idle_before_the_gap_stays_idle() -> None:
    span = catch_up(at(18), at(10), INTERVAL)
    assert span.start < at(18).start
    assert judge_source(span, []).verdict is StallVerdict.IDLE
    assert judge_source(span, sent(moving_until=-60)).verdict is StallVerdict.IDLE, "zeros all along"


def test_a_healthy_source_is_moving_after_the_gap() -> None:
    span = catch_up(at(18), at(10), INTERVAL)
    assert judge_source(span, sent(moving_until=60)).verdict is StallVerdict.MOVING


def test_a_source_that_stopped_at_the_end_of_the_gap_is_only_stalling() -> None:
    span = catch_up(at(18), at(10), INTERVAL)
    assert judge_source(span, sent(moving_until=12)).verdict is StallVerdict.STALLING


def test_checks_that_went_on_read_their_own_windows() -> None:
    assert catch_up(at(11), at(10), INTERVAL) == at(11)
    assert catch_up(at(10), None, INTERVAL) == at(10), "the first check"
    # An interval longer than the window: the next check's windows start an interval later, no gap.
    assert catch_up(at(20), at(10), 600) == at(20)
    assert catch_up(at(30), at(10), 600).start == at(10).earlier, "a check of a 10-minute interval missed"


def test_a_gap_longer_than_the_limit_is_caught_up_for_its_last_part_only() -> None:
    last, now = at(10), at(10 + 5 * 60)
    span = catch_up(now, last, INTERVAL)
    assert span.start == now.earlier - CATCH_UP_LIMIT
    assert caught_up_partly(span, last) and not caught_up_partly(catch_up(at(18), last, INTERVAL), last)


STORM = (1380, 1920)  # the Metrics API answers 429 for nine checks, from just before the stall shows


async def test_a_stall_shown_only_during_a_429_storm_is_restarted_after_it_and_unchecked_clusters_counted() -> None:
    # window 5 min, delay 5 min: the source stopped at 600 s shows [moved, 0, 0] to the checks of
    # 1500..1800 s only, all inside the storm; after it the three windows read 0 ("idle").
    w = fleet({
        "c0": [{"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}},
               {"name": "steady-source", "records_per_second": 10}],
        "c1": [{"name": "idle-source", "records_per_second": 0}, {"name": "steady-source", "records_per_second": 10}],
        "c2": [{"name": "steady-source", "records_per_second": 10}],
    })
    # The lane's pauses run on the test's clock: the check after a 429 waits out its pause in no real time.
    w.daemon.gateways[w.daemon.METRICS_LANE].limiter._clock = w.clock.monotonic
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"from": STORM[0], "until": STORM[1]},
                             "action": {"status": 429, "headers": {"Retry-After": "0"}}}])
    with structlog.testing.capture_logs() as logs:
        await run_fleet(w, STORM[1] + 300)

    restarted = [(c.cluster, c.connector, c.t) for c in w.simulator.restarts()]
    assert [(cluster, connector) for cluster, connector, _ in restarted] == [("lkc-c0", "orders-source")], restarted
    assert restarted[0][2] >= STORM[1], "judged on what the Metrics API answered after the storm"
    stormy = [c for c in w.simulator.calls if c.endpoint == "metrics_query" and c.status_code == 429]
    checks = (STORM[1] - STORM[0]) // 60
    assert len(stormy) == checks, "one 429 a check: the check stops there rather than wait out each query's pause"
    for cluster in ("c0", "c1", "c2"):
        assert w.sample("watchdog_stall_check_reads_total", cluster=cluster, result="failed") == checks, cluster
    said = [e for e in logs if e["event"] == "stall_clusters_not_checked" and e["log_level"] == "warning"]
    assert [(e["clusters"], e["outcome"]) for e in said] == [(["c1", "c2"], "rate_limited")], "once for the storm"
    [caught] = [e for e in logs if e["event"] == "stall_check_caught_up"]
    assert caught["count"] == 3 and caught["partial"] is False
    assert w.sample("watchdog_stall_checks_total", cluster="c1", verdict="stalled") == 0
    await w.daemon.stop()
