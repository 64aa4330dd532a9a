"""A connector given up on that flaps (RUNNING at one poll, FAILED at the next) stays given up
until its count really resets (healthy for its gap): one `gave_up` line per give-up, and status
never says NEXT ALLOWED `now` while its budget is spent (probe of rules, finding 4: the flag
cleared at each healthy poll, 34 `gave_up` warnings in 7 minutes, status swinging between
"gave up yes" and "now")."""

from __future__ import annotations

from datetime import datetime

from structlog.testing import capture_logs

from watchdog.model import ConnectorKey
from watchdog.report import render_status

from .support import CLUSTER, CLUSTER_ID, World, daemon_config, in_process, sim_scenario

RULE = {"name": "heal", "max_restarts": 2, "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
        "select": {"include": ["*"]}, "backoff": {"base": 1, "cap": 4, "jitter": 0}}
FAILED = {"initial": "FAILED", "recover_after_restarts": "never"}


def _row_line(w: World, now: datetime) -> str:
    table = render_status(w.daemon.state.rows(), now=now)
    [line] = [line for line in table.splitlines() if "flap-1" in line]
    return line


async def test_a_flapping_connector_given_up_on_stays_given_up_with_one_line() -> None:
    w = in_process(sim_scenario([{"name": "flap-1", "id": "lcc-flap1", "script": FAILED}]), daemon_config([RULE]),
                   fake_time=True)
    assert w.clock is not None
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "flap-1")
    daemon.queue.start()
    lines: list[str] = []
    try:
        with capture_logs() as logs:
            for poll in range(24):
                if poll >= 8:  # given up by now: it flaps, each healthy poll shorter than its gap (8 s)
                    w.simulator.set_script(CLUSTER_ID, "flap-1", {"initial": "RUNNING"} if poll % 2 else FAILED)
                await daemon.pollers[CLUSTER].poll()
                await daemon.queue.join()
                if poll >= 8:
                    lines.append(_row_line(w, w.clock.wall()))
                w.clock.advance(5)
    finally:
        await daemon.queue.close(0)
    gave_up = [e for e in logs if e["event"] == "gave_up"]
    assert len(gave_up) == 1, [e["log_level"] for e in gave_up]
    assert len(w.simulator.restarts()) == 2
    assert all("when healthy" in line and " now" not in line for line in lines), lines
    assert daemon.state.load(key).gave_up
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="flap-1") == 1
    # Healthy for its gap (8 s after 2 restarts): the count resets and the flag clears.
    w.simulator.set_script(CLUSTER_ID, "flap-1", {"initial": "RUNNING"})
    for _ in range(3):
        await daemon.pollers[CLUSTER].poll()
        w.clock.advance(5)
    assert not daemon.state.load(key).gave_up
    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="flap-1") == 0


async def test_the_gave_up_line_names_the_schedule_rules_that_still_restart_it() -> None:
    # A status rule gave up while an interval rule went on restarting the connector every 10 s (15
    # times in 150 s): the line said "left alone" and named none of it (probe of rules, finding 3).
    every = {"name": "every-hour", "trigger": {"type": "schedule", "interval": 3600}, "select": {"include": ["flap-*"]}}
    elsewhere = {"name": "other-nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"},
                 "select": {"include": ["billing-*"]}}
    w = in_process(sim_scenario([{"name": "flap-1", "script": FAILED}]), daemon_config([RULE, every, elsewhere]),
                   fake_time=True)
    assert w.clock is not None
    w.daemon.queue.start()
    try:
        with capture_logs() as logs:
            for _ in range(6):
                await w.daemon.pollers[CLUSTER].poll()
                await w.daemon.queue.join()
                w.clock.advance(5)
    finally:
        await w.daemon.queue.close(0)
    [gave_up] = [e for e in logs if e["event"] == "gave_up"]
    assert "schedule rule(s) every-hour still restart it at each of their runs" in gave_up["note"], gave_up["note"]
    assert "other-nightly" not in gave_up["note"]


async def test_a_poll_that_resets_the_count_says_so_once_with_the_gave_up_flag_cleared() -> None:
    # The poll path reset a given-up connector's count and flag in silence: the last line said
    # "left alone", the next a restart with attempts 0 (probe of a soak, F3). The alert path says
    # `restart_count_reset`; a poll now says it too, once.
    w = in_process(sim_scenario([{"name": "flap-1", "id": "lcc-flap1", "script": FAILED}]), daemon_config([RULE]),
                   fake_time=True)
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        for _ in range(8):  # restarted twice (gaps 2 s, 6 s), then given up on
            await daemon.pollers[CLUSTER].poll()
            await daemon.queue.join()
            w.clock.advance(5)
        assert daemon.state.load(ConnectorKey(CLUSTER, "flap-1")).gave_up
        w.simulator.set_script(CLUSTER_ID, "flap-1", {"initial": "RUNNING"})
        with capture_logs() as logs:
            for _ in range(6):  # healthy 25 s: past its gap (4 s, the cap, after 2 restarts), then more polls
                await daemon.pollers[CLUSTER].poll()
                w.clock.advance(5)
    finally:
        await daemon.queue.close(0)
    resets = [e for e in logs if e["event"] == "restart_count_reset"]
    assert len(resets) == 1, resets
    [reset] = resets
    assert reset["log_level"] == "info"
    assert (reset["connector"], reset["rule"], reset["attempts"], reset["gave_up_cleared"]) == ("flap-1", "heal", 2,
                                                                                                True)
    assert reset["healthy_for_seconds"] >= 4 and reset["healthy_since"]
    assert "gave-up flag" in reset["note"]


async def test_a_poll_that_resets_a_count_with_no_give_up_says_so_too() -> None:
    once = {"initial": "FAILED", "recover_after_restarts": 1}
    w = in_process(sim_scenario([{"name": "flap-1", "id": "lcc-flap1", "script": once}]), daemon_config([RULE]),
                   fake_time=True)
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        with capture_logs() as logs:
            for _ in range(8):
                await daemon.pollers[CLUSTER].poll()
                await daemon.queue.join()
                w.clock.advance(5)
    finally:
        await daemon.queue.close(0)
    assert len(w.simulator.restarts()) == 1
    resets = [e for e in logs if e["event"] == "restart_count_reset"]
    assert [(e["attempts"], e["gave_up_cleared"]) for e in resets] == [(1, False)], resets
