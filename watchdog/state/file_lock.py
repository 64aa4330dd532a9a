"""The state file's lock: one process per file (an advisory lock on a companion file the kernel
releases when the process dies), and who holds it (its pid, its command's name, since when), so
that a command refused beside another one-shot command is not told a daemon runs. Split from
opening.py (508 lines once the holder was recorded)."""

from __future__ import annotations

import fcntl
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ..logs import get_logger
from .errors import LockHolder, StateFileInUse, StateStoreError

log = get_logger("watchdog.state")

# The state file holds failure traces and reasons: readable by its owner only. SQLite creates the
# -wal and -shm files with the database file's permissions; the lock file is ours.
FILE_MODE = 0o600


def lock_path_of(path: Path) -> Path:
    # Beside the file itself, links resolved: through a symlink to the same file, a second daemon
    # locked a companion of another name, and both wrote the one file.
    real = path.resolve()
    return real.with_name(real.name + ".lock")


def exclusive_lock(path: Path) -> IO[bytes]:
    """One daemon per state file: two would each believe they own every backoff and restart
    twice. An advisory lock on a companion file (SQLite's own locks guard pages, not ownership);
    the kernel releases it when the process dies, even on kill -9."""
    lock_path = lock_path_of(path)
    try:
        descriptor = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        handle = os.fdopen(descriptor, "ab")  # held for the store's lifetime
        owner_only(lock_path)
    except OSError as exc:
        raise StateStoreError(f"State file {path}: cannot create its lock file {lock_path}: {exc}") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StateFileInUse(path, lock_path, lock_holder(lock_path)) from None
    _record_holder(handle)
    return handle


# The commands a lock's holder is named by: the command's name alone (its arguments may hold a
# reason typed, a URL), so that a second command beside a one-shot one is not told that a daemon
# runs, and given a `--daemon` command where none listens.
_COMMANDS = ("run", "restart", "status", "history", "check-config", "simulate", "demo")


def _holder_command(argv: list[str]) -> str:
    command = next((word for word in argv[1:] if word in _COMMANDS), "")
    return "run --once" if command == "run" and "--once" in argv else command


def _record_holder(handle: IO[bytes]) -> None:
    """Write who holds the lock into the lock file (the lock is on the file, not its content, so
    releases that write nothing there still lock it as before). Best effort: a record that
    cannot be written leaves the holder unknown, as before."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"pid={os.getpid()}\tcommand={_holder_command(sys.argv)}\tsince={since}\n"  # tabs: `run --once`
    try:
        os.ftruncate(handle.fileno(), 0)
        os.write(handle.fileno(), line.encode("ascii", "replace"))
    except OSError:
        pass


def lock_holder(lock_path: Path) -> LockHolder | None:
    """Who holds the lock, as it wrote; None when unknown: nothing written (an older release),
    unreadable, or its pid not running here (a record left by a holder that has gone, read
    while an older release holds the lock; or a holder in another container, whose pid means
    nothing here: then said as unknown rather than guessed)."""
    try:
        with open(lock_path, "rb") as file:
            text = file.read(512).decode("ascii", "replace")
    except OSError:
        return None
    fields = dict(part.split("=", 1) for part in text.strip().split("\t") if "=" in part)
    try:
        pid = int(fields.get("pid", ""))
    except ValueError:
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # running, another user's
    return LockHolder(pid=pid, command=fields.get("command", ""), since=fields.get("since", ""))


def owner_only(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077 and path.stat().st_uid == os.geteuid():
        os.chmod(path, mode & 0o700)
        log.info("state_file_permissions_tightened", path=str(path), mode=oct(mode & 0o700),
                 note="the state file holds failure traces: readable by its owner only")
