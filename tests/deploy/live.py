"""Processes for the live deploy checks: the simulator, the daemon, Prometheus, all on 127.0.0.1
at free ports, each stopped by its own pid when the check ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from bench.processes import free_port

T = TypeVar("T")


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, *, log: Path | None = None,
               alive: subprocess.Popen[bytes] | None = None, interval: float = 0.2) -> T:
    """Call probe until it returns something other than None (connection errors count as None)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = probe()
        except (httpx.HTTPError, OSError):
            result = None
        if result is not None:
            return result
        if alive is not None and alive.poll() is not None:
            pytest.fail(f"waiting for {what}: the process exited with {alive.returncode}\n{_tail(log)}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g}s for {what}\n{_tail(log)}", pytrace=False)
        time.sleep(interval)


class Budget:
    """One deadline shared by several waits, so that their sum stays inside the test timeout
    (pytest's 120 s, which counts a fixture's setup too): each wait gets at most what is left,
    and running out fails with what was being waited for, not with pytest-timeout's kill."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what
        self._deadline = time.monotonic() + seconds

    def left(self, at_most: float | None = None) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"{self.what} took longer than its {self.seconds:g}s budget", pytrace=False)
        return left if at_most is None else min(left, at_most)

    def wait_until(self, probe: Callable[[], T | None], timeout: float, what: str, **kwargs: Any) -> T:
        return wait_until(probe, self.left(timeout), f"{what} ({self.what}: {self.seconds:g}s budget)", **kwargs)


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM the process we started, then SIGKILL it if it does not go."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def start_simulator(log: Path, timeout: float = 20) -> tuple[subprocess.Popen[bytes], str]:
    """`watchdog simulate` with the built-in demo scenario (the playground's simulator)."""
    port = free_port()
    proc = start([sys.executable, "-m", "watchdog", "simulate", "--host", "127.0.0.1", "--port", str(port)], log,
                 env={**os.environ})
    base_url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{base_url}/_sim/state", timeout=1).status_code == 200 or None, timeout,
               "the simulator", log=log, alive=proc)
    return proc, base_url
