"""Dependency direction (DESIGN.md): the pure decision modules import no edge module and no I/O
library, so they stay testable with nothing but values and an injected clock."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "watchdog"
PURE = ["model", "config", "rules", "policy", "ratelimit"]
EDGES = {"connect", "queue", "engine", "server", "app", "metrics", "state", "triggers", "cli", "demo", "simulator", "asgi_server"}
IO_LIBRARIES = {"httpx", "prometheus_client", "starlette", "uvicorn", "sqlite3", "structlog"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package
                names.add(f"watchdog.{base}" if base else "watchdog")
            else:
                names.add(base)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_edges(module: str) -> None:
    imports = imported_modules(PACKAGE / f"{module}.py")
    edges = {name for name in imports if name.startswith("watchdog.") and name.split(".")[1] in EDGES}
    io = {name for name in imports if name.split(".")[0] in IO_LIBRARIES}
    assert not edges, f"{module} imports edge modules {edges}"
    assert not io, f"{module} imports I/O libraries {io}"


def test_the_simulator_does_not_depend_on_the_daemon() -> None:
    for path in (PACKAGE / "simulator").rglob("*.py"):
        daemon = {name for name in imported_modules(path) if name.startswith("watchdog.") and not name.startswith(("watchdog.simulator", "watchdog.asgi_server"))}
        assert not daemon, f"{path.name} imports {daemon}"
