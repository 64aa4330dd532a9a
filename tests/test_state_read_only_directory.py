"""`watchdog history` and `watchdog status`, readers that never change the state file, read a copy
of it in a directory they may not write (a read-only volume, a snapshot, another user's directory).
SQLite wants to create the -shm index beside a file in WAL mode even to read it: they said "cannot
be opened (attempt to write a readonly database)" and could not look at it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchdog.state import SqliteStateStore

from .state_samples import FULL_STATE, ORDERS, record
from .test_state import unprivileged  # noqa: F401  (a fixture: who reads, as root `nobody`)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def directory() -> Iterator[Path]:
    # Outside pytest's tmp_path (root's, 0700): the reader must reach the directory.
    made = Path(tempfile.mkdtemp(prefix="watchdog-read-only-"))
    yield made
    made.chmod(0o755)
    shutil.rmtree(made, ignore_errors=True)


def _state_file_with_a_restart(directory: Path) -> Path:
    path = directory / "state.db"
    with SqliteStateStore(path) as store:
        store.finish("j1", ORDERS, FULL_STATE, record("j1"))
    Path(f"{path}.lock").unlink()  # a copy: no lock file
    assert sorted(p.name for p in directory.iterdir()) == ["state.db"], "checkpointed: no -wal, no -shm"
    path.chmod(0o444)
    directory.chmod(0o555)
    return path


def _read_as(as_user: list[str], *command: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*as_user, sys.executable, "-m", "watchdog", *command], capture_output=True, text=True,
                          timeout=60, env=environment, cwd="/")


@pytest.mark.parametrize("command", ["history", "status"])
def test_history_and_status_read_a_state_file_in_a_directory_they_may_not_write(
    directory: Path, unprivileged: tuple[int, int, list[str]], command: str  # noqa: F811
) -> None:
    _, _, as_user = unprivileged
    path = _state_file_with_a_restart(directory)
    before = path.read_bytes()
    result = _read_as(as_user, command, "--state", str(path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "orders" in result.stdout and "prod" in result.stdout, result.stdout
    assert "cannot be opened" not in result.stderr
    assert path.read_bytes() == before and sorted(p.name for p in directory.iterdir()) == ["state.db"]


def test_beside_a_log_the_reader_still_says_it_cannot_open_the_file(
    directory: Path, unprivileged: tuple[int, int, list[str]]  # noqa: F811
) -> None:
    """Read immutable, SQLite would ignore the -wal and show the state without its latest commits."""
    _, _, as_user = unprivileged
    path = _state_file_with_a_restart(directory)
    directory.chmod(0o755)
    wal = Path(f"{path}-wal")
    wal.write_bytes(b"")  # a log beside the file, as a daemon running on it keeps
    wal.chmod(0o444)
    directory.chmod(0o555)
    result = _read_as(as_user, "history", "--state", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"State file {path} cannot be opened ("), result.stderr[-2000:]
