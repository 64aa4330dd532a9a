"""The wall clock stepping while the daemon runs (NTP correcting a wrong clock, an operator's
`date -s`, a VM restored from a snapshot): polls and timed rules keep their real-time pace, and
no gate holds longer than its own length."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from freezegun import freeze_time
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.model import ConnectorKey, Decision, Trigger
from watchdog.plan import poll_intervals
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.triggers.poller import ensure_listed

from .support import CLUSTER, Clock, World, daemon_config, in_process, sim_scenario, until


async def test_polls_go_on_at_their_interval_after_the_wall_clock_steps_back_an_hour() -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 5}, "select": {"include": ["*"]}}]
    with freeze_time("2026-06-01 12:00:00", tick=True, real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
        await w.daemon.start(serve_http=False)
        try:
            poller = w.daemon.pollers[CLUSTER]
            await until(lambda: poller.listed_at is not None, "the first poll", timeout=10, step=0.05)
            before = len(w.simulator.calls)
            frozen.move_to(datetime.now(timezone.utc) - timedelta(hours=1))  # NTP steps the clock back
            # The next poll is due 5 real seconds after the last: before, the scheduler waited for
            # the wall clock to come back to its next time, an hour (healing stopped, unsaid).
            await until(lambda: len(w.simulator.calls) > before, "a poll after the step", timeout=20, step=0.05)
            (stepped,) = [e for e in logs if e["event"] == "wall_clock_stepped"]
            assert -3601 < stepped["seconds"] < -3599 and stepped["jobs_moved"] == [f"poll:{CLUSTER}"]
        finally:
            await w.daemon.stop()


async def test_a_cron_run_that_comes_due_by_a_forward_step_of_the_wall_clock_runs_at_once() -> None:
    # A VM or a laptop resumed (its monotonic clock stood still while it slept), or NTP putting
    # right a clock that ran slow: the wall clock is an hour further than the scheduler's timer.
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "cron": "0 13 * * *"}, "select": {"connectors": ["a"]}}]
    with freeze_time("2026-06-01 12:00:00", tick=True, real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
        await w.daemon.start(serve_http=False)
        try:
            await until(lambda: w.daemon.scheduled_job_ids() == {"rule:nightly"}, "the rule's job")
            await asyncio.sleep(1.2)  # a heartbeat has read the clock before the step
            frozen.move_to(datetime(2026, 6, 1, 12, 59, 59, tzinfo=timezone.utc))
            # Before, the run due at 13:00 waited for the timer armed at 12:00 (an hour of real
            # time) and was then dropped as missed: no restart that night.
            await until(lambda: w.simulator.restarts(), "the 13:00 restart", timeout=10, step=0.05)
            assert [e["seconds"] > 3500 for e in logs if e["event"] == "wall_clock_stepped"] == [True]
            assert not [e for e in logs if e["event"] == "scheduler_job_event"]
        finally:
            await w.daemon.stop()


class SteppedClock(Clock):
    """The fake clock, with a wall clock that can be stepped while real time goes on."""

    step = timedelta(0)

    def wall(self) -> datetime:
        return super().wall() + self.step


class PausingClock(SteppedClock):
    """The stepped clock, with a pause right after each reading of the wall clock: a full garbage
    collection (datetime.now() allocates, which may start one: 0.35 s for a heap of 360,000
    series here) or the process descheduled on a loaded node."""

    pause = 0.0

    def wall(self) -> datetime:
        now = super().wall()
        self.advance(self.pause)
        return now


def test_a_pause_between_reading_the_two_clocks_is_not_taken_for_a_step_of_the_wall_clock() -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 5}, "select": {"include": ["*"]}}]
    clock = PausingClock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "a"}])), clock=clock.monotonic)
    daemon = Daemon(daemon_config(rules), transport=httpx.ASGITransport(app=create_app(simulator)),
                    now=clock.wall, clock=clock.monotonic)
    with capture_logs() as logs:
        daemon.follow_clock()
        clock.advance(1)
        clock.pause = 1.5
        daemon.follow_clock()  # the wall clock read, then 1.5 s passes before the monotonic one
        clock.pause = 0.0
        clock.advance(1)
        daemon.follow_clock()
        # Before: "wall_clock_stepped", seconds -1.5, and every interval job (each status poll)
        # moved 1.5 s earlier; a real step is still seen after such a pause:
        assert [e for e in logs if e["event"] == "wall_clock_stepped"] == []
        clock.step = timedelta(hours=-2)
        clock.advance(1)
        daemon.follow_clock()
    (stepped,) = [e for e in logs if e["event"] == "wall_clock_stepped"]
    assert -7201 < stepped["seconds"] < -7199


async def test_no_gate_holds_longer_than_its_own_length_after_the_wall_clock_steps_back() -> None:
    failing = [{"name": f"f{i}", "script": {"initial": "FAILED", "recover_after_restarts": "never"}} for i in range(5)]
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
              "backoff": {"base": 60, "cap": 3600, "jitter": 0}}]
    config = daemon_config(rules, rate_limit={"max_requests_per_second": 10000},
                           breaker={"max_restarts": 3, "window": 600}, queue={"manual_restart_gap": 60})
    clock = SteppedClock()
    simulator = Simulator(Scenario.model_validate(sim_scenario(failing + [{"name": f"ok{i}"} for i in range(30)])),
                          clock=clock.monotonic)
    w = World(simulator, Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall))
    w.daemon.queue.start()
    poller, engine = w.daemon.pollers[CLUSTER], w.daemon.engine
    ok = ConnectorKey(CLUSTER, "ok0")

    async def poll() -> None:
        await poller.poll()
        await w.daemon.queue.join()

    await poll()  # f0-f2 restarted (their backoff: 2 minutes), then the fleet breaker holds the rest
    engine.on_request(ok, engine.statuses[ok], trigger=Trigger.MANUAL, rule="manual", reason="by hand")
    await w.daemon.queue.join()
    restarted = len(w.simulator.restarts())
    w.daemon.follow_clock()
    clock.step = timedelta(hours=-2)  # NTP steps the wall clock back two hours
    w.daemon.follow_clock()  # what the heartbeat does within a second
    clock.advance(15 * 60)  # fifteen real minutes: every backoff (2 min), window (10 min) and gap (1 min) is over
    await poll()
    # Before: the breaker held every failure restart, and the backoff f0-f2's, for two more hours.
    assert len(w.simulator.restarts()) == restarted + 3
    engine.refresh_breaker()  # the heartbeat's, every second
    assert w.sample("watchdog_breaker_open", scope="fleet") == 1, "the three new restarts fill the window again"
    record = engine.on_request(ok, engine.statuses[ok], trigger=Trigger.MANUAL, rule="manual", reason="again")
    # Before: "restarted -6300 s ago; ... it may go again in 6360 s".
    assert record.decision is Decision.RESTART, record.detail
    await w.daemon.stop()


async def test_a_backoff_written_before_the_clock_stepped_back_holds_one_gap_at_most_at_the_next_start(tmp_path: Path) -> None:
    # The clock was two hours fast, and NTP corrected it while the daemon was stopped (a reboot).
    clock = SteppedClock()
    simulator = Simulator(Scenario.model_validate(sim_scenario(
        [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}])), clock=clock.monotonic)
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
              "backoff": {"base": 60, "cap": 3600, "jitter": 0}}]
    config = daemon_config(rules, state={"path": str(tmp_path / "state.db")}, rate_limit={"max_requests_per_second": 10000})

    async def start() -> Daemon:
        daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall)
        daemon.engine.recover()  # what a start does first
        daemon.queue.start()
        return daemon

    async def poll(daemon: Daemon) -> None:
        await daemon.pollers[CLUSTER].poll()
        await daemon.queue.join()

    first = await start()
    await poll(first)
    await first.stop()
    assert len(simulator.restarts()) == 1  # its backoff: 2 minutes
    clock.step = timedelta(hours=-2)
    clock.advance(60)
    second = await start()
    # How long ago the restart was is not known: it counts as made at this start, so its gap holds
    # from here, never less (and never the two hours of the step more, as before).
    await poll(second)
    assert len(simulator.restarts()) == 1
    clock.advance(121)
    await poll(second)
    assert len(simulator.restarts()) == 2
    await second.stop()


async def test_a_listing_or_a_failed_one_from_before_a_backward_step_is_not_taken_as_recent() -> None:
    # A cluster no status rule polls: alerts and requests list it on demand, trust a listing for
    # 60 s and remember a failed one for 10 s (so that a burst of webhooks costs one call).
    rules = [{"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorFailed"}},
              "select": {"include": ["*"]}}]
    clock = SteppedClock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "a"}])), clock=clock.monotonic)
    config = daemon_config(rules, token="test-token-5d1c0e2a", rate_limit={"max_requests_per_second": 10000})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall)
    intervals = poll_intervals(config)

    def lists() -> int:
        return len([c for c in simulator.calls if c.endpoint == "list"])

    simulator.set_faults([{"match": {"endpoint": "list"}, "action": {"status": 403}}])
    assert await ensure_listed(daemon.pollers, intervals, [CLUSTER]), "the listing failed"
    simulator.clear_faults()
    clock.step = timedelta(hours=-1)
    clock.advance(20)
    # Before: the failure was "recent" for an hour and ten seconds, and every alert and request for
    # the cluster was answered 503 with it, no listing tried.
    assert await ensure_listed(daemon.pollers, intervals, [CLUSTER]) == {}
    listed = lists()
    clock.step = timedelta(hours=-2)
    clock.advance(61)
    # Before: a listing from "an hour ahead" was fresh for an hour more.
    assert await ensure_listed(daemon.pollers, intervals, [CLUSTER]) == {}
    assert lists() == listed + 1, "listed again once its 60 s had passed in real time"
    await daemon.stop()


async def test_an_interval_rule_stays_on_its_grid_after_the_wall_clock_steps_back() -> None:
    # `interval: 24h` runs each midnight UTC (docs/configuration.md). A clock an hour fast put right
    # by NTP at noon moved the rule's next run back an hour with the polls: it ran at 23:00 UTC,
    # every night until the daemon restarted, and a window that allowed it at 00:00-01:00 held every
    # run.
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "interval": "24h"}, "select": {"connectors": ["a"]}}]
    with freeze_time("2026-06-01 12:00:00", tick=True, real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
        await w.daemon.start(serve_http=False)
        try:
            await asyncio.sleep(1.5)  # a heartbeat's reading of the clocks before the step
            frozen.move_to("2026-06-01 11:00:02")  # NTP steps the clock back an hour
            await until(lambda: [e for e in logs if e["event"] == "wall_clock_stepped"], "the step noticed", timeout=10)
            job = w.daemon._scheduler.get_job("rule:nightly")
            assert job.next_run_time == datetime(2026, 6, 2, 0, 0, tzinfo=timezone.utc)
            frozen.move_to("2026-06-01 23:00:05")
            w.daemon._scheduler.wakeup()
            await asyncio.sleep(0.3)
            assert w.simulator.restarts() == [], "not at 23:00"
            frozen.move_to("2026-06-02 00:00:01")
            w.daemon._scheduler.wakeup()
            await until(lambda: w.simulator.restarts(), "the midnight run")
        finally:
            await w.daemon.stop()


async def test_cron_rules_follow_debians_cron_after_the_wall_clock_steps_back() -> None:
    # Debian's cron, after the clock went back less than 3 hours, runs a job with a wildcard in its
    # minute or hour by the new time at once, and a fixed-time job only once the clock is past the
    # time it last ran by; 3 hours or more is a new time for every job. Before, every cron rule
    # kept the time it had planned: `* * * * *` did not run for 3 minutes after a step back of
    # 180 s (a probe), and nothing said so.
    rules = [{"name": "every-minute", "trigger": {"type": "schedule", "cron": "* * * * *"}, "select": {"connectors": ["a"]}},
             {"name": "daily", "trigger": {"type": "schedule", "cron": "0 12 * * *"}, "select": {"connectors": ["b"]}}]
    with freeze_time("2026-06-01 12:00:30", tick=True, real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}, {"name": "b"}]), daemon_config(rules))
        await w.daemon.start(serve_http=False)
        try:
            scheduler = w.daemon._scheduler
            await asyncio.sleep(1.5)  # a heartbeat's reading of the clocks before the step
            frozen.move_to("2026-06-01 11:57:31")  # NTP steps the clock back 3 minutes
            await until(lambda: [e for e in logs if e["event"] == "wall_clock_stepped"], "the step noticed", timeout=10)
            assert scheduler.get_job("rule:every-minute").next_run_time == datetime(2026, 6, 1, 11, 58, tzinfo=timezone.utc)
            assert scheduler.get_job("rule:daily").next_run_time == datetime(2026, 6, 2, 12, 0, tzinfo=timezone.utc), (
                "its 12:00 run was made by the old time: not made again")
            (stepped,) = [e for e in logs if e["event"] == "wall_clock_stepped"]
            assert stepped["jobs_moved"] == ["rule:every-minute"] and stepped["cron_rules_waiting"] == ["rule:daily"]
            assert "Debian" in stepped["cron_note"]
            frozen.move_to("2026-06-01 11:58:00.5")
            scheduler.wakeup()
            await until(lambda: w.simulator.restarts(connector="a"), "the every-minute run at 11:58", timeout=10)
            await asyncio.sleep(1.5)  # the clocks read again after the run
            frozen.move_to("2026-06-01 07:58:01")  # four hours back: a new time for every job, as cron has it
            await until(lambda: [e for e in logs if e["event"] == "wall_clock_stepped" and e["seconds"] < -3600],
                        "the four-hour step noticed", timeout=10)
            assert scheduler.get_job("rule:daily").next_run_time == datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
            assert scheduler.get_job("rule:every-minute").next_run_time == datetime(2026, 6, 1, 7, 59, tzinfo=timezone.utc)
        finally:
            await w.daemon.stop()
