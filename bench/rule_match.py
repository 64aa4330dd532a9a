"""Benchmark 9: which rule's globs first match a connector name, three ways, in the same run.

Every poll asks it of each connector a cluster lists the first time the config sees it, and every
reload of each connector watched or shown (rules.StatusOwners, rules.RuleSelection). Three ways:
the index the daemon uses (rule_index.GlobIndex: each glob filed by its literal prefix, or for a
`*`-led glob its literal suffix), one compiled alternation of every rule's globs (what the index
was until 2026-12-02: Python's `re` tries the branches in turn), and rule by rule (fnmatchcase
on each rule's globs, the definition). Configs of team rules, each with one glob, before a
catch-all `*`, in three shapes: `team-N-*` (a literal prefix), `*-team-N` (a literal suffix)
and `*team-N*` (neither: every glob is tried, as rule by rule). 3,000 names: 2,000 that only the
catch-all selects, 1,000 of the teams'. Microseconds per name, median of RUNS passes; the
index's build (and the alternation's compile) once per config, in milliseconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase, translate
from typing import TypeVar

from watchdog.rule_index import GlobIndex

from .report import emit, median, progress, table

T = TypeVar("T")
RUNS = 3
SIZES = (150, 1500)
SHAPES = {"prefix": "team-{i}-*", "suffix": "*-team-{i}", "infix": "*team-{i}*"}
NAMES = 3000


def team_name(shape: str, i: int) -> str:
    return {"prefix": f"team-{i}-sink", "suffix": f"sink-team-{i}", "infix": f"x-team-{i}-y"}[shape]


def globs_of(shape: str, rules: int) -> list[list[str]]:
    return [[SHAPES[shape].format(i=i)] for i in range(rules)] + [["*"]]


def names_of(shape: str, rules: int) -> list[str]:
    teams = [team_name(shape, i * rules // 1000) for i in range(1000)]
    return [f"c{i:05d}" for i in range(NAMES - len(teams))] + teams


def alternation(globs: Sequence[Sequence[str]]) -> Callable[[str], int | None]:
    """The index as it was: one expression, a named group per rule."""
    expression = re.compile("|".join(f"(?P<r{i}>{'|'.join(translate(p) for p in patterns)})"
                                     for i, patterns in enumerate(globs)))

    def first(name: str) -> int | None:
        found = expression.match(name)
        return None if found is None or found.lastgroup is None else int(found.lastgroup[1:])

    return first


def rule_by_rule(globs: Sequence[Sequence[str]]) -> Callable[[str], int | None]:
    def first(name: str) -> int | None:
        return next((i for i, patterns in enumerate(globs) if any(fnmatchcase(name, p) for p in patterns)), None)

    return first


def per_name(first: Callable[[str], int | None], names: Sequence[str]) -> float:
    """Microseconds per name, median of RUNS passes over every name."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for name in names:
            first(name)
        times.append(time.perf_counter() - started)
    return median(times) / len(names) * 1e6


def built(make: Callable[[Sequence[Sequence[str]]], T], globs: Sequence[Sequence[str]]) -> tuple[T, float]:
    re.purge()  # each compiles its own expressions: none left from the other's build
    started = time.perf_counter()
    made = make(globs)
    return made, (time.perf_counter() - started) * 1000


def main() -> int:
    progress(f"rule_match: {len(SHAPES)} shapes x {len(SIZES)} sizes, {NAMES} names, three ways")
    rows = []
    for rules in SIZES:
        for shape in SHAPES:
            globs, names = globs_of(shape, rules), names_of(shape, rules)
            index, index_ms = built(GlobIndex, globs)
            old, old_ms = built(alternation, globs)
            ways: list[Callable[[str], int | None]] = [index.first, old, rule_by_rule(globs)]
            expected = [ways[2](name) for name in names]
            assert all([way(name) for name in names] == expected for way in ways[:2]), "the three ways disagree"
            index_us, old_us, each_us = (per_name(way, names) for way in ways)
            rows.append([shape, rules, f"{index_ms:.1f}", f"{old_ms:.1f}", f"{index_us:.2f}", f"{old_us:.1f}",
                         f"{each_us:.1f}", f"{index_us / old_us:.3f}", f"{index_us / each_us:.3f}"])
    emit(table(
        f"Rule matching: microseconds per name (median of {RUNS} passes over {NAMES} names)",
        ["globs", "rules", "index build ms", "alternation compile ms", "index us", "alternation us",
         "rule by rule us", "index / alternation", "index / rule by rule"],
        rows,
        notes=["A reload asks this of every connector watched or shown (6,000 with 1,500 rules naming two "
               "connectors each and 3,000 polled), in slices of about 50 ms."],
    ))
    return 0  # a measurement without a target


if __name__ == "__main__":
    raise SystemExit(main())
