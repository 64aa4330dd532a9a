"""What docs/metrics.md promises about SIGTERM, against `watchdog run` and `watchdog simulate`
processes.

"On SIGTERM ... logs and counts the rest as `unsent` (they stay in the state file and go out at
the next start), lets a request already on the wire finish ...".

- Restarts left at SIGTERM: one tried twice and answered 429 both times (waiting out the second
  429's pause), one accepted while that pause holds the key and never tried. At the next start
  each goes out exactly once, and the state file holds exactly one terminal outcome per request
  (`unsent` is the stopped run's count of what it left for the next start; it is not a terminal
  outcome of the request and is not written to the history).
- A call on the wire at SIGTERM (the simulator answers it 8 s after it arrived) finishes: its
  answer is received and recorded, and the daemon exits 0 after it.
"""

from __future__ import annotations

import json
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from watchdog.model import Outcome, PendingPhase
from watchdog.signals import REPEATED_SIGNAL_SECONDS
from watchdog.state import SqliteStateStore

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import process_config, sim_scenario
from .test_process import free_port, processes, wait_for  # noqa: F401  (processes: a fixture)

pytestmark = pytest.mark.process

TOKEN = "shutdown-test-token-51c9"
WAITING, NEVER_TRIED, ON_THE_WIRE = "waiting", "never-tried", "on-the-wire"
ENV = {"WATCHDOG_CREDENTIALS__MAIN__API_KEY": TEST_API_KEY, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": TEST_API_SECRET,
       "WATCHDOG_SERVER__AUTH_TOKEN": TOKEN}


def eventually(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def restart_statuses(sim: str) -> dict[str, list[int]]:
    """Restart calls per connector, as the simulator recorded them on arrival."""
    calls = httpx.get(f"{sim}/_sim/calls", timeout=5).json()
    seen: dict[str, list[int]] = defaultdict(list)
    for call in calls:
        if call["endpoint"] == "restart":
            seen[call["connector"]].append(call["status_code"])
    return seen


def ask_restart(daemon: str, connector: str) -> None:
    response = httpx.post(f"{daemon}/v1/restarts", json={"cluster": "prod", "connector": connector},
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 202, response.text


def finished_events(log: Path) -> dict[str, list[str]]:
    outcomes: dict[str, list[str]] = defaultdict(list)
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"restart_finished"' in line:
            event = json.loads(line)
            outcomes[event["connector"]].append(event["outcome"])
    return outcomes


def start_simulator(tmp_path: Path, processes: Any, faults: list[dict[str, Any]]) -> str:  # noqa: F811
    connectors = [{"name": name} for name in (WAITING, NEVER_TRIED, ON_THE_WIRE)]
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(sim_scenario(connectors, faults=faults)))
    sim_port = free_port()
    processes("simulate", "--scenario", str(tmp_path / "scenario.yaml"), "--port", str(sim_port), log="simulator.log")
    wait_for(f"http://127.0.0.1:{sim_port}/_sim/state")
    return f"http://127.0.0.1:{sim_port}"


def write_config(tmp_path: Path, sim: str, **queue: float) -> tuple[Path, str]:
    daemon_port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(process_config(int(sim.rsplit(":", 1)[1]), daemon_port, tmp_path / "state.db", [
        # Makes the connectors watched (the API restarts only those); it never fires here.
        {"name": "yearly", "trigger": {"type": "schedule", "cron": "0 0 1 1 *"}, "select": {"include": ["*"]}},
    ], queue=queue)))
    return config, f"http://127.0.0.1:{daemon_port}"


def history(tmp_path: Path) -> dict[str, list[Outcome]]:
    ended: dict[str, list[Outcome]] = defaultdict(list)
    with SqliteStateStore(tmp_path / "state.db", read_only=True) as store:
        assert store.pending() == [], "nothing left pending"
        for record in store.history(None, 100):
            ended[record.key.connector].append(record.outcome)
    return ended


def test_restarts_unsent_at_sigterm_go_out_once_at_the_next_start(tmp_path: Path, processes) -> None:  # noqa: F811
    sim = start_simulator(tmp_path, processes, [
        # Two 429s for `waiting`: the first pauses the key for 1 s, the second for the rest of the run.
        {"match": {"endpoint": "restart", "connector": WAITING}, "when": {"count": 1},
         "action": {"status": 429, "headers": {"Retry-After": "1"}}},
        {"match": {"endpoint": "restart", "connector": WAITING}, "when": {"count": 1},
         "action": {"status": 429, "headers": {"Retry-After": "600"}}},
    ])
    config, daemon_url = write_config(tmp_path, sim, shutdown_deadline=1)

    first = processes("run", "--config", str(config), "--log-format", "json", env=ENV, log="first.log")
    wait_for(f"{daemon_url}/readyz", timeout=60)
    ask_restart(daemon_url, WAITING)
    eventually(lambda: restart_statuses(sim)[WAITING] == [429, 429], "two 429s for the waiting restart")
    ask_restart(daemon_url, NEVER_TRIED)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0
    assert finished_events(tmp_path / "first.log") == {WAITING: ["unsent"], NEVER_TRIED: ["unsent"]}
    assert restart_statuses(sim)[NEVER_TRIED] == [], "never tried in the first run"
    with SqliteStateStore(tmp_path / "state.db", read_only=True) as store:
        kept = {p.request.key.connector: p.phase for p in store.pending()}
    assert kept == {WAITING: PendingPhase.QUEUED, NEVER_TRIED: PendingPhase.QUEUED}, kept

    second = processes("run", "--config", str(config), "--log-format", "json", env=ENV, log="second.log")
    wait_for(f"{daemon_url}/readyz", timeout=60)
    eventually(lambda: len(finished_events(tmp_path / "second.log")) == 2, "both kept restarts finished")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0

    calls = restart_statuses(sim)
    assert calls[WAITING] == [429, 429, 202] and calls[NEVER_TRIED] == [202], f"each sent once more, once: {calls}"
    assert finished_events(tmp_path / "second.log") == {WAITING: ["accepted"], NEVER_TRIED: ["accepted"]}
    assert history(tmp_path) == {WAITING: [Outcome.ACCEPTED], NEVER_TRIED: [Outcome.ACCEPTED]}, "one outcome each"
    for log in ("first.log", "second.log"):
        assert "interrupted" not in (tmp_path / log).read_text()


def test_a_call_on_the_wire_at_sigterm_finishes(tmp_path: Path, processes) -> None:  # noqa: F811
    sim = start_simulator(tmp_path, processes, [
        {"match": {"endpoint": "restart", "connector": ON_THE_WIRE}, "action": {"delay_seconds": 8}},
    ])
    config, daemon_url = write_config(tmp_path, sim, shutdown_deadline=1, in_flight_grace=60)
    daemon = processes("run", "--config", str(config), "--log-format", "json", env=ENV, log="daemon.log")
    wait_for(f"{daemon_url}/readyz", timeout=60)
    ask_restart(daemon_url, ON_THE_WIRE)
    eventually(lambda: restart_statuses(sim)[ON_THE_WIRE], "the restart call arrived at the simulator")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=60) == 0
    assert finished_events(tmp_path / "daemon.log") == {ON_THE_WIRE: ["accepted"]}, "its 202 was received"
    assert history(tmp_path) == {ON_THE_WIRE: [Outcome.ACCEPTED]}
    assert restart_statuses(sim)[ON_THE_WIRE] == [202]


def test_a_second_signal_cuts_the_drain_short(tmp_path: Path, processes) -> None:  # noqa: F811
    # With queue.shutdown_deadline and in_flight_grace of a minute each, a second Ctrl-C did
    # nothing: the terminal waited out the call on the wire (here 20 s), up to two minutes in all,
    # without a word. Now it ends the drain: the call on the wire ends `interrupted` (it may have
    # reached the API, so it is not sent again), as at the end of the grace.
    sim = start_simulator(tmp_path, processes, [
        {"match": {"endpoint": "restart", "connector": ON_THE_WIRE}, "action": {"delay_seconds": 20}},
    ])
    config, daemon_url = write_config(tmp_path, sim, shutdown_deadline=60, in_flight_grace=60)
    daemon = processes("run", "--config", str(config), "--log-format", "json", env=ENV, log="daemon.log")
    wait_for(f"{daemon_url}/readyz", timeout=60)
    ask_restart(daemon_url, ON_THE_WIRE)
    eventually(lambda: restart_statuses(sim)[ON_THE_WIRE], "the restart call arrived at the simulator")
    daemon.send_signal(signal.SIGINT)
    eventually(lambda: '"event": "stopping"' in (tmp_path / "daemon.log").read_text(), "the stop began")
    # Not at once: a second signal within REPEATED_SIGNAL_SECONDS is the first delivered twice
    # (tests/test_stop_signal_repeated.py).
    time.sleep(REPEATED_SIGNAL_SECONDS)
    daemon.send_signal(signal.SIGINT)  # Ctrl-C again
    assert daemon.wait(timeout=10) == 0, "the drain was not cut short"
    assert '"event": "stop_hurried"' in (tmp_path / "daemon.log").read_text()
    assert finished_events(tmp_path / "daemon.log") == {ON_THE_WIRE: ["interrupted"]}
    assert history(tmp_path) == {ON_THE_WIRE: [Outcome.INTERRUPTED]}


def test_sigterm_during_a_once_pass_drains_as_the_daemon_does_and_exits_1(tmp_path: Path, processes) -> None:  # noqa: F811
    # `watchdog run --once` (a CronJob stopped, a script's timeout) took SIGTERM's default: killed
    # where it stood, exit 143, no `stopped` line, the call on the wire left for the next start to
    # report interrupted. Now its call finishes within the grace, as the daemon's would, and the
    # pass cut short exits 1.
    connectors = [{"name": ON_THE_WIRE, "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    faults = [{"match": {"endpoint": "restart", "connector": ON_THE_WIRE}, "action": {"delay_seconds": 3}}]
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(sim_scenario(connectors, faults=faults)))
    sim_port = free_port()
    processes("simulate", "--scenario", str(tmp_path / "scenario.yaml"), "--port", str(sim_port), log="simulator.log")
    sim = f"http://127.0.0.1:{sim_port}"
    wait_for(f"{sim}/_sim/state")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(process_config(sim_port, free_port(), tmp_path / "state.db", [
        {"name": "heal", "trigger": {"type": "status", "interval": "30s", "confirm_polls": 1}, "select": {"include": ["*"]}},
    ], queue={"shutdown_deadline": 1, "in_flight_grace": 30})))
    once = processes("run", "--once", "--config", str(config), "--log-format", "json", env=ENV, log="once.log")
    eventually(lambda: restart_statuses(sim)[ON_THE_WIRE], "the restart call arrived at the simulator")
    once.send_signal(signal.SIGTERM)
    assert once.wait(timeout=30) == 1, "a pass cut short is no success, and no kill either"
    log = (tmp_path / "once.log").read_text()
    assert '"event": "once_interrupted"' in log and '"event": "stopped"' in log
    assert finished_events(tmp_path / "once.log") == {ON_THE_WIRE: ["accepted"]}, "its 202 was received"
    assert history(tmp_path) == {ON_THE_WIRE: [Outcome.ACCEPTED]}
