"""The console log on a terminal is coloured unless the terminal asked for none: NO_COLOR set
(no-color.org) or TERM=dumb."""

from __future__ import annotations

import io

import pytest

from watchdog.logs import configure_logging, get_logger


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _escapes(monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> int:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    out = _Terminal()
    configure_logging("INFO", "console", stream=out)
    get_logger("test").warning("restart_finished", connector="orders-sink", outcome="accepted")
    return out.getvalue().count("\x1b[")


@pytest.mark.parametrize("env", [{"NO_COLOR": "1", "TERM": "xterm-256color"}, {"NO_COLOR": None, "TERM": "dumb"}],
                         ids=["NO_COLOR", "TERM=dumb"])
def test_the_console_log_on_a_terminal_has_no_colour_codes_when_asked_for_none(
    env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: 6 escape sequences in 2 lines whatever NO_COLOR=1 or TERM=dumb said.
    assert _escapes(monkeypatch, env) == 0


@pytest.mark.parametrize("env", [{"NO_COLOR": None, "TERM": "xterm-256color"}, {"NO_COLOR": "", "TERM": "xterm"}],
                         ids=["unset", "NO_COLOR-empty"])
def test_the_console_log_on_a_terminal_is_coloured_otherwise(
    env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _escapes(monkeypatch, env) > 0  # an empty NO_COLOR asks nothing (no-color.org)
