"""The command's own streams as a hostile environment leaves them: an encoding that cannot show
every character, a stdout closed, a reader that goes away."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from watchdog.model import ConnectorKey, ConnectorState, HistoryRecord, Outcome, Trigger
from watchdog.state import SqliteStateStore

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import CLUSTER_ID, ENVIRONMENT

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
    return _command(sys.executable, "-m", "watchdog", *args, env=env)


def _closed_stdout(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command with its stdout closed, as `watchdog ... >&-` or a supervisor leaves it."""
    return _command("sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "watchdog", *args, env=env)


def _command(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, encoding="utf-8", errors="replace",
                          env={**os.environ, **(env or {})}, timeout=60)


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



def test_a_closed_stdout_sends_the_log_to_stderr_and_keeps_the_exit_codes(tmp_path: Path) -> None:
    # `watchdog run >&-` (or a supervisor that closes stdout): an AttributeError traceback, exit 1,
    # before anything started; an invalid config exited 1, not 2; `history` the same.
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "api": {"base_url": "http://127.0.0.1:1"}, "credentials": {"main": {}},  # nothing listens there
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": {"path": ":memory:"},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": "30s"}, "select": {"include": ["*"]}}],
    }))
    env = {"WATCHDOG_CREDENTIALS__MAIN__API_KEY": TEST_API_KEY, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": TEST_API_SECRET}
    done = _closed_stdout("run", "--once", "--config", str(config), env=env)
    # Exit 1: the pass could not list the cluster (nothing listens), so it judged nothing there
    # (once_incomplete; tests/independent/test_once_unread.py). It exited 0 before.
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert '"event": "poll_failed"' in done.stderr and '"event": "stopped"' in done.stderr, "the log is lost"
    assert '"event": "once_incomplete"' in done.stderr, done.stderr
    (tmp_path / "bad.yaml").write_text("rules: [unclosed")
    done = _closed_stdout("run", "--config", str(tmp_path / "bad.yaml"), env=env)
    assert done.returncode == 2 and "invalid YAML" in done.stderr and "Traceback" not in done.stderr, done.stderr
    state = tmp_path / "state.db"
    _state_with_a_restart_of(state, "orders")
    done = _closed_stdout("history", "--state", str(state))
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_daemon_whose_log_reader_goes_away_stops_as_at_sigterm_and_exits_141(tmp_path: Path) -> None:
    # `watchdog run | head -1` (or a journald restarted under its unit): the daemon ran on for
    # ever, printing "--- Logging error ---" and a traceback to stderr for every line it logged.
    from bench.processes import free_port

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "api": {"base_url": "http://127.0.0.1:1"}, "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": free_port()}, "state": {"path": str(tmp_path / "state.db")},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": "5s"}, "select": {"include": ["*"]}}],
    }))
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": TEST_API_KEY,
           "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": TEST_API_SECRET}
    with subprocess.Popen([sys.executable, "-m", "watchdog", "run", "--config", str(config), "--log-format", "json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as daemon:
        assert daemon.stdout is not None and daemon.stderr is not None
        assert daemon.stdout.readline().startswith(b"{")
        daemon.stdout.close()  # `head -1` has what it wanted
        try:
            code = daemon.wait(timeout=40)
        except subprocess.TimeoutExpired:
            daemon.kill()
            raise AssertionError("the daemon ran on with nobody reading its log") from None
        err = daemon.stderr.read().decode()
    assert code == 141, err[-3000:]
    assert "Logging error" not in err and "Traceback" not in err, err[-3000:]
    events = [line for line in err.splitlines() if line.startswith("{")]
    assert any('"event": "log_reader_gone"' in line for line in events), err[-3000:]
    assert '"event": "stopped"' in events[-1], "the stop is on stderr, as the log goes on there"
