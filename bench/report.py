"""Printing: the machine the numbers came from, and plain-text tables; running a table's cases."""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from typing import TypeVar

C = TypeVar("C")
R = TypeVar("R")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = int(next(line.split()[1] for line in info if line.startswith("MemTotal")))
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    )


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]], notes: Sequence[str] = ()) -> str:
    """A Markdown table (readable as text, pasteable into docs/benchmarks.md)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = [f"### {title}", ""]
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    if notes:
        lines.append("")
        lines += [f"{note}" for note in notes]
    return "\n".join(lines) + "\n"


def verdict(missed: Sequence[str]) -> str:
    """A table's targets cell: `met`, or each target missed."""
    return "met" if not missed else "NOT met: " + "; ".join(missed)


def emit(text: str) -> None:
    print(text, flush=True)


def progress(message: str) -> None:
    """Where a long benchmark is, on stderr, so that stdout holds only the tables."""
    print(f"  ... {message}", file=sys.stderr, flush=True)


def run_cases(name: str, run: Callable[[C], R], cases: Sequence[C], *, each: str = "") -> list[R]:
    """`run` on every case, on 2 processes (the machines these run on have 2 cores), in order;
    `each` says what a case runs beyond the daemon, for the progress line."""
    progress(f"{name}: {len(cases)} cases{each}, on 2 processes")
    with ProcessPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, cases))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)
