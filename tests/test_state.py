"""The durable state store: round trips, the pending-request flow and its transactions, pruning,
schema migrations, every way a state file can be unusable, and a writer killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr

import watchdog.state.schema as state_module  # the module whose MIGRATIONS the store reads
from watchdog.model import (
    ConnectorKey,
    ConnectorState,
    PendingPhase,
    PendingRequest,
)
from watchdog.report import StatusRow
from watchdog.state import (
    MIGRATIONS,
    Migration,
    SqliteStateStore,
    StateStoreError,
)
from watchdog.state.rows import load_many_sql

from .state_samples import AUDIT, BILLING, FULL_STATE, ORDERS, T0, Clock, record, request
from .support import cannot_run_here


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "watchdog.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStateStore]:
    with SqliteStateStore(path, now=Clock(T0 + timedelta(days=1))) as opened:
        yield opened


def reopened(path: Path) -> SqliteStateStore:
    """What a daemon started after a crash would read: only what was committed. Read-only, as
    the store under test still holds the file's one-daemon lock."""
    return SqliteStateStore(path, read_only=True)


# The per-connector state, history and pending-request tests run against both backends:
# tests/test_state_contract.py.


# -- memory, WAL, readers ------------------------------------------------------------------------


def test_memory_stores_are_complete_and_separate() -> None:
    first, second = SqliteStateStore(":memory:"), SqliteStateStore(":memory:")
    first.save(ORDERS, FULL_STATE)
    first.add_pending(request("r1"), "job-1")
    first.finish("job-1", ORDERS, FULL_STATE, record("job-1"))
    assert first.load(ORDERS) == FULL_STATE and len(first.history()) == 1
    assert second.load(ORDERS) == ConnectorState() and second.history() == []
    assert first.path == ":memory:" and first.schema_version == len(MIGRATIONS)


def test_a_file_is_in_wal_mode_at_the_latest_schema(store: SqliteStateStore, path: Path) -> None:
    store.save(ORDERS, FULL_STATE)
    assert Path(f"{path}-wal").exists(), "commits go to the write-ahead log"
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    raw.close()
    assert store.schema_version == len(MIGRATIONS)


def test_closing_checkpoints_the_log_into_the_file(path: Path) -> None:
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
    assert not Path(f"{path}-wal").exists()
    with SqliteStateStore(path) as again:
        assert again.load(ORDERS) == FULL_STATE


def test_a_read_only_reader_sees_a_running_writer_without_changing_anything(store: SqliteStateStore, path: Path) -> None:
    store.save(ORDERS, FULL_STATE)
    with SqliteStateStore(path, read_only=True) as reader:
        assert reader.load(ORDERS) == FULL_STATE
        store.save(BILLING, FULL_STATE)  # the writer is not blocked by the reader
        assert [row.key for row in reader.rows()] == [BILLING, ORDERS]
        with pytest.raises(StateStoreError) as caught:
            reader.save(AUDIT, FULL_STATE)
    assert str(caught.value) == (
        f"State file {path}: could not save a connector's state: attempt to write a readonly database."
    )


def test_a_relative_path_is_named_in_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with SqliteStateStore("state.db") as store:
        assert store.path == tmp_path / "state.db"
    assert (tmp_path / "state.db").is_file()


def test_paths_with_uri_characters_work_for_writers_and_readers(tmp_path: Path) -> None:
    # The file is opened through a SQLite URI: ?, # and % in a path must not be read as syntax.
    path = tmp_path / "odd ?#%41 dir" / "state?#%41.db"
    path.parent.mkdir()
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
        with SqliteStateStore(path, read_only=True) as reader:
            assert reader.load(ORDERS) == FULL_STATE
    assert path.is_file()


# -- schema versions and migrations ----------------------------------------------------------------


def test_an_empty_file_is_taken_as_a_new_store_and_said(path: Path) -> None:
    path.touch()  # e.g. created by a deployment script, or a failed copy that truncated it
    with structlog.testing.capture_logs() as logs, SqliteStateStore(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        store.save(ORDERS, FULL_STATE)
        assert store.load(ORDERS) == FULL_STATE
    # Started afresh with no word above info: a truncated file lost every backoff and budget.
    (said,) = [e for e in logs if e["event"] == "state_file_empty"]
    assert said["log_level"] == "warning" and said["path"] == str(path) and "put the file back" in said["note"]
    with structlog.testing.capture_logs() as logs, SqliteStateStore(path):
        pass
    assert not [e for e in logs if e["event"] == "state_file_empty"], "said of an empty file only"


def test_a_version_zero_database_without_tables_is_migrated(path: Path) -> None:
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA page_size = 4096")
        raw.execute("VACUUM")  # writes the header: a real, empty version-0 database
    raw.close()
    with SqliteStateStore(path) as store:
        assert store.schema_version == len(MIGRATIONS)


def test_a_hand_written_version_one_file_reads_back_exactly(path: Path) -> None:
    """Pins the on-disk format: a change to it without a migration breaks this test."""
    with sqlite3.connect(path) as raw:
        for statement in MIGRATIONS[0].statements:
            raw.execute(statement)
        raw.execute("PRAGMA user_version = 1")
        raw.execute(
            "INSERT INTO connector_state VALUES ('prod', 'orders-source', 2, 3, '2026-03-29T10:00:00.123456+00:00',"
            " '2026-03-29T10:12:00.000000+00:00', 1, 'failed', NULL, 0, 'FAILED', '2026-03-29T10:00:00.000000+00:00')"
        )
        raw.execute(
            "INSERT INTO restart_history (at, cluster, connector, job_id, rule, primary_trigger, triggers, outcome,"
            " status_code, request_id, message, tries, attempt, evidence, recommendations) VALUES"
            " ('2026-03-29T10:00:00.000000+00:00', 'prod', 'orders-source', 'j1', 'heal', 'status', '[\"status\"]',"
            " 'accepted', 202, 'rq-1', '', 1, 1, '{\"state\": \"FAILED\"}', '[\"Check it\"]')"
        )
        raw.execute(
            "INSERT INTO pending_request (request_id, job_id, phase, cluster, connector, rule, trigger_name, reason,"
            " origin, requested_at, dry_run) VALUES ('r1', 'job-1', 'sending', 'prod', 'orders-source', 'heal',"
            " 'status', 'failed: connector FAILED', '', '2026-03-29T10:00:00.000000+00:00', 0)"
        )
    raw.close()
    with SqliteStateStore(path) as store:
        assert store.rows() == [StatusRow(ORDERS, FULL_STATE, "FAILED", T0)]
        assert store.history() == [record("j1", evidence={"state": "FAILED"}, recommendations=("Check it",))]
        assert store.pending() == [PendingRequest(request("r1"), "job-1", PendingPhase.SENDING)]


def _next_migration(*statements: str) -> tuple[Migration, ...]:
    return (*MIGRATIONS, Migration("a later release's change", statements))


def test_an_older_file_is_migrated_forward_keeping_its_data(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SqliteStateStore(path) as old:
        old.finish("j1", ORDERS, FULL_STATE, record("j1"))
    monkeypatch.setattr(state_module, "MIGRATIONS", _next_migration("ALTER TABLE restart_history ADD COLUMN note TEXT"))
    with SqliteStateStore(path) as store:
        assert store.schema_version == len(MIGRATIONS) + 1
        assert store.load(ORDERS) == FULL_STATE
        assert [r.job_id for r in store.history()] == ["j1"]
    with sqlite3.connect(path) as raw:
        assert "note" in [row[1] for row in raw.execute("PRAGMA table_info(restart_history)")]
    raw.close()


def test_a_failed_migration_leaves_the_file_as_it_was(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SqliteStateStore(path) as old:
        old.save(ORDERS, FULL_STATE)
    version = len(MIGRATIONS)
    monkeypatch.setattr(
        state_module, "MIGRATIONS",
        _next_migration("ALTER TABLE restart_history ADD COLUMN note TEXT", "ALTER TABLE nowhere ADD COLUMN x TEXT"),
    )
    with pytest.raises(StateStoreError) as caught:
        SqliteStateStore(path)
    assert str(caught.value) == (
        f"State file {path}: upgrading the schema from version {version} to {version + 1} failed "
        f"(no such table: nowhere); the file was left at version {version}. {recovery(path)}"
    )
    monkeypatch.setattr(state_module, "MIGRATIONS", MIGRATIONS)
    with SqliteStateStore(path) as store:
        assert store.schema_version == version and store.load(ORDERS) == FULL_STATE
    with sqlite3.connect(path) as raw:
        assert "note" not in [row[1] for row in raw.execute("PRAGMA table_info(restart_history)")]
    raw.close()


def test_a_newer_schema_is_refused_and_left_unchanged(path: Path) -> None:
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(StateStoreError) as caught:
        SqliteStateStore(path)
    assert str(caught.value) == (
        f"State file {path} has schema version 99, newer than the {len(MIGRATIONS)} this watchdog knows: "
        "a newer release wrote it. Run that release (or a later one), or move the file aside to start "
        "fresh with a new one. The file was not changed."
    )
    assert path.read_bytes() == before


@pytest.mark.parametrize("read_only", [False, True], ids=["daemon", "reader"])
def test_records_of_a_newer_release_are_refused_by_name_not_with_a_traceback(path: Path, read_only: bool) -> None:
    """A newer release adds an outcome or a trigger at the same schema version (as `unconfirmed`
    and `stalled` came): rolled back to this one, the daemon died at its start, and `watchdog
    history` too, on "ValueError: 'superseded' is not a valid Outcome"."""
    with SqliteStateStore(path) as store:
        store.finish("j1", ORDERS, None, record("j1"))
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("UPDATE restart_history SET outcome = 'superseded'")
        raw.execute("""INSERT INTO pending_request (request_id, job_id, phase, cluster, connector, rule, trigger_name,
                       reason, origin, requested_at, dry_run) VALUES ('r1', 'j2', 'queued', 'prod', 'orders', 'x',
                       'forecast', 'why', 'test', '2026-03-01T12:00:00.000000+00:00', 0)""")
        raw.commit()
    before = path.read_bytes()
    with pytest.raises(StateStoreError) as caught:
        SqliteStateStore(path, read_only=read_only)
    assert str(caught.value) == (
        f"State file {path} holds records this watchdog does not know (outcome in the restart history: "
        "'superseded'; trigger of a kept restart: 'forecast'): a newer release wrote them. Run that release (or "
        "a later one), or move the file aside to start fresh with a new one. Nothing was changed."
    )
    assert path.read_bytes() == before


def test_a_read_only_reader_does_not_migrate(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SqliteStateStore(path).close()
    monkeypatch.setattr(state_module, "MIGRATIONS", _next_migration("ALTER TABLE restart_history ADD COLUMN note TEXT"))
    with pytest.raises(StateStoreError) as caught:
        SqliteStateStore(path, read_only=True)
    latest = len(MIGRATIONS) + 1
    assert str(caught.value) == (
        f"State file {path} has schema version {latest - 1}; this watchdog reads version {latest}. "
        "Start the daemon once to upgrade it (a read-only reader never changes the file)."
    )


# -- unusable files: each refused with a message that names the file and the way out ---------------


def recovery(path: Path) -> str:
    return (
        f"To recover, stop the watchdog and move {path} aside together with {path}-wal and {path}-shm "
        "if they exist (they belong to it), and copy a backup to its place if you have one (never beside a -wal "
        "left from another copy: SQLite would apply it to the backup); then start it again. "
        "With no file, the watchdog creates a new, empty one and forgets backoff, restart budgets, "
        "gave-up flags and history. The watchdog never replaces or deletes a state file itself."
    )


def refusal(path: Path, *, read_only: bool = False) -> str:
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(StateStoreError) as caught:
        SqliteStateStore(path, read_only=read_only)
    if before is not None:
        assert path.read_bytes() == before, "a refused file is never changed"
    return str(caught.value)


# Random bytes and a text file: tests/test_state_not_ours.py (not a SQLite database at all).


def _state_file_with_history(path: Path, records: int = 300) -> None:
    with SqliteStateStore(path) as store:
        for n in range(records):
            evidence = {"state": "FAILED", "trace": f"ConnectException {n}: " + "x" * 300}
            store.finish(f"j{n}", ORDERS, FULL_STATE, record(f"j{n}", evidence=evidence))


def test_a_truncated_file_is_refused(path: Path) -> None:
    _state_file_with_history(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert refusal(path) == (
        f"State file {path} is not a readable SQLite database (database disk image is malformed). {recovery(path)}"
    )


def test_a_damaged_page_is_found_by_the_integrity_check(path: Path) -> None:
    _state_file_with_history(path)
    with sqlite3.connect(path) as raw:
        (root,) = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'restart_history'").fetchone()
        (page_size,) = raw.execute("PRAGMA page_size").fetchone()
    raw.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size : root * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))
    message = refusal(path)
    # Our message around SQLite's own report, whatever words this SQLite version uses for it.
    prefix = f"State file {path} is damaged: SQLite's integrity check reports: "
    assert message.startswith(prefix) and message.endswith(f". {recovery(path)}")
    assert message[len(prefix):-len(f". {recovery(path)}")].strip(), "SQLite's report is passed on"


def test_an_emptied_file_beside_a_log_of_commits_is_refused_and_the_log_kept(path: Path) -> None:
    """A state file emptied after the daemon wrote it (a failed copy or restore) while its log
    still holds the latest commits: SQLite deletes the log of an empty database when it opens it,
    and the daemon started with no backoff, budget or kept restart, without a word."""
    wal = Path(f"{path}-wal")
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
        store.add_pending(request("r-1", ORDERS), "job-1")
        log = wal.read_bytes()  # the log of a daemon killed now: its commits not yet in the file
    path.write_bytes(b"")
    wal.write_bytes(log)
    for read_only in (False, True):
        assert refusal(path, read_only=read_only) == (
            f"State file {path} is empty, but its log {wal} holds committed changes: the file was emptied after "
            "the daemon wrote it (a failed copy or restore, a damaged filesystem). Opening it would discard the log "
            f"and start with no state; the files were not changed. {recovery(path)}"
        )
    assert wal.read_bytes() == log, "the log is kept: it is all that is left of the state"


def test_a_directory_is_refused(path: Path) -> None:
    path.mkdir()
    assert refusal(path) == (
        f"State file {path} is a directory, not a file. Point the state path at a file in it, such as {path / 'watchdog.db'}."
    )


@pytest.mark.parametrize("read_only", [False, True], ids=["daemon", "reader"])
def test_a_fifo_is_refused_at_once(path: Path, read_only: bool) -> None:
    """A FIFO at the state path: opening it waits for the other end, and the daemon (or
    `watchdog status --state`) hung at its start without a word."""
    import threading

    os.mkfifo(path)
    found: list[str] = []
    opener = threading.Thread(target=lambda: found.append(refusal(path, read_only=read_only)), daemon=True)
    opener.start()
    opener.join(timeout=10)
    if opener.is_alive():
        # Unblock the opener (a reader or a writer at the other end), then fail.
        fifo = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        opener.join(timeout=10)
        os.close(fifo)
        pytest.fail("opening a FIFO as the state file hung")
    assert found == [
        f"State file {path} is not a regular file (a FIFO, a socket or a device). Point the state path at a "
        "file on a disk, or at a directory's new file name."
    ]


def test_a_device_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """A state path at /dev/null (a typo, or a try at keeping no state): run as root, the daemon
    tightened the device to 0600 and put its lock file in /dev before SQLite refused it, and every
    other user of the machine lost /dev/null."""
    import stat

    # A device node of our own where we may make one (as root, where a failure of this test
    # would otherwise change the machine's /dev/null); /dev/null itself elsewhere, which a user
    # without privileges cannot change anyway.
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.chmod(device, 0o666)  # past the umask
    except PermissionError:
        device = Path("/dev/null")
    before = device.stat()
    lock = device.with_name(device.name + ".lock")
    try:
        assert refusal(device) == (
            f"State file {device} is not a regular file (a FIFO, a socket or a device). Point the state path at a "
            "file on a disk, or at a directory's new file name."
        )
    finally:
        after = device.stat()
        if stat.S_IMODE(after.st_mode) != stat.S_IMODE(before.st_mode):
            os.chmod(device, stat.S_IMODE(before.st_mode))  # put the machine right before failing
        created = lock.exists()
        lock.unlink(missing_ok=True)
    assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before.st_mode), "the device's permissions were changed"
    assert not created, "a lock file was made beside the device"


def test_a_state_file_on_a_read_only_mount_is_refused_as_such(tmp_path: Path) -> None:
    """The daemon said "not readable and writable by this user: fix its owner or permissions",
    and advised moving the file aside: neither is the cure, and the second loses the state."""
    mount = tmp_path / "volume"
    mount.mkdir()
    if os.geteuid() != 0:
        # Everywhere else the refusal is checked with statvfs faked (the test below); CI runs as
        # root, and there a mount that fails is this test's failure, not a skip.
        cannot_run_here("mounting a filesystem needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True, capture_output=True)
    try:
        path = mount / "state.db"
        with SqliteStateStore(path) as store:
            store.save(ORDERS, FULL_STATE)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        assert refusal(path) == (
            f"State file {path} is on a read-only filesystem, and the daemon writes it. Mount {mount} read-write "
            "(a volume mounted readOnly, or one the kernel remounted read-only after a disk error: see the node's "
            "kernel log), then start again. The file was not changed."
        )
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_state_file_on_a_filesystem_that_says_read_only_is_refused_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same refusal where no filesystem can be mounted (the test above needs root): the
    filesystem's flags, as statvfs reads them, say read-only."""
    from watchdog.state import opening

    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
    real_statvfs = os.statvfs

    class ReadOnly:
        def __init__(self, found: os.statvfs_result) -> None:
            self.f_flag = found.f_flag | os.ST_RDONLY

    monkeypatch.setattr(opening.os, "statvfs", lambda where: ReadOnly(real_statvfs(where)))
    assert refusal(path) == (
        f"State file {path} is on a read-only filesystem, and the daemon writes it. Mount {tmp_path} read-write "
        "(a volume mounted readOnly, or one the kernel remounted read-only after a disk error: see the node's "
        "kernel log), then start again. The file was not changed."
    )


_OPEN_AS_THIS_USER = """
import sys
from watchdog.state import SqliteStateStore, StateStoreError
try:
    SqliteStateStore(sys.argv[1]).close()
except StateStoreError as error:
    print(error)
    sys.exit(3)
"""


@pytest.fixture
def unprivileged() -> tuple[int, int, list[str]]:
    """Who opens the file: this user, or (as root, who reads anything: CI) `nobody` through
    util-linux's setpriv, so the real permission check runs, as in the image replay."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid(), []
    import pwd
    import shutil

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root, this test needs util-linux's setpriv to open the file as another user", pytrace=False)
    user = pwd.getpwnam("nobody")
    return user.pw_uid, user.pw_gid, [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]


def test_an_unreadable_file_is_refused(unprivileged: tuple[int, int, list[str]]) -> None:
    import shutil
    import tempfile

    uid, gid, as_user = unprivileged
    # Outside pytest's tmp_path (root's, 0700): the user must reach the directory.
    directory = Path(tempfile.mkdtemp(prefix="watchdog-unreadable-"))
    try:
        os.chown(directory, uid, gid)
        path = directory / "state.db"
        SqliteStateStore(path).close()
        os.chown(path, uid, gid)  # the user's own file, without permissions for anyone
        path.chmod(0)
        result = subprocess.run([*as_user, sys.executable, "-c", _OPEN_AS_THIS_USER, str(path)],
                                capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert result.returncode == 3, result.stderr[-2000:]
    assert result.stdout.strip() == (
        f"State file {path} is not readable and writable by this user (uid {uid}). Fix its owner or "
        f"permissions (and those of {path}-wal and {path}-shm if they exist). {recovery(path)}"
    )


def test_a_directory_the_user_may_not_enter_is_named_not_a_traceback(unprivileged: tuple[int, int, list[str]]) -> None:
    # The image's /var/lib/watchdog (0750, uid 10001) run as another uid (`docker run --user`, an
    # OpenShift arbitrary uid): a PermissionError traceback from pathlib, exit 1.
    import shutil
    import tempfile

    uid, gid, as_user = unprivileged
    directory = Path(tempfile.mkdtemp(prefix="watchdog-closed-"))
    try:
        path = directory / "volume" / "state.db"
        path.parent.mkdir(mode=0o700)
        SqliteStateStore(path).close()
        os.chown(path.parent, uid + 1, gid + 1)  # another user's directory, 0700
        os.chmod(directory, 0o755)
        result = subprocess.run([*as_user, sys.executable, "-c", _OPEN_AS_THIS_USER, str(path)],
                                capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stdout.strip() == (
        f"State file {path} cannot be reached by this user (uid {uid}, gid {gid}): a directory on its path may "
        f"not be entered. Fix the owner or permissions of {path.parent} (or run as its owner), then start again."
    )


def test_a_missing_directory_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "volume" / "watchdog.db"
    assert refusal(path) == (
        f"Cannot create state file {path}: directory {path.parent} does not exist (is the volume mounted?). "
        "Create the directory or point the state path elsewhere."
    )
    assert not path.parent.exists()


def test_a_log_left_without_its_database_is_refused(path: Path) -> None:
    Path(f"{path}-wal").write_bytes(b"leftover")
    assert refusal(path) == (
        f"State file {path} does not exist but {path}-wal does: the state file was moved or deleted without it. "
        f"Move {path}-wal aside too (or put the state file back), then start again."
    )
    assert not path.exists()


def test_another_applications_database_is_refused(path: Path) -> None:
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE users (name TEXT)")
        raw.execute("CREATE TABLE orders (id INTEGER)")
    raw.close()
    assert refusal(path) == (
        f"State file {path} is a SQLite database but not a watchdog state file (it has the tables orders, users "
        "and no watchdog schema version). Point the state path at another file. The file was not changed."
    )


def test_another_applications_database_keeps_its_permissions(path: Path) -> None:
    """Its own users may read it through its group: refusing it must not tighten it to 0600 (only
    a state file that passed the checks is made its owner's alone)."""
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE users (name TEXT)")
    raw.close()
    path.chmod(0o640)
    refusal(path)
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("read_only", [False, True], ids=["daemon", "reader"])
def test_another_applications_database_with_a_schema_version_is_refused_unchanged(path: Path, read_only: bool) -> None:
    """Many applications count their migrations in `user_version` too: one at version 1 passed
    for a state file, was switched to WAL (a change to another application's file), and the
    daemon died with a traceback on "no such table"."""
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE users (name TEXT)")
        raw.execute("PRAGMA user_version = 1")
    raw.close()
    assert refusal(path, read_only=read_only) == (
        f"State file {path} has schema version 1 but not the watchdog's tables and columns of that version "
        "(missing: table connector_state, table pending_request, table restart_history): it is another "
        "application's database, or was changed by hand. Point the state path at another file, or restore the "
        "watchdog's file from a backup. The file was not changed."
    )
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    raw.close()


def test_a_state_file_missing_a_table_or_column_is_refused(path: Path) -> None:
    SqliteStateStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE pending_request")
        raw.execute("ALTER TABLE restart_history DROP COLUMN evidence")
    raw.close()
    assert "(missing: table pending_request, column restart_history.evidence)" in refusal(path)


def test_a_read_only_reader_needs_an_existing_file(path: Path) -> None:
    assert refusal(path, read_only=True) == (  # or moved away: runbook probe, finding 5
        f"State file {path} does not exist: no daemon has written state there yet, or its files were moved away or "
        "deleted while a daemon ran (that daemon then records nothing: put them back).")
    assert not path.exists()


# -- kill -9 -------------------------------------------------------------------------------------

# A writer that does what the daemon does, as fast as it can: recover what the last run left
# pending, then count, send and finish restarts of one connector forever.
WRITER = """
import sys
from datetime import datetime, timedelta, timezone
from watchdog.model import *
from watchdog.state import SqliteStateStore

KEY = ConnectorKey("prod", "orders-source")
T0 = datetime(2026, 3, 29, tzinfo=timezone.utc)

def counted(n):
    return ConnectorState(attempts=n, last_restart_at=T0 + timedelta(seconds=n), next_allowed_at=T0 + timedelta(seconds=2 * n))

def finish(store, job, n):
    record = HistoryRecord(at=T0 + timedelta(seconds=n), key=KEY, job_id=job, rule="heal", trigger=Trigger.STATUS,
                           triggers=(Trigger.STATUS,), outcome=Outcome.ACCEPTED, attempt=n,
                           evidence={"trace": "x" * 500})
    store.finish(job, KEY, counted(n), record)

store = SqliteStateStore(sys.argv[1])
for pending in store.pending():
    n = store.load(KEY).attempts
    if pending.phase is PendingPhase.QUEUED:
        n += 1
        store.mark_sending(pending.job_id, KEY, counted(n))
    finish(store, pending.job_id, n)
n = store.load(KEY).attempts
print("ready", flush=True)
while True:
    n += 1
    job = f"job-{n}"
    store.add_pending(RestartRequest(id=f"r-{n}", key=KEY, rule="heal", trigger=Trigger.STATUS, reason="failed",
                                     requested_at=T0), job)
    store.mark_sending(job, KEY, counted(n))
    finish(store, job, n)
"""


def _kill_writer_mid_loop(path: Path, after_seconds: float) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert writer.stdout is not None
        lines = iter(writer.stdout.readline, "")  # log lines of opening the store come first
        assert "ready\n" in lines, "the writer died before its loop"
        time.sleep(after_seconds)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL


def _assert_consistent(path: Path) -> int:
    """Every attempt counted is either finished in the history or pending as `sending`; none lost,
    none counted twice. Returns the number of finished restarts."""
    with SqliteStateStore(path) as store:
        finished = sorted(r.attempt or 0 for r in store.history(limit=1_000_000))
        assert finished == list(range(1, len(finished) + 1))
        attempts = store.load(ORDERS).attempts
        pending = store.pending()
        assert len(pending) <= 1
        if not pending:
            assert attempts == len(finished)
        else:
            (only,) = pending
            assert only.job_id == f"job-{len(finished) + 1}"
            counted = 1 if only.phase is PendingPhase.SENDING else 0
            assert attempts == len(finished) + counted
        return len(finished)


def test_a_writer_killed_at_random_moments_leaves_a_consistent_file(path: Path) -> None:
    finished = 0
    # Eight kills at spread-out moments: each phase of the loop (queued, sending, finished) is
    # hit in practice; a lost or double-counted attempt in any of them fails the check.
    for after_seconds in (0.0, 0.02, 0.05, 0.08, 0.13, 0.2, 0.25, 0.31):
        _kill_writer_mid_loop(path, after_seconds)
        now_finished = _assert_consistent(path)
        assert now_finished >= finished, "a finished restart was lost"
        finished = now_finished
    assert finished > 50, "the writer made progress between kills"


# -- issue 12: file permissions, and a migration whose first read fails ---------------------------


def test_the_state_file_and_its_companions_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)  # the usual umask: files would be 0644
    try:
        path = tmp_path / "state.db"
        with SqliteStateStore(path) as store:
            store.save(ConnectorKey("prod", "a"), ConnectorState(attempts=1))
            made = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.lock")]
            assert all(p.exists() for p in made)
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in made}
        assert modes == dict.fromkeys(modes, 0o600), modes
    finally:
        os.umask(old)


def test_a_state_file_an_older_release_left_world_readable_is_tightened(tmp_path: Path) -> None:
    import stat

    path = tmp_path / "state.db"
    with SqliteStateStore(path):
        pass
    path.chmod(0o644)
    with SqliteStateStore(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_migration_whose_first_read_fails_raises_a_state_store_error(tmp_path: Path) -> None:
    import sqlite3

    from watchdog.state import StateStoreError
    from watchdog.state.schema import migrate

    class FailingVersionRead:
        """A connection whose `PRAGMA user_version` fails inside the migration's transaction."""

        def __init__(self) -> None:
            self.statements: list[str] = []

        def execute(self, sql: str, *args: object) -> object:
            self.statements.append(sql)
            if sql == "PRAGMA user_version":
                raise sqlite3.OperationalError("disk I/O error")
            return self

    db = FailingVersionRead()
    with pytest.raises(StateStoreError, match="from version 0 to 1 failed .disk I/O error.; the file was left at version 0"):
        migrate(db, tmp_path / "state.db", 0)  # type: ignore[arg-type]
    assert db.statements[-1] == "ROLLBACK"


def test_a_database_url_libpq_cannot_read_is_a_state_store_error_not_a_traceback() -> None:
    # `?sslmod=require` (a parameter libpq does not know) passed the config and ended `run` in
    # psycopg's ProgrammingError traceback; nothing is connected to.
    from watchdog.state.postgres import PostgresStateStore

    with pytest.raises(StateStoreError) as caught:
        PostgresStateStore("postgresql://watchdog@127.0.0.1:9/watchdog?sslmod=require", password=SecretStr("pw-LEAK-1234"))
    assert 'invalid URI query parameter: "sslmod"' in str(caught.value)
    assert str(caught.value).startswith("PostgreSQL database postgresql://watchdog@127.0.0.1:9/watchdog cannot be used")
    assert "LEAK" not in str(caught.value)


def test_many_states_are_read_by_their_key_not_by_scanning_every_connector(store: SqliteStateStore) -> None:
    # load_many reads a poll's states 64 at a time: written as `(cluster, connector) IN (VALUES
    # ...)`, SQLite scanned the whole table for each read (every connector of every cluster).
    plan = " ".join(row[3] for row in store._db.execute("EXPLAIN QUERY PLAN " + load_many_sql(2), ["a", "b", "c", "d"]))
    assert "SCAN connector_state" not in plan and "USING PRIMARY KEY" in plan, plan
