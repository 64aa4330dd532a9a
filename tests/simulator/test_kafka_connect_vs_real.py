"""The simulator's Kafka Connect mode against real Kafka Connect workers' recorded answers.

tests/fixtures/kafka_connect/real-<version>.json holds what real Apache Kafka workers answered
to the calls of tests/e2e/kafka/exchanges.py (refresh: `python -m tests.e2e.kafka.record`).
Here the simulator holds the same connectors in the same states, gets the same calls over a
real loopback socket, and must answer with the same status codes, content types, headers and
normalised bodies; after a restart the states it shows must be ones the real worker went
through, in the same order, starting and ending alike (the simulator may skip a step the real
worker shows, such as RUNNING for a moment before the poison record fails the task again).
This test needs no Java: it reads the recording.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from watchdog.simulator import Scenario, Simulator

from ..e2e.kafka.exchanges import CASES, play, simulator_scenario
from ..e2e.kafka.jars import kafka_version
from .serving import served

RECORDINGS = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "kafka_connect").glob("real-*.json"))


def test_there_is_a_recording_of_every_case() -> None:
    assert RECORDINGS, "no recording: run python -m tests.e2e.kafka.record"
    pinned = f"real-{kafka_version()}.json"
    assert pinned in [path.name for path in RECORDINGS], f"no recording of the pinned Kafka: record {pinned}"
    for path in RECORDINGS:
        recorded = [e["case"] for e in json.loads(path.read_text())["exchanges"]]
        assert recorded == [case.name for case in CASES], f"{path.name} is stale: record it again"


@pytest.fixture(scope="module")
def simulated() -> dict[str, dict[str, Any]]:
    """Every case played against the simulator once (about 10 s: restarts are watched)."""
    import asyncio

    async def run() -> list[dict[str, Any]]:
        simulator = Simulator(Scenario.model_validate(simulator_scenario(restart_delay=0.4)))
        async with served(simulator) as url:
            return await play(f"{url}/kafka-connect/real", follow_seconds=1.0, settle_timeout=10)

    return {e["case"]: e for e in asyncio.run(run())}


def _recorded() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.stem}: {exchange['case']}", exchange)
        for path in RECORDINGS
        for exchange in json.loads(path.read_text())["exchanges"]
    ]


@pytest.mark.parametrize(("label", "real"), _recorded(), ids=[label for label, _ in _recorded()])
def test_the_simulator_answers_as_the_real_worker(label: str, real: dict[str, Any], simulated: dict[str, dict[str, Any]]) -> None:
    mine = simulated[real["case"]]
    assert mine["answer"] == real["answer"], f"{label}: {real['request']}"


@pytest.mark.parametrize(("label", "real"), [(label, e) for label, e in _recorded() if "seen" in e],
                         ids=[label for label, e in _recorded() if "seen" in e])
def test_the_simulator_goes_through_the_real_workers_states(label: str, real: dict[str, Any], simulated: dict[str, dict[str, Any]]) -> None:
    mine, theirs = simulated[real["case"]]["seen"], real["seen"]
    assert mine[0] == theirs[0] and mine[-1] == theirs[-1], f"{label}: simulator {mine}, real {theirs}"
    assert _in_order(mine, theirs), f"{label}: the simulator showed a state the real worker did not: {mine} vs {theirs}"


def _in_order(sub: list[str], seq: list[str]) -> bool:
    remaining = iter(seq)
    return all(any(state == other for other in remaining) for state in sub)
