"""Replicas of the daemon as real processes, sharing a real PostgreSQL (bench/postgres.py), against
a simulator process: what the high-availability tests (tests/test_ha.py, tests/test_ha_discovery.py)
and the failover benchmark (bench/failover.py) start and watch. It lives in `bench` so that the
benchmark need not import the test tree.

Each replica uses its own API key (both valid in the simulator), so the simulator's call record
says which replica sent each call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from .postgres import PostgresServer
from .processes import free_port

# The simulated cluster of this world: its scenario and its replicas' config both name it (the
# same names as tests/support.py's, for a reader of the logs; nothing requires them to match).
ENVIRONMENT = "env-abc123"
CLUSTER_ID = "lkc-prod01"
CLUSTER = "prod"

TOKEN = "ha-test-token-4f1c9a"
KEYS = {"a": ("KEYREPLICAA00001", "secret-replica-a-Qx81"), "b": ("KEYREPLICAB00002", "secret-replica-b-Zr55")}
# Short, so that the tests run in seconds; consistent with the config's rules (margin 1 s).
LEASE = {"lease_duration": 3, "renew_deadline": 2, "renew_interval": 0.5}


def wait_until(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(every)


def scenario(connectors: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    return {
        "api_keys": [{"id": key, "secret": secret} for key, secret in KEYS.values()],
        "environments": [{"id": ENVIRONMENT, "clusters": [{"id": CLUSTER_ID, "connectors": connectors}]}],
        **settings,
    }


@dataclass
class Replica:
    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    key: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str) -> float | None:
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=2).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        return None

    def leading(self) -> bool:
        return self.metric("watchdog_leader") == 1.0

    def ready(self) -> int | None:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code
        except httpx.HTTPError:
            return None

    def readiness(self) -> dict[str, Any]:
        """The body of /readyz ({} when it cannot be read)."""
        try:
            body = httpx.get(f"{self.url}/readyz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return {}
        return body if isinstance(body, dict) else {}

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                event = json.loads(line)
                if name is None or event.get("event") == name:
                    found.append(event)
        return found


@dataclass
class HaWorld:
    """A simulator, a PostgreSQL database and two replicas `a` and `b` with one config."""

    tmp: Path
    server: PostgresServer
    database_url: str
    rules: list[dict[str, Any]]
    sim_port: int = field(default_factory=free_port)
    settings: dict[str, Any] = field(default_factory=dict)
    # The replicas' lease timing; None: LEASE (read when a replica starts: bench/failover.py sets it).
    lease: dict[str, float] | None = None
    simulator: subprocess.Popen[bytes] | None = None
    replicas: dict[str, Replica] = field(default_factory=dict)

    def start_simulator(self, data: dict[str, Any]) -> None:
        (self.tmp / "scenario.yaml").write_text(yaml.safe_dump(data))
        self.simulator = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "simulate", "--scenario", str(self.tmp / "scenario.yaml"),
             "--port", str(self.sim_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._get("/_sim/state") is not None, 20, "the simulator answers")

    def config(self, port: int) -> Path:
        data = {
            "api": {"base_url": f"http://127.0.0.1:{self.sim_port}"},
            "credentials": {"main": {}},
            "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
            "server": {"host": "127.0.0.1", "port": port},
            "state": {"url": self.database_url, "leader_election": self.lease or LEASE},
            "reload": {"watch": False},
            "rules": self.rules,
            **self.settings,
        }
        path = self.tmp / f"config-{port}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    def start(self, name: str) -> Replica:
        replica = self.replicas.get(name) or Replica(name, free_port(), self.tmp / f"replica-{name}.log", key=KEYS[name][0])
        key, secret = KEYS[name]
        env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": key, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": secret,
               "WATCHDOG_SERVER__AUTH_TOKEN": TOKEN, "WATCHDOG_STATE__PASSWORD": self.server.password.get_secret_value(),
               "HOSTNAME": f"replica-{name}"}
        with open(replica.log, "ab") as out:
            replica.process = subprocess.Popen(
                [sys.executable, "-m", "watchdog", "run", "--config", str(self.config(replica.port)), "--log-format", "json"],
                stdout=out, stderr=subprocess.STDOUT, env=env)
        self.replicas[name] = replica
        process = replica.process

        def serving() -> bool:
            assert process.poll() is None, f"replica {name} exited: {replica.log.read_text()[-2000:]}"
            return replica.metric("watchdog_leader") is not None

        wait_until(serving, 30, f"replica {name} serves /metrics")
        return replica

    def leader(self, timeout: float = 15.0) -> Replica:
        found: list[Replica] = []

        def one_leads() -> bool:
            found[:] = [r for r in self.replicas.values() if r.process and r.process.poll() is None and r.leading()]
            return len(found) == 1

        wait_until(one_leads, timeout, "exactly one replica leads")
        return found[0]

    def other(self, replica: Replica) -> Replica:
        return next(r for r in self.replicas.values() if r is not replica)

    def sim_time(self) -> float:
        state = self._get("/_sim/state")
        assert state is not None
        return float(state["t"])

    def calls(self) -> list[dict[str, Any]]:
        calls = self._get("/_sim/calls")
        assert calls is not None
        return list(calls)

    def restarts(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["endpoint"] == "restart"]

    def request_restart(self, replica: Replica, connector: str, client: httpx.Client) -> httpx.Response:
        return client.post(f"{replica.url}/v1/restarts", json={"cluster": CLUSTER, "connector": connector},
                           headers={"Authorization": f"Bearer {TOKEN}"})

    def _get(self, path: str) -> Any:
        try:
            return httpx.get(f"http://127.0.0.1:{self.sim_port}{path}", timeout=10).json()
        except httpx.HTTPError:
            return None

    def stop(self) -> None:
        for replica in self.replicas.values():
            process = replica.process
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        if self.simulator is not None:
            self.simulator.terminate()
            self.simulator.wait(timeout=10)

    def tails(self) -> str:
        return "\n".join(f"--- replica {r.name}:\n" + "\n".join(r.log.read_text(errors="replace").splitlines()[-25:])
                         for r in self.replicas.values() if r.log.exists())
