"""`watchdog_dry_run`: which replica (or daemon) runs in dry run. One replica reloaded to
`dry_run: true` beside one still live took over and ended six live requests `dry_run`, none sent,
and nothing on /metrics showed that the two configs differed (an HA probe, 2026-12-06)."""

from __future__ import annotations

from typing import Any

import httpx

from watchdog.app import Daemon
from watchdog.config import Config
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as simulator_app

from .support import daemon_config, sim_scenario

HEAL = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}


def _config(**settings: Any) -> Config:
    return daemon_config([HEAL], **settings)


async def test_the_dry_run_gauge_follows_the_config_in_force_across_reloads() -> None:
    configs = [_config(dry_run=True)]
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = Daemon(configs[0], transport=httpx.ASGITransport(app=simulator_app(simulator)),
                    reload_config=lambda: configs[-1])

    def shown() -> float | None:
        return daemon.metrics.registry.get_sample_value("watchdog_dry_run")

    assert shown() == 1.0, "started in dry run"
    configs.append(_config())
    assert await daemon.reload("test") is True
    assert shown() == 0.0, "live since the reload"
    configs.append(daemon_config([{**HEAL, "dry_run": True}]))
    assert await daemon.reload("test") is True
    assert shown() == 0.0, "a rule on trial alone does not make the daemon a dry run"
    daemon.state.close()
