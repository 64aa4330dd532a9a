"""A start (a rollout, a crash restarted, a new leader) just after a schedule rule's time: what it
says of that run, with the state the daemon before left (a state file shared by the two)."""

from pathlib import Path

import pytest
from freezegun import freeze_time
from structlog.testing import capture_logs

from .support import daemon_config, in_process, sim_scenario, until


@pytest.mark.parametrize(("connector", "first_stops_at", "said"), [
    ("a", None, None),  # the daemon before made the run at 03:00: nothing to say
    ("ghost", None, "perhaps not run: the daemon before this one was still alive"),  # its run restarted nothing
    ("a", "2026-06-01 02:58:00", "not run: it came due while no daemon led"),  # stopped before 03:00
])
async def test_a_start_just_after_a_schedule_run_says_it_missed_only_a_run_not_made(
    tmp_path: Path, connector: str, first_stops_at: str | None, said: str | None
) -> None:
    # A rollout at 03:00:40 of a daemon that had made the 03:00 run (its restart accepted at 03:00)
    # logged `missed`, 'not run ... if its restarts are still wanted, ask for them (watchdog
    # restart --daemon)', and counted it: an operator who did restarted the connector a second time.
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": [connector]}}]
    config = daemon_config(rules, state={"path": str(tmp_path / "state.db")})
    scenario = sim_scenario([{"name": "a"}])
    with freeze_time(first_stops_at or "2026-06-01 02:59:58", tick=True, real_asyncio=True, tz_offset=0) as frozen:
        first = in_process(scenario, config)
        await first.daemon.start(serve_http=False)
        try:
            if first_stops_at is None:
                await until(lambda: first.total("watchdog_decisions_total", rule="nightly"), "the 03:00 run made")
                await until(lambda: connector != "a" or first.simulator.restarts(), "its restart sent")
        finally:
            await first.daemon.stop()
        frozen.move_to("2026-06-01 03:00:40")  # the rollout's new pod
        with capture_logs() as logs:
            second = in_process(scenario, config)
            await second.daemon.start(serve_http=False)
            await second.daemon.stop()
    events = [e for e in logs if e["event"] == "scheduler_job_event"]
    missed = second.sample("watchdog_scheduler_job_events_total", event="missed")
    if said is None:
        assert (events, missed) == ([], 0)
        assert len(first.simulator.restarts()) == 1
    else:
        (event,) = events
        assert (event["job_id"], event["job_event"], event["scheduled_run_time"]) == ("rule:nightly", "missed",
                                                                                      "2026-06-01T03:00:00+00:00")
        assert event["note"].startswith(said) and missed == 1
    assert second.simulator.restarts() == [], "never run late"


@pytest.mark.parametrize(("first_runs", "said"), [
    # The daemon before drew its run for some time up to 04:00 and a rollout at 03:20 (a ConfigMap
    # changed: a new pod) replaced it. The new one plans from now, tomorrow's 03:00, and the night's
    # run, if its time was still to come, was never made, without a word (the 5 minutes before the
    # start held no time of the cron, so nothing was reported).
    (("2026-06-01 02:59:58", "2026-06-01 03:00:30"), "perhaps not run: its run was jittered to a time up to 3600s"),
    # Stopped before 03:00: no daemon drew a time for the run. And a first start, no daemon ever
    # before: it warned that "the daemon before may have made it" of a run no daemon could have made.
    (("2026-06-01 02:50:00", "2026-06-01 02:58:00"), "not run: it came due while no daemon led"),
    (None, "not run: it came due while no daemon led"),
])
async def test_a_start_in_a_jittered_runs_window_says_whether_a_daemon_before_could_have_made_it(
    tmp_path: Path, first_runs: tuple[str, str] | None, said: str
) -> None:
    # `ghost` is listed nowhere: the run, if made, restarts nothing, so the history cannot tell.
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *", "jitter": "1h"},
              "select": {"connectors": ["ghost"]}}]
    config = daemon_config(rules, state={"path": str(tmp_path / "state.db")})
    scenario = sim_scenario([{"name": "a"}])
    with freeze_time(first_runs[0] if first_runs else "2026-06-01 03:20:00", tick=True, real_asyncio=True,
                     tz_offset=0) as frozen:
        if first_runs is not None:
            first = in_process(scenario, config)
            await first.daemon.start(serve_http=False)
            frozen.move_to(first_runs[1])
            await first.daemon.stop()
        frozen.move_to("2026-06-01 03:20:00")
        with capture_logs() as logs:
            second = in_process(scenario, config)
            await second.daemon.start(serve_http=False)
            await second.daemon.stop()
    (event,) = [e for e in logs if e["event"] == "scheduler_job_event"]
    assert (event["job_id"], event["job_event"], event["scheduled_run_time"]) == ("rule:nightly", "missed",
                                                                                  "2026-06-01T03:00:00+00:00")
    assert event["note"].startswith(said), event["note"]
    assert second.sample("watchdog_scheduler_job_events_total", event="missed") == 1
    assert second.simulator.restarts() == [], "never run late"


async def test_a_run_whose_restarts_a_crash_left_unsent_is_not_said_missed(tmp_path: Path) -> None:
    # The daemon before made the 03:00 run and crashed before its restart went out: this start
    # sends it (within the grace) and says nothing of a missed run.
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["a"]}}]
    config = daemon_config(rules, state={"path": str(tmp_path / "state.db")})
    scenario = sim_scenario([{"name": "a"}])
    with freeze_time("2026-06-01 03:00:00", tick=True, real_asyncio=True, tz_offset=0) as frozen:
        first = in_process(scenario, config)
        statuses = await first.daemon.pollers["prod"].list()
        assert statuses is not None
        await first.daemon.engine.on_schedule(first.daemon.config.rules[0], "prod", statuses)  # queued, never sent
        first.daemon.state.close()  # the crash
        frozen.move_to("2026-06-01 03:00:40")
        with capture_logs() as logs:
            second = in_process(scenario, config)
            await second.daemon.start(serve_http=False)
            await until(lambda: second.simulator.restarts(), "the kept restart sent")
            await second.daemon.stop()
    assert [e for e in logs if e["event"] == "scheduler_job_event"] == []
    assert second.sample("watchdog_scheduler_job_events_total", event="missed") == 0
