"""The global breaker: thresholds per cluster and fleet-wide, opening and closing once each."""

from datetime import datetime, timedelta, timezone

from watchdog.breaker import FLEET, Breaker
from watchdog.config import BreakerSettings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def breaker(**settings) -> Breaker:
    return Breaker(BreakerSettings(**settings))


def test_a_cluster_opens_above_the_failing_share_and_closes_when_it_clears() -> None:
    b = breaker(max_failing_share=0.5, min_failing=3)
    b.observe_cluster("prod", failing=5, watched=10)
    assert b.evaluate(T0) == []  # exactly half is not more than half
    b.observe_cluster("prod", failing=6, watched=10)
    (change,) = b.evaluate(T0)
    assert (change.scope, change.opened) == ("prod", True)
    assert "6 of 10 watched connectors failing" in b.open_reason("prod", failure=True)
    assert "6 of 10" in b.open_reason("prod", failure=False), "a cluster outage holds planned restarts too"
    assert b.open_reason("staging", failure=True) is None
    assert b.evaluate(T0) == [], "an open breaker is reported once"
    b.observe_cluster("prod", failing=1, watched=10)
    (change,) = b.evaluate(T0)
    assert (change.scope, change.opened) == ("prod", False)
    assert b.open_reason("prod", failure=True) is None


def test_few_failures_in_a_small_cluster_do_not_open_it() -> None:
    b = breaker(max_failing_share=0.5, min_failing=3)
    b.observe_cluster("tiny", failing=2, watched=2)
    assert b.evaluate(T0) == []


def test_the_fleet_opens_when_restarts_come_too_fast_and_closes_as_they_age() -> None:
    b = breaker(max_restarts=3, window=600)
    for minute in range(3):
        b.record_restart(T0 + timedelta(minutes=minute))
    (change,) = b.evaluate(T0 + timedelta(minutes=3))
    assert change.scope == FLEET and change.opened
    assert "3 restarts" in b.open_reason("any-cluster", failure=True)
    assert b.open_reason("any-cluster", failure=False) is None, "planned restarts are not a storm"
    (change,) = b.evaluate(T0 + timedelta(minutes=10, seconds=1))
    assert change.scope == FLEET and not change.opened


def test_limits_left_out_are_disabled() -> None:
    b = breaker(max_failing_share=None, max_restarts=None)
    b.observe_cluster("prod", failing=100, watched=100)
    for _ in range(1000):
        b.record_restart(T0)
    assert b.evaluate(T0) == []


def test_dry_run_restarts_hold_only_dry_run_restarts() -> None:
    # A dry run must meet the fleet breaker where the live run would; a rule on trial (dry_run
    # on one rule) must never hold the live restarts of the others.
    b = breaker(max_restarts=3, window=600)
    b.record_restart(T0)
    for _ in range(2):
        b.record_restart(T0, dry_run=True)
    assert b.evaluate(T0 + timedelta(minutes=1)) == [], "dry-run restarts open nothing (no metric, no page)"
    assert b.open_reason("prod", failure=True) is None
    assert b.open_reason("prod", failure=True, dry_run=True) == (
        "3 restarts in the last 600s (limit 3; 2 of them dry-run, counted as if sent)")
    assert b.open_reason("prod", failure=False, dry_run=True) is None, "planned restarts are not a storm"
    b.evaluate(T0 + timedelta(minutes=10, seconds=1))
    assert b.open_reason("prod", failure=True, dry_run=True) is None, "they age out of the window as sent ones do"


def test_an_open_cluster_lets_one_probe_through_per_window_and_a_healed_probe_excuses_the_outages_failures() -> None:
    b = breaker(max_failing_share=0.5, min_failing=3, max_restarts=None, window=600)
    b.observe_cluster("prod", failing=10, watched=10)
    b.evaluate(T0)
    assert b.probe("prod", "c0", T0 + timedelta(minutes=9), queued=False) is None, "no probe in the first window"
    assert b.probe("prod", "c0", T0 + timedelta(minutes=10), queued=False) == "granted"
    assert b.probe("prod", "c0", T0 + timedelta(minutes=10), queued=True) == "again", "its own turn in the queue"
    assert b.probe("prod", "c0", T0 + timedelta(minutes=12), queued=False) is None, "not a second one in the window"
    assert b.probe("prod", "c1", T0 + timedelta(minutes=12), queued=False) is None
    assert b.probe("prod", "c1", T0 + timedelta(minutes=20), queued=False) == "granted"
    assert b.probe("staging", "x", T0 + timedelta(hours=1), queued=False) is None, "only an open cluster has probes"
    # c1 stayed healthy: the nine still failing are left from the outage.
    b.probe_healed("prod", failing=9)
    b.observe_cluster("prod", failing=9, watched=10)
    (change,) = b.evaluate(T0 + timedelta(minutes=25))
    assert (change.scope, change.opened) == ("prod", False)
    # They heal one by one; a new outage of what runs counts again, over what is not excused.
    b.observe_cluster("prod", failing=4, watched=10)
    assert b.evaluate(T0 + timedelta(minutes=30)) == []
    b.observe_cluster("prod", failing=8, watched=10)
    (change,) = b.evaluate(T0 + timedelta(minutes=31))
    assert change.opened and change.reason == (
        "4 of 6 watched connectors failing (more than 50%), besides 4 left from an outage that ended")


def test_a_forgotten_cluster_leaves_nothing_behind_its_probes_included() -> None:
    # A probe that was sent (not ended unsent) kept its grant's entry for the cluster for good:
    # one more for every cluster discovery dropped while its breaker was open.
    b = breaker(max_failing_share=0.5, min_failing=3, window=600)
    for cluster in ("prod", "lkc-gone"):
        b.observe_cluster(cluster, failing=6, watched=10)
    b.evaluate(T0)
    for dry_run in (True, False):  # a dry run's meets the live one; the live one only its own
        assert b.probe("lkc-gone", "c0", T0 + timedelta(minutes=10), queued=False, dry_run=dry_run) == "granted"
    b.forget_cluster("lkc-gone")
    b.evaluate(T0 + timedelta(minutes=11))
    known = [b._failing, b._open, b._opened_at, b._probe, b._dry_probe, b._excused]
    assert [sorted(k) for k in known] == [["prod"], ["prod"], ["prod"], [], [], []]
    assert b._replaced == {}


def test_connectors_held_for_the_fleets_room_go_least_recently_restarted_first_then_longest_held() -> None:
    b = breaker(max_restarts=2, window=600)
    restarted = T0 - timedelta(minutes=30)
    b.wait_for_room("a", "once-restarted", restarted, T0, asked_every=60)
    b.wait_for_room("b", "never-restarted", None, T0 + timedelta(seconds=5), asked_every=60)
    b.wait_for_room("c", "never-restarted-later", None, T0 + timedelta(seconds=9), asked_every=60)
    now = T0 + timedelta(seconds=10)
    assert b.waiting_ahead("b", "never-restarted", None, now) == 0
    assert b.waiting_ahead("c", "never-restarted-later", None, now) == 1, "as recent, held for less long"
    assert b.waiting_ahead("a", "once-restarted", restarted, now) == 2
    assert b.waiting_ahead("d", "just-restarted", T0, now) == 3, "not waiting itself: everyone goes first"

    b.stop_waiting("b", "never-restarted")  # queued, healed or in its backoff now
    assert b.waiting_ahead("a", "once-restarted", restarted, now) == 1
    # Not held again within two poll intervals (deleted, its cluster's polls failing): no room is
    # kept for it.
    b.wait_for_room("a", "once-restarted", restarted, T0 + timedelta(seconds=100), asked_every=60)
    assert b.waiting_ahead("a", "once-restarted", restarted, T0 + timedelta(seconds=130)) == 0
    b.forget_cluster("a")
    assert b.waiting_ahead("d", "just-restarted", T0, T0 + timedelta(seconds=130)) == 0
