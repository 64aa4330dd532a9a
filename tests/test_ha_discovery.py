"""Discovery with two replicas: only the leader lists environments and clusters (a standby
spending the key's budget on lists would halve what the leader can send), and a replica that
takes over starts discovering at once. Real processes and a real PostgreSQL, as tests/test_ha.py.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ha import LEASE, HaWorld, Replica, scenario, wait_until
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


def test_a_standby_sends_a_read_of_the_leaders_live_view_to_the_leader(world: HaWorld) -> None:
    """GET /v1/connectors on a standby (which runs no discovery, no polls) showed a discovered
    cluster with environment_name null where the leader showed it: through a Service, `watchdog
    status --daemon` printed it under ENVIRONMENT unknown half the time."""
    import httpx

    from bench.ha import TOKEN

    world.rules = [{"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
                    "select": {"include": ["steady-*"]}}]
    data = scenario([{"name": "steady-1"}])
    data["environments"][0]["display_name"] = "production"
    world.start_simulator(data)
    world.start("a")
    first = world.leader()
    world.start("b")
    standby = world.other(first)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def listed_with_environment() -> bool:
        rows = httpx.get(f"{first.url}/v1/connectors", headers=auth, timeout=5).json()["connectors"]
        return any(row.get("environment_name") for row in rows)

    wait_until(listed_with_environment, 20, "the leader lists the connector with its environment's name")
    wait_until(lambda: standby.ready() == 200, 20, "the standby is up")
    answer = httpx.get(f"{standby.url}/v1/connectors", headers=auth, timeout=5)
    assert answer.status_code == 503, answer.text
    assert answer.headers["connection"] == "close"
    assert answer.json()["standby"] is True and answer.json()["leader"]
    # History comes from the shared database: either replica serves it.
    assert httpx.get(f"{standby.url}/v1/history", headers=auth, timeout=5).status_code == 200


def test_a_standby_sends_history_of_a_discovered_cluster_to_the_leader(world: HaWorld) -> None:
    """GET /v1/history?cluster=lkc-... for a cluster only discovery found: the standby, which
    discovers nothing, answered 404 "unknown cluster" where the leader listed its restarts."""
    import httpx

    from bench.ha import CLUSTER_ID, TOKEN

    world.settings = {"discovery": {"interval": "10s"}, "clusters": {}}
    world.rules = [{"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
                    "select": {"include": ["broken-*"]}}]
    world.start_simulator(scenario([{"name": "broken-1", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]))
    world.start("a")
    first = world.leader()
    world.start("b")
    standby = world.other(first)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def history(replica: Replica) -> httpx.Response:
        return httpx.get(f"{replica.url}/v1/history", params={"cluster": CLUSTER_ID}, headers=auth, timeout=5)

    wait_until(lambda: bool(history(first).json().get("restarts")), 30, "the leader restarted the connector")
    wait_until(lambda: standby.ready() == 200, 20, "the standby is up")
    answer = history(standby)
    assert answer.status_code == 503, answer.text
    assert answer.json()["standby"] is True and answer.headers["connection"] == "close"
    assert answer.json()["leader"]
