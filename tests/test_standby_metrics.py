"""What a replica's metrics show once it stops leading: not the leader's view as it was at that
moment (the new leader polls and decides; a standby's old gave-up flag or open breaker would stay
for ever), but what a daemon that has not polled shows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog

from bench.postgres import PostgresServer
from watchdog.model import Health

from .support import CLUSTER, World, daemon_config, in_process, sim_cluster, sim_scenario, until
from .test_discovery import config_data, environment, lkc, scenario
from .test_discovery import world as discovery_world

HOPELESS = {"name": "hopeless", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 0.5}}
RULE: dict[str, Any] = {
    "name": "heal", "trigger": {"type": "status", "interval": 3600, "confirm_polls": 1},
    "select": {"include": ["*"]}, "backoff": {"base": 0.1, "cap": 0.2, "jitter": 0}, "max_restarts": 1,
}
BREAKER = {"max_restarts": 1, "window": 3600, "max_failing_share": None}


def world() -> World:
    config = daemon_config([RULE], rate_limit={"max_requests_per_second": 10000}, breaker=BREAKER)
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


async def test_a_leader_that_loses_its_lease_clears_its_view_as_it_stands_by(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real path: a replica on PostgreSQL leads, sees a connector give up and the breaker
    # open, then finds its lease taken over (another replica's newer epoch) and stands by.
    monkeypatch.setenv("WATCHDOG_STATE__PASSWORD", postgres_server.password.get_secret_value())
    config = daemon_config([RULE], rate_limit={"max_requests_per_second": 10000}, breaker=BREAKER,
                           state={"url": postgres_url,
                                  "leader_election": {"lease_duration": 3, "renew_deadline": 2, "renew_interval": 0.5}})
    w = in_process(sim_scenario([HOPELESS], restart={"delay_seconds": 0}), config)
    daemon = w.daemon
    await daemon.start(serve_http=False)
    try:
        await until(lambda: daemon.leadership.leading, "elected")
        for _ in range(3):
            await daemon.pollers[CLUSTER].poll()
            await daemon.queue.join()
            await asyncio.sleep(0.6)  # the connector fails again after its restart
        assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 1
        assert w.sample("watchdog_breaker_open", scope="fleet") == 1

        await asyncio.to_thread(_take_over, postgres_server, postgres_url)
        await until(lambda: not daemon.leadership.leading, "stood by", timeout=10)
        await until(lambda: w.sample("watchdog_leadership_changes_total", change="lost") == 1, "lost counted")
        await asyncio.sleep(1.5)  # heartbeats of the standby

        assert w.sample("watchdog_connector_gave_up", cluster=CLUSTER, connector="hopeless") == 0
        assert w.sample("watchdog_breaker_open", scope="fleet") == 0
        assert w.total("watchdog_connectors", cluster=CLUSTER) == 0
        assert w.daemon.metrics.registry.get_sample_value(
            "watchdog_last_successful_poll_timestamp_seconds", {"cluster": CLUSTER}) is None
    finally:
        await daemon.stop()


def _take_over(server: PostgresServer, url: str) -> None:
    """Another replica took the lease (as after this one's renew deadline, or a failover)."""
    with server.connect(url.rsplit("/", 1)[1]) as admin:
        admin.execute("UPDATE leader_lease SET holder = 'other-replica', epoch = epoch + 1, "
                      "expires_at = clock_timestamp() + interval '60 seconds' WHERE id = 1")


async def test_a_replica_that_stands_by_no_longer_reports_what_its_discovery_found() -> None:
    w = discovery_world(scenario(environment("env-a", "prod", [lkc("lkc-1", "orders")])), config_data({}))
    w.daemon.queue.start()
    assert await w.daemon.refresh_discovery()
    info = {"cluster": "lkc-1", "environment": "env-a", "environment_name": "prod", "display_name": "orders"}
    assert w.sample("watchdog_discovered_cluster_info", **info) == 1
    assert w.sample("watchdog_discovery_last_success_timestamp_seconds") > 0

    w.daemon.leadership.leading = False
    await w.daemon._follow("another replica took the lease over")

    assert w.total("watchdog_discovered_cluster_info") == 0
    assert w.sample("watchdog_discovery_last_success_timestamp_seconds") == 0
    assert w.total("watchdog_discovery_clusters") == 0 and w.total("watchdog_discovery_environments") == 0
    # Leading again, its first refresh shows them again (nothing changed since, for discovery).
    w.daemon.leadership.leading = True
    assert await w.daemon.refresh_discovery()
    assert w.sample("watchdog_discovered_cluster_info", **info) == 1
    assert w.sample("watchdog_discovery_clusters", state="watched") == 1


NAMED = {"name": "nightly-named", "trigger": {"type": "schedule", "cron": "0 3 * * *"},
         "select": {"connectors": ["orders-sink"]}}


def _gauge_series(w: World) -> set[tuple[str, str, str]]:
    """(metric, cluster, connector) of every per-connector gauge series in /metrics."""
    return {(metric.name, sample.labels["cluster"], sample.labels["connector"])
            for metric in w.daemon.metrics.registry.collect() if metric.name in PER_CONNECTOR_GAUGES
            for sample in metric.samples}


PER_CONNECTOR_GAUGES = {"watchdog_connector_gave_up", "watchdog_connector_backoff_step",
                        "watchdog_connector_next_restart_timestamp_seconds"}


async def test_a_replica_that_stands_by_keeps_no_gauge_of_the_connectors_it_saw_and_leading_again_says_nothing_of_those_deleted_meanwhile() -> None:
    # Probe soak F2: a replica that stopped leading kept the three gauges (at 0) of every connector
    # it had seen, deleted ones included, for as long as it stood by (109 series where a replica
    # that never led had none); leading again, its first prune said `connector_unwatched`, "no
    # rule names it now and its cluster does not list it", of those deleted meanwhile, though
    # the `include: ["*"]` rule selects them and nothing had changed in the config.
    audit = {"name": "audit-sink", "script": {"initial": "FAILED", "recover_after_restarts": 1}}
    scenario = sim_scenario([{"name": "billing-sink"}, audit, {"name": "orders-sink"}])
    config = daemon_config([RULE, NAMED], rate_limit={"max_requests_per_second": 10000})
    fresh = in_process(scenario, config)
    w = in_process(scenario, config)
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert {c for _, _, c in _gauge_series(w)} == {"billing-sink", "audit-sink", "orders-sink"}
    restarted = {"cluster": CLUSTER, "connector": "audit-sink", "rule": "heal", "trigger": "status", "outcome": "accepted"}
    assert w.daemon.metrics.registry.get_sample_value("watchdog_restarts_total", restarted) == 1

    w.daemon.leadership.leading = False  # as the elector does when it loses the lease
    await w.daemon._follow("another replica took the lease over")
    # As a replica that never led: the connector a rule names is pre-initialised at 0, no other.
    assert _gauge_series(w) == _gauge_series(fresh) == {
        (name, CLUSTER, "orders-sink") for name in PER_CONNECTOR_GAUGES}
    assert w.daemon.metrics.registry.get_sample_value(
        "watchdog_connector_gave_up", {"cluster": CLUSTER, "connector": "orders-sink"}) == 0

    # Its counters keep what it did while it led.
    assert w.daemon.metrics.registry.get_sample_value("watchdog_restarts_total", restarted) == 1
    w.simulator.delete_connector(sim_cluster(), "audit-sink")  # while it stands by
    w.daemon.leadership.leading = True
    with structlog.testing.capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.engine.prune_unwatched()  # as a discovery change or a reload at its first lead runs it
        await w.daemon.queue.join()
    assert [e for e in logs if e["event"] == "connector_unwatched"] == []
    assert {c for _, _, c in _gauge_series(w)} == {"billing-sink", "orders-sink"}
    # Its restart counters, which nothing else removes once it leads again (no listing from before
    # says it went), go at the hourly sweep, as a connector's that vanished while it led do.
    await w.daemon.engine.forget_vanished()
    assert w.daemon.metrics.registry.get_sample_value("watchdog_restarts_total", restarted) is None
    assert [e for e in logs if e["event"] == "connector_unwatched"] == []
    await w.daemon.queue.close(0)
