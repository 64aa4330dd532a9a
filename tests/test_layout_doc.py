"""The map a newcomer reads first stays true: README's layout paragraph ("Layout and vocabulary
follow") names every top-level module and package of `watchdog`, and every package's
`__init__.py` docstring names each of its files (bench's: each benchmark `python -m bench` runs,
and each module). A module added without a word there, or one renamed or removed while the text
still names it, fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "watchdog"
# Files a package's docstring does not list yet, each with why. A listed file here fails the test
# below, so this set can only shrink.
NOT_YET_LISTED: set[str] = set()


def layout_paragraph() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"Layout and vocabulary follow.*?\n\n", readme, re.S)
    assert match, "README no longer has its layout paragraph"
    return match.group(0)


def test_readme_layout_names_every_top_level_module_and_package() -> None:
    text = layout_paragraph()
    named = set(re.findall(r"`([a-z_]+)(?:/|\.py)?`", text)) | set(re.findall(r"`([a-z_]+)/", text))
    present = {p.stem for p in PACKAGE.glob("*.py") if not p.name.startswith("__")}
    present |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert sorted(present - named) == []


def test_readme_layout_names_no_module_that_is_gone() -> None:
    text = layout_paragraph()
    for path in re.findall(r"`([a-z_]+/[a-z_]+)`", text):  # leadership/host and the like
        assert (PACKAGE / f"{path}.py").is_file(), path


def test_every_package_docstring_lists_its_files() -> None:
    unlisted, listed_anyway, named_but_gone = [], [], []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        if init.parent == PACKAGE:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        for module in sorted(init.parent.glob("*.py")):
            if module.name == "__init__.py":
                continue
            relative = str(module.relative_to(ROOT))
            listed = re.search(rf"(?<![\w/]){re.escape(module.name)}\b", doc) is not None
            if not listed and relative not in NOT_YET_LISTED:
                unlisted.append(relative)
            if listed and relative in NOT_YET_LISTED:
                listed_anyway.append(relative)
        # The file lists' own entries: an indented line starting with a file name (or several).
        for line in doc.splitlines():
            entry = re.match(r"\s{4}([a-z_]+\.py(?:, [a-z_]+\.py)*)", line)
            for name in entry.group(1).split(", ") if entry else ():
                if not (init.parent / name).is_file():
                    named_but_gone.append(f"{init.relative_to(ROOT)}: {name}")
    assert unlisted == [], "add each to its package's docstring, with its one job"
    assert listed_anyway == [], "listed now: remove it from NOT_YET_LISTED"
    assert named_but_gone == []


def test_bench_docstring_names_every_benchmark_and_module() -> None:
    from bench.__main__ import BENCHMARKS

    doc = ast.get_docstring(ast.parse((ROOT / "bench" / "__init__.py").read_text())) or ""
    listed = set(re.findall(r"^\s{4}([a-z_]+)(?:\.py)?\s", doc, re.M))
    modules = {p.stem for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("__")}
    mentioned = {name for name in modules if re.search(rf"\b{name}(\.py)?\b", doc)}
    assert sorted(set(BENCHMARKS) - listed) == []
    assert sorted(modules - mentioned) == []
