"""docs/reliability.md's fault table says what the daemon does under each fault and which metrics
show it; these tests keep every statement of it tied to a check that runs in the fault matrix.

- one row per fault case, no more, no fewer;
- every phrase of tests/faults/claims.py is in its case's row, word for word (its check runs with
  the case's other checks, so a phrase that stops being true fails the matrix);
- every number and every `quoted` name in the "what the daemon does" column is inside such a
  phrase, or is an outcome or label value the case's signals check;
- every metric series in the "metrics" column is one of the case's signals (the same labels, or
  fewer: a signal of a narrower series shows it too), and a stated value (`= 12`) is the value a
  signal of exactly that series requires.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .cases import ALL_CASES, FaultCase
from .claims import CLAIMS

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
CASES = {case.id: case for case in ALL_CASES}


def rows() -> dict[str, tuple[str, str]]:
    """case id -> (what the daemon does, the metrics that show it)."""
    found = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `([a-z0-9-]+)` \| (.*) \|$", line)
        if match:
            cells = match.group(2).split(" | ")
            assert len(cells) == 4, f"row {match.group(1)} has {len(cells) + 1} cells, not 5"
            found[match.group(1)] = (cells[2], cells[3])
    return found


ROWS = rows()


def test_every_fault_case_has_a_row_in_the_reliability_table() -> None:
    assert sorted(ROWS) == sorted(CASES)


def test_every_claim_belongs_to_a_case_and_is_in_its_row_word_for_word() -> None:
    assert set(CLAIMS) <= set(CASES)
    for case_id, claims in CLAIMS.items():
        does, metrics = ROWS[case_id]
        for claim in claims:
            assert claim.text in does or claim.text in metrics, f"{case_id}: the table no longer says {claim.text!r}"


def _uncovered(text: str, phrases: list[str], pattern: str) -> list[str]:
    """Matches of `pattern` in `text` that lie outside every occurrence of `phrases`."""
    covered: set[int] = set()
    for phrase in phrases:
        for found in re.finditer(re.escape(phrase), text):
            covered.update(range(found.start(), found.end()))
    return [m.group(0) for m in re.finditer(pattern, text) if m.start() not in covered]


def _signal_values(case: FaultCase) -> set[str]:
    return {value for signal in case.signals for value in signal.labels.values()} | {o.value for o in case.outcomes}


@pytest.mark.parametrize("case_id", sorted(ROWS))
def test_every_number_and_name_the_daemon_column_states_is_checked(case_id: str) -> None:
    does, _ = ROWS[case_id]
    phrases = [claim.text for claim in CLAIMS.get(case_id, ())]
    numbers = _uncovered(does, phrases, r"\d+(?:\.\d+)?")
    assert not numbers, f"{case_id}: numbers no check holds: {numbers} in {does!r}"
    names = [name.strip("`") for name in _uncovered(does, phrases, r"`[^`]+`")]
    unchecked = [name for name in names if name not in _signal_values(CASES[case_id])]
    assert not unchecked, f"{case_id}: names no check holds: {unchecked}"


METRIC = re.compile(r"`(watchdog_[a-z_]+)?(\{[^}]*\})?`(?: = (\d+))?")


@pytest.mark.parametrize("case_id", sorted(ROWS))
def test_every_metric_the_table_names_is_a_signal_of_its_case(case_id: str) -> None:
    _, metrics = ROWS[case_id]
    phrases = [claim.text for claim in CLAIMS.get(case_id, ())]
    covered = "".join(phrase for phrase in phrases if phrase in metrics)
    signals = CASES[case_id].signals
    name = None
    for found in METRIC.finditer(metrics):
        if found.group(0) in covered:
            continue
        metric, labels, value = found.groups()
        if metric is None and labels is None:
            continue  # a quoted word that is no series
        name = metric or name  # `{reason="..."}` continues the metric named before it
        assert name is not None, f"{case_id}: labels without a metric: {found.group(0)}"
        parsed = dict(re.findall(r'(\w+)="([^"]*)"', labels or ""))
        if value is not None:  # a stated value: a signal of exactly that series requires it
            exact = [s for s in signals if s.metric == name and s.labels == parsed]
            assert exact and exact[0].equals == float(value), f"{case_id}: the table says {found.group(0)}; no signal requires it"
        else:  # a signal of this series, or of a narrower one within it, must show it
            assert any(s.metric == name and parsed.items() <= s.labels.items() for s in signals), (
                f"{case_id}: the table names {found.group(0)}, which no signal of the case checks"
            )
