"""Signals that come while `watchdog run` starts, before the daemon's own handlers are in place
(watchdog.cli.hold_early_signals): in-process, at a chosen moment of the start."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchdog.cli import main

from .support import CLUSTER_ID, ENVIRONMENT


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        # Nothing listens there: a daemon that ran would only fail its polls.
        "api": {"base_url": "http://127.0.0.1:9"}, "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0}, "state": {"path": str(tmp_path / "state.db")},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": "5s"}, "select": {"include": ["*"]}}],
    }))
    return path


def test_a_sigterm_while_the_config_is_read_ends_run_before_the_daemon_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], credentials_env: None,
) -> None:
    # A pod deleted as its container starts: the SIGTERM comes after the command's modules are
    # imported, while the config is read. The early handler noted it in a list nobody read (an
    # empty list was taken for none), and the daemon ran until the SIGKILL 60 s later (a probe:
    # 3 of 3 between 0.5 and 0.7 s after exec).
    from watchdog import signals
    from watchdog.cli import commands

    read = commands.config_or_exit
    ran: list[str] = []

    def read_then_signalled(args: Any) -> Any:
        config = read(args)
        os.kill(os.getpid(), signal.SIGTERM)  # handled in this thread before the kill returns
        return config

    async def never(*args: Any, **kwargs: Any) -> int:
        ran.append("the daemon ran")
        return 0

    monkeypatch.setattr(commands, "config_or_exit", read_then_signalled)
    monkeypatch.setattr(signals, "run_until_signalled", never)
    before = signal.getsignal(signal.SIGTERM)

    assert main(["run", "--config", str(_config(tmp_path)), "--log-level", "ERROR"]) == 0
    assert "stopped by SIGTERM before the daemon started: nothing was polled or sent" in capsys.readouterr().err
    assert ran == []
    assert not (tmp_path / "state.db").exists(), "the state file was not made: the stop came before it was opened"
    assert signal.getsignal(signal.SIGTERM) == before, "the handlers found are put back"
