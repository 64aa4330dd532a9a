"""What a reload, or a start, changes for restarts already waiting, and what it must never undo.

The runbook's first step in an incident is dry-run: a restart queued before it (waiting behind the
rate limit) or kept in the state file across a restart of the daemon must obey it at its turn.
A rule turned off must not fire the restarts it queued. An edit to a cluster's entry must not
hand its failing connectors fresh restart budgets. And every section of the config is either
applied by a reload or refused by name: never taken and silently ignored.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from watchdog.app import Daemon
from watchdog.config import Config
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.queue import Phase, RestartJob
from watchdog.reload import LIVE_SECTIONS, RESTART_ONLY_SECTIONS
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state import SqliteStateStore

from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, Clock, World, sim_scenario, until
from .test_durable import daemon, schedule_now
from .test_reload import HEAL, write

FAILING = {"name": "orders", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}
NIGHTLY = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["orders"]}}
CLUSTERS = {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}}


def reloadable(path: Path, rules: list[dict[str, object]], connectors: list[dict[str, object]],
               other_environments: tuple[dict[str, object], ...] = (), **simulated: Any) -> World:
    """A daemon of `rules` on the simulator (`simulated`: its scenario's settings), reloading
    `path`; `other_environments` beside the one of CLUSTER (which holds `connectors`)."""
    from watchdog.config import load_config

    write(path, rules)
    scenario = sim_scenario(connectors, **simulated)
    scenario["environments"] += other_environments
    simulator = Simulator(Scenario.model_validate(scenario))
    d = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
               reload_config=lambda: load_config(path), config_path=path)
    return World(simulator, d)


def ask(w: World, connector: str = "orders"):
    return w.daemon.engine.on_request(ConnectorKey(CLUSTER, connector), None, trigger=Trigger.MANUAL,
                                      rule=MANUAL_RULE, reason="test", known_missing=False)


async def test_a_reload_to_dry_run_stops_the_restarts_already_queued(tmp_path: Path, credentials_env: None) -> None:
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL], [{"name": "orders"}, {"name": "billing"}])
    records = [ask(w, name) for name in ("orders", "billing")]  # waiting: the queue has not started
    write(path, [HEAL], dry_run=True)
    assert await w.daemon.reload("test") is True

    w.daemon.queue.start()
    await w.daemon.queue.join()
    await w.daemon.stop()

    assert [r.job.outcome for r in records] == [Outcome.DRY_RUN, Outcome.DRY_RUN]
    assert w.simulator.restarts() == [], "a restart queued before the reload to dry-run went out"


async def test_a_rule_turned_to_dry_run_stops_its_queued_restarts_and_no_one_elses(tmp_path: Path, credentials_env: None) -> None:
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL, NIGHTLY], [{"name": "orders"}, {"name": "billing"}])
    statuses = await w.daemon.pollers[CLUSTER].list()
    assert statuses is not None
    await w.daemon.engine.on_schedule(w.daemon.config.rules[1], CLUSTER, statuses)
    manual = ask(w, "billing")
    write(path, [HEAL, {**NIGHTLY, "dry_run": True}])
    assert await w.daemon.reload("test") is True

    w.daemon.queue.start()
    await w.daemon.queue.join()
    await w.daemon.stop()

    assert [c.connector for c in w.simulator.restarts()] == ["billing"]
    assert manual.job.outcome is Outcome.ACCEPTED
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders", rule="nightly",
                    trigger="schedule", outcome="dry_run") == 1


def _faulted(path: Path, faults: list[dict[str, Any]]) -> World:
    """A daemon of HEAL (from `path`, four workers on the key) whose simulator answers `faults`."""
    from watchdog.config import load_config

    write(path, [HEAL], rate_limit=FOUR_WORKERS)
    connectors = [{"name": name} for name in ("orders", "billing", "audit")]
    simulator = Simulator(Scenario.model_validate(sim_scenario(connectors, faults=faults)))
    d = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
               reload_config=lambda: load_config(path), config_path=path)
    return World(simulator, d)


FOUR_WORKERS = {"max_concurrent_requests": 4, "max_retries": 2, "max_requests_per_second": 1000}


async def test_restarts_waiting_out_a_429_obey_a_reload_to_dry_run(tmp_path: Path, credentials_env: None) -> None:
    # The workers take their jobs from the lane at once and then wait for the key's budget: a 429
    # holds them there for its Retry-After (up to max_pause, 15 minutes). A reload to dry-run in
    # that time was obeyed only by jobs still in the lane: all three of these went out after it.
    path = tmp_path / "config.yaml"
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"status": 429, "headers": {"Retry-After": "1"}}}]
    w = _faulted(path, faults)
    records = [ask(w, name) for name in ("orders", "billing", "audit")]
    w.daemon.queue.start()
    await until(lambda: any(r.job.rate_limited for r in records), "the first restart answered 429")
    assert all(r.job.phase is Phase.WAITING for r in records), "each taken by a worker, waiting for budget"
    write(path, [HEAL], rate_limit=FOUR_WORKERS, dry_run=True)
    assert await w.daemon.reload("test") is True

    await asyncio.wait_for(w.daemon.queue.join(), 10)
    await w.daemon.stop()

    assert w.simulator.restarts() == [], "a restart waiting out the 429 went out after the reload to dry-run"
    assert [r.job.outcome for r in records] == [Outcome.DRY_RUN] * 3


async def test_a_retry_obeys_a_reload_to_dry_run_made_while_it_waited(tmp_path: Path, credentials_env: None) -> None:
    # Answered 503 with Retry-After, a restart waits for its retry; a reload to dry-run meanwhile
    # did not stop the retry (a job's first turn alone was checked).
    path = tmp_path / "config.yaml"
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"status": 503, "headers": {"Retry-After": "1"}}}]
    w = _faulted(path, faults)
    record = ask(w)
    w.daemon.queue.start()
    await until(lambda: record.job.tries == 1, "the restart answered 503")
    write(path, [HEAL], rate_limit=FOUR_WORKERS, dry_run=True)
    assert await w.daemon.reload("test") is True

    await asyncio.wait_for(record.job.done.wait(), 10)
    await w.daemon.stop()

    assert w.simulator.restarts() == [], "the retry went out after the reload to dry-run"
    assert record.job.outcome is Outcome.DRY_RUN
    assert "not tried again after 1 earlier try" in record.job.message


async def _nightly_queued(path: Path) -> tuple[World, RestartJob]:
    """A daemon of HEAL and NIGHTLY (from `path`) with NIGHTLY's restart of orders queued, not sent."""
    w = reloadable(path, [HEAL, NIGHTLY], [{"name": "orders"}])
    statuses = await w.daemon.pollers[CLUSTER].list()
    assert statuses is not None
    await w.daemon.engine.on_schedule(w.daemon.config.rules[1], CLUSTER, statuses)
    job = w.daemon.queue.pending_job(ConnectorKey(CLUSTER, "orders"))
    assert job is not None
    return w, job


async def test_a_rule_disabled_or_removed_by_a_reload_does_not_fire_what_it_queued(
    tmp_path: Path, credentials_env: None
) -> None:
    path = tmp_path / "config.yaml"
    w, job = await _nightly_queued(path)
    write(path, [HEAL, {**NIGHTLY, "enabled": False}])
    assert await w.daemon.reload("test") is True

    with structlog.testing.capture_logs() as logs:
        w.daemon.queue.start()
        await w.daemon.queue.join()
    await w.daemon.stop()

    assert w.simulator.restarts() == []
    assert job.outcome is Outcome.DROPPED
    assert "rule 'nightly' was disabled or removed by a reload" in job.message
    assert any(e["event"] == "restart_finished" and e["outcome"] == "dropped" for e in logs)


async def test_a_connector_a_reload_excludes_from_its_rule_is_not_restarted_by_what_the_rule_queued(
    tmp_path: Path, credentials_env: None
) -> None:
    # In an incident: "stop restarting orders" is an `exclude` added to its rule. The restart the
    # rule had queued (waiting behind the rate limit) went out anyway, minutes later.
    path = tmp_path / "config.yaml"
    w, job = await _nightly_queued(path)
    write(path, [HEAL, {**NIGHTLY, "select": {"connectors": ["orders"], "exclude": ["orders"]}}])
    assert await w.daemon.reload("test") is True

    w.daemon.queue.start()
    await w.daemon.queue.join()
    await w.daemon.stop()

    assert w.simulator.restarts() == []
    assert job.outcome is Outcome.DROPPED
    assert "rule 'nightly' no longer selects prod/orders" in job.message


async def test_restarts_kept_at_shutdown_obey_dry_run_at_the_next_start(tmp_path: Path) -> None:
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])), clock=clock.monotonic)
    first = daemon(tmp_path / "state.db", simulator, clock, [NIGHTLY])
    await schedule_now(first, "nightly")  # queued, never sent: kept in the state file
    first.state.close()

    second = daemon(tmp_path / "state.db", simulator, clock, [NIGHTLY])
    second.config = dry_run(second.config)  # as `WATCHDOG_DRY_RUN=true watchdog run` starts it
    second.engine.set_config(second.config)
    assert second.engine.recover() == (1, 0)
    second.queue.start()
    await second.queue.join()
    await second.stop()

    assert [c for c in simulator.calls if c.endpoint == "restart"] == [], "a kept restart went out in dry-run"
    with SqliteStateStore(tmp_path / "state.db") as store:
        assert store.pending() == []
        assert [r.outcome for r in store.history()] == [Outcome.DRY_RUN]


def dry_run(config: Config) -> Config:
    return config.model_copy(update={"dry_run": True})


async def test_a_reload_that_redefines_or_removes_a_cluster_keeps_its_connectors_backoff(
    tmp_path: Path, credentials_env: None
) -> None:
    # One ConfigMap edit (a credential named, a CA file, a worker URL) must not hand every failing
    # connector of the cluster a fresh budget: it was forgotten, and restarted again at once.
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL], [FAILING, {"name": "billing"}])
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    key = ConnectorKey(CLUSTER, "orders")
    before = w.daemon.state.load(key)
    assert before.attempts == 1 and len(w.simulator.restarts()) == 1

    write(path, [HEAL], clusters={CLUSTER: {**CLUSTERS[CLUSTER], "credential": "main"}})  # the same cluster, said otherwise
    assert await w.daemon.reload("test") is True
    assert w.daemon.state.load(key) == before, "a redefined cluster's connector lost its backoff"
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert len(w.simulator.restarts()) == 1, "restarted again at once, its backoff forgotten"

    # Removed (a rollback may bring it back): kept for state.forget_vanished_after, as a vanished one.
    write(path, [HEAL], clusters={"other": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-other1"}})
    assert await w.daemon.reload("test") is True
    assert w.daemon.state.load(key).attempts == 1, "a removed cluster's connector lost its backoff at once"
    await w.daemon.stop()


async def test_restarts_queued_before_a_reload_points_their_cluster_elsewhere_are_not_sent_there(
    tmp_path: Path, credentials_env: None
) -> None:
    # `prod` fixed from one cluster to another (a typo, a cluster moved) while failure restarts
    # of the first waited behind the rate limit: they went to the healthy namesakes in the second,
    # before its first listing (found by a reload probe: 3 to 29 of a backlog of 100).
    path = tmp_path / "config.yaml"
    other = {"id": "env-other1", "clusters": [{"id": "lkc-other1", "connectors": [{"name": "orders"}, {"name": "billing"}]}]}
    w = reloadable(path, [HEAL], [FAILING, {"name": "billing", "script": {"initial": "FAILED"}}], (other,))
    await w.daemon.pollers[CLUSTER].poll()  # queued: the queue has not started
    queued = [w.daemon.queue.pending_job(ConnectorKey(CLUSTER, name)) for name in ("orders", "billing")]
    asked = ask(w, "billing")  # by name too, before the reload: it was meant for the first cluster as well

    write(path, [HEAL], clusters={CLUSTER: {"environment_id": "env-other1", "kafka_cluster_id": "lkc-other1"}})
    assert await w.daemon.reload("test") is True
    w.daemon.queue.start()
    await w.daemon.queue.join()
    await w.daemon.stop()

    assert w.simulator.restarts() == [], "restarted a connector of the other cluster that nobody judged"
    assert asked.job is queued[1]
    for job in queued:
        assert job is not None and job.outcome is Outcome.DROPPED
        assert job.message.startswith(f"repointed: {CLUSTER} named {ENVIRONMENT}/{CLUSTER_ID} when it was asked and "
                                      "names env-other1/lkc-other1 since a reload"), job.message


async def test_a_cluster_renamed_by_a_reload_keeps_its_connectors_backoff_and_budget(
    tmp_path: Path, credentials_env: None
) -> None:
    # The state is kept by cluster name: `prod:` renamed `prod-eu:` (the same ids) handed every
    # connector a fresh budget, and the probe saw those the daemon had given up on restarted
    # again within seconds; here, one in its backoff gap.
    path = tmp_path / "config.yaml"
    stuck = {"name": "orders", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}
    w = reloadable(path, [HEAL], [stuck, {"name": "billing"}], restart={"delay_seconds": 0})
    w.daemon.queue.start()
    for _ in range(3):
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
    backed_off = w.daemon.state.load(ConnectorKey(CLUSTER, "orders"))
    assert backed_off.attempts == 1 and backed_off.next_allowed_at is not None and len(w.simulator.restarts()) == 1

    with structlog.testing.capture_logs() as logs:
        write(path, [HEAL], clusters={"prod-eu": CLUSTERS[CLUSTER]})
        assert await w.daemon.reload("test") is True
    for _ in range(3):
        await w.daemon.pollers["prod-eu"].poll()
        await w.daemon.queue.join()
    renamed = w.daemon.state.load(ConnectorKey("prod-eu", "orders"))
    await w.daemon.stop()

    assert len(w.simulator.restarts()) == 1, "restarted again at once under the new name, its backoff forgotten"
    assert (renamed.attempts, renamed.last_restart_at, renamed.next_allowed_at) == (
        backed_off.attempts, backed_off.last_restart_at, backed_off.next_allowed_at)
    (said,) = [e for e in logs if e["event"] == "cluster_state_carried"]
    assert (said["cluster"], said["renamed_from"], said["connectors"]) == ("prod-eu", CLUSTER, 2)


def test_every_config_section_is_applied_by_a_reload_or_refused_by_name() -> None:
    diffed_by_name = {"rules", "clusters"}
    assert set(Config.model_fields) == diffed_by_name | set(LIVE_SECTIONS) | set(RESTART_ONLY_SECTIONS)


async def test_changes_a_reload_cannot_apply_are_refused_by_name(tmp_path: Path, credentials_env: None) -> None:
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL], [{"name": "orders"}])
    changes = {
        "metrics_api": {"metrics_api": {"base_url": "https://metrics.example"}},
        "reload": {"reload": {"interval": 0.2, "watch": False}},
        "log.format": {"log": {"format": "console"}},
    }
    for section, change in changes.items():
        write(path, [HEAL], **change)
        with structlog.testing.capture_logs() as logs:
            assert await w.daemon.reload("test") is False, section
        (event,) = [e for e in logs if e["event"] == "config_reload_refused"]
        assert event["sections"] == [section]


async def test_a_refused_reload_is_shown_until_a_reload_applies(tmp_path: Path, credentials_env: None) -> None:
    # `dry_run: true` saved in an incident beside a `rate_limit` change: the whole reload was
    # refused and the daemon stayed live, with one log line and a counter no alert read.
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL], [{"name": "orders"}])
    def shown() -> float | None:
        return w.daemon.metrics.registry.get_sample_value("watchdog_config_last_reload_successful")

    assert shown() == 1, "1 from the start: no reload was refused"
    write(path, [HEAL], dry_run=True, rate_limit={"reserve": 2})
    assert await w.daemon.reload("test") is False
    assert shown() == 0 and w.daemon.config.dry_run is False
    path.write_text("rules: [")
    assert await w.daemon.reload("test") is False
    assert shown() == 0
    write(path, [HEAL], dry_run=True)
    assert await w.daemon.reload("test") is True
    assert shown() == 1 and w.daemon.config.dry_run is True


async def test_a_reload_keeps_the_log_level_given_on_the_command_line_until_the_file_changes_it(
    tmp_path: Path, credentials_env: None
) -> None:
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL], [{"name": "orders"}])
    root = logging.getLogger()
    saved = root.level
    try:
        root.setLevel("DEBUG")  # `watchdog run --log-level DEBUG` over the file's INFO
        assert await w.daemon.reload("unchanged") is True
        assert root.level == logging.DEBUG, "the first reload undid --log-level"
        write(path, [HEAL], log={"level": "WARNING"})
        assert await w.daemon.reload("test") is True
        assert root.level == logging.WARNING
    finally:
        root.setLevel(saved)


def test_the_watcher_reads_no_more_of_the_file_than_the_loader_and_still_sees_every_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A log given as --config by mistake was hashed whole at every look (every reload.interval).
    from watchdog.config.loading import MAX_CONFIG_BYTES
    from watchdog.reload import file_fingerprint

    path = tmp_path / "config.yaml"
    path.write_bytes(b"x" * (3 * MAX_CONFIG_BYTES))
    read: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        stream = real_open(self, *args, **kwargs)
        real_read = stream.read
        stream.read = lambda n=-1: (read.append(n), real_read(n))[1]  # type: ignore[method-assign]
        return stream

    before = file_fingerprint(path)
    monkeypatch.setattr(Path, "open", counting_open)
    assert file_fingerprint(path) == before
    assert read and all(0 < n <= MAX_CONFIG_BYTES + 1 for n in read), read
    monkeypatch.undo()
    with path.open("ab") as stream:
        stream.write(b"y")  # beyond what is hashed: the size tells
    assert file_fingerprint(path) != before


async def test_a_rule_turned_off_and_on_again_hands_no_connector_a_fresh_budget(tmp_path: Path, credentials_env: None) -> None:
    # The rule turned off during an incident to stop its restarts, then on again (or a selector
    # narrowed by mistake and put back): its connectors' backoff, budget and gave-up flag were
    # forgotten at the first edit, and the gave-up connector was restarted again at once.
    path = tmp_path / "config.yaml"
    heal = {**HEAL, "max_restarts": 1}
    w = reloadable(path, [heal], [FAILING, {"name": "billing"}])
    w.daemon.queue.start()
    key = ConnectorKey(CLUSTER, "orders")

    async def poll() -> None:
        w.simulator.set_state(CLUSTER_ID, "orders", "FAILED")  # a restart does not help it
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()

    for _ in range(2):
        await poll()
    assert len(w.simulator.restarts()) == 1 and w.daemon.state.load(key).gave_up
    for rules in ([{**heal, "enabled": False}], [{**heal, "select": {"include": ["*"], "exclude": ["ord*"]}}], [heal]):
        write(path, rules)
        assert await w.daemon.reload("test") is True
        for _ in range(2):
            await poll()
    assert len(w.simulator.restarts()) == 1, "restarted again after an edit, without ever being seen healthy"
    assert w.daemon.state.load(key).gave_up
    # Left unwatched, its state goes after state.forget_vanished_after, as a vanished one's.
    write(path, [{**heal, "enabled": False}])
    assert await w.daemon.reload("test") is True
    await poll()
    assert await w.daemon.engine.forget_vanished() == 0
    grace = timedelta(seconds=w.daemon.config.state.forget_vanished_after)
    w.daemon.engine._now = lambda: datetime.now(timezone.utc) + grace
    assert await w.daemon.engine.forget_vanished() == 2  # orders and billing, both unwatched now
    assert key not in dict(w.daemon.state.items())
    await w.daemon.stop()


async def test_a_reload_to_live_shows_the_live_state_not_the_dry_run_s(tmp_path: Path, credentials_env: None) -> None:
    # Going live by a reload kept the dry run's view of each connector it would have restarted
    # until that connector's next live decision: `watchdog status --daemon` and /v1/connectors
    # went on saying "1 (dry run)", and the backoff gauges the dry run's step, for an alert or a
    # stall rule's connector until its next alert, though the daemon was live and nothing had
    # been sent.
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL], [FAILING])
    write(path, [HEAL], dry_run=True)
    assert await w.daemon.reload("test") is True
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    (row,) = w.daemon.connector_rows()
    assert row["dry_run"] is True and row["attempts"] == 1
    assert w.sample("watchdog_connector_backoff_step", cluster=CLUSTER, connector="orders") == 1

    write(path, [HEAL])
    assert await w.daemon.reload("test") is True
    (row,) = w.daemon.connector_rows()
    await w.daemon.stop()
    assert row["dry_run"] is False and row["attempts"] == 0, row
    assert w.sample("watchdog_connector_backoff_step", cluster=CLUSTER, connector="orders") == 0
    assert w.simulator.restarts(accepted_only=False) == []


async def test_a_dry_run_restart_that_ends_after_a_reload_to_live_leaves_no_dry_run_view(
    tmp_path: Path, credentials_env: None
) -> None:
    # A dry-run restart still queued at the reload (waiting for its turn, a 429's pause) ends
    # dry_run after it: its would-be attempt made a dry run's view again on a live daemon.
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL], [FAILING])
    write(path, [HEAL], dry_run=True)
    assert await w.daemon.reload("test") is True
    await w.daemon.pollers[CLUSTER].poll()  # queued: the queue has not started
    write(path, [HEAL])
    assert await w.daemon.reload("test") is True
    w.daemon.queue.start()
    await w.daemon.queue.join()
    (row,) = w.daemon.connector_rows()
    await w.daemon.stop()
    assert w.daemon.recorder.outcomes[Outcome.DRY_RUN] == 1
    assert row["dry_run"] is False and row["attempts"] == 0, row
    assert w.sample("watchdog_connector_backoff_step", cluster=CLUSTER, connector="orders") == 0
