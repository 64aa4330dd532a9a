"""Ctrl-C while `watchdog` is still importing its commands (the first second or two on a busy
machine): one line and exit 130, never a traceback (F5 of session 79's CLI probe)."""

from __future__ import annotations

import sys
import types

import pytest

from watchdog import cli


class _ImportCutShort(types.ModuleType):
    """Stands for watchdog.cli.commands while Python is still running its imports: the person's
    Ctrl-C arrives there, as KeyboardInterrupt."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # the test runner's own look-ups
            raise AttributeError(name)
        raise KeyboardInterrupt


@pytest.mark.parametrize(("argv", "said", "code"), [
    (["status", "-c", "x.yaml"], "watchdog status: interrupted (Ctrl-C) before it started: nothing was done", 130),
    (["restart", "prod", "orders"], "watchdog restart: interrupted (Ctrl-C) before it started: nothing was sent", 130),
    (["history"], "watchdog history: interrupted (Ctrl-C) before it started: nothing was done", 130),
    (["run", "-c", "x.yaml"], "watchdog run: stopped by Ctrl-C (SIGINT) before it started: nothing was polled or sent", 0),
    ([], "watchdog: interrupted (Ctrl-C) before it started: nothing was done", 130),
])
def test_ctrl_c_during_the_imports_says_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                 argv: list[str], said: str, code: int) -> None:
    monkeypatch.setitem(sys.modules, "watchdog.cli.commands", _ImportCutShort("watchdog.cli.commands"))
    assert cli.main(argv) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err == said + "\n"


def test_the_early_words_match_the_commands_own() -> None:
    from watchdog.cli import commands

    assert cli._STOPPED_BY_CTRL_C == commands._STOPPED_BY_CTRL_C
    assert cli._EXIT_INTERRUPTED == commands.EXIT_INTERRUPTED
    assert set(cli._COMMANDS) == set(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
