"""Helpers for the simulator tests: a fake clock, a small scenario and an HTTP harness."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from watchdog.simulator import Simulator, create_app

ENVIRONMENT = "env-test01"
CLUSTER = "lkc-test01"
OTHER_CLUSTER = "lkc-test02"
AUTH = ("test-key", "test-secret")
# The Unix time at simulator t = 0 in these tests: 2026-01-01T00:00:00Z, a whole minute, so that
# simulator seconds and the Metrics API's minute boundaries line up.
EPOCH = 1_767_225_600.0
NARROW_AUTH = ("narrow-key", "narrow-secret")  # may only use CLUSTER


def path(cluster: str = CLUSTER, connector: str | None = None, operation: str = "") -> str:
    """A connect/v1 path: the list call, or one connector's operation."""
    base = f"/connect/v1/environments/{ENVIRONMENT}/clusters/{cluster}/connectors"
    if connector is None:
        return base
    return f"{base}/{connector}/{operation}".rstrip("/")


def scenario(connectors: list[dict[str, Any]] | None = None, **settings: Any) -> dict[str, Any]:
    """A scenario with two keys and two clusters; `connectors` go into CLUSTER."""
    if connectors is None:
        connectors = [
            {"name": "orders-source"},
            {"name": "billing-sink", "type": "sink", "tasks": 2},
        ]
    return {
        "api_keys": [
            {"id": AUTH[0], "secret": AUTH[1]},
            {"id": NARROW_AUTH[0], "secret": NARROW_AUTH[1], "clusters": [CLUSTER]},
        ],
        "environments": [
            {
                "id": ENVIRONMENT,
                "clusters": [
                    {"id": CLUSTER, "connectors": copy.deepcopy(connectors)},
                    {"id": OTHER_CLUSTER, "connectors": [{"name": "audit-sink", "type": "sink"}]},
                ],
            }
        ],
        **settings,
    }


def client(simulator: Simulator, auth: tuple[str, str] | None = AUTH) -> httpx.AsyncClient:
    """An HTTP client talking to the simulator in-process."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(simulator)), base_url="http://sim", auth=auth
    )


class FakeClock:
    def __init__(self, start: float = 5000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    simulator: Simulator
    client: httpx.AsyncClient
    clock: FakeClock

    def state(self, name: str, cluster: str = CLUSTER) -> str:
        return self.simulator.connector(cluster, name).state

    def tasks(self, name: str, cluster: str = CLUSTER) -> tuple[str, ...]:
        return self.simulator.connector(cluster, name).tasks


Build = Callable[..., Harness]
