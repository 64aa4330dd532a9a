"""`watchdog status --cluster C` of a cluster nothing knows says it in the words `history
--cluster C` uses (`unknown cluster 'C'`), from the daemon and the state file alike; a cluster
known with no watched connector is said so."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from watchdog.cli import main
from watchdog.model import ConnectorKey, ConnectorState, Health
from watchdog.simulator import Scenario, Simulator
from watchdog.state import SqliteStateStore

from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, daemon_config, served, sim_scenario, until

TOKEN = "status-unknown-cluster-token-5f0a9e3d"


def _said(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_status_and_history_of_an_unknown_cluster_from_the_state_file_say_it_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: status said "no watched connector of cluster 'prdo'; clusters shown: prod" where
    # history said "unknown cluster 'prdo': neither the config nor the state file knows it".
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "api": {"base_url": "http://127.0.0.1:9"}, "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID},
                     "quiet": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-quiet1"}},
        "state": {"path": str(tmp_path / "state.db")}}))
    with SqliteStateStore(tmp_path / "state.db") as store:
        store.observe_status(ConnectorKey("prod", "orders"), "RUNNING", datetime.now(UTC), ConnectorState(health=Health.HEALTHY))
    capsys.readouterr()
    words = "unknown cluster 'prdo': neither the config nor the state file knows it; configured: prod, quiet"
    status = _said(capsys, "status", "--config", str(config), "--cluster", "prdo")
    history = _said(capsys, "history", "--config", str(config), "--cluster", "prdo")
    assert status[0] == history[0] == 1, (status, history)
    assert status[1].startswith(words) and "clusters shown: prod" in status[1], status
    assert history[1].startswith(words), history
    # A configured cluster with no watched connector is not unknown.
    code, err = _said(capsys, "status", "--config", str(config), "--cluster", "quiet")
    assert code == 1 and err.startswith("no watched connector of cluster 'quiet'; clusters shown: prod"), err


async def test_status_and_history_of_an_unknown_cluster_from_the_daemon_say_it_alike(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.app import Daemon

    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token=TOKEN))
        await daemon.start()
        try:
            await until(lambda: daemon.pollers[CLUSTER].first_poll_done, "a first poll")
            at = f"http://127.0.0.1:{daemon.bound_port}"
            capsys.readouterr()
            status = await asyncio.to_thread(_said, capsys, "status", "--daemon", at, "--cluster", "nope")
            history = await asyncio.to_thread(_said, capsys, "history", "--daemon", at, "--cluster", "nope")
        finally:
            await daemon.stop()
    assert status[0] == history[0] == 1, (status, history)
    words = f"unknown cluster 'nope'; configured: {CLUSTER}"
    assert status[1].startswith(words) and f"clusters shown: {CLUSTER}" in status[1], status
    assert words in history[1], history
