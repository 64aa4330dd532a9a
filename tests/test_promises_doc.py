"""docs/promises.md names, for each promise README makes, the test that fails if it breaks; every
test it names must exist, so that a renamed or deleted test cannot leave a promise unguarded."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "promises.md"


def test_every_test_the_promises_table_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = 0
    for row in (line for line in text.splitlines() if line.startswith("| ") and "`" in line):
        current: Path | None = None
        for reference in re.findall(r"`([^`]+)`", row):
            match = re.fullmatch(r"(tests/[\w/]+\.py)?(?:::(\w+))?", reference)
            if not match or not any(match.groups()):
                continue
            if match.group(1):
                current = ROOT / match.group(1)
                assert current.is_file(), f"docs/promises.md names {match.group(1)}, which does not exist"
            if match.group(2):
                assert current is not None, f"{reference} follows no file"
                source = current.read_text(encoding="utf-8")
                assert re.search(rf"^(async )?def {match.group(2)}\(", source, re.MULTILINE), (
                    f"docs/promises.md names {current.relative_to(ROOT)}::{match.group(2)}, which does not exist"
                )
                named += 1
    assert named >= 40, f"only {named} tests named"


def test_readme_links_the_promises_table() -> None:
    assert "(docs/promises.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
