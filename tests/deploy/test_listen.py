"""Where the daemon listens, as the kubelet, Prometheus, the image's HEALTHCHECK and the runbook
reach it: `server.host: "::"` answers on every address, IPv6 and IPv4 alike.

In an IPv6-only Kubernetes cluster the pod's address is IPv6: the kubelet's probes and Prometheus
ask it there, and the shipped 0.0.0.0 listens on IPv4 only. `::` listened on IPv6 only (asyncio
turns IPV6_V6ONLY on), so 127.0.0.1, which the image's HEALTHCHECK and the runbook's
`watchdog ... --daemon http://127.0.0.1:9464` ask, was refused: no setting served both."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

from ..support import cannot_run_here
from .live import Budget, free_port, start, start_simulator, stop_process
from .tools import DAEMON_CONFIG, DAEMON_SECRETS

pytestmark = pytest.mark.process


def _need_ipv6_loopback() -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        cannot_run_here("this machine has no IPv6 loopback (::1)")


def _daemon_env(simulator: str, host: str, port: int, state: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WATCHDOG_")}
    env.update({"WATCHDOG_API__BASE_URL": simulator, "WATCHDOG_SERVER__HOST": host,
                "WATCHDOG_SERVER__PORT": str(port), "WATCHDOG_STATE__PATH": str(state)})
    return env


def test_host_any_ipv6_answers_on_ipv6_and_on_127_0_0_1(tmp_path: Path) -> None:
    _need_ipv6_loopback()
    budget = Budget(60, "the test")
    simulator, simulator_url = start_simulator(tmp_path / "simulator.log", timeout=budget.left(20))
    port = free_port()
    daemon = start([sys.executable, "-m", "watchdog", "run", "--config", str(DAEMON_CONFIG),
                    "--secrets-dir", str(DAEMON_SECRETS)], tmp_path / "daemon.log",
                   env=_daemon_env(simulator_url, "::", port, tmp_path / "state.db"))
    try:
        budget.wait_until(lambda: httpx.get(f"http://[::1]:{port}/healthz", timeout=1).status_code == 200 or None,
                          30, "/healthz on [::1] (the pod's IPv6 address)", log=tmp_path / "daemon.log", alive=daemon)
        # What the image's HEALTHCHECK and the runbook's --daemon http://127.0.0.1:9464 ask.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
    finally:
        stop_process(daemon)
        stop_process(simulator)


def test_host_any_ipv6_on_a_port_taken_on_ipv4_stops_the_start_saying_so(tmp_path: Path) -> None:
    _need_ipv6_loopback()
    import subprocess

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "watchdog", "run", "--config", str(DAEMON_CONFIG),
                               "--secrets-dir", str(DAEMON_SECRETS), "--log-level", "ERROR"],
                              capture_output=True, text=True, timeout=60,
                              env=_daemon_env("http://127.0.0.1:9", "::", port, tmp_path / "state.db"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot listen on :::{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
