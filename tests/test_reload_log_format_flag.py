"""`watchdog run --log-format json` wins over the file's `log.format`, so an edit of that line
changes nothing the daemon does: a reload treats it as a variable overriding the file is treated
(file_values_overridden), applying the rest of the edit and saying the command line overrides
the file's `log.format`. Before, the reload was refused (`log.format` needs a process restart)
and the edit's other changes (a rule's budget in an incident) were thrown away with it, though
a restart would have run with the flag's format all the same. `--log-format` is the only flag of
`run` that overrides a restart-only value (`--log-level` and `--dry-run` are live ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from watchdog.app import Daemon
from watchdog.cli import build_parser
from watchdog.cli.common import load

FILE = """\
api: {{base_url: "http://api.example.internal:8080"}}
credentials: {{main: {{}}}}
server: {{host: 127.0.0.1, port: 0}}
state: {{path: ":memory:"}}
log: {{format: {fmt}}}
clusters:
  prod: {{environment_id: env-1, kafka_cluster_id: lkc-1, credential: main}}
rules:
  - {{name: heal, trigger: {{type: status, interval: 3600}}, select: {{include: ["*"]}}, max_restarts: {budget}}}
"""


async def reload_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> tuple[Daemon, list[dict[str, Any]]]:
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "KEYMAIN0001")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "main-secret-7f3a9c2e")
    monkeypatch.delenv("WATCHDOG_SECRETS_DIR", raising=False)
    monkeypatch.setattr("watchdog.reload.log_is_a_terminal", lambda: False)  # the daemon's log, as in a pod
    path = tmp_path / "config.yaml"
    path.write_text(FILE.format(fmt="json", budget=3))
    args = build_parser().parse_args(["run", "--config", str(path), *flags])
    daemon = Daemon(load(args), transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
                    reload_config=lambda: load(args))
    path.write_text(FILE.format(fmt="console", budget=5))  # the incident edit, log.format changed with it
    with structlog.testing.capture_logs() as logs:
        await daemon.reload("file changed")
    await daemon.stop()
    return daemon, logs


async def test_with_log_format_on_the_command_line_an_edit_of_log_format_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, logs = await reload_edit(tmp_path, monkeypatch, "--log-format", "json")
    events = [e["event"] for e in logs]
    # Before: config_reload_refused, sections ["log.format"], max_restarts still 3.
    assert "config_reload_refused" not in events, [e for e in logs if e["event"] == "config_reload_refused"]
    assert daemon.config.rules[0].max_restarts == 5
    (said,) = [e for e in logs if e["event"] == "file_values_overridden"]
    assert said["values"] == {"log.format": "--log-format"}, said
    assert said["note"].startswith("the command line, the environment and secret files win over the config file")


async def test_without_the_flag_the_edit_of_log_format_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, logs = await reload_edit(tmp_path, monkeypatch)
    (refused,) = [e for e in logs if e["event"] == "config_reload_refused"]
    assert refused["sections"] == ["log.format"]
    assert daemon.config.rules[0].max_restarts == 3


def test_check_config_says_the_flag_overrides_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # check-config's --log-format sets only the log of --discover's failed calls.
    from watchdog.cli import main

    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "KEYMAIN0001")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "main-secret-7f3a9c2e")
    monkeypatch.delenv("WATCHDOG_SECRETS_DIR", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(FILE.format(fmt="json", budget=3))
    assert main(["check-config", "--config", str(path), "--log-format", "console"]) == 0
    assert "overridden" not in capsys.readouterr().err
