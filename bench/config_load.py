"""Benchmark 7: how long a config takes to load, with libyaml's parser and with PyYAML's own.

`check-config` and every reload load the whole file; a reload does it on the daemon's event loop,
so for that long no webhook, probe or restart is served. Configs of 10 to 3,000 rules (a third
each schedule, status and alert rules, with exact names and globs), loaded by `load_config` as the
daemon loads them, RUNS times each; medians. The baseline is the same loader on PyYAML's
pure-Python parser, what the daemon used before (config/loading.py says why it changed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

import yaml

from watchdog.config import load_config, loading, strict_yaml

from .report import emit, median, progress, table

RUNS = 5
SIZES = (10, 300, 1000, 3000)


def config_text(rules: int) -> str:
    lines = [
        "credentials: {main: {}}",
        "clusters:",
        "  prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}",
        "rules:",
    ]
    for i in range(rules):
        trigger = (
            f'{{type: schedule, cron: "{i % 60} {i % 24} * * *", timezone: Europe/Berlin}}',
            "{type: status, interval: 60s}",
            "{type: alert, match: {alertname: ConnectorFailed}, match_re: {severity: \"warning|critical\"}}",
        )[i % 3]
        lines += [
            f"  - name: rule-{i}",
            f"    trigger: {trigger}",
            f'    select: {{connectors: [orders-{i}-sink, audit-{i}-sink], include: ["team-{i}-*"], exclude: ["*-test"]}}',
            "    backoff: {base: 30s, cap: 30m}",
        ]
    return "\n".join(lines) + "\n"


@contextmanager
def pure_python_parser() -> Iterator[None]:
    """The loader as it was: the same duplicate-key constructor on PyYAML's Python parser."""

    class PythonStrictLoader(yaml.SafeLoader):
        pass

    PythonStrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                       strict_yaml._mapping_without_duplicates)
    kept = loading.StrictLoader
    loading.StrictLoader = PythonStrictLoader  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        loading.StrictLoader = kept  # type: ignore[misc]


def seconds_to_load(path: Path) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        load_config(path)
        times.append(time.perf_counter() - started)
    return median(times)


def main() -> int:
    progress(f"config_load: {len(SIZES)} sizes, {RUNS} loads each, two parsers")
    os.environ.setdefault("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "bench-key")
    os.environ.setdefault("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "bench-secret")
    os.environ.setdefault("WATCHDOG_SERVER__AUTH_TOKEN", "bench-token-of-at-least-16-chars")
    rows = []
    with TemporaryDirectory() as directory:
        for rules in SIZES:
            path = Path(directory) / f"config-{rules}.yaml"
            path.write_text(config_text(rules))
            with pure_python_parser():
                before = seconds_to_load(path)
            now = seconds_to_load(path)
            rows.append([rules, f"{path.stat().st_size / 1024:.0f}", f"{before:.3f}", f"{now:.3f}", f"{now / before:.2f}"])
    emit(table(
        f"Config load (median of {RUNS} loads; libyaml: {yaml.__with_libyaml__})",
        ["rules", "file KiB", "PyYAML's parser s (baseline)", "libyaml's parser s", "ratio"],
        rows,
        notes=["A reload loads the file on the event loop: for this long nothing else is served."],
    ))
    return 0  # a measurement without a target


if __name__ == "__main__":
    raise SystemExit(main())
