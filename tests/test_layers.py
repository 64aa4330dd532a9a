"""Dependency direction (DESIGN.md): the pure decision modules import no edge module and no I/O
library, so they stay testable with nothing but values and an injected clock."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "watchdog"
PURE = ["model", "config", "rules", "policy", "ratelimit", "windows", "breaker", "stall"]
EDGES = {"connect", "queue", "engine", "server", "app", "metrics", "state", "triggers", "cli", "demo", "simulator", "asgi_server",
         "leadership"}
IO_LIBRARIES = {"httpx", "prometheus_client", "starlette", "uvicorn", "sqlite3", "structlog", "psycopg"}


def imported_modules(path: Path) -> set[str]:
    # The dotted name of the package the file lives in, to resolve relative imports against:
    # watchdog/config/rules.py is in watchdog.config, watchdog/rules.py in watchdog.
    package = ".".join(path.relative_to(PACKAGE.parent).parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                resolved = f"{parent}.{base}" if base else parent
                names.add(resolved)
                if not base:  # `from . import x`: x may be a module
                    names.update(f"{parent}.{alias.name}" for alias in node.names)
            else:
                names.add(base)
    return names


def module_files(module: str) -> list[Path]:
    """A pure module is one file or a package; every file of a package must be pure."""
    single = PACKAGE / f"{module}.py"
    return [single] if single.exists() else sorted((PACKAGE / module).rglob("*.py"))


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_edges(module: str) -> None:
    files = module_files(module)
    assert files, f"no source for pure module {module}"
    for path in files:
        imports = imported_modules(path)
        edges = {name for name in imports if name.startswith("watchdog.") and name.split(".")[1] in EDGES}
        io = {name for name in imports if name.split(".")[0] in IO_LIBRARIES}
        where = path.relative_to(PACKAGE.parent)
        assert not edges, f"{where} imports edge modules {edges}"
        assert not io, f"{where} imports I/O libraries {io}"


def test_the_simulator_does_not_depend_on_the_daemon() -> None:
    for path in (PACKAGE / "simulator").rglob("*.py"):
        daemon = {name for name in imported_modules(path) if name.startswith("watchdog.") and not name.startswith(("watchdog.simulator", "watchdog.asgi_server"))}
        assert not daemon, f"{path.name} imports {daemon}"
