"""Benchmark 11: the "never decides" check (config/shadowing.py) against its definition.

At each start, reload and `check-config` the daemon says which status rules never decide (an
earlier one of their kind selects all they select). Its definition compares every status rule
with every earlier one: 8.7 s at 2,000 team rules and 57 s at 5,000 (a probe's finding, with the
check on the event loop). The index compares a rule only with the earlier rules that may select
one of its entries. Configs of N team status rules of one shape each, before a catch-all `*`:
`team-N-*` (a literal prefix), `*-team-N` (a literal suffix), `*team-N-*` (neither), and the same
glob on a cluster each (`orders-*`; every earlier rule is a candidate, the index's worst case;
a tenth as many rules: the definition read every cluster for each pair, n cubed).
Seconds of `no_effect_warnings` (median of RUNS), the definition's own seconds beside it, which
must name the same rules (`pair_by_pair`, which tests/test_no_effect_at_scale.py uses too).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from watchdog.config import Config, build_config, no_effect_warnings
from watchdog.config.rules import Selector, StatusTrigger

from .report import emit, median, progress, table

RUNS = 3
SIZES = (500, 2000)
SHAPES = {"prefix": "team-{i}-*", "suffix": "*-team-{i}", "infix": "*team-{i}-*", "cluster each": "orders-*"}
NOW = datetime(2026, 12, 7, tzinfo=UTC)
_WILD = re.compile(r"[*?\[]")


def _covers(wide: str, narrow: str) -> bool:
    if wide == narrow:
        return True
    if re.search(r"[?\[\]]", wide) or "[" in narrow:
        return False
    return fnmatchcase(narrow, wide)


def _selects_name(select: Selector, name: str) -> bool:
    if any(fnmatchcase(name, x) for x in select.exclude):
        return False
    return name in select.connectors or any(fnmatchcase(name, p) for p in select.include)


def _selection_covers(wide: Selector, narrow: Selector) -> bool:
    if not all(any(_covers(y, x) for y in narrow.exclude) for x in wide.exclude):
        return False
    live = False
    for name in narrow.connectors:
        if any(fnmatchcase(name, x) for x in narrow.exclude):
            continue
        live = True
        if not _selects_name(wide, name):
            return False
    for pattern in narrow.include:
        if any(_covers(x, pattern) for x in narrow.exclude):
            continue
        live = True
        if _WILD.search(pattern) is None:
            if not _selects_name(wide, pattern):
                return False
        elif not any(_covers(p, pattern) for p in wide.include):
            return False
    return live


def _clusters_covered(config: Config, wide: Selector, narrow: Selector) -> bool:
    if wide.clusters is None:
        return True
    if config.discovery is not None:
        return narrow.clusters is not None and all(any(_covers(w, n) for w in wide.clusters) for n in narrow.clusters)
    selected = [c for c in config.clusters if narrow.selects_cluster(c)]
    return bool(selected) and all(wide.selects_cluster(c) for c in selected)


def pair_by_pair(config: Config) -> dict[int, int]:
    """The definition (no_effect.py's `_shadowed_by` until 2026-12-07): each enabled status rule
    that never decides, and the first earlier enabled status rule of its kind selecting all it selects."""
    found = {}
    for index, rule in enumerate(config.rules):
        if not (rule.enabled and isinstance(rule.trigger, StatusTrigger)):
            continue
        for before, earlier in enumerate(config.rules[:index]):
            if not (earlier.enabled and isinstance(earlier.trigger, StatusTrigger) and earlier.dry_run == rule.dry_run):
                continue
            if _clusters_covered(config, earlier.select, rule.select) and _selection_covers(earlier.select, rule.select):
                found[index] = before
                break
    return found


def said_never_decides(warnings: list[str]) -> dict[int, int]:
    """{rule: the rule it is behind} from no_effect_warnings' lines."""
    found = (re.match(r"rules\[(\d+)\] \([^)]*\): never decides: .* first by rules\[(\d+)\]", line) for line in warnings)
    return {int(m.group(1)): int(m.group(2)) for m in found if m}


def config_of(shape: str, rules: int) -> Config:
    per_cluster = shape == "cluster each"
    data: dict[str, Any] = {
        "credentials": {"main": {}},
        "clusters": {f"c{i}": {"environment_id": "env-abc123", "kafka_cluster_id": f"lkc-{i:06d}"}
                     for i in range(rules if per_cluster else 1)},
        "state": {"path": ":memory:"},
        "rules": [{"name": f"team-{i}", "trigger": {"type": "status"},
                   "select": {"include": [SHAPES[shape].format(i=i)], **({"clusters": [f"c{i}"]} if per_cluster else {})}}
                  for i in range(rules)] + [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}],
    }
    os.environ.setdefault("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "bench-key")
    os.environ.setdefault("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "bench-secret")
    return build_config(data, f"{shape} x {rules}")


def seconds(work: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return median(times), result


def main() -> int:
    progress(f"never_decides: {len(SHAPES)} shapes x {len(SIZES)} sizes, the index and the definition")
    rows = []
    for rules in SIZES:
        for shape in SHAPES:
            config = config_of(shape, rules // 10 if shape == "cluster each" else rules)
            index_s, warnings = seconds(lambda: no_effect_warnings(config, NOW), RUNS)  # noqa: B023
            pairs_s, expected = seconds(lambda: pair_by_pair(config), 1)  # noqa: B023
            assert said_never_decides(warnings) == expected, f"{shape} x {rules}: the index and the definition disagree"
            rows.append([shape, len(config.rules) - 1, len(expected), f"{index_s:.3f}", f"{pairs_s:.2f}", f"{index_s / pairs_s:.4f}"])
    emit(table(
        f"Which status rules never decide: seconds (the index: median of {RUNS}; the definition: once)",
        ["globs", "rules", "never decide", "no_effect_warnings s", "pair by pair s", "ratio"],
        rows,
        notes=["Run in a worker thread at a reload (reloading.py); at a start and in check-config before "
               "anything is served."],
    ))
    return 0  # a measurement without a target


if __name__ == "__main__":
    raise SystemExit(main())
