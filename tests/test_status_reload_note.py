"""`watchdog status --daemon` says a reload that failed or was refused, and the API's JSON carries it.

Found by a reload probe: after an invalid edit (`max_restarts: many`) the status printed the usual
table, exit 0, nothing about a reload; only the log line and watchdog_config_last_reload_successful
0 said that the edit (it might have been `dry_run: true` in an incident) was not in effect.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from watchdog.app import Daemon
from watchdog.cli import main
from watchdog.cli.reload_note import reload_note
from watchdog.config import Config, Credential, build_config
from watchdog.simulator import Scenario, Simulator

from .support import ENVIRONMENT, served

TOKEN = "status-token-0123456789"
HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 3600}, "select": {"include": ["*"]}}


def config(url: str, **changes: Any) -> Config:
    data: dict[str, Any] = {
        "api": {"base_url": url}, "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-prod"}},
        "server": {"host": "127.0.0.1", "port": 0}, "state": {"path": ":memory:"}, "rules": [HEAL], **changes,
    }
    secrets = {"credentials": {"main": Credential(api_key=SecretStr("key"), api_secret=SecretStr("secret"))},
               "server": {"auth_token": SecretStr(TOKEN)}}
    return build_config(data, "test config", secrets=secrets)


async def status(address: str, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[str, str]:
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["status", "--daemon", address, *options]) == 0
    printed = capsys.readouterr()
    return printed.out, printed.err


async def test_status_from_the_daemon_says_the_last_reload_failed_and_which_config_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    scenario = {"api_keys": [{"id": "key", "secret": "secret"}],
                "environments": [{"id": ENVIRONMENT, "clusters": [{"id": "lkc-prod", "connectors": [{"name": "orders"}]}]}]}
    async with served(Simulator(Scenario.model_validate(scenario))) as url:
        edits = [lambda: config(url, dry_run=True)]
        daemon = Daemon(config(url), reload_config=lambda: edits[0]())
        await daemon.start()
        try:
            address = f"http://127.0.0.1:{daemon.bound_port}"
            _, before = await status(address, capsys)
            assert await daemon.reload("file changed") is True
            _, applied = await status(address, capsys)
            edits[0] = lambda: config(url, rules=[{**HEAL, "max_restarts": "many"}])
            assert await daemon.reload("file changed") is False
            _, failed = await status(address, capsys)
            printed, _ = await status(address, capsys, "--json")
            edits[0] = lambda: config(url, queue={"max_jobs_per_lane": 50})
            assert await daemon.reload("file changed") is False
            _, refused = await status(address, capsys)
        finally:
            await daemon.stop()
    assert "reload" not in before and "reload" not in applied, "nothing to say of a start or a reload applied"
    (note,) = [line for line in failed.splitlines() if "reload" in line]
    assert note.startswith("note: the last reload at ") and " UTC failed: rules[0].max_restarts: " in note, note
    assert "; the config applied at " in note and " is running" in note, note
    document = json.loads(printed[printed.index("{\n"):])
    said = document["config_reload"]
    assert (said["result"], said["error"].split(":")[0]) == ("failed", "rules[0].max_restarts"), said
    assert said["config_applied_at"] and said["at"] > said["config_applied_at"], said
    (note,) = [line for line in refused.splitlines() if "reload" in line]
    assert " UTC was refused: needs a process restart: queue; the config applied at " in note, note


def test_a_daemon_that_sends_no_config_reload_or_an_applied_one_gets_no_note() -> None:
    now = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    assert reload_note(None, now) is None  # a daemon older than the field
    assert reload_note({"result": "ok", "at": now.isoformat(), "error": None, "config_applied_at": now.isoformat()}, now) is None
    note = reload_note({"result": "failed", "at": "2026-12-07T05:50:11+00:00", "error": "x: bad", "config_applied_at": None}, now)
    assert note is not None and note.startswith(
        "note: the last reload at 05:50:11 UTC failed: x: bad; the config the daemon started with is running"), note
