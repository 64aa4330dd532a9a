"""A config file that goes away (a ConfigMap key renamed, a directory in its place) is a failed reload.

Before, the file watcher skipped a file it could not read without a word: no log line, the
`watchdog_config_last_reload_successful` gauge stayed 1 (so WatchdogConfigReloadFailing never
fired), and the daemon ran on its old config until the next start refused to start at all.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.config import load_config
from watchdog.simulator import Scenario, Simulator, create_app

from .support import sim_scenario, until
from .test_reload import HEAL, write


async def test_a_config_file_that_vanishes_is_one_failed_reload_until_it_comes_back(
    tmp_path: Path, credentials_env: None
) -> None:
    mount = tmp_path / "config"
    mount.mkdir()
    path = mount / "config.yaml"
    write(path, [HEAL])  # the watcher looks every 0.2 s
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)

    def gauge() -> float | None:
        return daemon.metrics.registry.get_sample_value("watchdog_config_last_reload_successful")

    def said(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in logs if e["event"].startswith("config_reload")]

    running = daemon.config
    with structlog.testing.capture_logs() as logs:
        await daemon.start(serve_http=False)
        try:
            assert gauge() == 1
            path.unlink()  # the ConfigMap's key renamed: config.yaml is gone from the mount
            await until(lambda: said(logs), "the watcher to say the file is gone", timeout=10)
            await asyncio.sleep(1.5)  # several more looks of the watcher: said once, not at each
            (failed,) = said(logs)
            assert failed["event"] == "config_reload_failed"
            assert failed["errors"] == [f"config file {path} does not exist"]
            assert failed["note"] == "the running config stays in effect"
            assert gauge() == 0
            assert daemon.metrics.registry.get_sample_value("watchdog_config_reloads_total", {"result": "error"}) == 1
            assert daemon.config is running

            write(path, [HEAL], dry_run=True)  # it comes back: the normal reload
            await until(lambda: len(said(logs)) == 2, "the reload of the file come back", timeout=10)
            assert said(logs)[1]["event"] == "config_reloaded" and said(logs)[1]["sections_changed"] == ["dry_run"]
            assert gauge() == 1 and daemon.config.dry_run is True

            path.unlink()
            path.mkdir()  # a directory in its place: refused, once, naming it
            await until(lambda: len(said(logs)) == 3, "the watcher to say the path is no file", timeout=10)
            await asyncio.sleep(1.0)
            assert len(said(logs)) == 3
            assert said(logs)[2]["event"] == "config_reload_failed"
            assert said(logs)[2]["errors"] == [f"config path {path} is not a file"]
            assert gauge() == 0 and daemon.config.dry_run is True
        finally:
            await daemon.stop()
