"""A state path or URL that names something other than the watchdog's state: another application's
database whatever its own version count, an empty file, a file that is not SQLite at all. Each is
refused unchanged, with words that name what it is, not the advice for a good or damaged state."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bench.postgres import PostgresServer
from watchdog.cli import main
from watchdog.state import SqliteStateStore, StateStoreError
from watchdog.state.postgres import PostgresStateStore

from .test_state import recovery, refusal


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "app.db"


@pytest.mark.parametrize("read_only", [False, True], ids=["daemon", "reader"])
def test_another_applications_database_counting_its_own_versions_is_not_called_a_newer_release(
    path: Path, read_only: bool
) -> None:
    """Many applications count their migrations in `user_version`: one at 7 was "written by a newer
    release ... Run that release", and the operator went looking for a watchdog release 7."""
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        raw.execute("PRAGMA user_version = 7")
        raw.commit()
    assert refusal(path, read_only=read_only) == (
        f"State file {path} has schema version 7 but not the watchdog's tables (missing: table connector_state, "
        "table pending_request, table restart_history): it is another application's database (which counts its "
        "own versions where the watchdog keeps its schema version), or was changed by hand. Point the state path "
        "at another file. The file was not changed."
    )


def test_a_newer_watchdog_file_is_still_called_one(path: Path) -> None:
    SqliteStateStore(path).close()
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("PRAGMA user_version = 2")
    assert "has schema version 2, newer than the 1 this watchdog knows: a newer release wrote it." in refusal(path)


def test_another_applications_postgres_schema_version_is_not_called_a_newer_release(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("CREATE TABLE schema_version (version integer NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (5)")
        db.execute("CREATE TABLE users (id integer)")
    with pytest.raises(StateStoreError) as caught:
        PostgresStateStore(postgres_url, password=postgres_server.password)
    message = str(caught.value)
    assert "newer release" not in message, message
    assert message.endswith(
        "has schema version 5 but not the watchdog's tables connector_state, leader_lease, pending_request, "
        "restart_history: its schema_version table is another application's, or they were dropped by hand. Give "
        "the watchdog a database (or a schema, with options=-csearch_path=NAME in the URL) of its own, or restore "
        "it from a backup. Nothing was changed."
    ), message
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(5,)], "nothing was changed"


@pytest.mark.parametrize("command", ["history", "status"])
def test_an_empty_state_file_read_by_history_or_status_is_called_empty_not_an_old_file_to_upgrade(
    path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A restore that failed leaves a 0-byte file; the reader checking it said "schema version 0
    ... Start the daemon once to upgrade it", and the daemon so started forgot every budget."""
    path.write_bytes(b"")
    assert main([command, "--state", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"State file {path} is empty (0 bytes): it holds no state at all, no backoff, restart budget, gave-up flag, "
        "kept restart or history (a failed copy or restore leaves one so). If it should hold state, put it back from "
        "a backup before starting the daemon: started on an empty file, the daemon begins a new, empty state store. "
        "The file was not changed."
    )
    assert "upgrade" not in err
    assert path.read_bytes() == b"" and sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("command", ["history", "status"])
def test_a_state_file_copied_without_its_wal_is_not_called_an_old_file_to_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A copy of a live state file without its -wal holds no table (every commit is in the log):
    the reader said "schema version 0 ... Start the daemon once to upgrade it", and the daemon so
    started began an empty store (the re-verification of an upgrade probe)."""
    import sqlite3

    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")  # a SQLite file, its header written, no table
    db.close()
    assert main([command, "--state", str(path)]) == 1
    err = capsys.readouterr().err
    assert "no watchdog state in it (no tables): a copy made without its -wal file" in err, err
    assert "upgrade" not in err


def test_a_text_file_named_as_the_state_is_called_the_wrong_file_and_gets_no_lock_beside_it(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`state.path` naming the config itself (a slip in the path) got the advice for a damaged file,
    to move the config aside and copy a backup to its place, and left `config.yaml.lock` beside it."""
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "credentials": {"main": {}}, "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}},
        "state": {"path": str(config)},
    }))
    before = config.read_bytes()
    assert main(["run", "--once", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == not_sqlite(config, "it holds text, such as a config or a log")
    assert config.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"], "no lock file, -wal or -shm beside it"


def not_sqlite(path: Path, found: str) -> str:
    return (
        f"State file {path} is not a SQLite database at all ({found}): the state path probably names the wrong file. "
        "Point it at the watchdog's state file (or at a new file name, to start with no state). The file was not "
        f"changed. If it is the watchdog's state file, its first bytes were overwritten: {recovery(path)}"
    )


@pytest.mark.parametrize("read_only", [False, True], ids=["daemon", "reader"])
def test_random_bytes_are_not_a_database(path: Path, read_only: bool) -> None:
    """Moved from tests/test_state.py, which expected the damaged file's words ("is not a readable
    SQLite database (file is not a database). To recover, ... move it aside"): the recovery advice
    now follows the likelier cause, a state path that names the wrong file."""
    path.write_bytes(bytes(range(256)) * 32)
    assert refusal(path, read_only=read_only) == not_sqlite(path, "it does not begin with SQLite's header")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("read_only", [False, True], ids=["daemon", "reader"])
def test_a_text_file_is_not_a_database(path: Path, read_only: bool) -> None:
    path.write_text("cluster: prod\n" * 100)
    assert refusal(path, read_only=read_only) == not_sqlite(path, "it holds text, such as a config or a log")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
