"""`python -m bench [NAME ...]`: run the benchmarks (all of them by default) and print their tables."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from .report import emit, machine

BENCHMARKS = ("budget", "reserve", "leave", "concurrency", "organization", "gateways", "latency", "scale", "footprint", "failover", "store", "poll_store", "schedule_store",
              "config_load", "rule_match", "never_decides", "row_reading",
              "longrun", "churnmem")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    chosen = parser.parse_args().names or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    emit(f"# connect-watchdog benchmarks\n\nMachine: {machine()}\n")
    failed = []
    for name in chosen:
        started = time.monotonic()
        if importlib.import_module(f"bench.{name}").main():
            failed.append(name)
        emit(f"({name}: {time.monotonic() - started:.0f} s)\n")
    if failed:
        # A target not met is a failure, not a footnote: `make bench` must say so.
        sys.exit(f"targets not met in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
