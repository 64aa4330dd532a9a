"""`watchdog status --daemon` names the clusters whose polls fail, and only those.

A fleet with one cluster on a revoked key (401 on every call) beside a healthy one: the table
showed the healthy cluster's connectors and nothing at all of the broken one (never listed, it
has no rows), or, had it been listed before its key was revoked, its connectors as healthy as
the last poll that worked saw them, hours ago, without a word.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from watchdog.app import Daemon
from watchdog.cli import main
from watchdog.config import Credential, build_config
from watchdog.simulator import Scenario, Simulator

from .support import ENVIRONMENT, served

TOKEN = "status-token-0123456789"


async def status(address: str, capsys: pytest.CaptureFixture[str], *options: str) -> str:
    """What `watchdog status --daemon ADDRESS [options]` prints (it exits 0)."""
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["status", "--daemon", address, *options]) == 0
    return capsys.readouterr().out


async def test_status_from_the_daemon_names_the_cluster_whose_polls_fail(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    scenario = {
        "api_keys": [{"id": "good-key", "secret": "good-secret"}, {"id": "old-key", "secret": "old-secret"}],
        "environments": [{"id": ENVIRONMENT, "clusters": [
            {"id": "lkc-good", "connectors": [{"name": "orders-sink"}]},
            {"id": "lkc-revoked", "connectors": [{"name": "payments-sink"}]},
        ]}],
    }
    async with served(Simulator(Scenario.model_validate(scenario))) as url:
        data: dict[str, Any] = {
            "api": {"base_url": url},
            "credentials": {"good": {}, "old": {}},
            "clusters": {"good": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-good", "credential": "good"},
                         "revoked": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-revoked", "credential": "old"}},
            "server": {"host": "127.0.0.1", "port": 0},
            "state": {"path": ":memory:"},
            "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 3600}, "select": {"include": ["*"]}}],
        }
        secrets = {
            "credentials": {"good": Credential(api_key=SecretStr("good-key"), api_secret=SecretStr("good-secret")),
                            "old": Credential(api_key=SecretStr("old-key"), api_secret=SecretStr("revoked"))},
            "server": {"auth_token": SecretStr(TOKEN)},
        }
        daemon = Daemon(build_config(data, "test config", secrets=secrets))
        await daemon.start()
        try:
            for poller in daemon.pollers.values():
                await poller.poll()
            address = f"http://127.0.0.1:{daemon.bound_port}"
            table = await status(address, capsys)
            printed = await status(address, capsys, "--json")
        finally:
            await daemon.stop()
    document = json.loads(printed[printed.index("{\n"):])
    (failing,) = document["polls_failing"]
    assert failing["cluster"] == "revoked" and failing["outcome"] == "unauthorized", failing
    assert failing["last_listed_at"] is None and failing["failing_since"]
    lines = table.splitlines()
    section = lines[lines.index("Polls failing (a cluster's connectors above are as its last poll that worked saw them):"):]
    assert len(section) == 2, section
    assert section[1].startswith("  revoked: unauthorized: ") and "failing since " in section[1], section
    assert "last poll that worked: never since the daemon started" in section[1], section
    assert "orders-sink" in table and "good:" not in table


async def test_status_from_the_daemon_says_when_its_state_store_stops_every_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The state file deleted under a running daemon: /readyz said it writes nothing more and
    # sends no restart, while `status --daemon` listed the failing connectors with NEXT ALLOWED
    # "now" and said nothing (found by a probe of damaged state storage).
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    scenario = {"api_keys": [{"id": "good-key", "secret": "good-secret"}], "environments": [{"id": ENVIRONMENT, "clusters": [
        {"id": "lkc-good", "connectors": [{"name": "orders-sink", "script": {"initial": "FAILED"}}]}]}]}
    async with served(Simulator(Scenario.model_validate(scenario))) as url:
        data: dict[str, Any] = {
            "api": {"base_url": url},
            "credentials": {"good": {}},
            "clusters": {"good": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-good"}},
            "server": {"host": "127.0.0.1", "port": 0},
            "state": {"path": str(tmp_path / "state.db")},
            "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 3600, "confirm_polls": 3},
                       "select": {"include": ["*"]}}],
        }
        secrets = {"credentials": {"good": Credential(api_key=SecretStr("good-key"), api_secret=SecretStr("good-secret"))},
                   "server": {"auth_token": SecretStr(TOKEN)}}
        daemon = Daemon(build_config(data, "test config", secrets=secrets))
        await daemon.start()
        try:
            address = f"http://127.0.0.1:{daemon.bound_port}"
            await daemon.pollers["good"].poll()
            before = await status(address, capsys, "--json")
            (tmp_path / "state.db").unlink()
            await daemon.pollers["good"].poll()
            table = await status(address, capsys)
            after = await status(address, capsys, "--json")
        finally:
            await daemon.stop()
    assert json.loads(before[before.index("{\n"):])["state_store"] == "ok"
    said = json.loads(after[after.index("{\n"):])["state_store"]
    assert said != "ok" and "state.db" in said, said
    lines = table.splitlines()
    section = lines[lines.index("No restart is sent: the daemon cannot write its state store, so it records nothing and "
                                "sends nothing until it can (/readyz says the same):"):]
    assert section[1].strip() == said
