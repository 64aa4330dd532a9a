"""`watchdog run` started while its PostgreSQL state database cannot be reached waits for it
(watchdog/state_wait.py) instead of exiting 1: /healthz 200, /readyz 503 saying why, every other
request 503 with Retry-After, SIGTERM ends it at once (exit 0); once the database comes up the
daemon starts, leads and sends the restarts the database kept. A permanent refusal still stops
the start (exit 1). The probe that found it: /tmp/s75/probe_restart F5 (exit 1 after 1.09 s).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bench.ha import CLUSTER, CLUSTER_ID, ENVIRONMENT, KEYS, TOKEN, HaWorld, scenario, wait_until
from bench.postgres import PostgresServer, take_lease
from bench.processes import free_port
from watchdog.model import ConnectorKey, RestartRequest, Trigger
from watchdog.state import StateStoreError
from watchdog.state.postgres import PostgresStateStore
from watchdog.state.postgres_connection import transient_at_start, transient_refusal
from watchdog.state_wait import PAUSE_CAP, pause_after

REFUSED = ('connection failed: connection to server at "10.0.0.7", port 5432 failed: Connection refused\n'
           "\tIs the server running on that host and accepting TCP/IP connections?")


@pytest.mark.parametrize(("sqlstate", "text", "transient"), [
    # Waited for: the server not reached, or not taking connections yet.
    (None, REFUSED, True),
    (None, 'connection failed: connection to server at "10.0.0.7", port 5432 failed: timeout expired', True),
    (None, "failed to resolve host 'postgres.watchdog.svc': [Errno -3] Temporary failure in name resolution", True),
    (None, 'could not translate host name "postgres" to address: Name or service not known', True),
    (None, "connection failed: ... failed: No route to host", True),
    (None, 'connection failed: ... failed: FATAL:  the database system is starting up', True),
    (None, 'connection failed: ... failed: FATAL:  the database system is shutting down', True),
    ("57P03", "the database system is not yet accepting connections", True),
    ("57P01", "terminating connection due to administrator command", True),
    # Permanent: waiting would not help, and a refused start is seen at once.
    (None, 'connection failed: ... failed: FATAL:  password authentication failed for user "watchdog"', False),
    ("28P01", 'password authentication failed for user "watchdog"', False),
    (None, 'connection failed: ... failed: FATAL:  too many connections for role "watchdog"', False),
    ("53300", "sorry, too many clients already", False),
    (None, 'connection failed: ... failed: FATAL:  database "watchdog" does not exist', False),
    (None, 'connection failed: ... failed: FATAL:  no pg_hba.conf entry for host "10.1.2.3"', False),
    (None, "connection failed: ... failed: SSL error: certificate verify failed", False),
    (None, "connection failed: ... failed: FATAL:  unsupported startup parameter: options", False),
    ("42501", "permission denied for schema public", False),
    # Several hosts: one not reached, the other refusing the password.
    (None, f"{REFUSED}\nconnection to server at \"10.0.0.8\", port 5432 failed: FATAL:  password authentication "
           'failed for user "watchdog"', False),
    # Unknown: permanent (a silent wait would hide it).
    (None, "server closed the connection unexpectedly", False),
    ("XX000", "something else", False),
])
def test_which_refusals_at_the_start_are_waited_for(sqlstate: str | None, text: str, transient: bool) -> None:
    assert transient_refusal(sqlstate, text) is transient


def test_only_a_database_error_under_the_stores_refusal_is_waited_for(tmp_path: Path) -> None:
    nothing_listens = f"postgresql://watchdog@127.0.0.1:{free_port()}/watchdog"
    with pytest.raises(StateStoreError) as refused:
        PostgresStateStore(nothing_listens)
    assert transient_at_start(refused.value)
    # The store's own refusals (read-only, a newer schema, the migration lock) carry no database error.
    assert not transient_at_start(StateStoreError("PostgreSQL database ... takes no writes"))


def test_the_pause_between_tries_doubles_to_its_cap_with_jitter() -> None:
    assert [pause_after(n, lambda: 0.5) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, PAUSE_CAP, PAUSE_CAP]
    assert pause_after(1, lambda: 0.0) == pytest.approx(0.8)
    assert pause_after(9, lambda: 0.999999) == pytest.approx(PAUSE_CAP * 1.2, rel=1e-4)


# --- the daemon, a real process ---------------------------------------------------------------------


def config_file(tmp: Path, database_url: str, port: int, sim_port: int) -> Path:
    data = {
        "api": {"base_url": f"http://127.0.0.1:{sim_port}"},
        "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": port},
        "state": {"url": database_url, "leader_election": {"lease_duration": 3, "renew_deadline": 2,
                                                            "renew_interval": 0.5}},
        "reload": {"watch": False},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 60, "confirm_polls": 1},
                   "select": {"include": ["*"]}}],
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def environment(password: str) -> dict[str, str]:
    key, secret = KEYS["a"]
    return {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": key, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": secret,
            "WATCHDOG_SERVER__AUTH_TOKEN": TOKEN, "WATCHDOG_STATE__PASSWORD": password}


def start(config: Path, log: Path, password: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "watchdog", "run", "--config", str(config), "--log-format", "json"],
                                stdout=out, stderr=subprocess.STDOUT, env=environment(password))


def events(log: Path, name: str) -> list[dict[str, Any]]:
    return [event for line in log.read_text(errors="replace").splitlines() if line.startswith("{")
            if (event := json.loads(line)).get("event") == name]


def answer(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


@pytest.fixture
def stopped_at_the_end() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.process
def test_a_start_while_the_database_cannot_be_reached_waits_serving_healthz_and_stops_at_sigterm(
        tmp_path: Path, stopped_at_the_end: list[subprocess.Popen[bytes]]) -> None:
    port, password = free_port(), "canary-" + secrets.token_hex(6)
    config = config_file(tmp_path, f"postgresql://watchdog@127.0.0.1:{free_port()}/watchdog", port, free_port())
    log = tmp_path / "run.log"
    process = start(config, log, password)
    stopped_at_the_end.append(process)
    base = f"http://127.0.0.1:{port}"

    def waiting() -> bool:
        assert process.poll() is None, f"run exited {process.returncode}: {log.read_text()[-1500:]}"
        found = answer(f"{base}/healthz")
        return found is not None and found.status_code == 200

    wait_until(waiting, 20, "the waiting daemon answers /healthz")
    ready = httpx.get(f"{base}/readyz", timeout=2)
    assert ready.status_code == 503
    assert ready.json()["reason"] == "state_database_unreachable_at_start"
    assert "waiting for the state database" in ready.json()["detail"]
    assert "Connection refused" in ready.json()["detail"]
    asked = httpx.post(f"{base}/v1/restarts", json={"cluster": CLUSTER, "connector": "c1"},
                       headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2)
    assert asked.status_code == 503
    assert asked.headers["Retry-After"] == "5"
    assert "nothing was done" in asked.json()["error"]
    # What the command line makes of it: try again later (75), not "cannot reach the daemon".
    cli = subprocess.run([sys.executable, "-m", "watchdog", "restart", "--daemon", base, CLUSTER, "c1"],
                         capture_output=True, text=True, timeout=30, env=environment(password))
    assert cli.returncode == 75, cli.stderr
    assert "waiting for the state database" in cli.stderr

    said = events(log, "state_database_unreachable_at_start")
    assert len(said) == 1 and said[0]["level"] == "warning"
    assert "Connection refused" in said[0]["error"] and password not in log.read_text()
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=5) == 0
    assert time.monotonic() - sent < 2.5
    assert "stopped by SIGTERM while it waited for the state database" in log.read_text()


def keep(server: PostgresServer, url: str, name: str) -> None:
    """A restart asked for and kept by a leader that then died: pending in the database."""
    holder = "gone-replica"
    with PostgresStateStore(url, password=server.password) as old:
        old.fence(take_lease(server, url, holder), holder)
        old.add_pending(RestartRequest(id=secrets.token_hex(8), key=ConnectorKey(CLUSTER, name), rule="heal",
                                       trigger=Trigger.MANUAL, reason="asked", requested_at=datetime.now(UTC)),
                        secrets.token_hex(8))
    with server.connect(url.rsplit("/", 1)[1]) as admin:  # the lease given back, as at a stop
        admin.execute("UPDATE leader_lease SET expires_at = '-infinity' WHERE id = 1")


@pytest.mark.process
def test_a_replica_waiting_for_its_database_leads_once_it_comes_up_and_sends_the_kept_restart(
        tmp_path: Path, postgres_server: PostgresServer, postgres_url: str,
        stopped_at_the_end: list[subprocess.Popen[bytes]]) -> None:
    world = HaWorld(tmp_path, postgres_server, postgres_url, rules=[])
    world.start_simulator(scenario([{"name": "kept-1"}, {"name": "other"}]))
    stopped_at_the_end.append(world.simulator)  # type: ignore[arg-type]
    keep(postgres_server, postgres_url, "kept-1")
    port = free_port()
    log = tmp_path / "run.log"
    postgres_server.stop()
    try:
        process = start(config_file(tmp_path, postgres_url, port, world.sim_port), log,
                        postgres_server.password.get_secret_value())
        stopped_at_the_end.append(process)

        def said_it_waits() -> bool:
            assert process.poll() is None, f"run exited {process.returncode}: {log.read_text()[-1500:]}"
            return bool(events(log, "state_database_unreachable_at_start"))

        wait_until(said_it_waits, 20, "the replica says it waits for its database")
        time.sleep(1.5)  # a try or two more, refused
        assert process.poll() is None
    finally:
        postgres_server.start()
    came_up = time.monotonic()

    def sent() -> bool:
        assert process.poll() is None, f"run exited {process.returncode}: {log.read_text()[-1500:]}"
        return any(call["connector"] == "kept-1" for call in world.restarts())

    # Reached within a pause (at most PAUSE_CAP, here 2 s or 4 s), then led and recovered.
    wait_until(sent, 25, "the kept restart is sent")
    assert time.monotonic() - came_up < 20
    reached = events(log, "state_database_reached")
    assert len(reached) == 1 and reached[0]["tries"] >= 2
    ready = answer(f"http://127.0.0.1:{port}/readyz")
    assert ready is not None and ready.status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


@pytest.mark.process
def test_a_refused_password_still_stops_the_start(tmp_path: Path, postgres_server: PostgresServer,
                                                   postgres_url: str) -> None:
    log = tmp_path / "run.log"
    process = start(config_file(tmp_path, postgres_url, free_port(), free_port()), log, "not-the-password")
    assert process.wait(timeout=30) == 1
    assert "password authentication failed" in log.read_text()
    assert not events(log, "state_database_unreachable_at_start")


@pytest.mark.process
def test_ctrl_c_ends_the_wait_at_once_saying_nothing_was_started(
        tmp_path: Path, stopped_at_the_end: list[subprocess.Popen[bytes]]) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    process = start(config_file(tmp_path, f"postgresql://watchdog@127.0.0.1:{free_port()}/watchdog", port, free_port()),
                    log, "canary-password")
    stopped_at_the_end.append(process)

    def waiting() -> bool:
        assert process.poll() is None, f"run exited {process.returncode}: {log.read_text()[-1500:]}"
        return bool(events(log, "state_database_unreachable_at_start")) and answer(f"http://127.0.0.1:{port}/healthz") is not None

    wait_until(waiting, 20, "the daemon waits for its database")
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=5) == 0
    assert time.monotonic() - sent < 2.5
    assert "stopped by Ctrl-C (SIGINT) while it waited for the state database" in log.read_text()
