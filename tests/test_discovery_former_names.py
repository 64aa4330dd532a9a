"""A hand-listed Confluent Cloud cluster removed by a reload and found by discovery later (the
migration config.example recommends: discovery turned on, the listed entry dropped) is the same
Kafka cluster: its connectors keep their backoff, budget and gave-up flag under the lkc- id
(`cluster_state_carried`), as for a rename in one reload. Found by a reload probe: a connector
given up on was restarted again 1.9 s after the reload, with a second gave_up page."""

from __future__ import annotations

from typing import Any

import structlog

from watchdog.config import Config
from watchdog.model import ConnectorKey

from .support import World, in_process
from .test_discovery import FAILING, config_data, environment, lkc, make_config, scenario

ONCE = {"name": "heal", "trigger": {"type": "status", "interval": 60, "confirm_polls": 1}, "select": {"include": ["*"]},
        "max_restarts": 1, "backoff": {"base": "10s", "cap": "10s", "jitter": 0}}
PROD = {"prod": {"environment_id": "env-prod", "kafka_cluster_id": "lkc-orders"}}
OTHER = {"other": {"environment_id": "env-prod", "kafka_cluster_id": "lkc-other"}}


def fleet() -> dict[str, Any]:
    """Two clusters, each with a connector that fails for good (the same name in both)."""
    return scenario(environment("env-prod", "production", [lkc("lkc-orders", "orders", [FAILING]), lkc("lkc-other", "other", [FAILING])]))


def reloading(data: dict[str, Any]) -> tuple[World, list[Config]]:
    loaded = [make_config(data)]
    w = in_process(fleet(), loaded[0], fake_time=True)
    w.daemon._reload_config = lambda: loaded[0]
    return w, loaded


async def polled(w: World, cluster: str, times: int = 4) -> None:
    """Polls a minute apart: its backoff (10 s) passed, the simulator's restart over."""
    assert w.clock is not None
    for _ in range(times):
        await w.daemon.pollers[cluster].poll()
        await w.daemon.queue.join()
        w.clock.advance(60)


def restarts_of(w: World, cluster_id: str) -> int:
    return len([c for c in w.simulator.calls if c.endpoint == "restart" and c.cluster == cluster_id])


async def given_up_under_prod(w: World) -> None:
    w.daemon.queue.start()
    await polled(w, "prod")
    assert w.daemon.state.load(ConnectorKey("prod", "broken")).gave_up
    assert restarts_of(w, "lkc-orders") == 1


async def test_a_reload_that_turns_discovery_on_and_drops_the_listed_entry_carries_the_state_to_the_discovered_name() -> None:
    w, loaded = reloading(config_data(None, clusters=PROD, rules=[ONCE]))
    await given_up_under_prod(w)

    with structlog.testing.capture_logs() as logs:
        loaded[0] = make_config(config_data({}, rules=[ONCE]))
        assert await w.daemon.reload("test") is True
        await w.daemon.refresh_discovery()  # the refresh "at once" after the swap finds lkc-orders
        await polled(w, "lkc-orders")
        await polled(w, "lkc-other")
    carried = w.daemon.state.load(ConnectorKey("lkc-orders", "broken"))
    await w.daemon.stop()

    assert restarts_of(w, "lkc-orders") == 1, "the connector given up on was restarted again under lkc-orders"
    assert carried.gave_up and carried.attempts == 1
    assert not [e for e in logs if e["event"] == "gave_up" and e.get("cluster") == "lkc-orders"], "a second gave_up page"
    (said,) = [e for e in logs if e["event"] == "cluster_state_carried"]
    assert (said["cluster"], said["renamed_from"], said["connectors"]) == ("lkc-orders", "prod", 1)
    # Never across different lkc- ids: the other cluster's namesake starts with its own budget.
    assert restarts_of(w, "lkc-other") == 1


async def test_discovery_turned_on_later_finds_a_cluster_a_reload_unlisted_and_carries_its_state() -> None:
    w, loaded = reloading(config_data(None, clusters={**PROD, **OTHER}, rules=[ONCE]))
    await given_up_under_prod(w)
    loaded[0] = make_config(config_data(None, clusters=OTHER, rules=[ONCE]))
    assert await w.daemon.reload("test") is True  # un-listed while discovery is off

    with structlog.testing.capture_logs() as logs:
        loaded[0] = make_config(config_data({}, clusters=OTHER, rules=[ONCE]))
        assert await w.daemon.reload("test") is True
        await w.daemon.refresh_discovery()
        await polled(w, "lkc-orders")
    await w.daemon.stop()

    assert restarts_of(w, "lkc-orders") == 1, "the connector given up on was restarted again under lkc-orders"
    (said,) = [e for e in logs if e["event"] == "cluster_state_carried"]
    assert (said["cluster"], said["renamed_from"]) == ("lkc-orders", "prod")


async def test_a_name_given_to_another_cluster_since_carries_nothing_to_the_first() -> None:
    # `prod` removed, then `prod` again for another Kafka cluster: its rows are that cluster's now,
    # and discovery finding the first one must not hand them over.
    w, loaded = reloading(config_data(None, clusters={**PROD, **OTHER}, rules=[ONCE]))
    await given_up_under_prod(w)
    loaded[0] = make_config(config_data(None, clusters=OTHER, rules=[ONCE]))
    assert await w.daemon.reload("test") is True
    loaded[0] = make_config(config_data(None, clusters={"prod": OTHER["other"]}, rules=[ONCE]))
    assert await w.daemon.reload("test") is True

    with structlog.testing.capture_logs() as logs:
        loaded[0] = make_config(config_data({}, clusters={"prod": OTHER["other"]}, rules=[ONCE]))
        assert await w.daemon.reload("test") is True
        await w.daemon.refresh_discovery()
    await w.daemon.stop()

    assert "lkc-orders" in w.daemon.config.clusters
    assert not [e for e in logs if e["event"] == "cluster_state_carried"]
