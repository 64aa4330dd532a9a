"""What a cluster removed by a reload or by discovery leaves behind: nothing, once the restarts
queued for it have ended. Discovery adds and drops clusters all day in a large organisation and
a daemon runs for months, so every per-cluster structure is bounded by the clusters that exist
now; and a request or a listing that was on its way when its cluster went ends with a clear
answer, never a KeyError or a restart sent for a cluster the config no longer names."""

from __future__ import annotations

import asyncio

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.config import Config
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Decision, Outcome, Trigger
from watchdog.server import create_app

from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    HeldCalls,
    daemon_config,
    in_process,
    sim_scenario,
    until,
)
from .test_discovery import calls, config_data, discovered, environment, lkc, scenario
from .test_discovery import world as discovery_world

TOKEN = "test-token-5d1c0e2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 60, "confirm_polls": 1}, "select": {"include": ["*"]}}
FAILING = {"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1}}


def with_other(other: bool) -> Config:
    clusters = {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}}
    if other:
        clusters["other"] = {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-other1"}
    return daemon_config([HEAL], token=TOKEN, clusters=clusters)


async def test_a_restart_asked_for_while_a_reload_removes_its_cluster_is_refused_and_nothing_is_sent() -> None:
    # POST /v1/restarts lists the cluster first (its last listing is too old) and a reload removes
    # the cluster while that list call is out. The listing's answer was taken in for the removed
    # cluster, and the restart decided on it: 202, and a restart sent for a cluster the config
    # no longer names (its connectors known again for good, in the engine's maps). The list call
    # is held until the reload has returned: answered after a fixed 0.3 s instead, it came back
    # first when the reload read its config slower than that (a loaded machine), with the code right.
    sim = sim_scenario([])
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [{"name": "orders"}, {"name": "billing"}]})
    w = in_process(sim, with_other(True))
    daemon = w.daemon
    daemon._reload_config = lambda: with_other(False)
    listing = HeldCalls(w, "/lkc-other1/")
    daemon.queue.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(
        app=create_app(daemon.metrics.registry, daemon.probes, daemon.api_context())), base_url="http://daemon")
    try:
        asked = asyncio.create_task(http.post("/v1/restarts", json={"cluster": "other", "connector": "orders"}, headers=AUTH))
        await until(lambda: listing.reached.is_set() or asked.done(), "the listing on its way")
        assert daemon.pollers["other"]._on_demand is not None
        assert await daemon.reload("test") is True
        listing.release()
        answer = await asked
        assert answer.status_code == 404, answer.text
        assert "was removed" in answer.json()["error"]
        await daemon.queue.join()
        assert [c for c in w.simulator.calls if c.endpoint == "restart"] == []
        assert [key for key in daemon.engine.statuses if key.cluster == "other"] == []
        assert daemon.engine.listed("other") is None
    finally:
        listing.release()
        await http.aclose()
        await daemon.stop()


async def test_a_restart_decided_for_a_cluster_removed_meanwhile_is_said_and_not_queued() -> None:
    # Whatever path decides after an await (a webhook's next chunk, a stall check's verdicts, a
    # request): the cluster's route in the queue goes with it, so a restart submitted for it
    # raised KeyError (or, while a restart kept the route, was sent for a cluster not named).
    w = in_process(sim_scenario([{"name": "orders"}]), with_other(True))
    daemon = w.daemon
    daemon._reload_config = lambda: with_other(False)
    assert await daemon.reload("test") is True
    with structlog.testing.capture_logs() as logs:
        record = daemon.engine.on_request(ConnectorKey("other", "orders"), None, trigger=Trigger.MANUAL,
                                          rule=MANUAL_RULE, reason="test", known_missing=False)
    assert record.decision is Decision.MISSING and record.job is None
    assert "no longer configured" in record.detail
    assert [line["detail"] for line in logs if line["event"] == "decision"] == [record.detail]
    assert daemon.metrics.registry.get_sample_value(
        "watchdog_decisions_total", {"cluster": "other", "rule": MANUAL_RULE, "trigger": "manual", "decision": "missing"}) is None
    assert daemon.engine.requests[record.request_id] is record  # GET /v1/restarts/{id} says it
    await daemon.stop()


def per_cluster(daemon: Daemon) -> dict[str, set[str]]:
    """The clusters each per-cluster structure of the daemon holds an entry for."""
    engine, queue, breaker = daemon.engine, daemon.queue, daemon.breaker
    by_key = (engine.statuses, engine.running_since, engine.degraded_since, engine.unknown_reported, engine.held,
              engine.dry_states)
    return {
        "queue routes": set(queue._credentials) | set(queue._backends),
        "queue counts": set(queue._per_cluster) | set(queue._held_jobs) | set(queue._release_timers),
        "backends": set(daemon.backends),
        "pollers": set(daemon.pollers),
        "generations": set(engine.cluster_generation),
        "listings": set(engine._listed) | set(engine._watched),
        "connectors": {key.cluster for known in by_key for key in known},
        "decisions": {key.cluster for key in [*engine._last_decision, *engine._unjudged]},
        "names reported": {cluster for _, cluster in engine.named_missing_reported},
        "breaker": {c for known in (breaker._failing, breaker._opened_at, breaker._probe, breaker._excused) for c in known}
                   | {c for c, _ in breaker._replaced},
    }


async def test_clusters_discovery_drops_leave_no_entry_behind_once_their_restarts_ended() -> None:
    # Every two hours a cluster is created and one deleted, each with a failing connector that a
    # restart heals and one a schedule restarts. Each dropped cluster left its queue route, its
    # backend, its generation number and its connectors' last decisions behind: 24 -> 60
    # entries over three days at twelve clusters a day.
    created = [lkc(f"lkc-c{i:02d}", connectors=[FAILING, {"name": "plain"}],
                   lifecycle={"created_at": 1000 + i * 7200.0, "deleted_at": 1000 + i * 7200.0 + 10800.0})
               for i in range(8)]
    nightly = {"name": "nightly", "trigger": {"type": "schedule", "interval": 86400}, "select": {"connectors": ["plain", "typo"]}}
    w = discovery_world(scenario(environment("env-prod", "production", created)),
                        config_data({"interval": "10m"}, rules=[HEAL, nightly], rate_limit={"max_requests_per_second": 1000}))
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        for _ in range(8 * 12):  # 16 hours, a refresh every 10 minutes
            await daemon.refresh_discovery()
            for cluster in list(daemon.pollers):
                await daemon.pollers[cluster].poll()
            await daemon.run_schedule_rule("nightly")
            await daemon.queue.join()
            w.clock.advance(600)
        live = set(daemon.config.clusters)
        assert len(calls(w, "restart")) > 8, "each cluster's connectors were restarted"
        for name, clusters in per_cluster(daemon).items():
            assert clusters <= live, f"{name}: entries of removed clusters {sorted(clusters - live)}"
        assert set(daemon.engine.cluster_generation) == live == set(discovered(w))
    finally:
        await daemon.stop()


async def test_a_removed_clusters_route_stays_until_its_queued_restart_has_gone_then_goes() -> None:
    # Removed with a restart still queued: that restart is sent (through the route kept), and the
    # route goes with it; added back meanwhile, the cluster keeps the route it was given again.
    sim = sim_scenario([])
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [{"name": "orders"}, {"name": "billing"}]})
    w = in_process(sim, with_other(True))
    daemon = w.daemon
    configs = [with_other(False)]
    daemon._reload_config = lambda: configs[-1]
    record = daemon.engine.on_request(ConnectorKey("other", "orders"), None, trigger=Trigger.MANUAL,
                                      rule=MANUAL_RULE, reason="test", known_missing=False)
    assert record.job is not None
    assert await daemon.reload("test") is True
    assert "other" in daemon.queue._credentials, "kept while its restart is queued"
    daemon.queue.start()
    await asyncio.wait_for(record.job.done.wait(), 10)
    assert record.job.outcome is Outcome.ACCEPTED, record.job.message
    assert "other" not in daemon.queue._credentials and "other" not in daemon.queue._backends
    # Added back, removed with a restart queued, and added back again before it went: routed.
    configs.append(with_other(True))
    assert await daemon.reload("test") is True
    again = daemon.engine.on_request(ConnectorKey("other", "billing"), None, trigger=Trigger.MANUAL,
                                     rule=MANUAL_RULE, reason="again", known_missing=False)
    assert again.job is not None and again.decision is Decision.RESTART
    configs.append(with_other(False))
    assert await daemon.reload("test") is True
    configs.append(with_other(True))
    assert await daemon.reload("test") is True
    await asyncio.wait_for(again.job.done.wait(), 10)
    assert again.job.outcome is Outcome.ACCEPTED, again.job.message
    assert "other" in daemon.queue._credentials, "a cluster added back keeps its route"
    await daemon.stop()


async def test_a_poll_begun_before_its_cluster_was_removed_and_added_back_judges_nothing() -> None:
    # A cluster's generation entry goes with it now; one added back gets a new number from a
    # counter that only rises, so a poll begun before still sees that its cluster changed. The
    # list call is held until both reloads have returned: answered after a fixed 0.3 s instead,
    # it came back between them when each read its config slower (a loaded machine), and the
    # poll queued a restart, with the code right.
    await _poll_of_other_judges_nothing_across(with_other(True), [with_other(False), with_other(True)])


async def _poll_of_other_judges_nothing_across(config: Config, reloads: list[Config]) -> None:
    """A poll of cluster `other` (its one connector FAILED) whose list call is held while the
    daemon, started on `config`, reloads each of `reloads` in turn, the first removing `other`:
    the poll, answered after them, judges nothing and queues nothing."""
    sim = sim_scenario([])
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [FAILING]})
    w = in_process(sim, config)
    daemon = w.daemon
    daemon._reload_config = lambda: reloads.pop(0)
    listing = HeldCalls(w, "/lkc-other1/")
    try:
        poll = asyncio.create_task(daemon.pollers["other"].poll())
        await until(lambda: listing.reached.is_set() or poll.done(), "the list call on its way")
        assert not poll.done()
        assert await daemon.reload("test") is True
        assert "other" not in daemon.engine.cluster_generation
        while reloads:
            assert await daemon.reload("test") is True
        listing.release()
        with structlog.testing.capture_logs() as logs:
            await poll
        assert [line for line in logs if line["event"] == "decision"] == []
        assert daemon.engine.listed("other") is None
        assert not daemon.queue.pending_keys()
    finally:
        listing.release()
        await daemon.stop()


async def test_a_cluster_removed_while_its_restarts_were_held_leaves_no_hold_behind() -> None:
    # Its Connect API answered only 503s (restarts held, ratelimit/outage.py), then a reload (or
    # discovery, the cluster deleted) removed it: the hold's streak stayed in the key's limiter
    # for good, one per cluster that went while failing.
    down = {"match": {"endpoint": "list", "cluster": "lkc-other1"}, "action": {"status": 503}}
    sim = sim_scenario([], faults=[down])
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [{"name": "orders"}]})
    w = in_process(sim, with_other(True))
    daemon = w.daemon
    daemon._reload_config = lambda: with_other(False)
    hold = daemon.gateways[daemon.config.lane_for("other")].limiter.restart_hold
    try:
        for _ in range(6):
            await daemon.pollers["other"].poll()
        assert hold.held("other")
        assert await daemon.reload("test") is True
        assert "other" not in hold._streaks
    finally:
        await daemon.stop()


async def test_connectors_deleted_under_a_schedule_rule_leave_no_memory_of_their_decisions() -> None:
    # Only a status rule's connectors lost the engine's memory of them when they went (their last
    # decision, what a gate held, the dry run's view): those only a schedule, an alert or a
    # request restarted kept it for good, one entry per connector ever deleted.
    nightly = {"name": "nightly", "trigger": {"type": "schedule", "interval": 86400}, "select": {"include": ["*"]}}
    w = in_process(sim_scenario([{"name": f"tmp-{i}"} for i in range(20)] + [{"name": "stays"}]),
                   daemon_config([nightly], rate_limit={"max_requests_per_second": 1000}))
    daemon = w.daemon
    daemon.queue.start()
    try:
        await daemon.run_schedule_rule("nightly")
        await daemon.queue.join()
        for i in range(20):
            w.simulator.delete_connector(CLUSTER_ID, f"tmp-{i}")
        await daemon.run_schedule_rule("nightly")  # its listing shows them gone
        await daemon.queue.join()
        remembered = {key.connector for key in daemon.engine._last_decision}
        assert remembered == {"stays"}
    finally:
        await daemon.stop()


async def test_a_schedule_run_that_waits_to_list_a_cluster_again_lists_nothing_once_it_is_removed() -> None:
    # The run's listing of `other` answered 503, and the run waits a second to ask again; a
    # reload removes `other` meanwhile. The run then listed it all the same, through the poller it
    # held: the removed cluster's connectors known again and its poll series made again, for good.
    down = {"match": {"endpoint": "list", "cluster": "lkc-other1"}, "when": {"count": 1}, "action": {"status": 503}}
    sim = sim_scenario([{"name": "orders"}], faults=[down])
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [{"name": "billing"}]})
    nightly = {"name": "nightly", "trigger": {"type": "schedule", "interval": 86400}, "select": {"include": ["*"]}}

    def config(other: bool) -> Config:
        clusters = {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}}
        if other:
            clusters["other"] = {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-other1"}
        return daemon_config([nightly], clusters=clusters, rate_limit={"max_requests_per_second": 1000})

    w = in_process(sim, config(True))
    daemon = w.daemon
    daemon._reload_config = lambda: config(False)
    daemon.queue.start()
    try:
        with structlog.testing.capture_logs() as logs:
            run = asyncio.create_task(daemon.run_schedule_rule("nightly"))
            await until(lambda: any(line["event"] == "scheduled_listing_retried" for line in logs) or run.done(),
                        "the run waiting to list the cluster again")
            assert await daemon.reload("test") is True
            await run
        await daemon.queue.join()
        assert [key for key in daemon.engine.statuses if key.cluster == "other"] == []
        left = [s for m in daemon.metrics.registry.collect() for s in m.samples if s.labels.get("cluster") == "other"]
        assert left == [], f"{len(left)} series of the removed cluster, such as {left[0]}"
        assert [line for line in logs if line["event"] == "scheduled_restart_skipped"] == [], "not an error: it is gone"
        assert {c.cluster for c in w.simulator.calls if c.endpoint == "restart"} == {CLUSTER_ID}
    finally:
        await daemon.stop()


async def test_a_poll_of_the_first_cluster_configured_judges_nothing_once_that_cluster_is_removed() -> None:
    # A cluster no longer configured has no incarnation number and reads as 0
    # (EngineCore.cluster_unchanged), so no configured cluster may ever be given 0: the first
    # cluster of the first config, removed while its poll was out, would read as unchanged and the
    # poll would queue a restart for a cluster the config no longer names. The other tests of
    # removal remove a cluster configured second, which a counter from 0 never gave 0.
    first = {"other": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-other1"},
             CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}}
    config = daemon_config([HEAL], token=TOKEN, clusters=first)
    assert next(iter(config.clusters)) == "other"
    await _poll_of_other_judges_nothing_across(config, [with_other(False)])


async def test_a_cluster_removed_while_its_breaker_was_open_leaves_no_breaker_series() -> None:
    # Removed by a reload (or by discovery) during an outage, a cluster whose breaker was open
    # lost its series with the rest of its cluster's, and the breaker's next evaluation (the
    # heartbeat's, or any decision's) saw its condition gone and set the series again, at 0: one
    # watchdog_breaker_open{scope} per such cluster for the life of the process.
    sim = sim_scenario([{"name": "orders"}])
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [
        {"name": f"down-{i}", "script": {"initial": "FAILED", "recover_after_restarts": "never"}} for i in range(3)]})
    w = in_process(sim, with_other(True))
    daemon = w.daemon
    daemon._reload_config = lambda: with_other(False)
    registry = daemon.metrics.registry
    try:
        with structlog.testing.capture_logs() as logs:
            await daemon.pollers["other"].poll()
            assert registry.get_sample_value("watchdog_breaker_open", {"scope": "other"}) == 1
            assert await daemon.reload("test") is True
            daemon.engine.refresh_breaker()  # the heartbeat's
            await daemon.pollers[CLUSTER].poll()  # and a decision's evaluation
        assert [e["scope"] for e in logs if e["event"] == "breaker_closed"] == ["other"]
        assert registry.get_sample_value("watchdog_breaker_open", {"scope": "other"}) is None
        assert registry.get_sample_value("watchdog_breaker_open", {"scope": CLUSTER}) == 0
        assert registry.get_sample_value("watchdog_breaker_open", {"scope": "fleet"}) == 0
    finally:
        await daemon.stop()
