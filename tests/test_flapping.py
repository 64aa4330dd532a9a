"""A connector that keeps failing and coming back by itself is named (`connector_flapping`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from watchdog.engine.flapping import FlapWatch
from watchdog.model import ConnectorKey, ConnectorStatus, TaskStatus

from .support import CLUSTER, daemon_config, in_process, sim_scenario

KEY = ConnectorKey("prod", "c")
T0 = datetime(2026, 12, 6, tzinfo=UTC)


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
