"""The command's own streams as a hostile environment leaves them: an encoding that cannot show
every character, a stdout closed, a reader that goes away."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from watchdog.model import ConnectorKey, ConnectorState, HistoryRecord, Outcome, Trigger
from watchdog.state import SqliteStateStore

pytestmark = pytest.mark.process

NAME = "заказы-sink-訂單"  # a connector named in Cyrillic and Chinese


def _state_with_a_restart_of(path: Path, connector: str) -> None:
    key = ConnectorKey("prod", connector)
    with SqliteStateStore(path) as store:
        store.finish("job-1", key, ConnectorState(attempts=1), HistoryRecord(
            at=datetime(2026, 3, 1, tzinfo=timezone.utc), key=key, job_id="job-1", rule="heal",
            trigger=Trigger.STATUS, triggers=(Trigger.STATUS,), outcome=Outcome.ACCEPTED, status_code=202,
            tries=1, attempt=1, message="failed"))


def _watchdog(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watchdog", *args], capture_output=True, text=True,
                          encoding="utf-8", errors="replace", env={**os.environ, **(env or {})}, timeout=60)


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_a_name_the_outputs_encoding_cannot_show_is_printed_as_escapes(tmp_path: Path, encoding: str) -> None:
    # Under LANG=en_US (ISO-8859-1) or PYTHONIOENCODING=ascii, history and status ended in a
    # UnicodeEncodeError traceback, exit 1 (what README gives a failed restart).
    path = tmp_path / "state.db"
    _state_with_a_restart_of(path, NAME)
    shown = NAME.encode("ascii", "backslashreplace").decode()
    for command in ("history", "status"):
        done = _watchdog(command, "--state", str(path), env={"PYTHONIOENCODING": encoding})
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert f"prod/{shown}" in done.stdout or shown in done.stdout, done.stdout
