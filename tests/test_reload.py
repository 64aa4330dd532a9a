"""Live reload: a broken file changes nothing; a good one takes effect without a restart."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml

from watchdog.app import Daemon
from watchdog.config import load_config
from watchdog.metrics import Metrics
from watchdog.model import ConnectorKey, ConnectorState, Decision, Outcome, Trigger
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.triggers.scheduler import rule_trigger

from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, World, sim_scenario, until

HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 30, "confirm_polls": 1}, "select": {"include": ["*"]}}
NIGHTLY = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["orders"]}}


def write(path: Path, rules: list[dict[str, Any]], **extra: Any) -> None:
    data = {
        "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0},
        "reload": {"interval": 0.2},
        "state": {"path": ":memory:"},
        "rules": rules,
        **extra,
    }
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
def setup(tmp_path: Path, credentials_env: None):
    path = tmp_path / "config.yaml"
    write(path, [HEAL])
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}, {"name": "billing"}])))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    return path, World(simulator, daemon)


def job_ids(daemon: Daemon) -> set[str]:
    return daemon.scheduled_job_ids()


async def test_a_broken_file_keeps_the_running_config(setup) -> None:
    path, w = setup
    await w.daemon.start(serve_http=False)
    try:
        before = w.daemon.config
        write(path, [HEAL, {**NIGHTLY, "trigger": {"type": "schedule", "cron": "0 3 * * 8"}}])
        with structlog.testing.capture_logs() as logs:
            assert await w.daemon.reload("test") is False
        assert w.daemon.config is before
        assert w.sample("watchdog_config_reloads_total", result="error") == 1
        (failed,) = [e for e in logs if e["event"] == "config_reload_failed"]
        assert any(error.startswith("rules[1].trigger.cron: bad cron expression '0 3 * * 8': Bad day-of-week") for error in failed["errors"])
    finally:
        await w.daemon.stop()


async def test_a_good_file_swaps_rules_and_schedules_in_place(setup) -> None:
    path, w = setup
    await w.daemon.start(serve_http=False)
    try:
        await w.daemon.pollers[CLUSTER].poll()
        assert job_ids(w.daemon) == {f"poll:{CLUSTER}"}
        assert w.daemon.metrics.registry.get_sample_value(
            "watchdog_connector_backoff_step", {"cluster": CLUSTER, "connector": "billing"}) == 0
        narrowed = {**HEAL, "select": {"connectors": ["orders"]}}
        write(path, [narrowed, NIGHTLY])
        with structlog.testing.capture_logs() as logs:
            assert await w.daemon.reload("test") is True
        assert job_ids(w.daemon) == {f"poll:{CLUSTER}", "rule:nightly"}
        assert [r.name for r in w.daemon.engine.config.rules] == ["heal", "nightly"]
        (event,) = [e for e in logs if e["event"] == "config_reloaded"]
        assert event["rules_added"] == ["nightly"] and event["rules_changed"] == ["heal"]
        # billing is no longer watched: its series are gone, orders keeps its state.
        assert w.daemon.metrics.registry.get_sample_value(
            "watchdog_connector_backoff_step", {"cluster": CLUSTER, "connector": "billing"}) is None
        assert w.daemon.metrics.registry.get_sample_value(
            "watchdog_connector_backoff_step", {"cluster": CLUSTER, "connector": "orders"}) == 0
        assert w.sample("watchdog_config_reloads_total", result="success") == 1
    finally:
        await w.daemon.stop()


async def test_the_log_stars_out_a_token_rotated_at_a_reload(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    # The log knows the config's secrets (whatever puts one in a line, it is starred out): a
    # token rotated at a reload is known from that reload on, and the one before it still (a
    # call made with it may still be on its way).
    import io

    from watchdog.logs import configure_logging, get_logger

    path, w = setup
    old, new = "old-token-3f9a1c7e2b5d", "new-token-7c2e9a4b1f6d"
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", old)
    write(path, [HEAL])
    assert await w.daemon.reload("test") is True
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", new)
    assert await w.daemon.reload("SIGHUP") is True
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)

    get_logger("test").warning("echoed", message=f"refused: Bearer {new} (was {old})")

    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "refused: Bearer *** (was ***)", line
    await w.daemon.stop()


async def test_sections_that_need_a_restart_are_refused_by_name(setup) -> None:
    path, w = setup
    await w.daemon.start(serve_http=False)
    try:
        write(path, [HEAL], rate_limit={"reserve": 5})
        with structlog.testing.capture_logs() as logs:
            assert await w.daemon.reload("test") is False
        (event,) = [e for e in logs if e["event"] == "config_reload_refused"]
        assert event["sections"] == ["rate_limit"]
        assert w.daemon.config.rate_limit.reserve == 1
    finally:
        await w.daemon.stop()


async def test_a_rotated_api_token_takes_effect_at_a_reload(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: refused as a `server` change, so the old token went on working and the new one,
    # Alertmanager's once its credentials_file changed, was answered 401 until a restart.
    from watchdog.server import create_app as daemon_app

    path, w = setup
    old, new = "old-token-5d1c0e2a9b7f", "new-token-8e4a1c3f6d2b"
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", old)
    write(path, [HEAL])
    assert await w.daemon.reload("test") is True
    app = daemon_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as http:
        async def status(token: str) -> int:
            return (await http.get("/v1/connectors", headers={"Authorization": f"Bearer {token}"})).status_code

        assert (await status(old), await status(new)) == (200, 401)
        monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", new)  # the secret rotated, then SIGHUP
        with structlog.testing.capture_logs() as logs:
            assert await w.daemon.reload("SIGHUP") is True
        (event,) = [e for e in logs if e["event"] == "config_reloaded"]
        assert event["sections_changed"] == ["server.auth_token"]
        assert old not in str(logs) and new not in str(logs)
        assert (await status(old), await status(new)) == (401, 200)
    # The rest of `server` still needs a restart.
    write(path, [HEAL], server={"host": "127.0.0.1", "port": 1})
    with structlog.testing.capture_logs() as logs:
        assert await w.daemon.reload("test") is False
    assert [e["sections"] for e in logs if e["event"] == "config_reload_refused"] == [["server"]]
    await w.daemon.stop()


async def test_a_reload_that_takes_the_api_token_away_is_refused_and_the_token_kept(
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: applied, and from then on every webhook and API call was answered 403 ("this API is
    # disabled"), which Alertmanager does not send again: every alert lost, with only
    # `sections_changed: ["server.auth_token"]` at info. A Secret not yet mounted does this.
    from watchdog.server import create_app as daemon_app

    path, w = setup
    token = "kept-token-3b9e2d7c1a4f"
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", token)
    write(path, [HEAL])
    assert await w.daemon.reload("test") is True
    monkeypatch.delenv("WATCHDOG_SERVER__AUTH_TOKEN")
    with structlog.testing.capture_logs() as logs:
        assert await w.daemon.reload("SIGHUP") is False
    (event,) = [e for e in logs if e["event"] == "config_reload_refused"]
    assert event["sections"] == ["server.auth_token (removed: the webhook and the restart API would refuse every request)"]
    app = daemon_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as http:
        answer = await http.get("/v1/connectors", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    await w.daemon.stop()


async def test_the_file_watcher_reloads_when_the_contents_change(setup) -> None:
    path, w = setup
    await w.daemon.start(serve_http=False)
    try:
        write(path, [HEAL, NIGHTLY])
        for _ in range(50):
            if "rule:nightly" in job_ids(w.daemon):
                break
            await asyncio.sleep(0.05)
        assert "rule:nightly" in job_ids(w.daemon)
    finally:
        await w.daemon.stop()


async def test_nothing_queued_is_lost_by_a_reload(setup) -> None:
    path, w = setup
    from watchdog.engine import MANUAL_RULE
    from watchdog.model import ConnectorKey, Trigger

    record = w.daemon.engine.on_request(ConnectorKey(CLUSTER, "orders"), None, trigger=Trigger.MANUAL,
                                        rule=MANUAL_RULE, reason="test", known_missing=False)
    write(path, [NIGHTLY])  # the status rule is gone, the cluster stays
    assert await w.daemon.reload("test") is True
    w.daemon.queue.start()
    await w.daemon.queue.join()
    assert record.job.outcome.value == "accepted"
    await w.daemon.stop()


# -- a failed reload is never half-applied, and never silent (issue 12, item 13) ------------------


ONPREM = {"backend": "kafka_connect", "urls": ["https://connect-1:8083"]}


async def _readiness(daemon: Daemon) -> int:
    from watchdog.server import create_app as daemon_app

    app = daemon_app(daemon.metrics.registry, daemon.probes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as http:
        return (await http.get("/readyz")).status_code


async def test_a_reload_with_a_ca_file_that_is_not_pem_changes_nothing(setup) -> None:
    path, w = setup
    await w.daemon.start(serve_http=False)
    try:
        await w.daemon.pollers[CLUSTER].poll()
        before = w.daemon.config
        write(path, [HEAL], clusters={CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID},
                                      "onprem": {**ONPREM, "tls": {"ca_file": "/etc/passwd"}}})
        with structlog.testing.capture_logs() as logs:
            assert await w.daemon.reload("test") is False
        assert w.daemon.config is before and "onprem" not in w.daemon.pollers
        (failed,) = [e for e in logs if e["event"] == "config_reload_failed"]
        assert any(error.startswith("clusters.onprem.tls.ca_file: /etc/passwd is not a readable PEM CA bundle")
                   for error in failed["errors"])
        assert await _readiness(w.daemon) == 200
    finally:
        await w.daemon.stop()


async def test_a_reload_whose_parts_cannot_be_built_changes_nothing_and_says_why(setup, monkeypatch) -> None:
    import watchdog.assembly

    path, w = setup
    await w.daemon.start(serve_http=False)
    try:
        await w.daemon.pollers[CLUSTER].poll()
        before = w.daemon.config

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("cannot build this client")

        monkeypatch.setattr(watchdog.assembly, "kafka_connect_client", broken)
        write(path, [HEAL, NIGHTLY], clusters={CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID},
                                               "onprem": ONPREM})
        with structlog.testing.capture_logs() as logs:
            assert await w.daemon.reload("test") is False
        # Nothing of the new config took effect: not its rules, not its schedules, not its cluster.
        assert w.daemon.config is before and w.daemon.engine.config is before
        assert set(w.daemon.pollers) == {CLUSTER} and job_ids(w.daemon) == {f"poll:{CLUSTER}"}
        assert w.sample("watchdog_config_reloads_total", result="error") == 1
        (failed,) = [e for e in logs if e["event"] == "config_reload_failed"]
        assert "cannot build this client" in failed["error"]
        assert await _readiness(w.daemon) == 200
    finally:
        await w.daemon.stop()


async def test_the_file_watcher_survives_a_reload_that_raises(tmp_path: Path) -> None:
    from watchdog.reload import ConfigWatcher

    path = tmp_path / "config.yaml"
    path.write_text("a")
    seen: list[str] = []

    async def reload(reason: str) -> None:
        seen.append(path.read_text())
        if len(seen) == 1:
            raise RuntimeError("a bug in the reload path")

    watcher = ConfigWatcher(path, reload, 0.02)
    watcher.start()
    try:
        path.write_text("b")
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
        path.write_text("c")
        for _ in range(100):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.02)
        assert seen == ["b", "c"], "the watcher died with the first reload"
    finally:
        await watcher.stop()


async def test_the_file_watcher_reads_a_changed_file_only_once_it_has_stopped_changing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An editor writing in place leaves the file cut short for a moment; a cut that is valid YAML
    # is a valid config (`max_restarts:` with its value not written yet reads as no limit), and
    # the watcher applied it. The file as each look of the watcher finds it:
    from watchdog import reload as reloading

    path = tmp_path / "config.yaml"
    path.write_text("whole, as running")
    looks = iter(["whole, as running", "cut", "whole, edited", "whole, edited"])

    def fingerprint(_: Path, secrets_dir: Path | None = None) -> str:
        path.write_text(next(looks, "whole, edited"))
        return path.read_text()

    seen: list[str] = []

    async def reload(reason: str) -> None:
        seen.append(path.read_text())

    monkeypatch.setattr(reloading, "file_fingerprint", fingerprint)
    watcher = reloading.ConfigWatcher(path, reload, 0.02)
    watcher.start()
    try:
        await until(lambda: bool(seen), "a reload")
        await asyncio.sleep(0.2)
    finally:
        await watcher.stop()
    assert seen == ["whole, edited"], "the file was read while it was being written"


async def test_a_reload_that_removes_a_cluster_removes_its_series_and_keeps_the_others_gauges(setup) -> None:
    path, w = setup
    staging = {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-staging1"}
    write(path, [HEAL], clusters={CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}, "staging": staging})
    assert await w.daemon.reload("test") is True
    await w.daemon.pollers[CLUSTER].poll()
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="healthy") == 2
    write(path, [HEAL])
    assert await w.daemon.reload("test") is True
    assert set(w.daemon.pollers) == {CLUSTER}
    registry = w.daemon.metrics.registry
    assert registry.get_sample_value("watchdog_breaker_open", {"scope": "staging"}) is None
    assert registry.get_sample_value("watchdog_polls_total", {"cluster": "staging", "result": "ok"}) is None
    # What the last poll showed is not blanked by the reload: it stays until the next poll.
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="healthy") == 2
    await w.daemon.stop()


def _rules_with_series(w: World, name: str) -> set[str]:
    return {sample.labels["rule"] for metric in w.daemon.metrics.registry.collect() for sample in metric.samples
            if sample.name == name}


async def test_a_rule_renamed_or_removed_by_a_reload_leaves_no_series(setup) -> None:
    # Each rename left the old name's decision and restart series for the life of the process.
    path, w = setup
    w.simulator.set_state(CLUSTER_ID, "orders", "FAILED")
    await w.daemon.start(serve_http=False)
    try:
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        assert w.total("watchdog_restarts_total", connector="orders", rule="heal", outcome="accepted") == 1
        for name in ("heal-v2", "heal-v3"):
            write(path, [{**HEAL, "name": name}])
            assert await w.daemon.reload("test") is True
        assert _rules_with_series(w, "watchdog_decisions_total") == {"heal-v3", "manual"}
        assert "heal" not in _rules_with_series(w, "watchdog_restarts_total")
        assert _rules_with_series(w, "watchdog_cluster_restarts_total") == {"heal-v3", "manual"}
        write(path, [])
        assert await w.daemon.reload("test") is True
        assert _rules_with_series(w, "watchdog_decisions_total") == {"manual"}
        assert _rules_with_series(w, "watchdog_cluster_restarts_total") == {"manual"}
    finally:
        await w.daemon.stop()


def test_a_reload_makes_only_the_series_it_lacks_and_again_those_removed_since() -> None:
    # Each reload made every series of every rule and named connector again (57,000 for 1,500
    # rules: 0.2 s of the reload's one step); now only those it lacks. Series removed since (a
    # rule gone while a restart was pending: its decisions went; a connector forgotten; a
    # cluster removed) must still be made at 0 when the config has them again, so that
    # increase() sees their first event.
    metrics, key = Metrics(), ConnectorKey(CLUSTER, "orders")

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"cluster": CLUSTER, **labels})

    def decisions() -> float | None:
        return value("watchdog_decisions_total", rule="a", trigger="status", decision="restart")

    def restarts() -> float | None:
        return value("watchdog_restarts_total", connector="orders", rule="a", trigger="status", outcome="accepted")

    def preinitialise() -> None:  # as each reload does (Daemon._preinitialise_clusters)
        metrics.init_cluster(CLUSTER, [("a", Trigger.STATUS)])
        metrics.init_connector(CLUSTER, "orders", "a", Trigger.STATUS)

    preinitialise()
    metrics.count_decision(key, "a", Trigger.STATUS, Decision.RESTART)
    metrics.show_connector_state(CLUSTER, "orders", ConnectorState(attempts=2))
    preinitialise()
    assert (decisions(), restarts(), value("watchdog_connector_backoff_step", connector="orders")) == (1, 0, 2)
    assert metrics.forget_rules(keep=set(), busy={(CLUSTER, "orders")}) is True  # gone, a restart pending
    assert decisions() is None and restarts() == 0
    preinitialise()  # the rule back
    assert decisions() == 0
    metrics.forget_connector(CLUSTER, "orders")
    assert restarts() is None
    preinitialise()
    assert restarts() == 0 and value("watchdog_connector_gave_up", connector="orders") == 0
    metrics.forget_cluster(CLUSTER)
    preinitialise()
    assert (decisions(), restarts()) == (0, 0)
    metrics.count_restart(key, "a", Trigger.STATUS, Outcome.ACCEPTED)
    metrics.forget_cluster_restarts(CLUSTER)  # a restart that ended after its cluster went
    preinitialise()
    assert value("watchdog_cluster_restarts_total", rule="a", trigger="status", outcome="accepted") == 0


def test_a_restart_pending_under_a_removed_rule_keeps_its_series_until_it_is_counted() -> None:
    metrics = Metrics()
    metrics.init_connector(CLUSTER, "orders", "old", Trigger.STATUS)
    metrics.init_cluster(CLUSTER, [("old", Trigger.STATUS)])
    assert metrics.forget_rules(keep=set(), busy={(CLUSTER, "orders")}) is True, "some kept: swept again hourly"
    assert metrics.registry.get_sample_value("watchdog_decisions_total", {
        "cluster": CLUSTER, "rule": "old", "trigger": "status", "decision": "restart"}) is None
    labels = {"cluster": CLUSTER, "connector": "orders", "rule": "old", "trigger": "status", "outcome": "dropped"}
    metrics.count_restart(ConnectorKey(CLUSTER, "orders"), "old", Trigger.STATUS, Outcome.DROPPED)  # its end, after the reload: counted from 0
    assert metrics.registry.get_sample_value("watchdog_restarts_total", labels) == 1
    per_cluster = {k: v for k, v in labels.items() if k != "connector"}
    assert metrics.registry.get_sample_value("watchdog_cluster_restarts_total", per_cluster) == 1
    assert metrics.forget_rules(keep=set(), busy=set()) is False  # the hourly sweep, once it has ended
    assert metrics.registry.get_sample_value("watchdog_restarts_total", labels) is None
    assert metrics.registry.get_sample_value("watchdog_cluster_restarts_total", per_cluster) is None


async def test_a_reload_changes_the_log_level_in_place(setup) -> None:
    """docs/operations.md: the log level changes on reload without a restart. What the log shows of
    a poll follows the new level at once: the per-call `api_call` line is debug, `config_reloaded`
    info."""
    import io
    import json
    import logging

    from watchdog.logs import configure_logging

    path, w = setup
    root = logging.getLogger()
    saved_handlers, saved_level, saved_structlog = root.handlers[:], root.level, structlog.get_config()
    stream = io.StringIO()
    configure_logging(w.daemon.config.log.level, "json", stream)

    def events() -> list[str]:
        lines = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
        stream.seek(0)
        stream.truncate()
        return lines

    await w.daemon.start(serve_http=False)
    try:
        await w.daemon.pollers[CLUSTER].poll()
        shown = events()
        assert "api_call" not in shown and "started" in shown, "INFO: no debug lines"

        write(path, [HEAL], log={"level": "DEBUG"})
        assert await w.daemon.reload("test") is True
        await w.daemon.pollers[CLUSTER].poll()
        shown = events()
        assert "config_reloaded" in shown and "api_call" in shown, "DEBUG at once, without a restart"

        write(path, [HEAL], log={"level": "WARNING"})
        assert await w.daemon.reload("test") is True
        await w.daemon.pollers[CLUSTER].poll()
        assert events() == [], "WARNING: nothing of a quiet poll, not even the reload's info line"
    finally:
        await w.daemon.stop()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.configure(**saved_structlog)


def _slow_loader(path: Path, slow_first: float) -> Any:
    """Loads `path` as the daemon does; the first load reads the file, then takes `slow_first`
    seconds more to check it (a large config), holding the thread it runs in as a real one would."""
    calls = []

    def load() -> Any:
        config = load_config(path)
        calls.append(config)
        if len(calls) == 1:
            import time

            time.sleep(slow_first)
        return config

    return load


async def _started_with_slow_loads(path: Path, slow_first: float) -> Daemon:
    """A daemon started on `path` (one status rule) whose first reload takes `slow_first` s more."""
    write(path, [HEAL])
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=_slow_loader(path, slow_first), config_path=path)
    await daemon.start(serve_http=False)
    return daemon


async def test_a_reload_checks_the_file_off_the_event_loop(tmp_path: Path, credentials_env: None) -> None:
    # A config of 1,000 rules takes about half a second to check; on the event loop, nothing
    # else (webhooks, probes, restarts) ran meanwhile.
    path = tmp_path / "config.yaml"
    daemon = await _started_with_slow_loads(path, 0.5)
    try:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        write(path, [HEAL, NIGHTLY])
        assert await daemon.reload("test") is True
        ticker.cancel()
        assert [r.name for r in daemon.config.rules] == ["heal", "nightly"]
        assert ticks >= 10, f"the event loop ran {ticks} times in a 0.5 s reload"
    finally:
        await daemon.stop()


async def test_overlapping_reloads_apply_in_turn_and_the_newest_file_wins(tmp_path: Path, credentials_env: None) -> None:
    # The first reload reads the file, then takes a while to check it; the file changes and a
    # second reload (SIGHUP beside the file watcher's) starts meanwhile. Each applying what it
    # read when it was done, the older file was applied last, and stayed.
    path = tmp_path / "config.yaml"
    daemon = await _started_with_slow_loads(path, 0.3)
    try:
        write(path, [HEAL, NIGHTLY])
        first = asyncio.create_task(daemon.reload("file changed"))
        await asyncio.sleep(0.1)  # the first has read the file and is checking it
        write(path, [NIGHTLY])
        second = asyncio.create_task(daemon.reload("SIGHUP"))
        assert await first is True and await second is True
        assert [r.name for r in daemon.config.rules] == ["nightly"]
        assert daemon.scheduled_job_ids() == {"rule:nightly"}
    finally:
        await daemon.stop()


async def test_a_storm_of_sighups_reloads_twice_and_the_newest_file_wins(tmp_path: Path, credentials_env: None) -> None:
    # 30 SIGHUPs (a reloader sidecar, a loop) made 30 reloads of the same file one after another:
    # with 3,000 rules, over a minute of reloading, the probes answered in up to 4 s. A reload
    # asked for while another waits for its turn joins it: that one reads the file after both.
    path = tmp_path / "config.yaml"
    daemon = await _started_with_slow_loads(path, 0.3)
    try:
        write(path, [HEAL, NIGHTLY])
        first = asyncio.create_task(daemon.reload("SIGHUP"))
        await asyncio.sleep(0.1)  # the first has read the file and is checking it
        write(path, [NIGHTLY])
        storm = [asyncio.create_task(daemon.reload("SIGHUP")) for _ in range(30)]
        assert await first is True and all(await asyncio.gather(*storm))
        assert [r.name for r in daemon.config.rules] == ["nightly"], "the file as it was after the storm"
        reloads = daemon.metrics.registry.get_sample_value("watchdog_config_reloads_total", {"result": "success"})
        assert reloads == 2
        assert await daemon.reload("SIGHUP") is True, "a reload asked for once the storm is over reads the file again"
        assert daemon.metrics.registry.get_sample_value("watchdog_config_reloads_total", {"result": "success"}) == 3
    finally:
        await daemon.stop()


async def test_a_file_read_while_the_daemon_stops_is_not_applied(tmp_path: Path, credentials_env: None) -> None:
    # SIGHUP right before SIGTERM: the reload read the file while the stop began, then swapped a
    # new cluster and rule in the middle of the stop (config_reloaded with clusters_added, logged
    # after `stopping`), past the steps that had stopped the old ones.
    import threading

    path = tmp_path / "config.yaml"
    write(path, [HEAL])
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    stopping = threading.Event()

    def load_once_the_stop_began() -> Any:
        stopping.wait(10)
        return load_config(path)

    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=load_once_the_stop_began, config_path=path)
    await daemon.start(serve_http=False)
    data = yaml.safe_load(path.read_text())
    data["clusters"]["second"] = {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-second1"}
    path.write_text(yaml.safe_dump(data))
    with structlog.testing.capture_logs() as logs:
        reload = asyncio.create_task(daemon.reload("SIGHUP"))
        await asyncio.sleep(0.05)
        stop = asyncio.create_task(daemon.stop())
        await asyncio.sleep(0)
        stopping.set()
        await stop
        assert await reload is False
    assert sorted(daemon.config.clusters) == [CLUSTER] and sorted(daemon.pollers) == [CLUSTER]
    events = [event["event"] for event in logs]
    assert "config_reloaded" not in events and "config_reload_skipped" in events, events


async def test_a_cluster_removed_while_a_schedule_rule_lists_costs_the_other_clusters_nothing(tmp_path: Path, credentials_env: None) -> None:
    # A schedule rule lists its clusters one after another (each listing may wait behind a
    # rate-limit pause); a reload, or a discovery refresh, removes one of them meanwhile.
    path = tmp_path / "config.yaml"
    clusters = {name: {"environment_id": ENVIRONMENT, "kafka_cluster_id": f"lkc-{name}"} for name in ("a", "b", "c")}
    write(path, [NIGHTLY], clusters=clusters)
    scenario = sim_scenario([])
    scenario["environments"][0]["clusters"] = [{"id": f"lkc-{name}", "connectors": [{"name": "orders"}]} for name in clusters]
    simulator = Simulator(Scenario.model_validate(scenario))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    daemon.queue.start()
    listing, listed = asyncio.Event(), asyncio.Event()
    first, list_first = daemon.pollers["a"], daemon.pollers["a"].list

    async def slow_list() -> Any:
        listing.set()
        await listed.wait()
        return await list_first()

    first.list = slow_list  # type: ignore[method-assign]
    run = asyncio.create_task(daemon.run_schedule_rule("nightly"))
    await listing.wait()
    del clusters["b"]
    write(path, [NIGHTLY], clusters=clusters)
    assert await daemon.reload("test") is True
    listed.set()
    await run  # before: KeyError 'b', the job failed, and c had no restart that night
    await daemon.queue.join()
    assert sorted(call.cluster for call in simulator.restarts()) == ["lkc-a", "lkc-c"]
    await daemon.stop()


async def test_a_reload_that_edits_an_interval_rule_but_not_its_interval_keeps_its_next_run(setup) -> None:
    path, w = setup
    daily = {"name": "daily", "trigger": {"type": "schedule", "interval": "24h"}, "select": {"connectors": ["orders"]}}
    write(path, [HEAL, daily])
    assert await w.daemon.reload("test") is True
    await w.daemon.start(serve_http=False)
    try:
        planned = w.daemon._scheduler.get_job("rule:daily").next_run_time  # type: ignore[union-attr]
        await asyncio.sleep(0.05)
        write(path, [HEAL, {**daily, "select": {"connectors": ["orders", "billing"]}, "windows": {"allowed": ["always"]}}])
        assert await w.daemon.reload("test") is True
        # Before, the job was made again and its 24 hours started over: a rule edited once a day
        # never ran.
        assert w.daemon._scheduler.get_job("rule:daily").next_run_time == planned  # type: ignore[union-attr]
        twice_a_day = {**daily, "trigger": {"type": "schedule", "interval": "12h"}}
        write(path, [HEAL, twice_a_day])
        assert await w.daemon.reload("test") is True
        # An edited interval plans the job again, on its own grid. Not `< planned`: intervals are
        # aligned on the epoch, so from 12:00 to 24:00 UTC the next 12 h and 24 h runs are both
        # midnight (this test failed every afternoon with the code right).
        job = w.daemon._scheduler.get_job("rule:daily")
        assert job.trigger.interval == timedelta(hours=12)  # type: ignore[union-attr]
        edited = next(r for r in w.daemon.config.rules if r.name == "daily")
        assert job.next_run_time == rule_trigger(edited).get_next_fire_time(  # type: ignore[union-attr]
            None, datetime.now(timezone.utc))
    finally:
        await w.daemon.stop()


async def test_an_edit_made_while_the_daemon_starts_is_reloaded(tmp_path: Path, credentials_env: None) -> None:
    path = tmp_path / "config.yaml"
    write(path, [HEAL])
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    # Edited after the file was read, before the watcher started (the state file opened, the lead
    # taken, the first discovery): the watcher took the edited file as the one it had seen, and
    # the edit was never applied, while the file on disk said it was.
    write(path, [HEAL, NIGHTLY])
    await daemon.start(serve_http=False)
    try:
        await until(lambda: [r.name for r in daemon.config.rules] == ["heal", "nightly"], "the edit applied", timeout=5)
    finally:
        await daemon.stop()


async def test_a_fifo_in_the_config_files_place_does_not_hold_the_daemon(tmp_path: Path, credentials_env: None) -> None:
    import os
    import threading
    import time

    path = tmp_path / "config.yaml"
    write(path, [HEAL])  # the watcher looks every 0.2 s
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    await daemon.start(serve_http=False)

    def writer_for_a_moment() -> None:  # what frees a reader stuck opening the FIFO, should there be one
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader waiting: the watcher did not block

    unblock = threading.Timer(2.0, writer_for_a_moment)
    try:
        path.unlink()
        os.mkfifo(path)
        unblock.start()
        started = time.monotonic()
        await asyncio.sleep(0.6)  # three looks of the watcher
        # Before, the watcher's open() of the FIFO held the event loop (probes, webhooks, the
        # queue) until a writer came: here, the timer's, two seconds later.
        assert time.monotonic() - started < 1.5
    finally:
        unblock.join()
        await daemon.stop()


async def test_a_file_value_a_variable_overrides_is_named_at_reload_and_by_check_config(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from watchdog.cli import main

    # The live overlay sets WATCHDOG_DRY_RUN=false; in an incident someone sets `dry_run: true`
    # in the ConfigMap. Before, the reload said `unchanged` and restarts went on, unexplained.
    monkeypatch.setenv("WATCHDOG_DRY_RUN", "false")
    path = tmp_path / "config.yaml"
    write(path, [HEAL])
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    write(path, [HEAL], dry_run=True)
    with structlog.testing.capture_logs() as logs:
        assert await daemon.reload("test") is True
    assert daemon.config.dry_run is False
    (said,) = [e for e in logs if e["event"] == "file_values_overridden"]
    assert said["values"] == {"dry_run": "WATCHDOG_DRY_RUN"}
    await daemon.stop()
    assert main(["check-config", "--config", str(path)]) == 0
    assert "dry_run in the file is overridden by WATCHDOG_DRY_RUN" in capsys.readouterr().err
    # A whole list set as JSON overrides every rule the file has.
    monkeypatch.setenv("WATCHDOG_RULES", json.dumps([NIGHTLY]))
    assert load_config(path).overridden == {"dry_run": "WATCHDOG_DRY_RUN", "rules": "WATCHDOG_RULES"}


async def test_a_secret_file_a_variable_overrides_is_named_at_start_at_reload_and_by_check_config(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from watchdog.cli import main

    # The runbook's token rotation: the new token put in the Secret's file, then SIGHUP. A
    # WATCHDOG_SERVER__AUTH_TOKEN left in the Deployment's env won over the file: the reload said
    # `unchanged: true` (which the runbook reads as "the file was not updated yet: wait, and send
    # it again"), the new token was answered 401 for good, and nothing said why.
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "token-from-the-variable-0123")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "WATCHDOG_SERVER__AUTH_TOKEN").write_text("token-from-the-file-old-0123\n")
    path = tmp_path / "config.yaml"
    write(path, [HEAL])
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    with structlog.testing.capture_logs() as logs:
        daemon = Daemon(load_config(path, secrets_dir=secrets), transport=httpx.ASGITransport(app=create_app(simulator)),
                        reload_config=lambda: load_config(path, secrets_dir=secrets), config_path=path)
        await daemon.start()
        (secrets / "WATCHDOG_SERVER__AUTH_TOKEN").write_text("token-from-the-file-new-0123\n")
        assert await daemon.reload("SIGHUP") is True
    await daemon.stop()
    token = daemon.config.server.auth_token
    assert token is not None and token.get_secret_value() == "token-from-the-variable-0123"
    said = [e for e in logs if e["event"] == "secret_files_overridden"]
    assert len(said) == 2, "at start and at the reload"
    assert said[-1]["files"] == {"WATCHDOG_SERVER__AUTH_TOKEN": "WATCHDOG_SERVER__AUTH_TOKEN"}
    assert "token-from" not in json.dumps(said, default=str)
    assert main(["check-config", "--config", str(path), "--secrets-dir", str(secrets)]) == 0
    err = capsys.readouterr().err
    assert "secret file WATCHDOG_SERVER__AUTH_TOKEN is overridden by the variable WATCHDOG_SERVER__AUTH_TOKEN" in err
    monkeypatch.delenv("WATCHDOG_SERVER__AUTH_TOKEN")
    assert load_config(path, secrets_dir=secrets).secret_files_overridden == {}


async def test_a_connector_only_a_removed_alert_rule_gave_up_on_no_longer_pages() -> None:
    # No poll lists a connector that only an alert rule watches, so no poll removed its series
    # when a reload took that rule out: its watchdog_connector_gave_up stayed 1 and
    # WatchdogConnectorGaveUp paged for good for a connector nothing watched any more.
    from watchdog.server import create_app as daemon_app

    from .support import Clock, daemon_config
    from .test_api import AUTH, TOKEN, alert, payload

    on_alert = {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled"},
                                                "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
                "select": {"include": ["*"]}, "max_restarts": 1, "backoff": {"base": 1, "cap": 2, "jitter": 0}}
    others = {**HEAL, "select": {"include": ["billing"]}}
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders-sink"}, {"name": "billing"}])),
                          clock=clock.monotonic)
    configs = [daemon_config([on_alert, others], token=TOKEN, rate_limit={"max_requests_per_second": 10000})]
    daemon = Daemon(configs[0], transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall,
                    reload_config=lambda: configs[-1])
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=daemon_app(daemon.metrics.registry, daemon.probes,
                                                                           daemon.api_context())), base_url="http://daemon")
    daemon.queue.start()
    await daemon.pollers[CLUSTER].poll()
    for episode in range(2):  # a restart, then its budget spent: gave up
        await http.post("/v1/alertmanager", json=payload(alert(fingerprint=f"fp{episode}", starts=clock.wall())), headers=AUTH)
        await daemon.queue.join()
        clock.advance(30)
    gave_up = {"cluster": CLUSTER, "connector": "orders-sink"}
    assert daemon.metrics.registry.get_sample_value("watchdog_connector_gave_up", gave_up) == 1
    configs.append(daemon_config([others], token=TOKEN, rate_limit={"max_requests_per_second": 10000}))
    with structlog.testing.capture_logs() as logs:
        assert await daemon.reload("test") is True
    assert daemon.metrics.registry.get_sample_value("watchdog_connector_gave_up", gave_up) is None
    assert [e["connector"] for e in logs if e["event"] == "connector_unwatched"] == ["orders-sink"]
    assert daemon.metrics.registry.get_sample_value("watchdog_connector_gave_up", {**gave_up, "connector": "billing"}) == 0
    await daemon.stop()


async def test_a_connector_a_reload_no_longer_watches_is_not_shown_gone() -> None:
    # Unwatched, it is no longer judged, so no poll stamps it: /v1/connectors said `gone: true`
    # and `watchdog status` "gone (last seen RUNNING ...)" for a connector that still exists.
    from watchdog.report import render_status, status_rows_from_json

    from .support import Clock, daemon_config

    narrowed = {**HEAL, "select": {"include": ["billing"]}}
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders-sink"}, {"name": "billing"}])),
                          clock=clock.monotonic)
    configs = [daemon_config([HEAL], rate_limit={"max_requests_per_second": 10000})]
    daemon = Daemon(configs[0], transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall,
                    reload_config=lambda: configs[-1])
    daemon.queue.start()
    await daemon.pollers[CLUSTER].poll()
    clock.advance(30)
    configs.append(daemon_config([narrowed], rate_limit={"max_requests_per_second": 10000}))
    assert await daemon.reload("test") is True
    await daemon.pollers[CLUSTER].poll()
    rows = daemon.connector_rows()
    assert {row["connector"]: row["gone"] for row in rows} == {"orders-sink": False, "billing": False}
    table = render_status(status_rows_from_json({"connectors": rows}), now=clock.wall())
    assert "gone" not in table, table
    await daemon.stop()


async def test_names_a_reload_no_longer_names_leave_no_series_behind_when_their_cluster_lists_none_of_them() -> None:
    # A rule's exact `connectors` get their series at 0 at once (pre-initialised), listed or not.
    # A name the cluster never listed (a typo, a connector not made yet) kept its three gauges
    # and its 15 watchdog_restarts_total series for good after a reload took it out of the rule,
    # whenever a glob of any rule (a status rule's `include: ["*"]`) still matched it (bench
    # longrun: reloads renaming one exact name twelve times a day, 216 series more a day).
    from .support import daemon_config

    def config(names: list[str]) -> Any:
        return daemon_config([HEAL, {**NIGHTLY, "select": {"connectors": names}}])

    configs = [config(["orders-snik"])]
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}, {"name": "billing"}])))
    daemon = Daemon(configs[0], transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: configs[-1])
    await daemon.pollers[CLUSTER].poll()
    assert (CLUSTER, "orders-snik") in daemon.metrics.connectors_shown()  # named: shown at 0 while named
    for i in range(20):
        configs.append(config([f"orders-v{i}"]))
        assert await daemon.reload("test") is True
        await daemon.pollers[CLUSTER].poll()
    assert daemon.metrics.connectors_shown() == {(CLUSTER, "orders"), (CLUSTER, "billing"), (CLUSTER, "orders-v19")}
    named = {s.labels["connector"] for m in daemon.metrics.registry.collect() for s in m.samples
             if s.labels.get("connector", "").startswith("orders-")}
    assert named == {"orders-v19"}, "the gauges and restart counters of names no longer named stayed"
    await daemon.stop()
