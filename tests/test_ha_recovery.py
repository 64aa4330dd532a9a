"""A new leader's recovery of a large backlog, with its PostgreSQL some milliseconds away: it must
end well within the lease, or the lease goes to a standby that recovers the same backlog again.

Recovery runs on the event loop in one transaction that share-locks the lease row (fencing), so
nothing can renew the lease while it runs (a renewal updates that row too): a recovery longer
than renew_deadline is a late renewal at best, longer than lease_duration a race at its commit
between the leader's renewal and a standby's takeover that a standby wins about half the time,
recovering everything again (docs/high-availability.md).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import delay_proxy
from bench.ha import HaWorld, scenario, wait_until
from bench.postgres import PostgresServer, take_lease
from bench.schedule_store import Traced
from watchdog.app import Daemon
from watchdog.model import ConnectorKey, RestartRequest, Trigger
from watchdog.state.postgres import PostgresStateStore

from .support import CLUSTER, daemon_config, in_process, sim_scenario

HEAL = {"name": "heal", "select": {"include": ["*"]}, "trigger": {"type": "status", "interval": 60, "confirm_polls": 1}}


def keep(server: PostgresServer, url: str, names: list[str], trigger: Trigger, holder: str = "test-replica") -> None:
    """Restarts of `names` accepted and kept by a leader that then died: pending in the database."""
    at = datetime.now(UTC)
    with PostgresStateStore(url, password=server.password) as old:
        old.fence(take_lease(server, url, holder), holder)
        with old.batch(whole=True):
            for name in names:
                old.add_pending(RestartRequest(id=secrets.token_hex(8), key=ConnectorKey(CLUSTER, name), rule="heal",
                                               trigger=trigger, reason="asked", requested_at=at), secrets.token_hex(8))


def test_a_recovery_costs_a_few_round_trips_whatever_the_backlog(postgres_server: PostgresServer, postgres_url: str) -> None:
    # 400 restarts asked for by name (each queued again under a new job: a write) and 400 a
    # poll's (each ended for the next poll to decide again: a history record and the request's
    # removal), kept when the last leader died. Written one after the other, each waiting for
    # its answer, they were 1,200 round trips: with the database 3 ms away, 3,000 of the first
    # kind held a new leader's event loop 16 s and 2,000 of the second 22 s, past the lease.
    asked = [f"asked-{i:03d}" for i in range(400)]
    polled = [f"polled-{i:03d}" for i in range(400)]
    keep(postgres_server, postgres_url, asked, Trigger.MANUAL)
    keep(postgres_server, postgres_url, polled, Trigger.STATUS)
    with Traced(postgres_url, password=postgres_server.password) as far:
        far.fence(take_lease(postgres_server, postgres_url), "test-replica")
        w = in_process(sim_scenario([{"name": n} for n in asked + polled]), daemon_config([HEAL]))
        daemon = Daemon(w.daemon.config, transport=w.daemon._transport, state=far)
        far.restart_count()
        with far.batch(whole=True):
            pass
        overhead = far.round_trips()  # a whole batch with nothing in it: its fence, its end
        far.restart_count()
        assert daemon.engine.recover() == (len(asked), len(polled))
        trips = far.round_trips()
    with PostgresStateStore(postgres_url, password=postgres_server.password, read_only=True) as check:
        assert len(check.pending()) == len(asked)
        assert len(check.history(limit=1000)) == len(polled)
    # The recovery's batch, plus the breaker's history read and the clock's and the dry run's
    # batches: 12 here, whatever the backlog.
    assert trips <= overhead + 12, f"recovering {len(asked) + len(polled)} kept requests took {trips} round trips"


@pytest.fixture
def far_world(tmp_path: Path, postgres_server: PostgresServer, postgres_url: str) -> Iterator[HaWorld]:
    """Two replicas (lease 6 s, deadline 4 s, a try every second, as tests/test_ha.py's) whose
    database is 5 ms away, behind bench/delay_proxy.py."""
    port, proxy = delay_proxy.start(postgres_server.port, 0.005)
    far = postgres_url.replace(f":{postgres_server.port}/", f":{port}/")
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 60, "confirm_polls": 1},
              "select": {"include": ["kept-*"]}, "max_restarts": None}]
    made = HaWorld(tmp_path, postgres_server, far, rules, lease={"lease_duration": 6, "renew_deadline": 4, "renew_interval": 1})
    made.settings = {"rate_limit": {"max_requests_per_second": 50, "max_concurrent_requests": 4}}
    try:
        yield made
    finally:
        made.stop()
        proxy.terminate()
        proxy.wait(timeout=10)
        if proxy.stdout is not None:
            proxy.stdout.close()
        print(made.tails())


@pytest.mark.process
def test_a_new_leader_recovering_a_large_backlog_keeps_the_lease_and_sends_it(
    far_world: HaWorld, postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # The leader died with 1,500 restarts asked for by name still queued; both replicas stand by
    # until its lease expires. The one that takes the lease recovered them a round trip each,
    # 9 s with the database 5 ms away, past the lease (6 s): it renewed late, or a standby took
    # the lease at the recovery's commit, stepped down the first (nothing sent) and recovered the
    # same backlog again, past the lease again. Now one replica leads from the start, renews in
    # time, and sends.
    names = [f"kept-{i:04d}" for i in range(1500)]
    keep(postgres_server, postgres_url, names, Trigger.MANUAL, holder="the-old-leader")
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as admin:  # its last renewal, 12 s from now
        admin.execute("UPDATE leader_lease SET expires_at = clock_timestamp() + interval '12 seconds', "
                      "renewed_at = clock_timestamp()")
    world = far_world
    world.start_simulator(scenario([{"name": n} for n in names], restart={"delay_seconds": 0.01}))
    world.start("a")
    world.start("b")
    assert not any(r.leading() for r in world.replicas.values()), "the old leader's lease had not expired yet"
    leader = world.leader(timeout=30)
    wait_until(lambda: bool(leader.events("recovered_requests")), 30, "the leader recovered the backlog")
    wait_until(lambda: len(world.restarts()) >= 20, 30, "20 of the kept restarts sent")
    time.sleep(3 * 1.0)  # three more renewals
    events = {r.name: [e["event"] for e in r.events()] for r in world.replicas.values()}
    elected = sum(e.count("leader_elected") for e in events.values())
    assert elected == 1, f"the lease changed hands: {elected} elections"
    assert not any("leadership_lost" in e for e in events.values())
    assert "leader_lease_renewed_late" not in events[leader.name], "the recovery held the leader past renew_deadline"
    assert {c["api_key"] for c in world.restarts()} == {leader.key}, "the replica that did not lead sent restarts"


def test_a_whole_batch_whose_pipelined_write_fails_keeps_none_of_it(postgres_server: PostgresServer, postgres_url: str) -> None:
    # A whole batch's writes are pipelined: one refused by the server is known only at the
    # batch's end. All or none still: the error names the store, nothing of the batch is kept,
    # and the store writes again at once.
    from watchdog.state import StateStoreError

    at = datetime.now(UTC)

    def request(name: str) -> RestartRequest:
        return RestartRequest(id=secrets.token_hex(8), key=ConnectorKey(CLUSTER, name), rule="heal",
                              trigger=Trigger.MANUAL, reason="asked", requested_at=at)

    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        store.fence(take_lease(postgres_server, postgres_url), "test-replica")
        with pytest.raises(StateStoreError, match="PostgreSQL database .*division by zero"):  # noqa: PT012
            with store.batch(whole=True):
                store.add_pending(request("first"), "j1")
                with store._write("divide") as db:
                    db.execute("SELECT 1 / 0")  # refused by the server, not by the client
                store.add_pending(request("last"), "j2")
        assert store.pending() == []
        store.add_pending(request("after"), "j3")
        assert [p.request.key.connector for p in store.pending()] == ["after"]
