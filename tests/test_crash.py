"""kill -9 at several points of a run, against the simulator's own record of calls.

The simulator runs as its own process and outlives every daemon. Between kills the test asks the
daemon's API for restarts of connectors no rule restarts by itself, so that each such connector
stands for exactly one accepted request. The kills are timed by what the simulator saw, not by
the clock: with a restart call on the wire (the simulator recorded its arrival and answers it
3 s later), right after the requests were accepted (queued), and after an answer. After the last
start the checks are:
- no failing connector was restarted before its backoff allowed it, across all the kills (the
  expected gaps come from the table in docs/configuration.md, not from the daemon's code);
- every accepted request ended exactly once: restarted once, or (killed with the call on the
  wire) reported as `interrupted`, never restarted twice; each one killed on the wire is
  `interrupted`, and there is at least one;
- nothing is left pending in the state file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from watchdog.model import Outcome
from watchdog.state import SqliteStateStore

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import process_config, sim_scenario
from .test_process import free_port, wait_for

pytestmark = pytest.mark.process

TOKEN = "crash-test-token-7e2b"
FLAKY = ["flaky-a", "flaky-b"]
BACKOFF = {"base": 1, "cap": 30, "jitter": 0}
# docs/configuration.md: the gap after the n-th restart is min(base * (n^2 + n), cap); with
# base 1 s, cap 30 s:
GAPS = [2, 6, 12, 20, 30]  # after restarts 1..5, then 30 s
ANSWER_DELAY = 3.0  # seconds the simulator takes to answer a requested restart
# Per start: the moment of the kill and how many restarts are asked for first.
#   wire: a requested restart's call arrived and is not answered yet;
#   accepted: right after the API accepted the requests (queued, perhaps just sent);
#   answered: once a requested restart was answered (the daemon's metrics count it).
ROUNDS = [("wire", 1), ("accepted", 2), ("wire", 1), ("answered", 2), ("wire", 1)]
REQUESTED = [f"requested-{i}" for i in range(sum(n for _, n in ROUNDS))]


def start_daemon(tmp_path: Path, config: Path, log: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": TEST_API_KEY,
           "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": TEST_API_SECRET, "WATCHDOG_SERVER__AUTH_TOKEN": TOKEN}
    with open(tmp_path / log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "watchdog", "run", "--config", str(config), "--log-format", "json"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)


def eventually(condition: Callable[[], object], what: str, timeout: float = 60.0, step: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(step)
    return value


def requested_calls(sim: str) -> list[str]:
    """The requested connectors' restart calls, in the order they arrived at the simulator."""
    return [c["connector"] for c in requested_call_records(sim)]


def requested_call_records(sim: str) -> list[dict[str, Any]]:
    """The simulator's records of those calls (`t`: when each arrived, on the simulator's clock)."""
    calls = httpx.get(f"{sim}/_sim/calls", timeout=5).json()
    return [c for c in calls if c["endpoint"] == "restart" and c["connector"] in REQUESTED]


def answered(daemon: str) -> float:
    text = httpx.get(f"{daemon}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("watchdog_restarts_total{") and 'connector="requested-' in line)


def test_kill_9_at_any_point_neither_storms_nor_loses_a_request(tmp_path: Path) -> None:
    connectors = [{"name": n, "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 0.2}} for n in FLAKY]
    connectors += [{"name": n} for n in REQUESTED]
    slow = [{"match": {"endpoint": "restart", "connector": n}, "action": {"delay_seconds": ANSWER_DELAY}} for n in REQUESTED]
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(sim_scenario(connectors, restart={"delay_seconds": 0.2}, faults=slow)))
    sim_port, daemon_port = free_port(), free_port()
    sim, daemon_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{daemon_port}"
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
        wait_for(f"{sim}/_sim/state")
        requested = iter(REQUESTED)
        asked: list[str] = []
        killed_on_the_wire: list[str] = []
        for round_, (moment, count) in enumerate(ROUNDS):
            daemon = start_daemon(tmp_path, config, f"daemon-{round_}.log")
            wait_for(f"{daemon_url}/healthz")
            seen = len(requested_calls(sim))
            for name in [next(requested) for _ in range(count)]:
                response = httpx.post(f"{daemon_url}/v1/restarts", json={"cluster": "prod", "connector": name},
                                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
                assert response.status_code == 202, response.text
                asked.append(name)
            if moment == "wire":
                eventually(lambda seen=seen: requested_calls(sim)[seen:], "a requested restart call arrived")
            elif moment == "answered":
                eventually(lambda: answered(daemon_url) >= 1, "a requested restart was answered", step=0.1)
            killed_at = httpx.get(f"{sim}/_sim/state", timeout=5).json()["t"]  # on the simulator's clock, as calls' `t`
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)
            if moment == "wire":
                # The call on the wire is the one that arrived less than an answer's delay before
                # the kill. Not "the first call seen": a restart recovered at this start may have
                # arrived and been answered before this test first looked (a loaded machine), and
                # the call after it was the one killed on the wire.
                on_the_wire = [c["connector"] for c in requested_call_records(sim)[seen:]
                               if killed_at - c["t"] < ANSWER_DELAY - 0.2]
                assert len(on_the_wire) <= 1, on_the_wire  # one worker: one call at a time
                killed_on_the_wire += on_the_wire

        # A last, clean run: everything recovered is sent, the flaky connectors restarted again
        # after their backoff, then a graceful stop.
        daemon = start_daemon(tmp_path, config, "daemon-final.log")
        wait_for(f"{daemon_url}/readyz")

        def settled() -> bool:
            with SqliteStateStore(state_path, read_only=True) as store:
                ended = {r.key.connector for r in store.history(None, 10_000)}
            flaky_restarts = [c for c in httpx.get(f"{sim}/_sim/calls", timeout=5).json()
                              if c["endpoint"] == "restart" and c["connector"] in FLAKY]
            return set(asked) <= ended and len(flaky_restarts) >= 2 * len(FLAKY)

        eventually(settled, "every request ended and each flaky connector restarted twice", timeout=90, step=0.5)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        calls = httpx.get(f"{sim}/_sim/calls").json()
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

    restarts: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        if call["endpoint"] == "restart":
            restarts[call["connector"]].append(call["t"])

    for name in FLAKY:
        times = restarts[name]
        assert len(times) >= 2, f"{name} was restarted {len(times)} times"
        for n, (earlier, later) in enumerate(zip(times, times[1:]), start=1):
            gap = GAPS[min(n, len(GAPS)) - 1]
            # Timestamps come from two processes: allow 100 ms of clock and scheduling skew.
            assert later - earlier >= gap - 0.1, f"{name}: restart {n + 1} {later - earlier:.2f} s after, inside the {gap} s backoff"

    with SqliteStateStore(state_path, read_only=True) as store:
        assert store.pending() == [], "nothing accepted is left unsent"
        history = store.history(None, 10_000)
    assert len(asked) == len(REQUESTED)
    for name in asked:
        ended = [r.outcome for r in history if r.key.connector == name]
        assert len(ended) == 1, f"{name}: one request, {ended} terminal outcomes"
        assert len(restarts[name]) <= 1, f"{name} was restarted {len(restarts[name])} times for one request"
        if ended == [Outcome.ACCEPTED]:
            assert len(restarts[name]) == 1
        else:
            assert ended == [Outcome.INTERRUPTED], f"{name}: {ended}"
    assert killed_on_the_wire, "at least one kill with a call on the wire"
    for name in killed_on_the_wire:
        ended = [r.outcome for r in history if r.key.connector == name]
        assert ended == [Outcome.INTERRUPTED], f"{name} was killed with its call on the wire, yet ended {ended}"
    assert any(r.outcome is Outcome.ACCEPTED and r.key.connector in asked for r in history)
