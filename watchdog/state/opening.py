"""Opening the state file: one daemon per file (file_lock.py's lock), refusing a file that cannot be trusted
(missing directory, wrong permissions, damage, another program's database, a newer schema) with a
message that says how to recover, then WAL mode and the schema brought up to date."""

from __future__ import annotations

import codecs
import os
import sqlite3
import struct
from pathlib import Path
from typing import IO

from ..logs import get_logger
from .errors import StateFileMissing, StateStoreError, recovery_advice
from .file_lock import FILE_MODE, lock_path_of, owner_only
from .schema import (
    check_version,
    ensure_alive_table,
    ensure_history_asked,
    ensure_running_tables,
    migrate,
    require_current,
)

log = get_logger("watchdog.state")

MEMORY = ":memory:"

# How long a statement waits for another connection's lock (a `watchdog status` reader, a
# checkpoint) before failing. Writers never wait on readers in WAL mode; this covers the rest.
BUSY_TIMEOUT_MS = 5000


class Ownership:
    """What a writer checks before every write: that its path still names the file it opened, and
    its lock path the lock it holds. The lock guards a name, not the file: once the lock file is
    deleted (a clean-up of "stale" lock files), a second daemon creates a new one, locks it and
    opens the same database, and both restart every connector; once the state file is deleted or
    moved, SQLite (in WAL mode) goes on writing into the old file, which the next start never
    reads, so the backoff, budgets and kept restarts are gone without a word; once the file has a
    second name (a hard link), a daemon started under it has a lock of its own (other_names).
    Either way this daemon must stop writing, and say why: two stat calls per write, microseconds."""

    def __init__(self, path: Path, lock: IO[bytes]) -> None:
        self.path = path
        self.lock_path = lock_path_of(path)
        self._lock = lock
        self._file = _identity(os.stat(path))

    def problem(self) -> str | None:
        """None while this daemon still owns the file; else what changed and what to do."""
        try:
            file_stat = _stat_at(self.path)
            lock_found = _identity_at(self.lock_path)
        except OSError as exc:
            return f"it cannot be checked ({exc})"
        file_found = None if file_stat is None else _identity(file_stat)
        if file_found != self._file:
            return (
                "the file was deleted, moved or replaced while this daemon ran: what it writes would go to a "
                "file no later start reads, so it writes nothing more and sends no restart. Put the file back "
                "(writes resume), or stop the daemon and start it again to use what is at the path now"
            )
        if lock_found != _identity(os.fstat(self._lock.fileno())):
            return (
                f"its lock file {self.lock_path} was deleted or replaced while this daemon ran, so another "
                "daemon may have started on the same file, and two would restart the same connectors twice: "
                "this one writes nothing more and sends no restart. Never delete the lock file of a running "
                "daemon; stop every daemon using this file, then start one again"
            )
        if file_stat is not None and file_stat.st_nlink > 1:
            return (f"{other_names(self.path, file_stat.st_nlink)}. This daemon writes nothing and sends no restart "
                    "while the file has another name: once the other names are removed, its writes resume")
        return None


def other_names(path: Path, names: int) -> str:
    """Why a state file with hard links cannot be trusted to one daemon. Each name has a lock file
    and a -wal log of its own beside it: two daemons started on `a/state.db` and a hard link
    `b/state.db` both ran (against `watchdog simulate`, each sent attempt 3 of the same connector
    within 5 s, and every schedule run twice), and the second's writes stayed in its own log,
    which a start under the first name never reads."""
    return (
        f"it has {names} names (hard links): a daemon started under another of them takes a lock "
        "of its own and keeps a -wal log of its own beside that name, so two daemons could write the one file, "
        "each restarting every connector and neither seeing the other's latest writes. Remove the other names "
        f"(find them with: find / -samefile {path} 2>/dev/null) or give the daemon a copy of its own (cp)"
    )


def _identity_at(path: Path) -> tuple[int, int] | None:
    """The identity of the file at `path`, or None if there is none. Raises OSError."""
    found = _stat_at(path)
    return None if found is None else _identity(found)


def _stat_at(path: Path) -> os.stat_result | None:
    """The file at `path`, or None if there is none. Raises OSError."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _identity(found: os.stat_result) -> tuple[int, int]:
    return found.st_dev, found.st_ino


def open_database(path: str | Path, *, read_only: bool) -> sqlite3.Connection:
    if isinstance(path, Path):
        check_path(path, read_only=read_only)
        created = not path.exists()
        empty = not created and not read_only and path.stat().st_size == 0
        if not read_only:
            _create_owner_only(path)
        db = _connect(path, read_only=read_only)
    else:
        created = empty = False
        db = sqlite3.connect(MEMORY, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    try:
        try:
            _prepare(db, path, read_only=read_only)
        except StateStoreError as refused:
            if not (read_only and isinstance(path, Path) and _immutable_would_read(path, refused)):
                raise
            db.close()
            db = _connect(path, read_only=True, immutable=True)
            db.row_factory = sqlite3.Row
            _prepare(db, path, read_only=True)
        if isinstance(path, Path) and not read_only:
            # Only once the file passed the checks: a refused file (another application's database
            # the state path named by mistake) keeps the permissions its own users need.
            _tighten(path)
    except BaseException:
        db.close()
        raise
    if created:
        log.info("state_file_created", path=str(path))
    if empty:
        # Read as a new store, as SQLite does (a file created, then the daemon killed before its
        # first write). The same file truncated by a failed copy or restore lost every backoff,
        # budget and kept restart, and the start said only `state_schema_migrated` at info.
        log.warning("state_file_empty", path=str(path),
                    note="an empty file is started as a new state store: no backoff, budget, gave-up flag, kept "
                         "restart or history carried over. If it held state (a failed copy or restore), stop the "
                         "daemon and put the file back")
    return db


def unusable_here(path: Path) -> str | None:
    """Why `run` could not open a SQLite state file at `path` on this machine, as this user, or
    None: what check-config warns of (it opens and creates nothing). check-config said `valid`
    of a state directory on a read-only filesystem, and `run` then exited 1 (an operations probe,
    2026-12-06): with a Recreate rollout, a pod that exits leaves no watchdog running."""
    try:
        check_path(path, read_only=False)
    except StateStoreError as exc:
        return str(exc)
    directory = lock_path_of(path).parent
    if directory.is_dir() and not os.access(directory, os.W_OK):  # access(2) says EROFS too
        return (f"State file {path}: its directory {directory} cannot be written by this user (uid {os.geteuid()}), "
                "or is on a read-only filesystem; the daemon creates its lock file and SQLite's -wal and -shm files there")
    return None


def check_path(path: Path, *, read_only: bool) -> None:
    try:
        path.stat()
    except FileNotFoundError:
        pass
    except PermissionError:
        # A directory on the way this user may not enter: the image's /var/lib/watchdog (0750, uid
        # 10001) run as another uid (`docker run --user`, OpenShift's arbitrary uid). It was a
        # PermissionError traceback from the first look at the path.
        raise StateStoreError(
            f"State file {path} cannot be reached by this user (uid {os.geteuid()}, gid {os.getegid()}): "
            f"a directory on its path may not be entered. Fix the owner or permissions of {path.parent} "
            "(or run as its owner), then start again."
        ) from None
    if path.is_dir():
        raise StateStoreError(
            f"State file {path} is a directory, not a file. Point the state path at a file in it, "
            f"such as {path / 'watchdog.db'}."
        )
    if path.exists() and not path.is_file():
        # Opening a FIFO waits for a writer or reader that never comes: the daemon hung at its
        # start without a word. A device or a socket is no place for state either.
        raise StateStoreError(
            f"State file {path} is not a regular file (a FIFO, a socket or a device). Point the state path "
            "at a file on a disk, or at a directory's new file name."
        )
    if path.exists():
        wanted = os.R_OK if read_only else os.R_OK | os.W_OK
        if not read_only and (names := path.stat().st_nlink) > 1:
            raise StateStoreError(f"State file {path}: {other_names(path, names)}, then start again. The file was not "
                                  "changed.")
        if not read_only and os.statvfs(path).f_flag & os.ST_RDONLY:
            # Not a matter of owner or permissions, and moving the file aside (the advice for a
            # damaged file) would only cost its state once the mount is writable again.
            raise StateStoreError(
                f"State file {path} is on a read-only filesystem, and the daemon writes it. Mount "
                f"{path.parent} read-write (a volume mounted readOnly, or one the kernel remounted read-only "
                "after a disk error: see the node's kernel log), then start again. The file was not changed."
            )
        if not os.access(path, wanted):
            access = "readable" if read_only else "readable and writable"
            raise StateStoreError(
                f"State file {path} is not {access} by this user (uid {os.geteuid()}). Fix its owner or "
                f"permissions (and those of {path}-wal and {path}-shm if they exist). {recovery_advice(path)}"
            )
        wal = Path(f"{path}-wal")
        if path.stat().st_size == 0 and _log_holds_a_commit(wal):
            # An empty file is a new store (one created, then the daemon killed before it wrote),
            # but not beside a log of committed changes: the file was emptied or truncated after
            # the daemon wrote it. SQLite deletes the log of an empty database at its first open,
            # and the store would start afresh, forgetting every backoff and kept restart.
            raise StateStoreError(
                f"State file {path} is empty, but its log {wal} holds committed changes: the file was emptied "
                "after the daemon wrote it (a failed copy or restore, a damaged filesystem). Opening it would "
                f"discard the log and start with no state; the files were not changed. {recovery_advice(path)}"
            )
        if (found := _not_sqlite(path)) is not None:
            # Checked before the lock is taken: a config named as the state (a slip in the path)
            # got the advice for a damaged file, to move it aside and copy a backup to its place,
            # and a stray lock file beside it.
            raise StateStoreError(
                f"State file {path} is not a SQLite database at all ({found}): the state path probably names the "
                "wrong file. Point it at the watchdog's state file (or at a new file name, to start with no state). "
                "The file was not changed. If it is the watchdog's state file, its first bytes were overwritten: "
                f"{recovery_advice(path)}"
            )
        if read_only and path.stat().st_size == 0:
            # What the runbook checks a restore with: it said "schema version 0 ... Start the
            # daemon once to upgrade it", as of a good old file, and the daemon so started began a
            # new store (the `state_file_empty` warning came after the advice was followed).
            raise StateStoreError(
                f"State file {path} is empty (0 bytes): it holds no state at all, no backoff, restart budget, "
                "gave-up flag, kept restart or history (a failed copy or restore leaves one so). If it should hold "
                "state, put it back from a backup before starting the daemon: started on an empty file, the daemon "
                "begins a new, empty state store. The file was not changed."
            )
        return
    if read_only:
        raise StateFileMissing(path)
    if not path.parent.is_dir():
        # Creating it would hide a missing volume: the state would live in the container and be
        # lost with it, which is exactly what the file is for.
        raise StateStoreError(
            f"Cannot create state file {path}: directory {path.parent} does not exist (is the volume "
            "mounted?). Create the directory or point the state path elsewhere."
        )
    for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if sidecar.exists():
            # SQLite would apply a leftover log to the new, empty database.
            raise StateStoreError(
                f"State file {path} does not exist but {sidecar} does: the state file was moved or "
                f"deleted without it. Move {sidecar} aside too (or put the state file back), then "
                "start again."
            )


# How every SQLite database begins (https://www.sqlite.org/fileformat2.html#magic_header_string).
_SQLITE_HEADER = b"SQLite format 3\x00"


def _not_sqlite(path: Path) -> str | None:
    """What the file is instead, if it is not empty and does not begin as a SQLite database."""
    try:
        with path.open("rb") as file:
            start = file.read(512)
    except OSError:
        return None  # SQLite says what is wrong
    if not start or start.startswith(_SQLITE_HEADER):
        return None
    try:
        if b"\x00" not in start:
            codecs.getincrementaldecoder("utf-8")().decode(start, final=False)  # a character cut at 512 is fine
            return "it holds text, such as a config or a log"
    except UnicodeDecodeError:
        pass
    return "it does not begin with SQLite's header"


# SQLite's write-ahead log (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte header
# (magic, version, page size, checkpoint sequence, two salts, a checksum), then frames of a 24-byte
# header (page number, the database's size in pages after the commit this frame ends or 0, the
# log's two salts, a checksum) and one page. Frames left from before the log was last reset carry
# older salts.
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_HEADER = struct.Struct(">6I8x")
_WAL_FRAME = struct.Struct(">4I8x")


def _log_holds_a_commit(wal: Path) -> bool:
    """Whether the log holds a frame of its current generation that ends a transaction."""
    try:
        with wal.open("rb") as log:
            header = log.read(_WAL_HEADER.size)
            if len(header) < _WAL_HEADER.size:
                return False
            magic, _, page_size, _, salt1, salt2 = _WAL_HEADER.unpack(header)
            if magic not in _WAL_MAGIC or not 512 <= page_size <= 65536:
                return False
            while len(frame := log.read(_WAL_FRAME.size)) == _WAL_FRAME.size:
                _, size_after_commit, frame_salt1, frame_salt2 = _WAL_FRAME.unpack(frame)
                if (frame_salt1, frame_salt2) != (salt1, salt2):
                    return False
                if size_after_commit:
                    return True
                log.seek(page_size, os.SEEK_CUR)
    except OSError:
        return False  # no log (the usual case), or one SQLite cannot read either: it says so
    return False


def _create_owner_only(path: Path) -> None:
    """Create the file 0600 before SQLite opens it (SQLite would create it 0644, and its -wal and
    -shm files after it)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        os.close(descriptor)
    except OSError as exc:
        raise StateStoreError(f"State file {path} cannot be created or opened for writing: {exc}") from None


def _tighten(path: Path) -> None:
    """Take group and other access away from a state file an older release made (and from the -wal
    and -shm files SQLite made after it, with its permissions)."""
    try:
        for member in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if member.exists():
                owner_only(member)
    except OSError as exc:
        raise StateStoreError(f"State file {path}: cannot make it readable by its owner only: {exc}") from None


def _immutable_would_read(path: Path, refused: StateStoreError) -> bool:
    """Whether a reader refused for want of write access can read the file as immutable. A file in
    WAL mode is read through its -shm index, which SQLite creates beside it: a checkpointed copy in
    a directory the reader may not write (a read-only volume, a snapshot) could not be looked at by
    `status` or `history`, readers that never change it ("attempt to write a readonly database").
    Immutable, SQLite reads the file alone: not beside a -wal, whose commits it would ignore (and
    a daemon running on the file keeps one beside it)."""
    code = getattr(refused.__cause__, "sqlite_errorname", "")
    return (code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN"))
            and not os.access(path.parent, os.W_OK) and not Path(f"{path}-wal").exists())


def _connect(path: Path, *, read_only: bool, immutable: bool = False) -> sqlite3.Connection:
    target = f"{path.as_uri()}?mode={'ro' if read_only else 'rwc'}{'&immutable=1' if immutable else ''}"
    try:
        # check_same_thread off: the daemon's thread is not always the one that built the store
        # (the CLI runs it in a worker thread); calls never overlap, and SQLite is serialized.
        return sqlite3.connect(target, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise _unusable(path, error) from error


def _prepare(db: sqlite3.Connection, path: str | Path, *, read_only: bool) -> None:
    """Check the file, then bring its schema up to date. Nothing is written before the checks
    pass, so a file that is refused is left exactly as it was."""
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_integrity(db, path)
        version = check_version(db, path)
        if read_only:
            require_current(version, path)
            return
        _use_wal(db, path)
        db.execute("PRAGMA synchronous = NORMAL")
        migrate(db, path, version)
        ensure_alive_table(db)
        ensure_history_asked(db)
        ensure_running_tables(db)
    except sqlite3.Error as error:
        raise _unusable(path, error) from error


def _check_integrity(db: sqlite3.Connection, path: str | Path) -> None:
    # integrity_check, not quick_check: quick_check reads every page but does not match indexes
    # against their tables, and a write of one index page lost (a disk that acknowledged it and
    # then lost it) passed. pending_request_by_job missing its row, mark_sending and finish found
    # no request by job: a restart sent stayed `queued`, and every later start failed ("database
    # disk image is malformed", without the way out) or, where nothing touched the row, would
    # send it again. The cost, once per start: 1.1 s instead of 0.4 s on a 450 MB file
    # (402,000 history records), a few milliseconds on a pruned one.
    report = [row[0] for row in db.execute("PRAGMA integrity_check(3)").fetchall()]
    if report != ["ok"]:
        # One row may hold several lines, under a "*** in database main ***" banner.
        problems = [line for text in report for line in text.splitlines() if not line.startswith("***")]
        raise StateStoreError(
            f"State file {path} is damaged: SQLite's integrity check reports: {'; '.join(problems[:3])}. "
            f"{recovery_advice(Path(path))}"
        )


def _use_wal(db: sqlite3.Connection, path: str | Path) -> None:
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if path != MEMORY and mode != "wal":
        # Rollback journals are as safe against a process crash; readers just wait for writers.
        log.warning("state_wal_unavailable", path=str(path), journal_mode=mode)


def _unusable(path: str | Path, error: sqlite3.Error) -> StateStoreError:
    """Map SQLite's refusal to open or read a file to what the operator can do about it."""
    code = getattr(error, "sqlite_errorname", "")
    if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return StateStoreError(
            f"State file {path} is not a readable SQLite database ({error}). {recovery_advice(Path(path))}"
        )
    return StateStoreError(
        f"State file {path} cannot be opened ({error}). Check that the file, its -wal and -shm "
        f"files and its directory are readable and writable by this user (uid {os.geteuid()}) and "
        "that the disk is not full."
    )
