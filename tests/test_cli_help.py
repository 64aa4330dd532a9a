"""What `watchdog COMMAND --help` says of an option's default, held against what the command does."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.cli.commands import build_parser

CONFIG = """credentials: {main: {}}
clusters: {prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}}
discovery: {credential: main}
log: {level: DEBUG, format: console}
rules: [{name: heal, trigger: {type: status}, select: {include: ["*"]}}]
"""


class Configured(Exception):
    """Raised where the command sets its log up, with what it set it up with."""


@pytest.mark.parametrize(("command", "level", "fmt"), [
    (["run"], "DEBUG", "console"),  # the config's log.level and log.format
    (["restart", "prod", "orders"], "DEBUG", "console"),
    (["check-config", "--discover"], "WARNING", "console"),  # --discover's own, whatever the config says
    (["simulate"], "INFO", "auto"),  # no config read
    (["demo"], "INFO", "auto"),
])
def test_help_gives_the_log_defaults_each_command_uses(
    command: list[str], level: str, fmt: str, credentials_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # --help said `--log-level  default: the config's log.level, else INFO` of every command:
    # simulate and demo read no config, and check-config --discover logs at WARNING, in console
    # form, whatever the config's log says; and `--log-format  default: console on a terminal,
    # else json` of run, where the config's log.format (here console) decides first.
    def configured(used_level: str, used_fmt: str, stream: object = None) -> None:
        raise Configured(used_level, used_fmt)

    monkeypatch.setattr("watchdog.cli.common.configure_logging", configured)
    monkeypatch.setattr("watchdog.cli.commands.configure_logging", configured)
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    config = ["--config", str(path)] if command[0] not in ("simulate", "demo") else []
    with pytest.raises(Configured) as caught:
        main([*command, *config])
    assert caught.value.args == (level, fmt)
    parser = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command[0]]
    helps = {option: action.help for option, action in parser._option_string_actions.items()}
    said_level, said_format = helps["--log-level"], helps["--log-format"]
    if level == "DEBUG":
        assert "the config's log.level" in said_level and "the config's log.format" in said_format, (said_level, said_format)
    else:
        assert f"default: {level}" in said_level and "config" not in said_level, said_level
        said = "console on a terminal, else json" if fmt == "auto" else f"default: {fmt}"
        assert said in said_format and "config" not in said_format, said_format


@pytest.mark.parametrize("command", ["status", "history"])
def test_help_of_a_command_that_writes_no_log_does_not_promise_one(command: str) -> None:
    parser = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    for option in ("--log-format", "--log-level"):
        assert "writes no log" in str(parser._option_string_actions[option].help)
