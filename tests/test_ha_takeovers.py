"""What WatchdogLeaderFlapping counts, as two real replicas on a real PostgreSQL export it: a
takeover (the lease taken from a leader that did not give it back) and not a clean handover.

A rollout's leader gives the lease back as it stops and the standby takes it at once: one or two
handovers per rolling update of the ha overlay. The alert counted every acquisition, so a deploy
and its rollback within the hour (measured: 4 acquisitions, none lost) paged "the leader cannot
keep its lease" with nothing wrong."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ha import HaWorld, scenario, wait_until
from bench.postgres import PostgresServer

pytestmark = pytest.mark.process

# As tests/test_ha.py's, for a loaded 2-core machine: a takeover waits out one lease.
LEASE: dict[str, float] = {"lease_duration": 6, "renew_deadline": 4, "renew_interval": 1}
RULES = [{"name": "heal", "trigger": {"type": "status", "interval": 5}, "select": {"include": ["*"]}}]


@pytest.fixture
def world(tmp_path: Path, postgres_server: PostgresServer, postgres_url: str) -> Iterator[HaWorld]:
    made = HaWorld(tmp_path, postgres_server, postgres_url, RULES, lease=LEASE)
    try:
        yield made
    finally:
        made.stop()
        print(made.tails())


def test_a_clean_handover_is_no_takeover_and_a_dead_leaders_lease_is(world: HaWorld) -> None:
    world.start_simulator(scenario([{"name": "orders-sink"}]))
    first = world.start("a")
    assert world.leader() is first
    # A fresh database's lease was never held: taking it is no takeover.
    assert first.metric("watchdog_leadership_takeovers_total") == 0
    standby = world.start("b")

    # A rollout: the leader stops (SIGTERM), gives the lease back, and the standby takes it.
    assert first.process is not None
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=60) == 0
    wait_until(standby.leading, 3 * LEASE["lease_duration"], "the standby leads after the clean stop")
    assert standby.metric("watchdog_leadership_changes_total{change=\"acquired\"}") == 1
    assert standby.metric("watchdog_leadership_takeovers_total") == 0
    assert [e["taken_over"] for e in standby.events("leader_elected")] == [False]

    # The leader dies (SIGKILL: an OOM kill, a node lost): the lease still names it, and the
    # replica that takes it once it expires took it over.
    replacement = world.start("a")
    wait_until(lambda: replacement.metric("watchdog_leader") == 0, 10, "the new pod stands by")
    assert standby.process is not None
    standby.process.kill()
    standby.process.wait(timeout=10)
    wait_until(replacement.leading, 3 * LEASE["lease_duration"], "the new pod takes over")
    assert replacement.metric("watchdog_leadership_takeovers_total") == 1
    assert [e["taken_over"] for e in replacement.events("leader_elected")][-1] is True
