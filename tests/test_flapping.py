"""A connector that keeps failing and coming back by itself is named (`connector_flapping`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from watchdog.engine.flapping import FlapWatch
from watchdog.model import ConnectorKey, ConnectorStatus, TaskStatus

from .support import CLUSTER, daemon_config, in_process, sim_scenario

KEY = ConnectorKey("prod", "c")
T0 = datetime(2026, 12, 6, tzinfo=UTC)
CYCLES = 250  # an hour and a little more, at 15 s a cycle


def test_four_failures_begun_within_the_window_are_said_once_per_window() -> None:
    watch = FlapWatch(failures=4, window_seconds=3600)
    said = []
    failing = False
    for minute in range(0, 240, 5):  # failed and healthy in turn, every 5 minutes, for 4 hours
        failing = not failing
        fields = watch.observe(KEY, not failing, failing, T0 + timedelta(minutes=minute))
        if fields is not None:
            said.append((minute, fields["failures"]))
    assert said == [(30, 4), (90, 4), (150, 4), (210, 4)], said


def test_failures_spread_wider_than_the_window_or_one_long_failure_are_not_flapping() -> None:
    watch = FlapWatch(failures=4, window_seconds=3600)
    for hour in range(6):  # one failure begun an hour and a half apart
        at = T0 + timedelta(minutes=90 * hour)
        assert watch.observe(KEY, False, True, at) is None
        assert watch.observe(KEY, True, False, at + timedelta(minutes=1)) is None
    for minute in range(60):  # one failure, seen at every poll
        assert watch.observe(ConnectorKey("prod", "d"), minute > 0, True, T0 + timedelta(minutes=minute)) is None


async def test_a_connector_failed_and_running_in_turn_at_every_poll_is_said_to_flap() -> None:
    # A soak probe: five connectors FAILED and RUNNING in turn at every poll were never restarted
    # (confirm_polls 2), never named anywhere but an `unconfirmed` line every other poll.
    rule = {"name": "heal", "trigger": {"type": "status", "interval": 60, "confirm_polls": 2},
            "select": {"include": ["*"]}}
    w = in_process(sim_scenario([{"name": "c"}]), daemon_config([rule]), fake_time=True)
    assert w.clock is not None
    with capture_logs() as logs:
        for poll in range(10):
            state = "FAILED" if poll % 2 == 0 else "RUNNING"
            await w.daemon.engine.on_poll(CLUSTER, {"c": ConnectorStatus("c", state, tasks=(TaskStatus(0, state),))})
            w.clock.advance(60)
    await w.daemon.stop()
    [said] = [e for e in logs if e["event"] == "connector_flapping"]
    assert (said["connector"], said["rule"], said["failures"], said["log_level"]) == ("c", "heal", 4, "warning"), said
    assert not any(e["event"] == "restart_queued" for e in logs), "never confirmed: never restarted"


async def test_a_connector_restarted_at_each_failure_is_said_again_each_hour_with_its_restarts_since_it_began() -> None:
    # A rules probe: a connector whose task failed 10 s after each restart was restarted 26 times
    # in 400 s (healthy past its gap, its count started again each time: max_restarts never
    # bound), and `connector_flapping` said `failures: 4` at the fourth failure; its line an hour
    # later said `failures: 4` again, not how many restarts there had been.
    rule = {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
            "select": {"include": ["*"]}, "backoff": {"base": 2, "cap": 2, "jitter": 0}, "max_restarts": 4}
    config = daemon_config([rule], breaker={"max_restarts": None, "max_failing_share": None},
                           rate_limit={"max_requests_per_second": 1000})  # paced in real time
    w = in_process(sim_scenario([{"name": "c"}]), config, fake_time=True)
    assert w.clock is not None
    w.daemon.queue.start()
    with capture_logs() as logs:
        for _ in range(CYCLES):  # FAILED, restarted; RUNNING for 10 s; FAILED again: every 15 s
            for state in ("FAILED", "RUNNING", "RUNNING"):
                await w.daemon.engine.on_poll(CLUSTER, {"c": ConnectorStatus("c", state, tasks=(TaskStatus(0, state),))})
                await w.daemon.queue.join()
                w.clock.advance(5)
    await w.daemon.stop()
    said = [e for e in logs if e["event"] == "connector_flapping"]
    accepted = [e for e in logs if e["event"] == "restart_finished" and e.get("outcome") == "accepted"]
    assert len(accepted) == 250, "restarted at every failure: the policy is not changed"
    assert [(e["failures"], e["failures_since"], e["restarts_since"]) for e in said] == [(4, 4, 3), (4, 244, 243)], said
    assert said[0]["since"] == said[1]["since"]
    assert "max_restarts never stops the restarts" in said[1]["note"]
    assert "Said again every hour" in said[1]["note"]


def test_a_stretch_of_flapping_counts_afresh_once_no_failure_has_begun_for_the_window() -> None:
    watch = FlapWatch(failures=2, window_seconds=600)
    assert watch.observe(KEY, False, True, T0) is None
    watch.restarted(KEY)
    first = watch.observe(KEY, False, True, T0 + timedelta(minutes=1))
    assert first is not None and (first["failures_since"], first["restarts_since"]) == (2, 1)
    assert watch.observe(KEY, True, False, T0 + timedelta(minutes=30)) is None  # none begun for 29 minutes: it ended
    watch.restarted(KEY)  # a restart outside any stretch is not counted in the next
    assert watch.observe(KEY, False, True, T0 + timedelta(minutes=40)) is None
    again = watch.observe(KEY, False, True, T0 + timedelta(minutes=41))
    assert again is not None
    assert (again["since"], again["failures_since"], again["restarts_since"]) == (
        (T0 + timedelta(minutes=40)).isoformat(), 2, 0)
