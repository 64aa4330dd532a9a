"""What a replica's metrics show once it stops leading: not the leader's view as it was at that
moment (the new leader polls and decides; a standby's old gave-up flag or open breaker would stay
for ever), but what a daemon that has not polled shows."""

from __future__ import annotations

from typing import Any

from watchdog.model import Health

from .support import CLUSTER, World, daemon_config, in_process, sim_scenario

HOPELESS = {"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 0.5}}


def world() -> World:
    rule: dict[str, Any] = {
        "name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
        "select": {"include": ["*"]}, "backoff": {"base": 1, "cap": 1, "jitter": 0}, "max_restarts": 1,
    }
    config = daemon_config([rule], rate_limit={"max_requests_per_second": 10000},
                           breaker={"max_restarts": 1, "window": 3600, "max_failing_share": None})
    w = in_process(sim_scenario([HOPELESS], restart={"delay_seconds": 0}), config, fake_time=True, rng=0.5)
    w.daemon.queue.start()
    return w


async def poll(w: World, times: int) -> None:
    assert w.clock is not None
    for _ in range(times):
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        w.clock.advance(3)


async def test_a_replica_that_stands_by_no_longer_reports_the_view_it_had_while_leading() -> None:
    w = world()
    await poll(w, 4)
    w.daemon.engine.refresh_breaker()
    led = {
        "gave up": w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless"),
        "backoff step": w.sample("watchdog_connector_backoff_step", cluster=CLUSTER, connector="hopeless"),
        "fleet breaker": w.sample("watchdog_breaker_open", scope="fleet"),
        "failed": w.sample("watchdog_connectors", cluster=CLUSTER, health=Health.FAILED.value),
    }
    assert led == {"gave up": 1, "backoff step": 1, "fleet breaker": 1, "failed": 1}
    assert w.daemon.metrics.registry.get_sample_value(
        "watchdog_last_successful_poll_timestamp_seconds", {"cluster": CLUSTER}) is not None
    w.daemon.state.problem = "could not record a decision: the database went away"
    assert w.sample("watchdog_state_store_writable") == 0

    w.daemon.leadership.leading = False  # as the elector does when it loses the lease
    await w.daemon._follow("another replica took the lease over")

    assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 0
    assert w.sample("watchdog_connector_backoff_step", cluster=CLUSTER, connector="hopeless") == 0
    assert w.sample("watchdog_breaker_open", scope="fleet") == 0
    assert w.total("watchdog_connectors", cluster=CLUSTER) == 0
    assert w.daemon.metrics.registry.get_sample_value(
        "watchdog_last_successful_poll_timestamp_seconds", {"cluster": CLUSTER}) is None
    assert w.sample("watchdog_state_store_writable") == 1
    # The heartbeat of a standby opens nothing again from what it saw before.
    w.daemon.engine.refresh_breaker()
    assert w.sample("watchdog_breaker_open", scope="fleet") == 0
