"""Discovery in the daemon, against the simulator: environments and clusters found over several
pages, picked up and dropped on the simulator's timeline, a 403 environment next to a readable
one, static entries winning, reloads, readiness, recovery and the rate-limit lane shared with
every poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from watchdog.config import Config, ConfigError, Credential, build_config
from watchdog.model import ConnectorKey, ConnectorState, Decision, Trigger

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import World, in_process

HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 60}, "select": {"include": ["*"]}}
FAILING = {"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}


def environment(identifier: str, name: str, clusters: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": identifier, "display_name": name, "clusters": clusters, **extra}


def lkc(identifier: str, name: str | None = None, connectors: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": identifier, "display_name": name or identifier, "connectors": connectors or [{"name": "ok"}], **extra}


def scenario(*environments: dict[str, Any], key: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    return {"api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET, **(key or {})}],
            "environments": list(environments), **settings}


def config_data(discovery: dict[str, Any] | None = None, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "api": {"base_url": "http://sim"},
        "credentials": {"main": {}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "rules": [HEAL],
        **sections,
    }
    if discovery is not None:
        data["discovery"] = discovery
    return data


def make_config(data: dict[str, Any]) -> Config:
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    return build_config(data, "test config", secrets={"credentials": {"main": credential}})


def world(sim: dict[str, Any], data: dict[str, Any]) -> World:
    return in_process(sim, make_config(data), fake_time=True)


def discovered(w: World) -> list[str]:
    return sorted(name for name in w.daemon.config.clusters if w.daemon.fleet.is_discovered(name))


def calls(w: World, endpoint: str) -> list[Any]:
    return [c for c in w.simulator.calls if c.endpoint == endpoint]


async def test_environments_and_clusters_over_several_pages_are_all_watched() -> None:
    # 120 environments (two pages of 99), one of them with 150 clusters (two pages of its own).
    quiet = [environment(f"env-q{i:03d}", f"quiet-{i}", []) for i in range(117)]
    big = environment("env-big", "big", [lkc(f"lkc-big{i:03d}", f"big-{i}") for i in range(150)])
    small = [environment(f"env-s{i}", f"small-{i}", [lkc(f"lkc-s{i}")]) for i in range(2)]
    # The local ceiling (10 calls a second by default) would make this 12 s of waiting.
    w = world(scenario(*quiet, big, *small), config_data({}, rate_limit={"max_requests_per_second": 1000}))
    assert await w.daemon.refresh_discovery() is True
    assert discovered(w) == sorted([f"lkc-big{i:03d}" for i in range(150)] + ["lkc-s0", "lkc-s1"])
    environments = calls(w, "list_environments")
    assert len(environments) == 2, "120 environments at 99 a page"
    assert len(calls(w, "list_clusters")) == 120 + 1, "one call per environment, two for the one with 150"
    assert all(c.status_code == 200 for c in environments + calls(w, "list_clusters"))
    assert w.sample("watchdog_discovery_clusters", state="watched") == 152
    assert w.sample("watchdog_discovery_refreshes_total", result="ok") == 1
    assert w.sample("watchdog_discovery_last_success_timestamp_seconds") == w.clock.wall().timestamp()  # type: ignore[union-attr]
    assert w.sample("watchdog_discovered_cluster_info", cluster="lkc-big007", environment="env-big",
                    environment_name="big", display_name="big-7") == 1
    # Discovered clusters are ordinary clusters from here on: polled and judged by the rules.
    await w.daemon.pollers["lkc-s0"].poll()
    assert ConnectorKey("lkc-s0", "ok") in w.daemon.engine.statuses
    await w.daemon.stop()


async def test_include_and_exclude_globs_on_display_names_and_ids() -> None:
    sim = scenario(environment("env-prod", "production", [
        lkc("lkc-ord1", "orders-eu"), lkc("lkc-ord2", "orders-scratch"), lkc("lkc-pay1", "payments"), lkc("lkc-keep1", "misc"),
    ]), environment("env-dev", "development", [lkc("lkc-dev1", "orders-dev")]))
    settings = {"environments": {"names": ["prod*"]}, "clusters": {"include": ["orders-*", "lkc-keep*"], "exclude": ["*-scratch"]}}
    w = world(sim, config_data(settings))
    await w.daemon.refresh_discovery()
    assert discovered(w) == ["lkc-keep1", "lkc-ord1"]
    assert w.sample("watchdog_discovery_clusters", state="excluded") == 2
    assert not [c for c in calls(w, "list_clusters") if c.status_code != 200]
    assert len(calls(w, "list_clusters")) == 1, "the development environment is not selected: not even listed"
    await w.daemon.stop()


async def test_a_cluster_created_mid_run_is_polled_after_the_next_refresh() -> None:
    sim = scenario(environment("env-prod", "production", [
        lkc("lkc-old"), lkc("lkc-new", "new", [FAILING], lifecycle={"created_at": 100, "provisioning_seconds": 50}),
    ]))
    w = world(sim, config_data({"interval": "5m"}))
    assert w.clock is not None
    await w.daemon.start(serve_http=False)
    await wait_for(lambda: w.daemon.fleet.refreshes == 1)
    assert discovered(w) == ["lkc-old"]
    w.clock.advance(120)  # created, still PROVISIONING: not watched yet
    await w.daemon.refresh_discovery()
    assert discovered(w) == ["lkc-old"]
    assert w.sample("watchdog_discovery_clusters", state="not_ready") == 1
    assert w.sample("watchdog_discovery_changes_total", change="not_ready") == 1
    w.clock.advance(60)  # PROVISIONED
    await w.daemon.refresh_discovery()
    assert discovered(w) == ["lkc-new", "lkc-old"]
    assert w.sample("watchdog_discovery_changes_total", change="added") == 2
    # Its poll job starts at once: the simulator sees its connectors listed without waiting.
    await wait_for(lambda: any(c.endpoint == "list" and c.cluster == "lkc-new" for c in w.simulator.calls))
    await wait_for(lambda: ConnectorKey("lkc-new", "broken") in w.daemon.engine.statuses)
    await w.daemon.stop()


async def test_a_deleted_cluster_is_dropped_after_two_refreshes_with_its_series_but_not_its_state() -> None:
    sim = scenario(environment("env-prod", "production", [
        lkc("lkc-stays"), lkc("lkc-goes", "goes", [FAILING], lifecycle={"deleted_at": 100}),
    ]))
    w = world(sim, config_data({}))
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    await daemon.refresh_discovery()
    for _ in range(2):
        await daemon.pollers["lkc-goes"].poll()
    key = ConnectorKey("lkc-goes", "broken")
    await wait_for(lambda: daemon.state.load(key).attempts == 1)
    assert w.sample("watchdog_connectors", cluster="lkc-goes", health="failed") == 1
    w.clock.advance(150)
    await daemon.refresh_discovery()
    assert discovered(w) == ["lkc-goes", "lkc-stays"], "missing from one refresh: still watched"
    assert w.sample("watchdog_discovery_clusters", state="missing") == 1
    assert w.sample("watchdog_discovery_changes_total", change="missing") == 1
    await daemon.refresh_discovery()  # an early refresh (a reload woke the loop): too soon to drop
    assert discovered(w) == ["lkc-goes", "lkc-stays"]
    w.clock.advance(300)
    await daemon.refresh_discovery()
    assert discovered(w) == ["lkc-stays"]
    assert "lkc-goes" not in daemon.pollers
    assert w.sample("watchdog_discovery_changes_total", change="removed") == 1
    assert daemon.metrics.registry.get_sample_value("watchdog_connectors", {"cluster": "lkc-goes", "health": "failed"}) is None
    assert daemon.metrics.registry.get_sample_value(
        "watchdog_discovered_cluster_info", {"cluster": "lkc-goes", "environment": "env-prod",
                                             "environment_name": "production", "display_name": "goes"}) is None
    assert daemon.state.load(key).attempts == 1, "its backoff and budget are kept in case it comes back"
    # ... for the grace the state store uses for vanished connectors, then forgotten.
    w.clock.advance(daemon.config.state.forget_vanished_after + 60)
    await daemon.engine.forget_vanished()
    assert daemon.state.load(key) == ConnectorState()
    await daemon.stop()


async def test_a_forbidden_environment_does_not_cost_its_neighbour_a_cluster() -> None:
    sim = scenario(
        environment("env-open", "open", [lkc("lkc-open1"), lkc("lkc-open2")]),
        environment("env-shut", "shut", [lkc("lkc-shut1")]),
        key={"environments": ["env-open"]}, discovery={"unpermitted_environments": "listed"},
    )
    w = world(sim, config_data({}))
    assert await w.daemon.refresh_discovery() is True, "a 403 is an answer: the environment is read, and empty"
    assert discovered(w) == ["lkc-open1", "lkc-open2"]
    refused = [c for c in calls(w, "list_clusters") if c.status_code == 403]
    assert len(refused) == 1
    assert w.sample("watchdog_discovery_environments", outcome="gone") == 1
    assert w.sample("watchdog_discovery_environments", outcome="read") == 1
    await w.daemon.stop()


async def test_a_deleted_environment_is_counted_gone_while_its_clusters_go_then_no_longer_counted() -> None:
    # It stayed counted `read` (its last listing) for the life of the process.
    sim = scenario(environment("env-a", "a", [lkc("lkc-a")]), environment("env-b", "b", [lkc("lkc-b")], deleted_at=100))
    w = world(sim, config_data({}))
    assert w.clock is not None
    await w.daemon.refresh_discovery()
    assert w.sample("watchdog_discovery_environments", outcome="read") == 2
    w.clock.advance(400)
    await w.daemon.refresh_discovery()
    assert discovered(w) == ["lkc-a", "lkc-b"], "missing once: still watched"
    assert (w.sample("watchdog_discovery_environments", outcome="read"), w.sample("watchdog_discovery_environments", outcome="gone")) == (1, 1)
    w.clock.advance(400)
    await w.daemon.refresh_discovery()
    assert discovered(w) == ["lkc-a"]
    assert (w.sample("watchdog_discovery_environments", outcome="read"), w.sample("watchdog_discovery_environments", outcome="gone")) == (1, 0)
    await w.daemon.stop()


async def test_an_environment_that_fails_keeps_its_clusters_and_the_refresh_comes_again_sooner() -> None:
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a")]))
    w = world(sim, config_data({"environments": {"ids": ["env-prod"]}}))
    await w.daemon.refresh_discovery()
    w.simulator.set_faults([{"match": {"endpoint": "list_clusters"}, "action": {"status": 503}}])
    for _ in range(3):
        assert await w.daemon.refresh_discovery() is False
    assert discovered(w) == ["lkc-a"], "a 503 proves nothing about the clusters"
    assert w.sample("watchdog_discovery_refreshes_total", result="failed") == 3
    assert w.sample("watchdog_discovery_environments", outcome="unknown") == 1
    assert not calls(w, "list_environments"), "with ids only, environments are not listed"
    await w.daemon.stop()


async def test_a_cluster_list_whose_entries_come_without_ids_drops_no_watched_cluster() -> None:
    # cmk/v2 answering 200 with entries whose `id` is null (a schema change, a gateway rewriting
    # the answer) read as an environment without clusters: lkc-a missing, then dropped after two
    # refreshes, its connectors no longer polled or restarted. Said, and kept.
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a")]))
    w = world(sim, config_data({"environments": {"ids": ["env-prod"]}}))
    await w.daemon.refresh_discovery()
    assert discovered(w) == ["lkc-a"]
    body = {"api_version": "cmk/v2", "kind": "ClusterList", "metadata": {},
            "data": [{"id": None, "spec": {"environment": {"id": "env-prod"}}, "status": {"phase": "PROVISIONED"}}]}
    w.simulator.set_faults([{"match": {"endpoint": "list_clusters"}, "action": {"status": 200, "body": body}}])
    with structlog.testing.capture_logs() as logs:
        for _ in range(4):
            w.clock.advance(400)
            await w.daemon.refresh_discovery()
    assert discovered(w) == ["lkc-a"], "a listing it could not read whole took it for gone"
    (said,) = [e for e in logs if e["event"] == "discovery_entries_unreadable" and e["log_level"] == "warning"]
    assert said["count"] == 1, "said once, then at debug while the count stays"
    assert said["note"].endswith("1 named no readable id and may be any cluster: none of the environment's is "
                                 "counted missing while they are")
    assert not [e for e in logs if e["event"] in ("discovery_cluster_missing", "discovery_cluster_removed")]
    await w.daemon.stop()


async def test_a_cluster_list_redirected_to_a_host_that_refuses_it_without_the_key_drops_no_cluster() -> None:
    # The refusal came from a host the key never went to (a redirect away from the API): its 404
    # was taken for the environment deleted, every cluster of it counted missing and dropped
    # after two refreshes, and its words ("unauthorized: bad key" for a 401) pointed at the key.
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a")]))
    w = world(sim, config_data({"environments": {"ids": ["env-prod"]}}))
    await w.daemon.refresh_discovery()
    transport = w.daemon._transport
    assert transport is not None
    handle = transport.handle_async_request

    async def elsewhere(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mirror.example":
            assert "authorization" not in request.headers
            return httpx.Response(404, json={"errors": [{"detail": "no such environment"}]}, request=request)
        return await handle(request)

    transport.handle_async_request = elsewhere  # type: ignore[method-assign]
    w.simulator.set_faults([{"match": {"endpoint": "list_clusters"}, "action": {
        "status": 307, "headers": {"Location": "https://mirror.example/cmk/v2/clusters?environment=env-prod"}}}])
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            w.clock.advance(400)
            await w.daemon.refresh_discovery()
    assert discovered(w) == ["lkc-a"], "a keyless host's 404 took the environment for deleted"
    assert w.sample("watchdog_discovery_environments", outcome="unknown") == 1
    said = [e for e in logs if e["event"] == "discovery_environment_unreadable" and e["log_level"] == "warning"]
    assert said and said[0]["message"].startswith("answered by mirror.example, where a redirect took the call without the key")
    await w.daemon.stop()


async def test_static_and_discovered_entries_for_the_same_cluster() -> None:
    sim = scenario(environment("env-prod", "production", [lkc("lkc-orders", "orders", [FAILING]), lkc("lkc-other")]))
    data = config_data({}, clusters={"orders": {"environment_id": "env-prod", "kafka_cluster_id": "lkc-orders"}})
    w = world(sim, data)
    await w.daemon.refresh_discovery()
    assert sorted(w.daemon.config.clusters) == ["lkc-other", "orders"], "the static entry wins: one name per cluster"
    assert w.sample("watchdog_discovery_clusters", state="static") == 1
    await w.daemon.pollers["orders"].poll()
    assert ConnectorKey("orders", "broken") in w.daemon.engine.statuses
    assert not [c for c in w.simulator.calls if c.endpoint == "list" and c.cluster == "lkc-orders"][1:], "polled once, as orders"
    await w.daemon.stop()


def test_a_static_cluster_named_like_another_clusters_id_is_refused_with_discovery() -> None:
    data = config_data({}, clusters={"lkc-abc": {"environment_id": "env-prod", "kafka_cluster_id": "lkc-xyz"}})
    with pytest.raises(ConfigError) as caught:
        make_config(data)
    assert caught.value.problems[0][0] == "clusters.lkc-abc"
    same = config_data({}, clusters={"lkc-abc": {"environment_id": "env-prod", "kafka_cluster_id": "lkc-abc"}})
    assert "lkc-abc" in make_config(same).clusters


async def test_rules_select_discovered_clusters_with_globs() -> None:
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a1", connectors=[FAILING]), lkc("lkc-b1", connectors=[FAILING])]))
    only_a = {**HEAL, "select": {"clusters": ["lkc-a*"], "include": ["*"]}}
    w = world(sim, config_data({}, rules=[only_a]))
    await w.daemon.refresh_discovery()
    assert set(w.daemon.pollers) == {"lkc-a1", "lkc-b1"}
    from watchdog.plan import poll_intervals

    assert poll_intervals(w.daemon.config) == {"lkc-a1": 60}, "only the glob's clusters are polled"
    await w.daemon.stop()


async def test_a_reload_that_changes_discovery_applies_at_once_and_keeps_the_rest() -> None:
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a", "alpha", [FAILING]), lkc("lkc-b", "beta")]),
                   environment("env-dev", "development", [lkc("lkc-d", "delta")]))
    data = config_data({"environments": {"ids": ["env-prod"]}})
    loaded = [make_config(data)]
    w = in_process(sim, loaded[0], fake_time=True)
    daemon = w.daemon
    daemon._reload_config = lambda: loaded[0]
    daemon.queue.start()
    await daemon.refresh_discovery()
    for _ in range(2):
        await daemon.pollers["lkc-a"].poll()
    key = ConnectorKey("lkc-a", "broken")
    await wait_for(lambda: daemon.state.load(key).attempts == 1)

    # A reload that does not touch discovery keeps every discovered cluster.
    loaded[0] = make_config({**data, "dry_run": True})
    assert await daemon.reload("test") is True
    assert discovered(w) == ["lkc-a", "lkc-b"]
    assert w.sample("watchdog_discovery_changes_total", change="removed") == 0

    # Excluding one applies at once (no refresh needed); its state stays for the grace.
    loaded[0] = make_config({**data, "discovery": {"environments": {"ids": ["env-prod"]}, "clusters": {"exclude": ["alpha"]}}})
    refreshes = daemon.fleet.refreshes
    assert await daemon.reload("test") is True
    assert discovered(w) == ["lkc-b"] and daemon.fleet.refreshes == refreshes
    assert daemon.state.load(key).attempts == 1

    # Selecting another environment: its clusters come with the next refresh (the loop is woken).
    loaded[0] = make_config({**data, "discovery": {"environments": {"ids": ["env-prod", "env-dev"]}}})
    assert await daemon.reload("test") is True
    await daemon.refresh_discovery()
    assert discovered(w) == ["lkc-a", "lkc-b", "lkc-d"]

    # Turning discovery off removes every discovered cluster; a bad discovery section changes nothing.
    def bad() -> Config:
        return make_config({**data, "discovery": {"interval": "1s"}})

    daemon._reload_config = bad
    assert await daemon.reload("test") is False
    assert discovered(w) == ["lkc-a", "lkc-b", "lkc-d"]
    static = {"clusters": {"kept": {"environment_id": "env-prod", "kafka_cluster_id": "lkc-b"}}}
    daemon._reload_config = lambda: make_config(config_data(None, **static))
    assert await daemon.reload("test") is True
    assert sorted(daemon.config.clusters) == ["kept"] and discovered(w) == []
    await daemon.stop()


async def test_the_discovery_lane_is_the_keys_lane_shared_with_polls() -> None:
    # One key, two calls per two seconds. A 429 met by a discovery call pauses the polls queued
    # behind it too (or the other way round, as the calls happen to line up): had discovery a
    # lane of its own, the other kind of call would go out during the pause.
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a"), lkc("lkc-b")]),
                   environment("env-dev", "development", [lkc("lkc-c")]),
                   rate_limit={"limit": 2, "window_seconds": 2})
    data = config_data({}, clusters={"static": {"environment_id": "env-prod", "kafka_cluster_id": "lkc-a"}})
    w = in_process(sim, make_config(data))  # real time: the limiter really waits
    daemon = w.daemon
    await asyncio.gather(daemon.refresh_discovery(), *(daemon.pollers["static"].poll() for _ in range(3)))
    first = next(c for c in w.simulator.calls if c.status_code == 429)
    after = [c for c in w.simulator.calls if c.t > first.t]
    assert after and all(c.t >= first.t + 1.0 for c in after), "nobody, polls or discovery, went during the pause"
    kind = {"list": "poll", "list_clusters": "discovery", "list_environments": "discovery"}
    assert any(kind[c.endpoint] != kind[first.endpoint] for c in after), "the other kind of call waited out the 429"
    assert {c.api_key for c in w.simulator.calls} == {TEST_API_KEY}
    assert w.sample("watchdog_api_requests_total", credential="main", endpoint="list_environments", status_class="2xx") == 1
    assert w.total("watchdog_api_requests_total", credential="main", endpoint="list_clusters") == 2
    await daemon.stop()


async def test_ready_once_discovery_has_run_and_every_discovered_cluster_was_polled() -> None:
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a")]))
    w = world(sim, config_data({}))
    daemon = w.daemon
    daemon.probes.config_loaded = True
    ready, detail = daemon.probes.readiness()
    assert not ready and detail["discovery"] == "the first refresh has not finished"
    await daemon.refresh_discovery()
    ready, detail = daemon.probes.readiness()
    assert not ready and detail["clusters_not_yet_polled"] == ["lkc-a"]
    await daemon.pollers["lkc-a"].poll()
    assert daemon.probes.readiness()[0]
    await daemon.stop()


async def test_a_restart_kept_for_a_discovered_cluster_waits_for_discovery_after_a_restart_of_the_daemon(tmp_path: Any) -> None:
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a", connectors=[{"name": "c1"}])]))
    data = config_data({}, state={"path": str(tmp_path / "state.db")})
    first = world(sim, data)
    await first.daemon.refresh_discovery()
    await first.daemon.pollers["lkc-a"].poll()
    record = first.daemon.engine.on_request(ConnectorKey("lkc-a", "c1"), first.daemon.engine.statuses[ConnectorKey("lkc-a", "c1")],
                                            trigger=Trigger.MANUAL, rule="manual", reason="deploy")
    assert record.job is not None
    first.daemon.state.close()  # the daemon dies with the request queued

    second = world(sim, data)
    await second.daemon.start(serve_http=False)  # recovery first, then discovery's first refresh
    await wait_for(lambda: bool(second.simulator.restarts("lkc-a", "c1")))
    assert not second.daemon.engine.held_clusters
    assert second.total("watchdog_restarts_total", outcome="dropped") == 0
    await second.daemon.stop()


async def die_with_the_nightly_run_queued(sim: Any, data: dict[str, Any]) -> None:
    """A daemon discovers lkc-a, queues the config's first rule's run for it (the nightly
    schedule), marks itself alive and dies with the restart unsent in its state file."""
    first = world(sim, data)
    await first.daemon.refresh_discovery()
    statuses = await first.daemon.pollers["lkc-a"].list()
    assert statuses is not None
    await first.daemon.engine.on_schedule(first.daemon.config.rules[0], "lkc-a", statuses)
    first.daemon.mark_alive()
    first.daemon.state.close()


async def die_with_a_restart_of_c1_queued(sim: Any, data: dict[str, Any]) -> None:
    """A daemon discovers lkc-a, polls it, is asked by name to restart c1 and dies with the
    request unsent in its state file."""
    first = world(sim, data)
    await first.daemon.refresh_discovery()
    await first.daemon.pollers["lkc-a"].poll()
    key = ConnectorKey("lkc-a", "c1")
    record = first.daemon.engine.on_request(key, first.daemon.engine.statuses[key],
                                            trigger=Trigger.MANUAL, rule="manual", reason="deploy")
    assert record.job is not None
    first.daemon.state.close()


async def test_a_schedule_restart_kept_for_a_discovered_cluster_is_missed_after_hours_without_a_daemon(tmp_path: Any) -> None:
    """Held for discovery's first refresh, it is judged by the gap before the start, as the
    restarts of configured clusters are: not sent six hours late once discovery finds its cluster."""
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a", connectors=[{"name": "c1"}])]))
    nightly = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}
    data = config_data({}, state={"path": str(tmp_path / "state.db")}, rules=[nightly])
    await die_with_the_nightly_run_queued(sim, data)

    second = world(sim, data)
    assert second.clock is not None
    second.clock.advance(6 * 3600)
    await second.daemon.start(serve_http=False)  # recovery holds it; discovery's first refresh ends it
    await wait_for(lambda: second.total("watchdog_restarts_total", outcome="dropped") == 1)
    assert not second.simulator.restarts("lkc-a", "c1"), "sent six hours late"
    (record,) = second.daemon.state.history()
    assert record.message.startswith("missed while no daemon ran: 6h00m")
    await second.daemon.stop()


async def test_a_restart_kept_for_a_discovered_cluster_survives_a_first_refresh_that_could_not_read_its_environment(
    tmp_path: Any,
) -> None:
    # The daemon restarted with a requested restart queued; the first refresh read env-b but got
    # a 503 for env-a, lkc-a's environment: the restart was dropped as "no longer configured".
    sim = scenario(environment("env-a", "a", [lkc("lkc-a", connectors=[{"name": "c1"}])]),
                   environment("env-b", "b", [lkc("lkc-b")]))
    data = config_data({}, state={"path": str(tmp_path / "state.db")}, rate_limit={"max_retries": 0})
    await die_with_a_restart_of_c1_queued(sim, data)

    second = world(sim, data)
    daemon = second.daemon
    second.simulator.set_faults([{"match": {"endpoint": "list_clusters"}, "when": {"count": 1}, "action": {"status": 503}}])
    daemon.queue.start()
    daemon.engine.recover(hold=daemon.may_be_discovered)
    with structlog.testing.capture_logs() as logs:
        assert await daemon.refresh_discovery() is False, "env-a answered 503: a partial refresh"
    assert [e["clusters"] for e in logs if e["event"] == "recovered_requests_held"] == [["lkc-a"]], "waiting, and said so"
    assert discovered(second) == ["lkc-b"]
    assert second.total("watchdog_restarts_total", outcome="dropped") == 0, "lkc-a may be there still"
    assert daemon.engine.held_clusters == {"lkc-a"}
    assert await daemon.refresh_discovery() is True
    await wait_for(lambda: bool(second.simulator.restarts("lkc-a", "c1")))
    assert not daemon.engine.held_clusters
    assert second.total("watchdog_restarts_total", outcome="dropped") == 0
    await daemon.stop()


async def test_a_restart_of_a_cluster_whose_environment_could_not_be_read_says_so_not_that_there_is_no_such_cluster() -> None:
    # `watchdog restart lkc-a c1` while env-a's listing could not be read printed "discovery found
    # no cluster lkc-a": the operator went looking for a typo in an id that was right. A 429 whose
    # Retry-After (600 s) is longer than a person is kept waiting: a 503 once is now asked for
    # again and the restart made (tests/independent/test_restart_listing.py). One environment:
    # the listing of another after it would wait out that pause, as every call of the key does.
    sim = scenario(environment("env-a", "a", [lkc("lkc-a", connectors=[{"name": "c1"}])]))
    w = world(sim, config_data({}, rate_limit={"max_retries": 0}))
    w.simulator.set_faults([{"match": {"endpoint": "list_clusters"}, "when": {"count": 1},
                             "action": {"status": 429, "headers": {"Retry-After": "600"}}}])
    decision, job, why = await w.daemon.restart_now("lkc-a", "c1", reason="deploy")
    assert (decision, job) == (Decision.MISSING, None)
    assert "found no cluster lkc-a, but could not read environment(s) env-a (rate_limited" in why and why.endswith("try again")
    w = world(sim, config_data({}))
    assert (await w.daemon.restart_now("lkc-nope", "c1", reason="deploy"))[2] == "discovery found no cluster lkc-nope"


async def test_run_once_discovers_then_passes_over_every_cluster() -> None:
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a", connectors=[FAILING])]))
    w = world(sim, config_data({}))
    assert await w.daemon.run_once() == 0
    assert any(c.endpoint == "list" and c.cluster == "lkc-a" for c in w.simulator.calls)


async def test_forgotten_state_of_a_dropped_cluster_is_not_forgotten_early() -> None:
    sim = scenario(environment("env-prod", "production", [lkc("lkc-goes", connectors=[FAILING], lifecycle={"deleted_at": 10})]))
    w = world(sim, config_data({}))
    assert w.clock is not None
    w.daemon.queue.start()
    await w.daemon.refresh_discovery()
    for _ in range(2):
        await w.daemon.pollers["lkc-goes"].poll()
    key = ConnectorKey("lkc-goes", "broken")
    await wait_for(lambda: w.daemon.state.load(key).attempts == 1)
    w.clock.advance(20)
    await w.daemon.refresh_discovery()
    w.clock.advance(300)
    await w.daemon.refresh_discovery()
    # The fleet's only watched cluster: its removal is held for the hour (discovery/held.py).
    assert "lkc-goes" in w.daemon.pollers
    w.clock.advance(3600)
    await w.daemon.refresh_discovery()
    assert "lkc-goes" not in w.daemon.pollers
    w.clock.advance(timedelta(days=1).total_seconds())
    await w.daemon.engine.forget_vanished()
    assert w.daemon.state.load(key).attempts == 1
    await w.daemon.stop()


async def wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_a_renamed_cluster_keeps_its_name_its_state_and_its_series_against_a_server_we_did_not_write() -> None:
    # Not the simulator: a bare HTTP handler answering as the recorded answers do (no next link at
    # all on the last page, unknown fields, a `next` on another host).
    names = {"lkc-19ynpv": "TestCluster"}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/org/v2/environments":
            return httpx.Response(200, json={"api_version": "org/v2", "kind": "EnvironmentList", "metadata": {},
                                             "data": [{"id": "env-1jrymj", "display_name": "test_env_display_name",
                                                       "stream_governance_config": {"package": "ESSENTIALS"}}]})
        if path == "/cmk/v2/clusters" and "page_token" not in request.url.params:
            return httpx.Response(200, json={"kind": "ClusterList", "metadata": {
                "next": "https://api.confluent.cloud/cmk/v2/clusters?page_token=dyJpZCI6InNhLTd5OXbyby&environment=env-1jrymj"},
                "data": []})
        if path == "/cmk/v2/clusters":
            assert request.url.host == "sim" and request.url.params["environment"] == "env-1jrymj"
            return httpx.Response(200, json={"kind": "ClusterList", "metadata": {"next": None}, "data": [
                {"id": cluster, "spec": {"display_name": name, "environment": {"id": "env-1jrymj"}, "cloud": "GCP"},
                 "status": {"phase": "PROVISIONED", "cku": 2}} for cluster, name in names.items()]})
        return httpx.Response(200, json={"c1": {"status": {"connector": {"state": "RUNNING"}, "tasks": []}}})

    from watchdog.app import Daemon

    daemon = Daemon(make_config(config_data({})), transport=httpx.MockTransport(handler))
    await daemon.refresh_discovery()
    await daemon.pollers["lkc-19ynpv"].poll()
    info = {"cluster": "lkc-19ynpv", "environment": "env-1jrymj", "environment_name": "test_env_display_name"}
    registry = daemon.metrics.registry
    assert registry.get_sample_value("watchdog_discovered_cluster_info", {**info, "display_name": "TestCluster"}) == 1
    names["lkc-19ynpv"] = "Renamed Cluster (EU)"
    with structlog.testing.capture_logs() as logs:
        await daemon.refresh_discovery()
    assert [e["event"] for e in logs if e["event"].startswith("discovery_cluster_")] == ["discovery_cluster_renamed"]
    assert list(daemon.pollers) == ["lkc-19ynpv"], "the same name: nothing was rebuilt, nothing forgotten"
    assert ConnectorKey("lkc-19ynpv", "c1") in daemon.engine.statuses
    assert registry.get_sample_value("watchdog_discovered_cluster_info", {**info, "display_name": "TestCluster"}) is None
    assert registry.get_sample_value("watchdog_discovered_cluster_info", {**info, "display_name": "Renamed Cluster (EU)"}) == 1
    assert registry.get_sample_value("watchdog_connectors", {"cluster": "lkc-19ynpv", "health": "healthy"}) == 1
    await daemon.stop()


@pytest.mark.parametrize(("status", "level"), [(429, "warning"), (503, "warning"), (401, "error")])
async def test_a_failed_environment_listing_is_an_error_only_when_someone_must_act(status: int, level: str) -> None:
    """A 429 or a 5xx on the environment list clears by itself (the next refresh comes 30 s
    later, and WatchdogDiscoveryFailing pages if it lasts): a warning. A 401 needs the key
    fixed: an error."""
    from watchdog.app import Daemon

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Retry-After": "1"} if status == 429 else {}
        return httpx.Response(status, headers=headers, json={"errors": [{"status": str(status), "detail": "no"}]})

    config = make_config(config_data({}, rate_limit={"max_retries": 0, "max_rate_limited_retries": 0}))
    daemon = Daemon(config, transport=httpx.MockTransport(handler))
    with structlog.testing.capture_logs() as logs:
        assert await daemon.refresh_discovery() is False
    failed = [e for e in logs if e["event"] == "discovery_failed"]
    assert [e["log_level"] for e in failed] == [level]
    await daemon.stop()


async def test_a_schedule_run_before_the_first_refresh_waits_for_it_and_covers_the_discovered_clusters() -> None:
    # The daemon started a moment before 03:00: the run came before discovery's first refresh had
    # found anything, and the discovered clusters it selects had no restart that night.
    sim = scenario(environment("env-prod", "production", [lkc("lkc-a1", connectors=[{"name": "orders"}])]))
    nightly = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"},
               "select": {"clusters": ["lkc-*"], "connectors": ["orders"]}}
    w = world(sim, config_data({}, rules=[nightly]))
    w.daemon.queue.start()
    await w.daemon.run_schedule_rule("nightly")
    await w.daemon.queue.join()
    assert [(r.cluster, r.connector) for r in w.simulator.restarts()] == [("lkc-a1", "orders")]
    assert len(calls(w, "list_clusters")) == 1, "one refresh, not one more for the run"
    await w.daemon.stop()


async def test_a_schedule_restart_held_for_discovery_for_hours_after_the_start_is_missed(tmp_path: Any) -> None:
    # The daemon restarted a minute after its 03:00 run was queued (a rollout: within the grace,
    # so the run is still made). Its cluster is a discovered one, and discovery could not read
    # its environment for two hours: the restart waited, then went out at 05:00, judged by the
    # minute before the start alone, where cron skips a run that late.
    sim = scenario(environment("env-a", "a", [lkc("lkc-a", connectors=[{"name": "c1"}])]),
                   environment("env-b", "b", [lkc("lkc-b")]))
    nightly = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}
    data = config_data({}, state={"path": str(tmp_path / "state.db")}, rules=[nightly], rate_limit={"max_retries": 0})
    await die_with_the_nightly_run_queued(sim, data)

    second = world(sim, data)
    daemon = second.daemon
    assert second.clock is not None
    second.clock.advance(60)
    second.simulator.set_faults([{"match": {"endpoint": "list_clusters"}, "when": {"count": 1}, "action": {"status": 503}}])
    daemon.queue.start()
    daemon.engine.recover(hold=daemon.may_be_discovered, absence=daemon._absence())
    assert await daemon.refresh_discovery() is False, "env-a answered 503: held"
    assert daemon.engine.held_clusters == {"lkc-a"}
    second.clock.advance(2 * 3600)
    assert await daemon.refresh_discovery() is True
    await daemon.queue.join()
    assert not second.simulator.restarts("lkc-a", "c1"), "sent two hours late"
    assert second.total("watchdog_restarts_total", outcome="dropped") == 1
    (record,) = daemon.state.history()
    assert record.message.startswith("missed"), record.message
    assert "2h01m" in record.message, record.message
    await daemon.stop()


async def test_a_later_page_refused_cuts_the_listing_short_and_drops_no_cluster() -> None:
    # Page 1 of the environment's clusters read, page 2 answered 404 (an expired page token, say):
    # the environment was taken for gone, and lkc-a and lkc-b, lkc-a listed by page 1 at every
    # refresh, were counted missing and dropped after two refreshes: no polls, no restarts.
    t = [1000.0]
    page_two = [200]

    def cluster(identifier: str) -> dict[str, Any]:
        return {"id": identifier, "spec": {"display_name": identifier, "environment": {"id": "env-1"}},
                "status": {"phase": "PROVISIONED"}}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/org/v2/environments":
            return httpx.Response(200, json={"metadata": {}, "data": [{"id": "env-1", "display_name": "one"}]})
        if request.url.path == "/cmk/v2/clusters" and "page_token" not in request.url.params:
            next_page = "https://api.confluent.cloud/cmk/v2/clusters?environment=env-1&page_token=cDI"
            return httpx.Response(200, json={"metadata": {"next": next_page}, "data": [cluster("lkc-a")]})
        if request.url.path == "/cmk/v2/clusters":
            if page_two[0] != 200:
                return httpx.Response(page_two[0], json={"errors": [{"status": str(page_two[0]), "detail": "page token not found"}]})
            return httpx.Response(200, json={"metadata": {}, "data": [cluster("lkc-b")]})
        return httpx.Response(200, json={"c1": {"status": {"connector": {"state": "RUNNING"}, "tasks": []}}})

    from watchdog.app import Daemon

    daemon = Daemon(make_config(config_data({"interval": 60})), transport=httpx.MockTransport(handler),
                    clock=lambda: t[0], now=lambda: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=t[0]))
    await daemon.refresh_discovery()
    assert sorted(daemon.pollers) == ["lkc-a", "lkc-b"]
    for status in (404, 403):
        page_two[0] = status
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                t[0] += 120
                await daemon.refresh_discovery()
        assert sorted(daemon.pollers) == ["lkc-a", "lkc-b"], f"a page 2 answered {status} dropped them"
        assert [e["event"] for e in logs if e["event"].startswith("discovery_cluster_")] == []
        [said, *_] = [e for e in logs if e["event"] == "discovery_environment_unreadable"]
        assert said["note"] == "its clusters stay as they were; the next refresh asks again"
    await daemon.stop()


class _cut_after(httpx.AsyncByteStream):
    """A body that sends `head`, then breaks (the connection reset)."""

    def __init__(self, head: bytes) -> None:
        self._head = head

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._head:
            yield self._head
        raise httpx.ReadError("connection reset by peer")


async def test_a_proxys_html_page_refusing_the_cluster_list_drops_no_cluster() -> None:
    # A gateway whose route to /cmk/v2 went away answered its own 404 page (a block page: 403):
    # taken for the API saying the environment is gone, every discovered cluster was dropped after
    # two refreshes (no polls, no restarts). A 403 or 404 in the API's own words still means gone.
    t = [1000.0]
    answer: list[Any] = [httpx.Response(200, json={"metadata": {}, "data": [
        {"id": "lkc-a", "spec": {"display_name": "a", "environment": {"id": "env-1"}}, "status": {"phase": "PROVISIONED"}}]})]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/org/v2/environments":
            return httpx.Response(200, json={"metadata": {}, "data": [{"id": "env-1", "display_name": "one"}]})
        if request.url.path == "/cmk/v2/clusters":
            return answer[0]() if callable(answer[0]) else answer[0]
        return httpx.Response(200, json={"c1": {"status": {"connector": {"state": "RUNNING"}, "tasks": []}}})

    from watchdog.app import Daemon

    daemon = Daemon(make_config(config_data({"interval": 60})), transport=httpx.MockTransport(handler),
                    clock=lambda: t[0], now=lambda: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=t[0]))

    async def refreshes() -> list[dict[str, Any]]:
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                t[0] += 120
                await daemon.refresh_discovery()
        return logs

    await daemon.refresh_discovery()
    assert list(daemon.pollers) == ["lkc-a"]
    for status, title in ((404, "404 Not Found"), (403, "Access denied by policy")):
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1><hr>nginx</body></html>"
        answer[0] = httpx.Response(status, text=page, headers={"content-type": "text/html"})
        logs = await refreshes()
        assert list(daemon.pollers) == ["lkc-a"], f"an HTML {status} page dropped it"
        assert [e["event"] for e in logs if e["event"].startswith("discovery_cluster_")] == []
    # A 404 whose body is cut off before it can be told from such a page (the status is kept since
    # an error's body is only words: transfer.fetch) is not the API's word either.
    for cut in (b"", b"<ht"):
        answer[0] = lambda cut=cut: httpx.Response(404, headers={"content-type": "text/html"}, stream=_cut_after(cut))
        logs = await refreshes()
        assert list(daemon.pollers) == ["lkc-a"], f"a 404 cut off after {cut!r} dropped it"
    answer[0] = httpx.Response(404, json={"errors": [{"status": "404", "detail": "environment not found"}]})
    logs = await refreshes()
    # The fleet's only watched cluster: its removal is held for the hour (discovery/held.py).
    assert list(daemon.pollers) == ["lkc-a"]
    t[0] += 3600
    await daemon.refresh_discovery()
    assert list(daemon.pollers) == [], "the API's own 404 still says the environment is gone"
    await daemon.stop()
