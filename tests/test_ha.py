"""High availability with real processes: two replicas of the daemon sharing a real PostgreSQL
(bench/postgres.py), one simulator process whose call record says which replica (by API key) sent
what, and when. Lease 6 s, renew deadline 4 s, a try every 1 s (LEASE below).

- the leader killed with SIGKILL in the middle of a 500-restart backlog;
- the leader frozen (SIGSTOP) past its lease, then resumed;
- the database stopped for longer than the lease, then started again.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.ha import HaWorld, scenario, wait_until
from bench.postgres import PostgresServer
from watchdog.config import Backoff
from watchdog.model import Outcome
from watchdog.policy import backoff_gap
from watchdog.state.postgres import PostgresStateStore

pytestmark = pytest.mark.process

# Twice bench/ha.py's (and still a fifth of the defaults': 15 s, 10 s, 2 s). These tests run
# with 500 connectors, hundreds of API requests and two replicas on a 2-core machine that other
# suites share: at a load average of 8-10 a replica could go 2 s without the CPU to renew (its
# lease renewal needs the event loop, by design), stepped down and answered the test's requests
# 503 before anything was killed. Every bound below is in these units, so nothing is checked
# more loosely than the lease allows.
LEASE: dict[str, float] = {"lease_duration": 6, "renew_deadline": 4, "renew_interval": 1}
BACKOFF = {"base": 1, "cap": 4, "jitter": 0}  # gaps 2 s, then 4 s: a restart at every poll
FLAKY = ["flaky-a", "flaky-b", "flaky-c"]
# Takes over within one lease period plus one try (the bound), plus what a loaded 2-core
# machine may add to starting to lead (recovery of the backlog, the first call through the limiter).
TAKEOVER_BOUND = LEASE["lease_duration"] + LEASE["renew_interval"] + 1.5


def rules() -> list[dict[str, Any]]:
    return [
        # Watches the requested connectors too (the API restarts only watched ones); they stay
        # healthy, so the breaker sees 3 failing of many and stays closed.
        {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
         "select": {"include": ["flaky-*", "requested-*", "steady-*"]}, "backoff": BACKOFF, "max_restarts": None},
    ]


def flaky_connectors() -> list[dict[str, Any]]:
    return [{"name": n, "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 0.2}}
            for n in FLAKY]


@pytest.fixture
def world(tmp_path: Path, postgres_server: PostgresServer, postgres_url: str) -> Iterator[HaWorld]:
    made = HaWorld(tmp_path, postgres_server, postgres_url, rules(), lease=LEASE)
    try:
        yield made
    finally:
        made.stop()
        print(made.tails())


def store(world: HaWorld) -> PostgresStateStore:
    return PostgresStateStore(world.database_url, password=world.server.password, read_only=True)


def at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def assert_backoff_held(restarts: list[dict[str, Any]]) -> None:
    """No failing connector was restarted before its backoff allowed it, whoever sent it."""
    times: dict[str, list[float]] = defaultdict(list)
    for call in restarts:
        if call["connector"] in FLAKY:
            times[call["connector"]].append(call["t"])
    backoff = Backoff(**BACKOFF)  # type: ignore[arg-type]
    for name in FLAKY:
        assert len(times[name]) >= 2, f"{name} was restarted {len(times[name])} times"
        for n, (earlier, later) in enumerate(zip(times[name], times[name][1:]), start=1):
            # Both times are the simulator's; allow 100 ms for scheduling.
            assert later - earlier >= backoff_gap(n, backoff) - 0.1, f"{name}: restart {n + 1} inside the backoff"


def test_kill_9_of_the_leader_mid_backlog_loses_nothing_and_sends_nothing_twice(world: HaWorld) -> None:
    requested = [f"requested-{i:03d}" for i in range(500)]
    world.settings = {"rate_limit": {"max_requests_per_second": 40, "max_concurrent_requests": 2}}
    world.start_simulator(scenario(flaky_connectors() + [{"name": n} for n in requested],
                                   restart={"delay_seconds": 0.05}))
    world.start("a")
    first = world.leader()
    world.start("b")
    standby = world.other(first)
    # Every healthy replica is Ready (a Deployment of two has two available); the standby says so.
    wait_until(lambda: standby.ready() == 200, 20, "the standby is ready")
    assert not standby.leading()
    assert standby.readiness()["role"] == "standby"
    assert standby.readiness()["leader"].startswith(f"replica-{first.name}/")
    wait_until(lambda: first.ready() == 200, 20, "the leader is ready")

    with httpx.Client(timeout=10) as client:
        for name in requested:
            response = world.request_restart(first, name, client)
            assert response.status_code == 202, response.text
        # The standby acts on nothing: 503 and Retry-After, which Alertmanager and clients retry,
        # on a new connection (the Service balances it afresh), and the leader named.
        refused = world.request_restart(standby, requested[0], client)
        assert refused.status_code == 503 and "not the leader" in refused.text
        assert int(refused.headers["Retry-After"]) >= LEASE["lease_duration"]
        assert refused.headers["Connection"] == "close" and f"replica-{first.name}/" in refused.json()["leader"]
    wait_until(lambda: sum(1 for c in world.restarts() if c["connector"] in requested) >= 150, 30,
               "150 requested restarts were sent")
    assert sum(1 for c in world.restarts() if c["connector"] in requested) < 450, "no backlog left to fail over"
    assert first.process is not None
    killed_at, killed_sim = time.time(), world.sim_time()
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)

    new = world.leader(timeout=TAKEOVER_BOUND + 5)
    assert new is standby
    (elected,) = standby.events("leader_elected")
    assert at(elected) - killed_at <= LEASE["lease_duration"] + LEASE["renew_interval"] + 0.5, "slow election"
    first_by_new = min(c["t"] for c in world.restarts() if c["api_key"] == standby.key and c["connector"] in requested)
    assert first_by_new - killed_sim <= TAKEOVER_BOUND, f"first restart {first_by_new - killed_sim:.1f}s after the kill"

    with store(world) as shared:
        wait_until(lambda: not shared.pending(), 60, "every request ended", every=0.5)
        history = shared.history(None, 100_000)
    restarts = world.restarts()
    sent: dict[str, int] = defaultdict(int)
    for call in restarts:
        sent[call["connector"]] += 1
    outcomes: dict[str, list[Outcome]] = defaultdict(list)
    for record in history:
        outcomes[record.key.connector].append(record.outcome)
    interrupted = 0
    for name in requested:
        assert len(outcomes[name]) == 1, f"{name}: one request, outcomes {outcomes[name]}"
        assert sent[name] <= 1, f"{name} was restarted {sent[name]} times for one request"
        if outcomes[name] == [Outcome.ACCEPTED]:
            assert sent[name] == 1
        else:
            assert outcomes[name] == [Outcome.INTERRUPTED], f"{name}: {outcomes[name]}"
            interrupted += 1
    assert interrupted <= 2, "only calls on the wire at the kill (2 at a time) may be interrupted"
    assert any(c["api_key"] == first.key for c in restarts) and any(c["api_key"] == standby.key for c in restarts)
    assert_backoff_held(restarts)


def test_a_frozen_leader_is_fenced_and_becomes_a_standby(world: HaWorld) -> None:
    requested = [f"requested-{i:03d}" for i in range(120)]
    # Calls answered after 0.1 s, no pacing between them (the limiter sends one at a time until
    # an answer reveals the limit): the leader is frozen with a call on the wire, more ready to go
    # the moment it resumes.
    world.settings = {"rate_limit": {"max_requests_per_second": 500, "max_concurrent_requests": 4}}
    world.start_simulator(scenario(flaky_connectors() + [{"name": n} for n in requested],
                                   faults=[{"match": {"endpoint": "restart"}, "action": {"delay_seconds": 0.1}}]))
    world.start("a")
    frozen = world.leader()
    world.start("b")
    other = world.other(frozen)
    wait_until(lambda: frozen.ready() == 200, 20, "the leader is ready")
    with httpx.Client(timeout=10) as client:
        for name in requested:
            assert world.request_restart(frozen, name, client).status_code == 202
    wait_until(lambda: sum(1 for c in world.restarts() if c["connector"] in requested) >= 20, 30, "restarts under way")
    assert frozen.process is not None
    os.kill(frozen.process.pid, signal.SIGSTOP)
    wait_until(other.leading, LEASE["lease_duration"] + LEASE["renew_interval"] + 5, "the other replica took over")
    # Frozen well past its lease while the new leader works through the backlog.
    wait_until(lambda: any(c["api_key"] == other.key for c in world.restarts()), 10, "the new leader sends")
    time.sleep(1.0)
    resumed_sim = world.sim_time()
    os.kill(frozen.process.pid, signal.SIGCONT)
    wait_until(lambda: frozen.metric("watchdog_leader") == 0.0, 10, "the resumed replica knows it does not lead")
    wait_until(lambda: bool(frozen.events("standing_by")), 10, "the resumed replica stands by")

    with store(world) as shared:
        wait_until(lambda: not shared.pending(), 60, "every request ended", every=0.5)
        history = shared.history(None, 100_000)
    restarts = world.restarts()
    late = [c for c in restarts if c["api_key"] == frozen.key and c["t"] >= resumed_sim]
    assert late == [], f"the fenced replica sent {len(late)} restarts after it resumed"
    assert other.leading() and not frozen.leading()
    assert frozen.readiness()["role"] == "standby" and other.readiness()["role"] == "leader"
    assert frozen.ready() == 200 and other.ready() == 200, "the fenced replica is a ready standby"
    assert frozen.process.poll() is None, "the fenced replica stays up, as a standby"
    ended: dict[str, int] = defaultdict(int)
    for record in history:
        ended[record.key.connector] += 1
    sent: dict[str, int] = defaultdict(int)
    for call in restarts:
        sent[call["connector"]] += 1
    assert all(ended[name] == 1 and sent[name] <= 1 for name in requested), "one outcome, at most one call, each"
    assert_backoff_held(restarts)


def test_a_database_outage_longer_than_the_lease_stops_every_replica_and_heals_itself(tmp_path: Path) -> None:
    server = PostgresServer()
    server.start()
    world = HaWorld(tmp_path, server, server.database(), rules(), lease=LEASE)
    try:
        world.start_simulator(scenario(flaky_connectors() + [{"name": f"steady-{i}"} for i in range(10)]))
        world.start("a")
        world.start("b")
        leader = world.leader()
        wait_until(lambda: len(world.restarts()) >= 4, 20, "restarts under way")
        down_sim = world.sim_time()
        server.stop("fast")
        outage = LEASE["lease_duration"] + 2.0
        wait_until(lambda: not any(r.leading() for r in world.replicas.values()), LEASE["renew_deadline"] + 3,
                   "every replica stops leading")
        time.sleep(max(0.0, outage - (world.sim_time() - down_sim)))
        up_sim = world.sim_time()
        server.start()
        new = world.leader(timeout=LEASE["lease_duration"] + 10)
        wait_until(lambda: any(c["t"] > up_sim for c in world.restarts()), 20, "restarts resume")
        wait_until(lambda: new.ready() == 200, 20, "the leader is ready again")
        restarts = world.restarts()
        # The leader stops sending by its renew deadline; nobody sends until the database is back.
        silent = [c for c in restarts if down_sim + LEASE["renew_deadline"] + 0.1 < c["t"] < up_sim]
        assert silent == [], f"{len(silent)} restarts sent while no replica held a valid lease"
        assert all(r.process is not None and r.process.poll() is None for r in world.replicas.values())
        wait_until(lambda: world.other(new).ready() == 200, 10, "the standby is ready again")
        assert world.other(new).readiness()["role"] == "standby"
        assert leader.events("leadership_lost"), "the leader said why it stopped"
        assert_backoff_held(restarts)
    finally:
        world.stop()
        print(world.tails())
        server.destroy()
