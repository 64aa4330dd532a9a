"""A schedule rule's run under way goes on only under a rule that is still a schedule rule: a
reload that turns `nightly` into a status (or alert) rule of the same name ends the run, says so,
and drops the restarts it had queued. Found by a reload probe: every healthy connector of the
clusters the run had not listed yet was restarted, 14 s after the reload, while the status rule
of that name judged each of them `healthy`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from watchdog.app import Daemon
from watchdog.config import load_config
from watchdog.model import ConnectorKey, Outcome
from watchdog.simulator import Scenario, Simulator, create_app

from .support import ENVIRONMENT, sim_scenario
from .test_reload import write

EVERYTHING = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}
AS_STATUS = {**EVERYTHING, "trigger": {"type": "status", "interval": 60}}
AS_ALERT = {**EVERYTHING, "trigger": {"type": "alert", "match": {"alertname": "ConnectorDown"}}}
NAMES = ("a", "b", "c")


def three_clusters(path: Path) -> tuple[Simulator, Daemon, dict[str, Any]]:
    clusters = {name: {"environment_id": ENVIRONMENT, "kafka_cluster_id": f"lkc-{name}"} for name in NAMES}
    write(path, [EVERYTHING], clusters=clusters)
    scenario = sim_scenario([])
    scenario["environments"][0]["clusters"] = [
        {"id": f"lkc-{name}", "connectors": [{"name": "orders"}, {"name": "billing"}]} for name in NAMES]
    simulator = Simulator(Scenario.model_validate(scenario))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    return simulator, daemon, clusters


def held_listing(daemon: Daemon, cluster: str) -> tuple[asyncio.Event, asyncio.Event]:
    """`cluster`'s next listing sets the first event, then waits for the second to be set."""
    listing, listed = asyncio.Event(), asyncio.Event()
    poller = daemon.pollers[cluster]
    list_it = poller.list

    async def slow_list() -> Any:
        listing.set()
        await listed.wait()
        return await list_it()

    poller.list = slow_list  # type: ignore[method-assign]
    return listing, listed


async def retyped_during_the_run(tmp_path: Path, rule: dict[str, Any]) -> tuple[Simulator, Daemon, list[dict[str, Any]]]:
    """`nightly` (every connector of a, b, c) runs; while b is listed, a reload makes it `rule`."""
    path = tmp_path / "config.yaml"
    simulator, daemon, clusters = three_clusters(path)
    listing, listed = held_listing(daemon, "b")
    with structlog.testing.capture_logs() as logs:
        run = asyncio.create_task(daemon.run_schedule_rule("nightly"))
        await asyncio.wait_for(listing.wait(), 5)  # a is decided, its restarts queued (the queue not started)
        queued = [daemon.queue.pending_job(ConnectorKey("a", name)) for name in ("orders", "billing")]
        assert all(job is not None for job in queued)
        write(path, [rule], clusters=clusters)
        assert await daemon.reload("test") is True
        listed.set()
        await asyncio.wait_for(run, 5)
        daemon.queue.start()
        await asyncio.wait_for(daemon.queue.join(), 5)
        await daemon.stop()
    for job in queued:
        assert job is not None and job.outcome is Outcome.DROPPED, (job.outcome, job.message)
    return simulator, daemon, logs


async def test_a_run_whose_rule_a_reload_turns_into_a_status_rule_restarts_nothing_more(
    tmp_path: Path, credentials_env: None
) -> None:
    simulator, _, logs = await retyped_during_the_run(tmp_path, AS_STATUS)
    # Before: 6 restarts of healthy connectors (a's two queued before the reload, b's and c's after).
    assert simulator.restarts() == []
    (ended,) = [e for e in logs if e["event"] == "schedule_run_ended"]
    assert ended["log_level"] == "info"
    assert ended["rule"] == "nightly"
    assert ended["reason"] == "rule 'nightly' is no longer a schedule rule (a status rule now) since a reload"
    assert ended["clusters_not_restarted"] == ["b", "c"]
    dropped = [e for e in logs if e["event"] == "restart_finished"]
    assert {e["connector"] for e in dropped} == {"orders", "billing"} and {e["cluster"] for e in dropped} == {"a"}
    for line in dropped:
        assert line["outcome"] == "dropped"
        assert line["message"].startswith(
            "its rule 'nightly' is no longer a schedule rule (a status rule now) since a reload, or in the config the "
            "daemon restarted with, before its turn: not sent; "), line["message"]
        assert "rule 'nightly' selects it now and decides again at its next poll" in line["message"], line["message"]


async def test_a_run_whose_rule_a_reload_turns_into_an_alert_rule_restarts_nothing_more(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "t" * 32)  # an alert rule needs the webhook's token
    simulator, _, logs = await retyped_during_the_run(tmp_path, AS_ALERT)
    assert simulator.restarts() == []
    (ended,) = [e for e in logs if e["event"] == "schedule_run_ended"]
    assert ended["reason"] == "rule 'nightly' is no longer a schedule rule (an alert rule now) since a reload"


async def test_a_run_whose_rule_a_reload_disables_says_so(tmp_path: Path, credentials_env: None) -> None:
    # The control: it stopped before too, but without a word.
    simulator, _, logs = await retyped_during_the_run(tmp_path, {**EVERYTHING, "enabled": False})
    assert simulator.restarts() == []
    (ended,) = [e for e in logs if e["event"] == "schedule_run_ended"]
    assert ended["reason"] == "rule 'nightly' was disabled by a reload"
    assert ended["clusters_not_restarted"] == ["b", "c"]


async def test_a_run_whose_rule_a_reload_edits_as_a_schedule_rule_goes_on(tmp_path: Path, credentials_env: None) -> None:
    # Still a schedule rule (its cron changed): the run goes on under the rule as it is then.
    path = tmp_path / "config.yaml"
    simulator, daemon, clusters = three_clusters(path)
    listing, listed = held_listing(daemon, "b")
    daemon.queue.start()
    run = asyncio.create_task(daemon.run_schedule_rule("nightly"))
    await asyncio.wait_for(listing.wait(), 5)
    write(path, [{**EVERYTHING, "trigger": {"type": "schedule", "interval": "1h"}, "select": {"connectors": ["orders"]}}],
          clusters=clusters)
    assert await daemon.reload("test") is True
    listed.set()
    await asyncio.wait_for(run, 5)
    await asyncio.wait_for(daemon.queue.join(), 5)
    await daemon.stop()
    restarted = sorted((call.cluster, call.connector) for call in simulator.restarts())
    assert ("lkc-b", "orders") in restarted and ("lkc-c", "orders") in restarted, restarted
    assert ("lkc-b", "billing") not in restarted and ("lkc-c", "billing") not in restarted, restarted


async def test_a_run_handed_its_listing_after_the_reload_queues_nothing(tmp_path: Path, credentials_env: None) -> None:
    # The listing came back and the run decides in slices (a cluster of thousands of connectors):
    # a reload between two slices is met at the next one, as a cluster removed is.
    path = tmp_path / "config.yaml"
    _, daemon, clusters = three_clusters(path)
    (rule,) = daemon.config.rules
    statuses = await daemon.pollers["a"].list()
    assert statuses is not None
    write(path, [AS_STATUS], clusters=clusters)
    assert await daemon.reload("test") is True
    assert await daemon.engine.on_schedule(rule, "a", statuses) is False
    assert [daemon.queue.pending_job(ConnectorKey("a", name)) for name in ("orders", "billing")] == [None, None]
    await daemon.stop()
