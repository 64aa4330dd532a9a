"""A state record whose whole-number column holds something else: text in a SQLite INTEGER column
(SQLite keeps what it is given; a hand edit, a byte changed on disk, and integrity_check passes),
or a negative count. Before, the daemon started "ready" on `attempts = 'x'` and every poll of that
cluster then died on a TypeError traceback (the connectors after it never judged again); a history
record's `tries = 'one'` killed `watchdog run` at its start on a traceback, and `watchdog status
--state` died on one. Now the start (and a reader) refuses the file naming it, the column, the
value and the way out, and a read of such a row while running is the store's failure."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bench.postgres import PostgresServer
from watchdog.cli import main
from watchdog.state import SqliteStateStore, StateStoreError
from watchdog.state.postgres import PostgresStateStore

from .state_samples import FULL_STATE, ORDERS, T0, record
from .test_damaged_state import _run_config
from .test_state import recovery


def _file(path: Path, change: str) -> None:
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
        store.finish("j1", ORDERS, None, record("j1", at=T0))
    with closing(sqlite3.connect(path)) as raw:
        raw.execute(change)
        raw.commit()
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)], "SQLite sees nothing wrong"


@pytest.mark.parametrize(("change", "found"), [
    ("UPDATE connector_state SET attempts = 'x'", "connector_state.attempts is 'x', not a whole number of at least 0"),
    ("UPDATE connector_state SET consecutive_failures = -2",
     "connector_state.consecutive_failures is -2, not a whole number of at least 0"),
    ("UPDATE restart_history SET tries = 'one'", "restart_history.tries is 'one', not a whole number of at least 0"),
    ("UPDATE restart_history SET status_code = '2O2'", "restart_history.status_code is '2O2', not a whole number"),
], ids=["attempts", "negative", "tries", "status_code"])
def test_a_file_with_a_number_that_is_not_one_is_refused_at_the_start_by_name(
    tmp_path: Path, change: str, found: str
) -> None:
    path = tmp_path / "state.db"
    _file(path, change)
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(StateStoreError) as refused:
            SqliteStateStore(path, read_only=read_only)
        assert str(refused.value) == (
            f"State file {path} holds a record this watchdog cannot read ({found}, in a record of prod/orders-source): it "
            "was changed by hand, or damaged (a disk error inside a record, which the database's own checks do not "
            f"see). {recovery(path)} Nothing was changed.")
    assert path.read_bytes() == before


def test_run_and_status_say_it_in_one_line_without_a_traceback(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `run` exited 1 on a traceback ending in "TypeError: '>' not supported between
    instances of 'str' and 'int'" (recovery.py), and so did `status --state`."""
    path = tmp_path / "state.db"
    _file(path, "UPDATE restart_history SET tries = 'one'")
    for argv in (["run", "--config", str(_run_config(tmp_path, path)), "--once"], ["status", "--state", str(path)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        assert "restart_history.tries is 'one'" in err.splitlines()[-1] and str(path) in err.splitlines()[-1], err


def test_a_row_changed_while_running_is_the_store_s_failure_not_a_number_passed_on(tmp_path: Path) -> None:
    """Before, load() handed back attempts='x', and the engine's comparisons died on it."""
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
        with closing(sqlite3.connect(path)) as raw:
            raw.execute("UPDATE connector_state SET attempts = 'x'")
            raw.commit()
        for read in (lambda: store.load(ORDERS), lambda: store.load_many([ORDERS])):
            with pytest.raises(StateStoreError, match=r"could not .*: it holds a record this watchdog cannot read "
                                                      r"\(connector_state.attempts is 'x', not a whole number"):
                read()


def test_a_negative_count_in_postgresql_is_refused_at_the_start(postgres_server: PostgresServer, postgres_url: str) -> None:
    """Before: read as is, "-5 restart attempt(s) so far" in the daemon's own words."""
    PostgresStateStore(postgres_url, password=postgres_server.password).close()
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("INSERT INTO connector_state (cluster, connector, attempts) VALUES ('prod', 'orders-source', -5)")
    for read_only in (False, True):
        with pytest.raises(StateStoreError, match=r"holds a record this watchdog cannot read \(connector_state.attempts "
                                                  r"is -5, not a whole number of at least 0, in a record of prod/orders-source\)"):
            PostgresStateStore(postgres_url, password=postgres_server.password, read_only=read_only)
