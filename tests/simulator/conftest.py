"""Fixtures for the simulator tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from watchdog.simulator import Scenario, Simulator

from .support import AUTH, EPOCH, Build, FakeClock, Harness, client, scenario


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def build(clock: FakeClock) -> AsyncIterator[Build]:
    """build(scenario_dict=None, seed=None, auth=AUTH, epoch=EPOCH) -> Harness, in-process."""
    clients: list[httpx.AsyncClient] = []

    def make(
        scenario_data: dict[str, Any] | None = None,
        *,
        seed: int | None = None,
        auth: tuple[str, str] | None = AUTH,
        epoch: float = EPOCH,
    ) -> Harness:
        data = scenario() if scenario_data is None else scenario_data
        simulator = Simulator(Scenario.model_validate(data), clock=clock, seed=seed, epoch=epoch)
        harness = Harness(simulator, client(simulator, auth), clock)
        clients.append(harness.client)
        return harness

    yield make
    for opened in clients:
        await opened.aclose()
