"""A glob-found connector restarted for failures before a daemon restart has its `accepted`
series at 0 from the new process's first poll, so increase() sees its next restart.

Before, the series began at 1 with that next restart (made only when a restart was queued), and
`WatchdogConnectorRestartedTooOften` read one restart fewer per daemon restart (22 restarts across
three processes read 20.1: an outside probe, 2026-12-06)."""

from __future__ import annotations

from pathlib import Path

from watchdog.simulator import Scenario, Simulator

from .support import CLUSTER, Clock, sim_scenario
from .test_durable import BROKEN, daemon, poll

ACCEPTED = {"cluster": CLUSTER, "connector": "broken", "rule": "heal", "trigger": "status", "outcome": "accepted"}


async def test_a_connector_restarted_before_a_daemon_restart_has_its_accepted_series_at_0_before_its_next(
        tmp_path: Path) -> None:
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario(BROKEN)), clock=clock.monotonic)
    first = daemon(tmp_path / "state.db", simulator, clock)
    first.queue.start()
    await poll(first)
    await first.stop()
    assert len(simulator.restarts(connector="broken")) == 1

    clock.advance(5)
    second = daemon(tmp_path / "state.db", simulator, clock)
    second.queue.start()
    await poll(second)  # FAILED again, its backoff (60 s) holds it: no restart yet
    registry = second.metrics.registry
    held = registry.get_sample_value("watchdog_restarts_total", ACCEPTED)
    fine = registry.get_sample_value("watchdog_restarts_total", {**ACCEPTED, "connector": "fine"})
    clock.advance(120)
    await poll(second)
    after = registry.get_sample_value("watchdog_restarts_total", ACCEPTED)
    await second.stop()
    assert len(simulator.restarts(connector="broken")) == 2
    assert (held, after) == (0.0, 1.0), "a 0 sample before the restart, so increase() counts it"
    assert fine is None, "a connector never restarted for failures gets no restart series: bounded"
