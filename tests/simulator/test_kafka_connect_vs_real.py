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

from ..e2e.kafka.exchanges import CASES, normalise, play, send, simulator_scenario
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


def _release(path: Path) -> str:
    return str(json.loads(path.read_text())["kafka_version"])


@pytest.fixture(scope="module")
def simulated() -> dict[str, dict[str, dict[str, Any]]]:
    """Every case played against the simulator playing each recorded release, the releases side
    by side (about 10 s: restarts are watched); then the stop the recording set-up sent."""
    import asyncio

    async def run(version: str) -> dict[str, dict[str, Any]]:
        simulator = Simulator(Scenario.model_validate(simulator_scenario(restart_delay=0.4, kafka_version=version)))
        async with served(simulator) as url:
            base = f"{url}/kafka-connect/real"
            played = {e["case"]: e for e in await play(base, follow_seconds=1.0, settle_timeout=10, kafka_version=version)}
            stop = await asyncio.to_thread(send, base, "PUT", "/connectors/stopped/stop")
            played[STOP] = {"answer": normalise(stop)}
            return played

    async def run_all() -> list[dict[str, dict[str, Any]]]:
        return list(await asyncio.gather(*(run(_release(path)) for path in RECORDINGS)))

    return dict(zip([_release(path) for path in RECORDINGS], asyncio.run(run_all()), strict=True))


STOP = "the set-up's stop"


def _recorded() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in RECORDINGS:
        recording = json.loads(path.read_text())
        found += [(f"{path.stem}: {e['case']}", recording["kafka_version"], e) for e in recording["exchanges"]]
        if "stop_answer" in recording:
            found.append((f"{path.stem}: {STOP}", recording["kafka_version"], {"case": STOP, "request": "PUT stop",
                                                                              "answer": recording["stop_answer"]}))
    return found


@pytest.mark.parametrize(("label", "version", "real"), _recorded(), ids=[label for label, _, _ in _recorded()])
def test_the_simulator_answers_as_the_real_worker(
    label: str, version: str, real: dict[str, Any], simulated: dict[str, dict[str, dict[str, Any]]]
) -> None:
    mine = simulated[version][real["case"]]
    assert mine["answer"] == real["answer"], f"{label}: {real['request']}"


@pytest.mark.parametrize(("label", "version", "real"), [r for r in _recorded() if "seen" in r[2]],
                         ids=[label for label, _, e in _recorded() if "seen" in e])
def test_the_simulator_goes_through_the_real_workers_states(
    label: str, version: str, real: dict[str, Any], simulated: dict[str, dict[str, dict[str, Any]]]
) -> None:
    mine, theirs = simulated[version][real["case"]]["seen"], real["seen"]
    # A 202 names the states it left the instances in: both start there. A 204 names none, and the
    # first status read after it races the worker's restart (4.3.1 showed the task still FAILED,
    # 2.8.2 and 3.9.2 already RUNNING): only the end must match then.
    assert real["answer"]["body"] is None or mine[0] == theirs[0], f"{label}: simulator {mine}, real {theirs}"
    assert mine[-1] == theirs[-1], f"{label}: simulator {mine}, real {theirs}"
    assert _in_order(mine, theirs), f"{label}: the simulator showed a state the real worker did not: {mine} vs {theirs}"


def _in_order(sub: list[str], seq: list[str]) -> bool:
    remaining = iter(seq)
    return all(any(state == other for other in remaining) for state in sub)
