"""A state file that stops taking writes (issue 12, item 11): a full disk, or a filesystem the
kernel remounted read-only after an error. Decisions cannot be recorded, so nothing is restarted
(its attempt could not be counted: the backoff would not hold), and the daemon says so (a poll
result, a metric, /readyz, an alert) instead of looking healthy.

SQLite itself refuses the writes here (`PRAGMA query_only`: every write fails as it would on a
filesystem that takes none); mounting a small filesystem to fill up needs privileges tests do not
have. Reads keep working, as they do on a full disk."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import structlog

from watchdog.cli import main
from watchdog.server import create_app
from watchdog.state import SqliteStateStore, StateStoreError

from .support import CLUSTER, World, daemon_config, in_process, sim_scenario
from .test_api import AUTH, TOKEN

RULE = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
        "backoff": {"base": 1, "cap": 10, "jitter": 0}}


def world(tmp_path: Path) -> World:
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}, {"name": "fine"}]
    w = in_process(sim_scenario(connectors), daemon_config([RULE], token=TOKEN, state={"path": str(tmp_path / "state.db")}))
    w.daemon.queue.start()
    return w


def stop_writes(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA query_only = 1")


def allow_writes(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA query_only = 0")


async def test_a_full_disk_stops_restarts_and_says_so(tmp_path: Path) -> None:
    w = world(tmp_path)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    w.daemon.probes.config_loaded = True
    stop_writes(w.daemon.state._db)

    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert not w.simulator.restarts(), "a restart went out whose attempt could not be recorded"
    # The poll listed the cluster but its decisions were not recorded: not `ok`, not fresh.
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="state_error") == 1
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 0
    assert w.daemon.metrics.registry.get_sample_value("watchdog_last_successful_poll_timestamp_seconds", {"cluster": CLUSTER}) is None
    assert w.sample("watchdog_state_store_errors_total") >= 1
    assert w.sample("watchdog_state_store_writable") == 0
    ready = await http.get("/readyz")
    assert ready.status_code == 503 and "could not" in ready.json()["state_store"]
    # A request through the API is refused with a reason, and Alertmanager-style clients retry.
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "fine"}, headers=AUTH)
    assert response.status_code == 503 and "cannot record decisions" in response.json()["error"]
    assert w.sample("watchdog_http_requests_total", route="restarts", status_class="5xx") == 1
    assert not w.simulator.restarts()

    allow_writes(w.daemon.state._db)
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.restarts()] == ["broken"]
    # The listing made for the API request, and this poll.
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 2
    assert (await http.get("/readyz")).status_code == 200
    assert w.sample("watchdog_state_store_writable") == 1
    await w.daemon.stop()


def _run_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "api": {"base_url": "http://127.0.0.1:9"},
        "credentials": {"main": {}}, "clusters": {CLUSTER: {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": str(tmp_path / "state.db")},
        "rules": [RULE],
    }))
    return config


def test_a_start_on_a_full_disk_with_restarts_kept_says_so_without_a_traceback(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod restarted while its volume is full: the start's first writes failed and `watchdog run`
    died on a Python traceback. The hourly pruning no longer stops a start (the daemon runs and
    says so, as it does when the disk fills while it runs); restarts kept that cannot be taken up
    stop it with the store's message, and stay kept."""
    from watchdog.model import ConnectorKey, RestartRequest, Trigger

    with SqliteStateStore(tmp_path / "state.db") as store:
        store.add_pending(RestartRequest(id="r1", key=ConnectorKey(CLUSTER, "orders"), rule="manual",
                                         trigger=Trigger.MANUAL, reason="by hand", origin="cli",
                                         requested_at=datetime(2026, 3, 1, tzinfo=timezone.utc)), "j1")

    def full(self: SqliteStateStore, *args: object, **kwargs: object) -> None:
        raise StateStoreError(f"State file {self.path}: could not write: database or disk is full.")

    monkeypatch.setattr(SqliteStateStore, "prune", full)
    monkeypatch.setattr(SqliteStateStore, "add_pending", full)
    assert main(["run", "--config", str(_run_config(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"State file {tmp_path / 'state.db'}: could not write: database or disk is full. "
                                    "The restarts it kept stay in it, unsent, for the next start.")
    assert "StateStoreError" not in err, "no traceback"
    monkeypatch.undo()
    with SqliteStateStore(tmp_path / "state.db") as store:
        assert [p.request.id for p in store.pending()] == ["r1"]


async def test_a_start_whose_history_cannot_be_pruned_still_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: SqliteStateStore, *args: object, **kwargs: object) -> None:
        raise StateStoreError(f"State file {self.path}: could not prune the restart history: database or disk is full.")

    monkeypatch.setattr(SqliteStateStore, "prune", full)
    w = in_process(sim_scenario([{"name": "fine"}]), daemon_config([RULE], state={"path": str(tmp_path / "state.db")}))
    with structlog.testing.capture_logs() as logs:
        await w.daemon.start(serve_http=False)
    await w.daemon.stop()
    assert any(e["event"] == "history_not_pruned" and "disk is full" in e["error"] for e in logs)
    assert any(e["event"] == "started" for e in logs)
