"""Real Prometheus and Alertmanager on 127.0.0.1, in temporary directories, for the e2e tests.

The binaries come from Debian's `prometheus` and `prometheus-alertmanager` packages, which
`scripts/install-test-tools.sh` installs (`make test` runs it). A missing binary fails the test
with that instruction: an end-to-end test that silently skips proves nothing.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from bench.processes import free_port

T = TypeVar("T")

PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        raise AssertionError(f"{name} is not installed: run scripts/install-test-tools.sh (make test does)")
    return path


class Service:
    """One external process with its own temp dir, a port on loopback, and its log file."""

    def __init__(self, name: str, command: list[str], port: int, workdir: Path) -> None:
        self.name, self.port, self.workdir = name, port, workdir
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir)

    async def ready(self, timeout: float = 20.0) -> None:
        async def check() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log()[-2000:]}")
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"{self.url}/-/ready", timeout=1)).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(check, timeout, f"{self.name} did not become ready")

    def log(self) -> str:
        return (self.workdir / f"{self.name}.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_prometheus(workdir: Path, config: dict[str, Any], rules: dict[str, Any]) -> Service:
    (workdir / "rules.yml").write_text(yaml.safe_dump(rules))
    config = {**config, "rule_files": [str(workdir / "rules.yml")]}
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    return Service("prometheus", [
        binary(PROMETHEUS), f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # Alerts that fire before Prometheus has discovered Alertmanager (its discovery updates
        # come every 5 s) are otherwise re-sent only after the default one-minute resend delay.
        "--rules.alert.resend-delay=1s",
    ], port, workdir)


def start_alertmanager(workdir: Path, config: dict[str, Any], port: int | None = None) -> Service:
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = port or free_port()
    return Service("alertmanager", [
        binary(ALERTMANAGER), f"--config.file={workdir / 'alertmanager.yml'}", f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",  # no HA gossip port
    ], port, workdir)


async def eventually(check: Callable[[], Awaitable[T]], timeout: float, message: str, interval: float = 0.2) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{message} within {timeout:g}s")
        await asyncio.sleep(interval)
