"""The lease taken as a replica takes it, for benchmarks that need a fenced store."""

from __future__ import annotations

from typing import Any

from .test_state_contract import take_lease


def take_lease_for_bench(server: Any, url: str) -> int:
    return take_lease(server, url, "benchmark")
