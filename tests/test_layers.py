"""Dependency direction (DESIGN.md, README's "Development"): the pure decision modules import no
other module of the package and no I/O library, directly or through another module, so they stay
testable with nothing but values and an injected clock.

The rule itself is an import-linter contract in pyproject.toml (`[tool.importlinter]`): it builds
the package's import graph (relative imports resolved, `from . import engine` included) and fails
on any chain from a pure module to a forbidden one. These tests run it and keep it honest: its
pure modules are exactly the ones README names, every other module of the package is forbidden to
them, and a probe import in a copy of the package is caught.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "watchdog"
# import-linter's `lint-imports` command, run by this interpreter wherever its script was installed.
LINT_IMPORTS = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"]
# What the simulator may use besides itself: the plumbing that runs an ASGI app and sets up logs.
SIMULATOR_MAY_USE = {"watchdog.asgi_server", "watchdog.listening", "watchdog.logs"}


def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def readme_pure_modules() -> set[str]:
    """The modules README's Development section calls pure, as dotted names."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"Pure decision modules import no\s+I/O(.*?)The edges:", readme, re.S)
    assert match, "README no longer has the sentence naming the pure modules"
    names = re.findall(r"`([a-z_]+)/?`", match.group(1))
    assert names, "README's pure-module sentence names no module"
    return {f"watchdog.{name}" for name in names}


def package_modules() -> set[str]:
    """Every top-level module and subpackage of watchdog, as dotted names."""
    found = set()
    for path in PACKAGE.iterdir():
        if path.suffix == ".py" and path.stem != "__init__":
            found.add(f"watchdog.{path.stem}")
        elif path.is_dir() and (path / "__init__.py").exists():
            found.add(f"watchdog.{path.name}")
    return found


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with this repo's contracts over the package found under `root`."""
    return subprocess.run(
        [*LINT_IMPORTS, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=100,
    )


def test_the_contract_checks_every_module_readme_calls_pure() -> None:
    pure = readme_pure_modules()
    # README's list as of this writing; a module dropped from README must be a decision, not a typo.
    assert {"watchdog.model", "watchdog.config", "watchdog.rules", "watchdog.policy", "watchdog.ratelimit",
            "watchdog.windows", "watchdog.breaker", "watchdog.stall"} <= pure
    assert set(contracts()["pure"]["source_modules"]) == pure
    assert pure <= package_modules(), f"README names modules that do not exist: {pure - package_modules()}"


def test_every_other_module_of_the_package_is_forbidden_to_the_pure_ones() -> None:
    forbidden = set(contracts()["pure"]["forbidden_modules"])
    others = package_modules() - set(contracts()["pure"]["source_modules"])
    assert others - forbidden == set(), "modules a pure module could import unchecked"
    assert {"httpx", "prometheus_client", "starlette", "uvicorn", "sqlite3", "structlog", "psycopg"} <= forbidden


def test_every_daemon_module_is_forbidden_to_the_simulator() -> None:
    forbidden = set(contracts()["simulator"]["forbidden_modules"])
    others = package_modules() - {"watchdog.simulator"} - SIMULATOR_MAY_USE
    assert others - forbidden == set()


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


# Imports a pure module must not have, each in the form a reader might miss: relative to the
# module's package, from a package's submodule, an I/O library, and a chain through a module that
# is not pure.
PROBES = [
    ("policy.py", "from . import engine", "watchdog.policy -> watchdog.engine"),
    ("stall.py", "from .api import create_api", "watchdog.stall -> watchdog.api"),
    ("windows/sets.py", "from ..queue import RestartQueue", "watchdog.windows.sets -> watchdog.queue"),
    ("config/types.py", "import httpx", "watchdog.config.types -> httpx"),
    ("rules.py", "from .plan import Plan", "watchdog.rules -> watchdog.plan"),
]


@pytest.mark.parametrize(("file", "line", "reported"), PROBES, ids=[p[1] for p in PROBES])
def test_a_probe_import_in_a_pure_module_is_caught(tmp_path: Path, file: str, line: str, reported: str) -> None:
    shutil.copytree(PACKAGE, tmp_path / "watchdog", ignore=shutil.ignore_patterns("__pycache__"))
    probed = tmp_path / "watchdog" / file
    probed.write_text(probed.read_text() + f"\n{line}  # probe\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "Contracts: 1 kept, 1 broken." in result.stdout
    assert reported in result.stdout, result.stdout
