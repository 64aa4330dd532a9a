"""A state file taken from under a running daemon: its lock file deleted (a clean-up of "stale"
lock files), which let a second daemon start on the same file, or the state file itself deleted,
moved or replaced, which left the daemon writing into a file no later start reads. Either way the
daemon stops writing and sending, and says so (readiness, the writable metric, the error), as on
a full disk (tests/test_full_disk.py)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from watchdog.model import ConnectorKey, ConnectorState
from watchdog.server import create_app
from watchdog.state import SqliteStateStore, StateStoreError

from .support import CLUSTER, World, daemon_config, in_process, sim_scenario
from .test_api import TOKEN

RULE = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
        "backoff": {"base": 1, "cap": 10, "jitter": 0}}


def world(state: Path) -> World:
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}, {"name": "fine"}]
    w = in_process(sim_scenario(connectors), daemon_config([RULE], token=TOKEN, state={"path": str(state)}))
    w.daemon.queue.start()
    return w


async def readiness(w: World) -> httpx.Response:
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    w.daemon.probes.config_loaded = True
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        return await http.get("/readyz")


async def poll_refused(w: World, why: str) -> str:
    """A poll of the daemon whose writes are refused: no restart, the store said not writable,
    /readyz 503. The store's reason in /readyz."""
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert not w.simulator.restarts(), why
    assert w.sample("watchdog_state_store_writable") == 0
    ready = await readiness(w)
    assert ready.status_code == 503
    return str(ready.json()["state_store"])


async def test_a_deleted_lock_file_never_lets_two_daemons_restart_from_one_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    w = world(state)
    (tmp_path / "state.db.lock").unlink()
    # What a second daemon does at its start: it finds no lock held, and takes the file.
    with SqliteStateStore(state) as second:
        reason = await poll_refused(w, "the first daemon restarted while a second one owned its state file")
        assert "lock file" in reason and "deleted or replaced" in reason
        # The daemon that holds the lock now is the one that writes.
        second.save(ConnectorKey(CLUSTER, "broken"), ConnectorState(attempts=1))
    await w.daemon.stop()


def names(path: Path, count: int) -> str:
    return (
        f"it has {count} names (hard links): a daemon started under another of them takes a lock of its own and keeps "
        "a -wal log of its own beside that name, so two daemons could write the one file, each restarting every "
        "connector and neither seeing the other's latest writes. Remove the other names (find them with: find / "
        f"-samefile {path} 2>/dev/null) or give the daemon a copy of its own (cp)"
    )


def test_a_state_file_with_a_second_name_is_refused_at_the_start_under_either(tmp_path: Path) -> None:
    """A hard link has a lock file of its own beside it: two daemons started on `a/state.db` and
    `b/state.db`, one file under two names, both ran (each sent attempt 3 of the same connector
    within 5 s, every schedule run twice), and the second's writes stayed in its own -wal log."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    state, link = tmp_path / "a" / "state.db", tmp_path / "b" / "state.db"
    SqliteStateStore(state).close()
    os.link(state, link)
    before = state.read_bytes()
    for path in (state, link):
        with pytest.raises(StateStoreError) as caught:
            SqliteStateStore(path)
        assert str(caught.value) == f"State file {path}: {names(path, 2)}, then start again. The file was not changed."
    assert state.read_bytes() == before
    with SqliteStateStore(link, read_only=True) as reader:  # `watchdog status --state`: reads only
        assert reader.rows() == []
    link.unlink()
    SqliteStateStore(state).close()


async def test_a_second_name_given_to_the_state_file_while_running_stops_writes_and_restarts_until_removed(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    state, link = tmp_path / "a" / "state.db", tmp_path / "b" / "state.db"
    w = world(state)
    os.link(state, link)  # a second daemon could now start under it, with a lock of its own
    assert await poll_refused(w, "restarted from a file another daemon could be writing") == (
        f"State file {state}: could not record a connector's status: {names(state, 2)}. This daemon writes nothing "
        "and sends no restart while the file has another name: once the other names are removed, its writes resume.")
    link.unlink()
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.restarts()] == ["broken"]
    assert w.sample("watchdog_state_store_writable") == 1
    await w.daemon.stop()


@pytest.mark.parametrize("how", ["deleted", "moved", "replaced"])
async def test_a_state_file_taken_away_while_running_stops_restarts_and_says_so(tmp_path: Path, how: str) -> None:
    state = tmp_path / "state.db"
    w = world(state)
    aside = tmp_path / "aside.db"
    if how == "deleted":
        state.unlink()
    else:
        os.rename(state, aside)
        if how == "replaced":
            state.write_bytes(b"")  # another file at the path (a restore from a backup, say)

    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert not w.simulator.restarts(), "a restart went out whose attempt was written where no start reads it"
    assert w.sample("watchdog_state_store_writable") == 0
    ready = await readiness(w)
    assert ready.status_code == 503 and "deleted, moved or replaced" in ready.json()["state_store"]
    with pytest.raises(StateStoreError, match="deleted, moved or replaced"):
        w.daemon.state.save(ConnectorKey(CLUSTER, "fine"), ConnectorState())

    if how == "moved":
        os.rename(aside, state)  # put back: the same file, so writes and restarts resume
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        assert [c.connector for c in w.simulator.restarts()] == ["broken"]
        assert w.sample("watchdog_state_store_writable") == 1
    await w.daemon.stop()
