"""The wall clock stepping while the daemon runs (NTP correcting a wrong clock, an operator's
`date -s`, a VM restored from a snapshot): polls and timed rules keep their real-time pace, and
no gate holds longer than its own length."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from freezegun import freeze_time
from structlog.testing import capture_logs

from .support import CLUSTER, daemon_config, in_process, sim_scenario


async def until(condition: Callable[[], object], what: str, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def test_polls_go_on_at_their_interval_after_the_wall_clock_steps_back_an_hour() -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 5}, "select": {"include": ["*"]}}]
    with freeze_time("2026-06-01 12:00:00", tick=True, real_asyncio=True, tz_offset=0) as frozen, capture_logs() as logs:
        w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
        await w.daemon.start(serve_http=False)
        try:
            poller = w.daemon.pollers[CLUSTER]
            await until(lambda: poller.listed_at is not None, "the first poll", timeout=10)
            before = len(w.simulator.calls)
            frozen.move_to(datetime.now(timezone.utc) - timedelta(hours=1))  # NTP steps the clock back
            # The next poll is due 5 real seconds after the last: before, the scheduler waited for
            # the wall clock to come back to its next time, an hour (healing stopped, unsaid).
            await until(lambda: len(w.simulator.calls) > before, "a poll after the step", timeout=8)
            (stepped,) = [e for e in logs if e["event"] == "wall_clock_stepped"]
            assert -3601 < stepped["seconds"] < -3599 and stepped["jobs_moved"] == [f"poll:{CLUSTER}"]
        finally:
            await w.daemon.stop()
