"""SIGHUP, then SIGTERM while the reload still reads and checks its file (a config of thousands of
rules takes a second): the stop ends first, and the reload must say it was not applied (probe_races
F5: the log held only `stopping` and `stopped`, neither `config_reloaded` nor a word of the reload,
and an operator who sent an incident edit could not tell whether it was ever in effect)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

from structlog.testing import capture_logs

from watchdog import signals
from watchdog.config import Config

from .support import daemon_config, in_process, sim_scenario, until

HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 60}, "select": {"include": ["*"]}}


async def test_a_reload_still_reading_its_file_when_the_stop_ends_says_it_was_not_applied() -> None:
    w = in_process(sim_scenario([{"name": "orders"}]), daemon_config([HEAL]))
    daemon = w.daemon
    reading, release = threading.Event(), threading.Event()

    def slow_load() -> Config:  # the file of 2,000 rules, still being checked when the stop ends
        reading.set()
        release.wait(10)
        return daemon_config([HEAL], dry_run=True)

    daemon._reload_config = slow_load
    with capture_logs() as logs:
        run = asyncio.create_task(signals.run_until_signalled(daemon))
        try:
            await until(lambda: daemon.probes.config_loaded or run.done(), "the daemon started", timeout=10)
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: reading.is_set() or run.done(), "the reload reading its file", timeout=10)
            os.kill(os.getpid(), signal.SIGTERM)
            assert await asyncio.wait_for(run, 15) == 0
        finally:
            release.set()
    events = [line["event"] for line in logs]
    assert daemon.config.dry_run is False  # never applied
    # Before: neither config_reloaded nor config_reload_skipped nor any other line of the reload.
    abandoned = [line for line in logs if line["event"] == "config_reload_abandoned"]
    assert len(abandoned) == 1, events
    assert abandoned[0]["log_level"] == "warning" and abandoned[0]["reason"] == "SIGHUP", abandoned
    assert "not applied" in abandoned[0]["note"], abandoned
    assert events.index("config_reload_abandoned") < events.index("stopped"), events  # said by the stop
