"""A state file damaged where SQLite's own checks do not look: a byte changed inside a record (a
disk error; SQLite checks the file's structure, not what its records say) or an index that hands
back another column's values. Real SQLite files, changed byte by byte as a failing disk would."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from watchdog.cli import main
from watchdog.state import SqliteStateStore, StateStoreError

from .state_samples import FULL_STATE, ORDERS, T0, record
from .test_state import recovery

LAST_RESTART = b"2026-03-29T10:00:00.123456+00:00"  # FULL_STATE's last_restart_at, as the file keeps it


def unreadable(path: Path, what: str, error: str) -> str:
    return (f"State file {path}: could not {what}: it holds a record this watchdog cannot read ({error}): the file is "
            "damaged (a disk error inside a record, which SQLite's own checks do not see, or a damaged index) or was "
            f"changed by hand. {recovery(path)}")


def rotted_state_file(path: Path) -> None:
    """A state file whose connector row has one byte of its last restart's time changed on disk."""
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
    data = path.read_bytes()
    assert data.count(LAST_RESTART) == 1
    path.write_bytes(data.replace(LAST_RESTART, LAST_RESTART.replace(b"2026-", b"2026~")))
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)], "SQLite sees nothing wrong"


def test_a_byte_changed_inside_a_record_is_the_store_s_failure_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    rotted_state_file(path)
    failures = []
    with SqliteStateStore(path) as store:
        store.on_failure = lambda: failures.append(1)
        for read in (lambda: store.load(ORDERS), lambda: store.load_many([ORDERS]), store.rows):
            with pytest.raises(StateStoreError) as caught:
                read()
            assert "Invalid isoformat string: '2026~03-29T10:00:00.123456+00:00'" in str(caught.value)
        assert str(caught.value) == unreadable(
            path, "list connector states", "Invalid isoformat string: '2026~03-29T10:00:00.123456+00:00'")
        assert store.problem == str(caught.value), "reported as any failure of the store (/readyz, the metric)"
        assert len(failures) == 3


@pytest.mark.parametrize("once", [[], ["--once"]], ids=["run", "run-once"])
def test_a_start_on_a_record_damaged_on_disk_says_so_in_one_line_without_a_traceback(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str], once: list[str]
) -> None:
    """Before, `watchdog run` died at its start on a Python traceback ending in `ValueError:
    Invalid isoformat string: '2026~12-03T21:54:59.823697+00:00'`, naming neither the file nor
    what to do; `run --once` on a traceback ending in the StateStoreError, even once the store
    said it in one line."""
    path = tmp_path / "state.db"
    rotted_state_file(path)
    assert main(["run", "--config", str(_run_config(tmp_path, path)), *once]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith(unreadable(
        path, "list connector states", "Invalid isoformat string: '2026~03-29T10:00:00.123456+00:00'"))
    # Not "the restarts it kept stay in it for the next start": its way out is to move it aside.
    assert "for the next start" not in err, err


def test_status_and_history_from_a_damaged_file_say_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`watchdog status --state FILE` read beside a daemon: a record it cannot read, or a page
    SQLite finds damaged only when a table is read, was a Python traceback."""
    path = tmp_path / "state.db"
    rotted_state_file(path)
    assert main(["status", "--state", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == unreadable(
        path, "list connector states", "Invalid isoformat string: '2026~03-29T10:00:00.123456+00:00'")


def test_an_index_that_hands_back_another_column_is_refused_not_a_traceback(tmp_path: Path) -> None:
    """The restart history's two indexes swapped (their pages hold each other's entries): SQLite's
    quick check passes, and the history read by time gave a connector's cluster for its time, a
    traceback at the start."""
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        for n in range(3):
            store.finish(f"j{n}", ORDERS, None, record(f"j{n}", at=T0))
    with closing(sqlite3.connect(path)) as raw:
        pages = dict(raw.execute("SELECT name, rootpage FROM sqlite_master WHERE name LIKE 'restart_history_by_%'"))
        raw.execute("PRAGMA writable_schema = ON")
        for name, other in (("restart_history_by_time", "restart_history_by_connector"),
                            ("restart_history_by_connector", "restart_history_by_time")):
            raw.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = ?", (pages[other], name))
        raw.commit()
    # Found at the opening by SQLite's integrity check (before it, quick_check passed it, and the
    # history read failed as a record that cannot be read: "Invalid isoformat string: 'prod'").
    with pytest.raises(StateStoreError) as caught:
        SqliteStateStore(path)
    assert str(caught.value) == (
        f"State file {path} is damaged: SQLite's integrity check reports: row 1 missing from index "
        "restart_history_by_time; row 1 missing from index restart_history_by_connector; row 2 missing from index "
        f"restart_history_by_time. {recovery(path)}")


def _run_config(tmp_path: Path, path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "api": {"base_url": "http://127.0.0.1:9"},
        "credentials": {"main": {}}, "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": str(path)},
        "rules": [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}],
    }))
    return config


async def test_a_record_found_damaged_while_running_stops_writes_and_restarts_until_the_file_is_moved_aside(
    tmp_path: Path,
) -> None:
    """Found damaged while the daemon ran, the file was reported for the instant of the failed
    read only: the next write elsewhere (the 30-second sign of life, another cluster's poll)
    cleared it, so `/readyz` answered 200 and `watchdog_state_store_writable` was 1 nearly all the
    time, WatchdogCannotRecordDecisions (2 minutes at 0) never fired, and the cluster of the
    damaged row went unjudged for good with a warning every 5 minutes. Damage does not heal: the
    file is refused from then on, as at a start, until it is moved aside."""
    from watchdog.server import create_app as daemon_app

    from .support import CLUSTER, daemon_config, in_process, sim_scenario
    from .test_api import AUTH, TOKEN

    path = tmp_path / "state.db"
    rule = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
            "backoff": {"base": 1, "cap": 10, "jitter": 0}}
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}, {"name": "fine"},
                  {"name": "other"}]
    w = in_process(sim_scenario(connectors), daemon_config([rule], token=TOKEN, state={"path": str(path)}))
    w.daemon.queue.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(
        app=daemon_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon")
    w.daemon.probes.config_loaded = True
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.restarts()] == ["broken"]

    with closing(sqlite3.connect(path)) as other:  # what a disk error does to the row, by SQL
        other.execute("UPDATE connector_state SET healthy_since = '2026~03-29' WHERE connector = 'fine'")
        other.commit()
    await w.daemon.pollers[CLUSTER].poll()
    for _ in range(4):  # two minutes of signs of life, each a write that succeeded before
        w.daemon.mark_alive()

    assert w.sample("watchdog_state_store_writable") == 0
    ready = await http.get("/readyz")
    assert ready.status_code == 503
    reason = ready.json()["state_store"]
    assert "it holds a record this watchdog cannot read (Invalid isoformat string: '2026~03-29')" in reason, reason
    assert reason.endswith(recovery(path))
    with pytest.raises(StateStoreError) as caught:  # a write anywhere in the file: refused, and why
        w.daemon.state.save(ORDERS, FULL_STATE)
    assert str(caught.value) == (
        f"State file {path}: could not save a connector's state: it was found damaged while this daemon ran (it holds "
        "a record this watchdog cannot read (Invalid isoformat string: '2026~03-29')), and damage does not heal: it "
        f"writes nothing more and sends no restart. {recovery(path)}")
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "other"}, headers=AUTH)
    assert response.status_code == 503
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.restarts()] == ["broken"], "nothing restarted from a damaged file"
    await http.aclose()
    await w.daemon.stop()


def test_a_page_found_malformed_while_running_is_said_with_the_way_out_and_refuses_every_later_write(
    tmp_path: Path,
) -> None:
    """A page of the file wrecked on disk under a running daemon (checked at its start, read again
    since): `database disk image is malformed` is a store failure that names the way out, and a
    write elsewhere in the file no longer clears it."""
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
        with closing(sqlite3.connect(path)) as other:
            other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            (root,) = other.execute("SELECT rootpage FROM sqlite_master WHERE name = 'connector_state'").fetchone()
            (size,) = other.execute("PRAGMA page_size").fetchone()
            with path.open("r+b") as file:  # the page's cells, after its header
                file.seek((root - 1) * size + 12)
                file.write(b"\xa5" * (size - 12))
            other.execute("UPDATE daemon_alive SET at = at")  # another writer: the daemon's page cache is dropped
            other.commit()
        with pytest.raises(StateStoreError) as caught:
            store.load_many([ORDERS])
        assert str(caught.value) == (f"State file {path}: could not load connectors' states: database disk image is "
                                     f"malformed: the file is damaged. {recovery(path)}")
        with pytest.raises(StateStoreError) as caught:
            store.mark_alive(T0)
        assert str(caught.value) == (
            f"State file {path}: could not record that the daemon is alive: it was found damaged while this daemon "
            "ran (SQLite finds it damaged: database disk image is malformed), and damage does not heal: it writes "
            f"nothing more and sends no restart. {recovery(path)}")
        assert store.problem is not None


def test_an_index_page_whose_last_write_was_lost_is_refused_at_the_start(tmp_path: Path) -> None:
    """One page of an index as it was before its last write (a disk that acknowledged a write
    and lost it): pending_request_by_job without the row of a kept restart. SQLite's quick check
    passed it; marked `sending` and finished, the request was found by neither (its phase stayed
    `queued`, its row stayed for the next start to send again), and `watchdog run` died at every
    start on "database disk image is malformed" without the way out."""
    from .state_samples import request

    path, before = tmp_path / "state.db", tmp_path / "before.db"
    with SqliteStateStore(path) as store:
        store.save(ORDERS, FULL_STATE)
    before.write_bytes(path.read_bytes())
    with SqliteStateStore(path) as store:
        store.add_pending(request("r-1", ORDERS), "job-1")
    with closing(sqlite3.connect(path)) as raw:
        (root,) = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'pending_request_by_job'").fetchone()
        (size,) = raw.execute("PRAGMA page_size").fetchone()
    data = bytearray(path.read_bytes())
    data[(root - 1) * size:root * size] = before.read_bytes()[(root - 1) * size:root * size]
    path.write_bytes(bytes(data))

    with pytest.raises(StateStoreError) as caught:
        SqliteStateStore(path)
    assert str(caught.value) == (
        f"State file {path} is damaged: SQLite's integrity check reports: row 1 missing from index "
        f"pending_request_by_job; wrong # of entries in index pending_request_by_job. {recovery(path)}")
    assert path.read_bytes() == bytes(data), "a refused file is never changed"
