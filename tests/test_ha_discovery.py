"""Discovery with two replicas: only the leader lists environments and clusters (a standby
spending the key's budget on lists would halve what the leader can send), and a replica that
takes over starts discovering at once. Real processes and a real PostgreSQL, as tests/test_ha.py.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ha import LEASE, HaWorld, scenario, wait_until
from bench.postgres import PostgresServer

pytestmark = pytest.mark.process

DISCOVERY_CALLS = ("list_environments", "list_clusters")


@pytest.fixture
def world(tmp_path: Path, postgres_server: PostgresServer, postgres_url: str) -> Iterator[HaWorld]:
    made = HaWorld(tmp_path, postgres_server, postgres_url, rules=[])
    # The static cluster is also found by discovery (a static entry wins); a refresh every 10 s.
    made.settings = {"discovery": {"interval": "10s"}}
    try:
        yield made
    finally:
        made.stop()
        print(made.tails())


def test_only_the_leader_discovers_and_a_new_leader_takes_discovery_over(world: HaWorld) -> None:
    world.start_simulator(scenario([{"name": "steady-1"}]))
    world.start("a")
    first = world.leader()
    world.start("b")
    standby = world.other(first)

    def discovered_by(key: str) -> list[float]:
        return [c["t"] for c in world.calls() if c["endpoint"] in DISCOVERY_CALLS and c["api_key"] == key]

    wait_until(lambda: bool(discovered_by(first.key)), 20, "the leader discovers")
    wait_until(lambda: standby.ready() == 200 and standby.metric("watchdog_leader") == 0.0, 20,
               "the standby is up and stands by")
    assert first.process is not None
    killed = world.sim_time()
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    wait_until(standby.leading, LEASE["lease_duration"] + LEASE["renew_interval"] + 5, "the standby took over")
    wait_until(lambda: bool(discovered_by(standby.key)), 20, "the new leader discovers")
    before = [t for t in discovered_by(standby.key) if t < killed]
    assert before == [], f"the standby listed environments or clusters {len(before)} times while it stood by"
