"""A restart-only value written differently to the same effect does not refuse the reload: found
by a reload probe, an incident edit (a rule's budget, `dry_run: true`) saved with `log.format: auto`
for `json` (the log no terminal), `./state.db` for `state.db` or a trailing slash on
`api.base_url` refused the whole file, the edit not in effect, and the refusal sent the operator
to a rollout for a change that did nothing. A change with an effect is still refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from watchdog.app import Daemon
from watchdog.config import Config, Credential, build_config

HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 3600}, "select": {"include": ["*"]}, "max_restarts": 3}
BASE = {"api": {"base_url": "http://api.example.internal:8080"}, "credentials": {"main": {}},
        "server": {"host": "127.0.0.1", "port": 0}, "state": {"path": "state.db"}, "log": {"format": "json"},
        "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1", "credential": "main"}}}


def config(edit: dict[str, Any], max_restarts: int) -> Config:
    data = {**BASE, **edit, "rules": [{**HEAL, "max_restarts": max_restarts}]}
    pair = Credential(api_key=SecretStr("KEYMAIN0001"), api_secret=SecretStr("main-secret-7f3a9c2e"))
    return build_config(data, "test config", secrets={"credentials": {"main": pair}})


async def reload_with(edit: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("watchdog.reload.log_is_a_terminal", lambda: False)  # the daemon's log, as in a pod
    loaded = [config({}, 3)]
    daemon = Daemon(loaded[0], transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
                    reload_config=lambda: loaded[0])
    loaded[0] = config(edit, 5)  # the live edit, saved with the restart-only value below
    with structlog.testing.capture_logs() as logs:
        await daemon.reload("file changed")
    await daemon.stop()
    return [e for e in logs if e["event"].startswith("config_reload")]


@pytest.mark.parametrize("edit", [
    {"log": {"format": "auto"}},
    {"log": {}},
    {"state": {"path": "./state.db"}},
    {"state": {"path": "PLACEHOLDER_ABSOLUTE"}},
    {"api": {"base_url": "http://api.example.internal:8080/"}},
], ids=["log.format auto", "log.format line removed", "state.path ./", "state.path absolute", "base_url slash"])
async def test_a_restart_only_value_written_to_the_same_effect_lets_the_live_edit_apply(
    edit: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if edit.get("state", {}).get("path") == "PLACEHOLDER_ABSOLUTE":
        edit = {"state": {"path": str(tmp_path / "state.db")}}
    (line,) = await reload_with(edit, tmp_path, monkeypatch)
    assert line["event"] == "config_reloaded", line
    assert line["rules_changed"] == ["heal"]
    assert "restart_required" not in line


@pytest.mark.parametrize(("edit", "section"), [
    ({"log": {"format": "console"}}, "log.format"),
    ({"state": {"path": "other.db"}}, "state"),
    ({"state": {"path": "../state.db"}}, "state"),
    ({"api": {"base_url": "http://api.example.internal:8081/"}}, "api"),
    ({"api": {"base_url": "http://api.example.internal:8080/v2"}}, "api"),
])
async def test_a_restart_only_value_with_another_effect_still_refuses_the_file(
    edit: dict[str, Any], section: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (line,) = await reload_with(edit, tmp_path, monkeypatch)
    assert line["event"] == "config_reload_refused", line
    assert line["sections"] == [section] and line["not_applied"]["rules_changed"] == ["heal"]


async def test_auto_on_a_terminal_is_console_so_json_to_auto_is_refused_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("watchdog.reload.log_is_a_terminal", lambda: True)
    from watchdog.reload import diff_configs

    assert diff_configs(config({}, 3), config({"log": {"format": "auto"}}, 3)).restart_required == ["log.format"]
    assert diff_configs(config({"log": {"format": "console"}}, 3), config({"log": {}}, 3)).restart_required == []


def test_an_in_memory_store_is_no_file_of_that_name() -> None:
    from watchdog.reload import diff_configs

    assert diff_configs(config({"state": {"path": ":memory:"}}, 3),
                        config({"state": {"path": "./:memory:"}}, 3)).restart_required == ["state"]
