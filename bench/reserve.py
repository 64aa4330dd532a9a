"""Benchmark 1b: `reserve` on a key shared with another tool, headers on every answer.

docs/configuration.md ("Rate limits") tells a user whose key another tool also uses to set
`reserve` to that tool's share: with headers on every answer the daemon spends a `Remaining` as
the server allows, and the other tool, which no answer of ours shows before it lands, may find it
spent. This measures what that advice buys and costs on each of the six algorithms, at both
limits of benchmark 1: 5,000 restarts on virtual time, the other tool sending a third of the
limit evenly (bench/budget.py's cases), with `reserve` 0, 1 and that third.

Targets, for `reserve` at the other tool's share: no 429 for the daemon or for the other tool,
and at least 0.9 of what the other tool leaves (issue 10's shared target).
"""

from __future__ import annotations

from dataclasses import replace

from watchdog.simulator.ratelimit import ALGORITHMS

from . import fixtures
from .budget import BACKLOGS, LATENCY, OTHER, SETTINGS
from .ratelab import Case, Measured, run_daemon
from .report import emit, run_cases, table, verdict


def their_share(limit: int) -> int:
    return round(limit * OTHER[0][1])


def cases() -> list[Case]:
    found = []
    for limit, window in SETTINGS:
        for algorithm in ALGORITHMS:
            base = Case(algorithm, "always", limit, window, BACKLOGS[-1], latency=LATENCY, others=OTHER)
            found += [replace(base, reserve=reserve) for reserve in (0, 1, their_share(limit))]
    return found


def run_case(case: Case) -> Measured:
    fixtures.quiet_logs()
    return run_daemon(case)


def targeted(case: Case) -> bool:
    """Only rows with `reserve` at the other tool's share have targets."""
    return case.reserve == their_share(case.limit)


def misses(measured: Measured) -> list[str]:
    """The targets a targeted row misses."""
    found = []
    if measured.refused:
        found.append(f"{measured.refused} 429s (target 0)")
    if measured.other_refused:
        found.append(f"other tool refused {measured.other_refused} times (target 0)")
    if measured.use_of_left < 0.9:
        found.append(f"used {measured.use_of_left:.3f} of what the other tool left (target >= 0.9)")
    return found


NOTES = [
    "429s: the daemon's refused requests; other's 429s: the other tool's. of what the other tool leaves: the",
    "daemon's admitted requests per full window / (the limit less the other tool's), mean over every window but",
    "the first and last. time / ideal as in benchmark 1. Targets, for reserve at the other tool's share only:",
    "0 x 429 for either, and >= 0.9 of what the other tool leaves.",
]


def main() -> int:
    measured = run_cases("reserve", run_case, cases())
    lines, verdicts = [], []
    for m in measured:
        targets = ""
        if targeted(m.case):
            missed = misses(m)
            verdicts.append(not missed)
            targets = verdict(missed)
        lines.append([f"{m.case.limit} per {m.case.window:g} s", m.case.algorithm, m.case.reserve, m.refused,
                      f"{m.use_of_left:.3f}", m.other_refused, f"{m.ratio:.3f}", targets])
    emit(table(
        f"Reserve on a shared key: headers on every answer, another tool using a third of the limit, "
        f"{BACKLOGS[-1]} restarts, {LATENCY[0]:g}-{LATENCY[1]:g} s latency",
        ["limit", "algorithm", "reserve", "429s", "of what the other tool leaves", "other's 429s", "time / ideal",
         "targets"],
        lines, notes=NOTES,
    ))
    emit(f"Targets: {sum(verdicts)} of {len(verdicts)} rows met.\n")
    return 0 if all(verdicts) else 1
