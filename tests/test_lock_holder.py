"""Who holds a state file's lock, as the holder wrote it in the lock file (F4 of session 79's CLI
probe): said only while that process runs; unknown for an older release's lock (nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from watchdog.state import SqliteStateStore, StateFileInUse
from watchdog.state.file_lock import lock_holder, lock_path_of


def test_the_second_opener_is_told_who_holds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["watchdog", "restart", "prod", "orders", "--reason", "secret-ish words"])
    with SqliteStateStore(tmp_path / "state.db"):
        text = lock_path_of(tmp_path / "state.db").read_text()
        with pytest.raises(StateFileInUse) as refused:
            SqliteStateStore(tmp_path / "state.db")
    assert "secret-ish" not in text and "prod" not in text, text  # the command's name, never its arguments
    holder = refused.value.holder
    assert holder is not None and (holder.pid, holder.command, holder.is_daemon) == (os.getpid(), "restart", False)
    assert f"`watchdog restart`, pid {os.getpid()}, since " in str(refused.value)


def test_a_record_left_by_a_process_gone_or_none_at_all_is_unknown(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True, timeout=10)
    lock = tmp_path / "state.db.lock"
    lock.write_text(f"pid={gone.stdout.strip()}\tcommand=run\tsince=2026-12-08T02:00:00Z\n")
    assert lock_holder(lock) is None  # an older release holding the lock now writes nothing over it
    lock.write_text("")
    assert lock_holder(lock) is None
    assert lock_holder(tmp_path / "absent.lock") is None
