"""A state file that stops taking writes (issue 12, item 11): a full disk, or a filesystem the
kernel remounted read-only after an error. Decisions cannot be recorded, so nothing is restarted
(its attempt could not be counted: the backoff would not hold), and the daemon says so (a poll
result, a metric, /readyz, an alert) instead of looking healthy.

SQLite itself refuses the writes here (`PRAGMA query_only`: every write fails as it would on a
filesystem that takes none); mounting a small filesystem to fill up needs privileges tests do not
have. Reads keep working, as they do on a full disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from watchdog.server import create_app

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
