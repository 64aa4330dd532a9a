"""GET /v1/history and `watchdog history`: the cluster filter holds with or without a connector."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from watchdog.cli import main
from watchdog.model import ConnectorKey, ConnectorState, HistoryRecord, Outcome, Trigger
from watchdog.state import SqliteStateStore, StateStore

from .support import CLUSTER, CLUSTER_ID
from .test_api import AUTH, world

OTHER = "staging"  # a cluster with history but (here) no longer in the config


def _restart(store: StateStore, cluster: str, connector: str, minutes: int) -> None:
    key = ConnectorKey(cluster, connector)
    store.finish(f"job-{cluster}-{connector}-{minutes}", key, ConnectorState(attempts=1), HistoryRecord(
        at=datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes), key=key,
        job_id=f"job-{cluster}-{connector}-{minutes}", rule="heal", trigger=Trigger.STATUS, triggers=(Trigger.STATUS,),
        outcome=Outcome.ACCEPTED, status_code=202, tries=1, attempt=1,
    ))


def _fill(store: StateStore) -> None:
    _restart(store, CLUSTER, "orders-sink", 1)
    _restart(store, OTHER, "orders-sink", 2)
    _restart(store, OTHER, "audit-sink", 3)
    _restart(store, CLUSTER, "billing-sink", 4)


def _state_and_config(tmp_path: Path, **extra: Any) -> tuple[Path, Path]:
    """A state file holding _fill's restarts and a config naming it, with CLUSTER configured by
    its lkc- id and `extra` top-level settings (`clusters` given replaces CLUSTER's)."""
    import yaml

    from .support import ENVIRONMENT

    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        _fill(store)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "credentials": {"main": {}}, "state": {"path": str(path)},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}}, **extra,
    }))
    return path, config


async def test_history_of_one_cluster_without_a_connector_shows_that_cluster_only() -> None:
    w, http = world()
    _fill(w.daemon.state)
    for label in (CLUSTER, CLUSTER_ID):  # by name or by lkc- id
        response = await http.get("/v1/history", params={"cluster": label}, headers=AUTH)
        assert response.status_code == 200, response.text
        rows = response.json()["restarts"]
        assert [(r["cluster"], r["connector"]) for r in rows] == [(CLUSTER, "billing-sink"), (CLUSTER, "orders-sink")]
    limited = await http.get("/v1/history", params={"cluster": CLUSTER, "limit": "1"}, headers=AUTH)
    assert [r["connector"] for r in limited.json()["restarts"]] == ["billing-sink"]
    everything = await http.get("/v1/history", headers=AUTH)
    assert len(everything.json()["restarts"]) == 4


async def test_history_of_an_unknown_cluster_is_404_with_or_without_a_connector() -> None:
    w, http = world()
    _fill(w.daemon.state)
    for params in ({"cluster": "nope"}, {"cluster": "nope", "connector": "orders-sink"}):
        response = await http.get("/v1/history", params=params, headers=AUTH)
        assert response.status_code == 404, params
        assert response.json()["error"] == "unknown cluster 'nope'"


def test_history_command_filters_the_state_file_by_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        _fill(store)
    capsys.readouterr()  # the store's own log lines
    assert main(["history", "--cluster", OTHER, "--state", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["restarts"]
    assert [(r["cluster"], r["connector"]) for r in rows] == [(OTHER, "audit-sink"), (OTHER, "orders-sink")]
    assert main(["history", "orders-sink", "--cluster", OTHER, "--state", str(path), "--json"]) == 0
    assert [r["cluster"] for r in json.loads(capsys.readouterr().out)["restarts"]] == [OTHER]


def test_history_command_finds_a_configured_clusters_restarts_by_its_lkc_id_in_the_state_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # The id an alert's kafka_cluster_id label or the Confluent console shows. Before: "No restarts
    # recorded." from the state file (kept by name), while --daemon found them.


    path, config = _state_and_config(tmp_path)
    capsys.readouterr()
    assert main(["history", "--cluster", CLUSTER_ID, "--config", str(config), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["restarts"]
    assert [(r["cluster"], r["connector"]) for r in rows] == [(CLUSTER, "billing-sink"), (CLUSTER, "orders-sink")]


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_history_command_refuses_a_limit_below_one(
    limit: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: --limit 0 printed "No restarts recorded." over a history that had some; -1 printed all of it.
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        _fill(store)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["history", "--state", str(path), "--limit", limit])
    shown = capsys.readouterr()
    assert exited.value.code == 2 and f"argument --limit: {limit} is below 1" in shown.err
    assert "No restarts recorded" not in shown.out and "orders-sink" not in shown.out


def test_history_command_takes_a_limit_past_the_largest_integer_as_no_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: an OverflowError traceback ("Python int too large to convert to SQLite INTEGER"), exit 1.
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        _fill(store)
    capsys.readouterr()
    assert main(["history", "--state", str(path), "--limit", "9" * 30]) == 0
    assert "orders-sink" in capsys.readouterr().out


async def test_history_of_a_connector_finds_restarts_older_than_the_fleets_newest_thousand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A connector (or a cluster) alone was looked for among the newest 1000 restarts of the
    # whole fleet: a busy fleet hid a quiet connector's restarts ("No restarts recorded.").
    w, http = world()
    _restart(w.daemon.state, OTHER, "orders-sink", 0)
    _restart(w.daemon.state, CLUSTER, "orders-sink", 1)
    for minutes in range(2, 1003):
        _restart(w.daemon.state, CLUSTER, f"noisy-{minutes % 50}", minutes)

    response = await http.get("/v1/history", params={"connector": "orders-sink"}, headers=AUTH)
    assert [(r["cluster"], r["connector"]) for r in response.json()["restarts"]] == [
        (CLUSTER, "orders-sink"), (OTHER, "orders-sink")]
    response = await http.get("/v1/history", params={"cluster": CLUSTER, "limit": "1000"}, headers=AUTH)
    newest = response.json()["restarts"]
    assert len(newest) == 1000 and newest[-1]["job_id"] == "job-prod-noisy-3-3", "the cluster's newest 1000"

    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        _restart(store, CLUSTER, "orders-sink", 0)
        for minutes in range(1, 1002):
            _restart(store, CLUSTER, f"noisy-{minutes % 50}", minutes)
    capsys.readouterr()
    assert main(["history", "orders-sink", "--state", str(path), "--json"]) == 0
    assert [r["connector"] for r in json.loads(capsys.readouterr().out)["restarts"]] == ["orders-sink"]


def test_history_command_says_a_cluster_is_unknown_as_the_daemon_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # A mistyped --cluster printed "No restarts recorded." and exited 0 from the state file, while
    # --daemon answered 404 "unknown cluster": at 3 a.m. it read as "nothing was ever restarted".

    from .support import ENVIRONMENT

    path, config = _state_and_config(tmp_path, clusters={
        CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID},
        "quiet": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-quiet"}})
    capsys.readouterr()
    for source in (["--config", str(config)], ["--state", str(path)]):
        assert main(["history", "--cluster", "prdo", *source]) == 1, source
        shown = capsys.readouterr()
        assert "unknown cluster 'prdo'" in shown.err and "No restarts recorded" not in shown.out, shown
    assert main(["history", "--cluster", "prdo", "--config", str(config)]) == 1
    assert f"configured: {CLUSTER}, quiet" in capsys.readouterr().err
    # Known clusters are still answered: configured without restarts, or only in the state file.
    assert main(["history", "--cluster", "quiet", "--config", str(config)]) == 0
    assert "No restarts recorded." in capsys.readouterr().out
    assert main(["history", "--cluster", OTHER, "--config", str(config), "--json"]) == 0
    assert {r["cluster"] for r in json.loads(capsys.readouterr().out)["restarts"]} == {OTHER}
    # A connector with no restart in a cluster only the history knows (its connectors' state
    # forgotten since it left the config): nothing recorded, not an unknown cluster.
    with SqliteStateStore(path) as store:
        for connector in ("orders-sink", "audit-sink"):
            store.forget(ConnectorKey(OTHER, connector))
    capsys.readouterr()
    assert main(["history", "billing-sink", "--cluster", OTHER, "--config", str(config)]) == 0
    assert "No restarts recorded." in capsys.readouterr().out


def test_status_and_history_read_the_state_file_without_the_daemons_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a shell beside the daemon (its keys are in its own environment or Secret), `watchdog
    # history` said "invalid config: credentials.main.api_key: missing", exit 2: reading the
    # state file needs no Cloud key and no API token. check-config still asks for them.


    for name in ("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET",
                 "WATCHDOG_SERVER__AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path, config = _state_and_config(tmp_path, rules=[
        {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "X"}}, "select": {"include": ["*"]}}])
    capsys.readouterr()
    assert main(["history", "--cluster", CLUSTER_ID, "--config", str(config), "--json"]) == 0
    assert [r["connector"] for r in json.loads(capsys.readouterr().out)["restarts"]] == ["billing-sink", "orders-sink"]
    assert main(["status", "--config", str(config)]) == 0
    assert "billing-sink" in capsys.readouterr().out
    assert main(["check-config", "--config", str(config)]) == 2
    assert "credentials.main.api_key: missing" in capsys.readouterr().err


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_status_and_history_read_the_state_file_without_the_blocking_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    # blocking.auth basic (or bearer) made `watchdog status` say "invalid config: blocking: auth
    # basic needs `username` and a password", exit 2, in a shell without the daemon's
    # WATCHDOG_BLOCKING__PASSWORD, though it only reads the state file.


    for name in ("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET",
                 "WATCHDOG_BLOCKING__PASSWORD", "WATCHDOG_BLOCKING__BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path, config = _state_and_config(tmp_path, blocking={
        "alertmanager_url": "http://alertmanager:9093", "auth": auth, **({"username": "watchdog"} if auth == "basic" else {})})
    capsys.readouterr()
    assert main(["status", "--config", str(config)]) == 0
    assert "billing-sink" in capsys.readouterr().out
    assert main(["history", "--config", str(config), "--json"]) == 0
    assert "orders-sink" in {r["connector"] for r in json.loads(capsys.readouterr().out)["restarts"]}
    assert main(["check-config", "--config", str(config)]) == 2
    assert f"blocking: auth {auth} needs" in capsys.readouterr().err
