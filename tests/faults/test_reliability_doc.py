"""docs/reliability.md has one row per fault case, so the table cannot drift from the matrix."""

from __future__ import annotations

import re
from pathlib import Path

from .cases import ALL_CASES

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def test_every_fault_case_has_a_row_in_the_reliability_table() -> None:
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert sorted(rows) == sorted(case.id for case in ALL_CASES)
