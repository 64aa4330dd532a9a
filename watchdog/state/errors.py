"""`StateStoreError`, and what every refusal of a state file tells the operator to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class StateStoreError(Exception):
    """The state store cannot be used. The message names the file and says how to recover."""



# How every refusal of a damaged file begins its way out (recovery_advice): `watchdog run` adds
# "the restarts it kept stay in it for the next start" to other store errors, not to these.
RECOVERY_LEAD = "To recover, stop the watchdog and move"


def recovery_advice(path: Path) -> str:
    return (
        f"{RECOVERY_LEAD} {path} aside together with {path}-wal and {path}-shm "
        "if they exist (they belong to it), and copy a backup to its place if you have one (never beside a -wal "
        "left from another copy: SQLite would apply it to the backup); then start it again. "
        "With no file, the watchdog creates a new, empty one and forgets backoff, restart budgets, "
        "gave-up flags and history. The watchdog never replaces or deletes a state file itself."
    )


def unreadable_record(path: Path, error: Exception) -> str:
    """Why a record read from the file cannot be used, and what to do."""
    return (
        f"{unreadable_record_found(error)}: the file is damaged (a disk error inside a record, which SQLite's own "
        f"checks do not see, or a damaged index) or was changed by hand. {recovery_advice(path)}"
    )


def unreadable_record_found(error: Exception) -> str:
    return f"it holds a record this watchdog cannot read ({error})"


def damaged_while_running(path: Path, found: str) -> str:
    """Why a write is refused once the file was found damaged while the daemon ran."""
    return (
        f"it was found damaged while this daemon ran ({found}), and damage does not heal: it writes nothing more "
        f"and sends no restart. {recovery_advice(path)}"
    )



class StateFileInUse(StateStoreError):
    """Another watchdog process holds the state file's lock (a running daemon, most often)."""

    def __init__(self, path: Path, lock_path: Path, holder: LockHolder | None = None) -> None:
        held = f" (it holds {lock_path})" if holder is None else f" ({holder.said()}, holds {lock_path})"
        super().__init__(
            f"State file {path} is in use by another watchdog process{held}. "
            "Run one daemon per state file; stop the other one or give this one its own state.path."
        )
        self.path = path
        # Who holds the lock, as it wrote in the lock file; None when unknown (an older release,
        # a holder gone whose record stayed, another host's).
        self.holder = holder


@dataclass(frozen=True)
class LockHolder:
    """What a process that took a state file's lock wrote in it: its pid, the command it runs
    (`run`, `run --once`, `restart`: the command's name alone, never its arguments), since when."""

    pid: int
    command: str
    since: str

    @property
    def is_daemon(self) -> bool:
        return self.command == "run"

    def said(self) -> str:
        return f"`watchdog {self.command}`, pid {self.pid}, since {self.since}"


class StateFileMissing(StateStoreError):
    """A reader's (`watchdog status`, `history`) state file does not exist. "No daemon has written
    state there yet" was said while a daemon ran whose file had been moved away (a runbook probe,
    WatchdogCannotRecordDecisions, 2026-12-06): the reader names `--daemon` too (cli/reports.py)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"State file {path} does not exist: no daemon has written state there yet, or its files were "
                         "moved away or deleted while a daemon ran (that daemon then records nothing: put them back).")
        self.path = path


class Fenced(StateStoreError):
    """A write refused because this replica no longer holds the leadership it was decided under
    (another replica took over: the shared state's epoch is newer), or holds none. Nothing was
    written. Not a failure of the store: the daemon steps down rather than count it."""


class LeaseRolledBack(StateStoreError):
    """A write refused because the lease row holds an older epoch than this replica leads under:
    the database lost the commits that made it the holder (a failover to an asynchronous standby
    that missed a handover). Epochs only rise, so no other replica took over: a failure of the
    store, which the restarts wait out (the queue's store wait) while this leader's next renewal
    takes the lease back (leadership/lease.py, RECLAIM) and fences its writes anew. Taken for a
    takeover (Fenced), each restart on its way was left "to the leader", which was this replica,
    and the requests the database had lost with the commits were never sent."""
