"""A closed window's `next open` is said in the zone the windows were written in when they share
one: a window written as 19:11 IST said `next open ...T13:41:00+00:00`, and the on-call had to
convert it back. Windows of several zones still say it in UTC."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from .support import daemon_config, in_process, sim_scenario


@pytest.mark.parametrize(("windows", "shown"), [
    ({"allowed": ["Mon-Sun 19:11-19:18 Asia/Kolkata"]}, "global windows closed; next open 2026-03-01T19:11:00+05:30"),
    ({"allowed": ["Mon-Sun 19:11-19:18 Asia/Kolkata"], "blackout": ["Sat 10:00-11:00 Europe/Berlin"]},
     "global windows closed; next open 2026-03-01T13:41:00+00:00"),  # two zones: UTC, as before
])
async def test_a_closed_windows_next_opening_is_said_in_its_own_zone(windows: dict[str, list[str]], shown: str) -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED"}}])
    # The fake clock starts at 2026-03-01T12:00Z, 17:30 in Kolkata: the window is closed.
    w = in_process(scenario, daemon_config(rules, windows=windows), fake_time=True)
    w.daemon.queue.start()
    with capture_logs() as logs:
        await w.daemon.pollers[next(iter(w.daemon.pollers))].poll()
        await w.daemon.queue.join()
    held = [e for e in logs if e.get("decision") == "window_closed"]
    assert held and {e["detail"] for e in held} == {shown}, held
    assert not [c for c in w.simulator.calls if c.endpoint == "restart"]
