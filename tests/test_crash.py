"""kill -9 at several points of a run, against the simulator's own record of calls.

The simulator runs as its own process and outlives every daemon. Between kills the test asks the
daemon's API for restarts of connectors no rule restarts by itself, so that each such connector
stands for exactly one accepted request. After the last start the checks are:
- no failing connector was restarted before its backoff allowed it, across all the kills;
- every accepted request ended exactly once: restarted once, or (killed with the call on the
  wire) reported as `interrupted`, never restarted twice;
- nothing is left pending in the state file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
import yaml

from watchdog.config import Backoff
from watchdog.model import Outcome
from watchdog.policy import backoff_gap
from watchdog.state import SqliteStateStore

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import process_config, sim_scenario
from .test_process import free_port, wait_for

pytestmark = pytest.mark.process

TOKEN = "crash-test-token-7e2b"
FLAKY = ["flaky-a", "flaky-b"]
REQUESTED = [f"requested-{i}" for i in range(8)]
BACKOFF = {"base": 1, "cap": 30, "jitter": 0}
# When to kill the daemon after its start, in seconds: before, during and after its first polls,
# with requested restarts queued and on the wire (each requested restart answers after 1.5 s).
KILL_AFTER = [0.3, 1.2, 2.0, 3.1, 0.8, 4.5]


def start_daemon(tmp_path: Path, config: Path, log: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": TEST_API_KEY,
           "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": TEST_API_SECRET, "WATCHDOG_SERVER__AUTH_TOKEN": TOKEN}
    with open(tmp_path / log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "watchdog", "run", "--config", str(config), "--log-format", "json"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)


def test_kill_9_at_any_point_neither_storms_nor_loses_a_request(tmp_path: Path) -> None:
    connectors = [{"name": n, "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 0.2}} for n in FLAKY]
    connectors += [{"name": n} for n in REQUESTED]
    slow = [{"match": {"endpoint": "restart", "connector": n}, "action": {"delay_seconds": 1.5}} for n in REQUESTED]
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(sim_scenario(connectors, restart={"delay_seconds": 0.2}, faults=slow)))
    sim_port, daemon_port = free_port(), free_port()
    state_path = tmp_path / "state.db"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(process_config(sim_port, daemon_port, state_path, [
        {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
         "select": {"include": ["flaky-*"]}, "backoff": BACKOFF},
        # Makes the requested connectors watched (the API restarts only those); it never fires here.
        {"name": "yearly", "trigger": {"type": "schedule", "cron": "0 0 1 1 *"}, "select": {"include": ["requested-*"]}},
    ], rate_limit={"max_concurrent_requests": 1})))
    simulator = subprocess.Popen([sys.executable, "-m", "watchdog", "simulate", "--scenario", str(tmp_path / "scenario.yaml"),
                                  "--port", str(sim_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{sim_port}/_sim/state")
        requested = iter(REQUESTED)
        asked: list[str] = []
        for round_, delay in enumerate(KILL_AFTER):
            daemon = start_daemon(tmp_path, config, f"daemon-{round_}.log")
            wait_for(f"http://127.0.0.1:{daemon_port}/healthz")
            for _ in range(2 if round_ % 2 else 1):
                name = next(requested, None)
                if name is not None:
                    response = httpx.post(f"http://127.0.0.1:{daemon_port}/v1/restarts", json={"cluster": "prod", "connector": name},
                                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
                    assert response.status_code == 202, response.text
                    asked.append(name)
            time.sleep(delay)
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)

        # A last, clean run: everything recovered is sent, then a graceful stop.
        daemon = start_daemon(tmp_path, config, "daemon-final.log")
        wait_for(f"http://127.0.0.1:{daemon_port}/readyz")
        time.sleep(8)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        calls = httpx.get(f"http://127.0.0.1:{sim_port}/_sim/calls").json()
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

    restarts: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        if call["endpoint"] == "restart":
            restarts[call["connector"]].append(call["t"])

    backoff = Backoff(**BACKOFF)
    for name in FLAKY:
        times = restarts[name]
        assert len(times) >= 2, f"{name} was restarted {len(times)} times"
        for n, (earlier, later) in enumerate(zip(times, times[1:]), start=1):
            # Timestamps come from two processes: allow 100 ms of clock and scheduling skew.
            assert later - earlier >= backoff_gap(n, backoff) - 0.1, f"{name}: restart {n + 1} inside the backoff"

    with SqliteStateStore(state_path, read_only=True) as store:
        assert store.pending() == [], "nothing accepted is left unsent"
        history = store.history(None, 10_000)
    for name in asked:
        ended = [r.outcome for r in history if r.key.connector == name]
        assert len(ended) == 1, f"{name}: one request, {ended} terminal outcomes"
        assert len(restarts[name]) <= 1, f"{name} was restarted {len(restarts[name])} times for one request"
        if ended == [Outcome.ACCEPTED]:
            assert len(restarts[name]) == 1
        else:
            assert ended == [Outcome.INTERRUPTED], f"{name}: {ended}"
    assert any(r.outcome is Outcome.ACCEPTED and r.key.connector in asked for r in history)
