"""Real processes on loopback: `watchdog simulate` and `watchdog run`, as they run in production.

Each is started with `python -m watchdog`, its output goes to a log file in a temporary folder,
and `Processes` ends every process it started, by its id, when the benchmark is done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from . import fixtures

TOKEN = "bench-webhook-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ok(url: str, timeout: float = 60.0, poll: float = 0.01) -> float:
    """Seconds until `url` answered 200 (polling every `poll` s); AssertionError after `timeout`.

    A new connection for every ask, as a kubelet probes.
    """
    started = time.monotonic()
    while True:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{url} did not answer 200 within {timeout:g}s")
        time.sleep(poll)


def daemon_env(token: str | None = TOKEN) -> dict[str, str]:
    env = {
        **os.environ,
        "WATCHDOG_CREDENTIALS__MAIN__API_KEY": fixtures.API_KEY,
        "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": fixtures.API_SECRET,
    }
    if token is not None:
        env["WATCHDOG_SERVER__AUTH_TOKEN"] = token
    return env


class Processes:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, log: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.folder / log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT, env=env or dict(os.environ)
            )
        self._started.append(proc)
        return proc

    def simulator(self, scenario: dict[str, Any]) -> str:
        """Serve `scenario` with `watchdog simulate`; returns its base URL once it answers."""
        path = self.folder / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
        port = free_port()
        self.start("watchdog", "simulate", "--scenario", str(path), "--port", str(port), log="simulator.log")
        url = f"http://127.0.0.1:{port}"
        wait_until_ok(f"{url}/_sim/state")
        return url

    def write_config(self, config: dict[str, Any], name: str = "config.yaml") -> Path:
        path = self.folder / name
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    def daemon(self, config: dict[str, Any], *, token: str | None = TOKEN) -> tuple[subprocess.Popen[bytes], str]:
        """Start `watchdog run`; returns the process and its base URL (not yet waited for)."""
        path = self.write_config(config)
        port = config["server"]["port"]
        proc = self.start("watchdog", "run", "--config", str(path), "--log-format", "json", "--log-level", "WARNING",
                          log="daemon.log", env=daemon_env(token))
        return proc, f"http://127.0.0.1:{port}"

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
        return stop_process(proc, timeout)

    def stop_all(self) -> None:
        for proc in reversed(self._started):
            self.stop(proc)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


@contextlib.contextmanager
def processes() -> Iterator[Processes]:
    with tempfile.TemporaryDirectory(prefix="watchdog-bench-") as folder:
        started = Processes(Path(folder))
        try:
            yield started
        finally:
            started.stop_all()


def rss_kib(pid: int) -> int:
    """Resident memory of a process now (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")
