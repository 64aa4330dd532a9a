"""A real PostgreSQL failover under a running `watchdog run`: a primary and its streaming standby
(bench/pg_standby.py), the daemon's state.url naming both hosts with
`target_session_attrs=read-write` (docs/high-availability.md), the primary stopped and the
standby promoted while restarts are queued.

Each test makes its own primary and standby and removes them; about 20 s each on an idle machine."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.ha import HaWorld, Replica, scenario, wait_until
from bench.pg_standby import StreamingStandby
from bench.postgres import PostgresServer

pytestmark = pytest.mark.process

LEASE: dict[str, float] = {"lease_duration": 6, "renew_deadline": 4, "renew_interval": 1}
REQUESTED = [f"requested-{i:02d}" for i in range(30)]


class Pair:
    def __init__(self) -> None:
        self.primary = PostgresServer()
        self.primary.start()
        self.standby: StreamingStandby | None = None
        try:
            url = self.primary.database()
            self.name = url.rsplit("/", 1)[1]
            self.standby = StreamingStandby(self.primary)
            self.standby.start()
        except BaseException:
            self.destroy()
            raise

    @property
    def url(self) -> str:
        assert self.standby is not None
        return (f"postgresql://watchdog@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}/{self.name}"
                "?target_session_attrs=read-write")

    def query(self, server: PostgresServer, sql: str) -> list[tuple[Any, ...]]:
        with server.connect(self.name) as conn:
            return conn.execute(sql).fetchall()

    def pending(self) -> int:
        """Requests pending in the new primary (the standby, promoted)."""
        assert self.standby is not None
        return int(self.query(self.standby, "SELECT count(*) FROM pending_request")[0][0])

    def primary_pending(self) -> int:
        """Requests pending in the primary, before the failover."""
        return int(self.query(self.primary, "SELECT count(*) FROM pending_request")[0][0])

    def destroy(self) -> None:
        if self.standby is not None:
            self.standby.destroy()
        self.primary.destroy()


@pytest.fixture
def pair() -> Iterator[Pair]:
    made = Pair()
    try:
        yield made
    finally:
        made.destroy()


@pytest.fixture
def world(tmp_path: Path, pair: Pair) -> Iterator[HaWorld]:
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 60}, "select": {"include": ["requested-*", "later-*"]}}]
    made = HaWorld(tmp_path, pair.primary, pair.url, rules, lease=LEASE,
                   settings={"rate_limit": {"max_requests_per_second": 10, "max_concurrent_requests": 1}})
    try:
        yield made
    finally:
        made.stop()
        print(made.tails())


LATER = [f"later-{i:02d}" for i in range(10)]


def leader_asked_for_every_restart(world: HaWorld) -> Replica:
    """One replica leading, each of REQUESTED asked for through its API (202); LATER are
    connectors too, asked for by none yet."""
    world.start_simulator(scenario([{"name": n} for n in REQUESTED + LATER]))
    replica = world.start("a")
    assert world.leader() is replica
    wait_until(lambda: replica.ready() == 200, 30, "the leader is ready")
    with httpx.Client(timeout=10) as client:
        for name in REQUESTED:
            assert world.request_restart(replica, name, client).status_code == 202
    return replica


def caught_up(pair: Pair) -> StreamingStandby:
    """The standby, once it has replayed all the primary has written so far."""
    standby = pair.standby
    assert standby is not None
    wait_until(lambda: standby.caught_up(pair.primary), 10, "the standby caught up")
    return standby


def test_restarts_queued_across_a_database_failover_are_sent_once_not_dropped(world: HaWorld, pair: Pair) -> None:
    # 60 restarts asked for through the API (each answered 202), a 10/s budget: the primary
    # stopped (fast) with 34 of them queued, the standby promoted 0.5 s later. The first queued
    # restart whose turn met the database gone ended `dropped`, and so did every one behind it,
    # each turn failing at once ("the last attempt to connect failed less than a second ago"):
    # all 34 `dropped` within 0.2 s, never sent, though the leader kept its lease and the new
    # primary took writes a second later. They now wait for the store, and go.
    replica = leader_asked_for_every_restart(world)
    wait_until(lambda: len(world.restarts()) >= 5, 20, "restarts under way")
    standby = caught_up(pair)
    pair.primary.stop("fast")
    sent_at_failover = len(world.restarts())
    assert sent_at_failover < len(REQUESTED) - 10, "too few restarts left queued to fail over"
    time.sleep(0.5)
    standby.promote()
    promoted = time.monotonic()

    wait_until(lambda: pair.pending() == 0, 40, "every request ended", every=0.5)
    # The queue tries the store again within seconds (engine/store_probe.py): with nothing else
    # writing (a poll every 60 s), the restarts waited for the 30 s sign of life before.
    assert time.monotonic() - promoted < 15, f"the queue went on {time.monotonic() - promoted:.1f}s after the promotion"

    sent = Counter(c["connector"] for c in world.restarts())
    assert sorted(sent) == REQUESTED, f"never sent: {sorted(set(REQUESTED) - set(sent))}"
    assert max(sent.values()) == 1, f"sent twice: {[n for n, k in sent.items() if k > 1]}"
    outcomes = Counter(row[0] for row in pair.query(standby, "SELECT outcome FROM restart_history"))
    assert outcomes == {"accepted": len(REQUESTED)}, outcomes
    assert replica.leading(), "the leader led on across the failover"
    waited = replica.events("restart_waiting_for_state")
    assert waited and not replica.events("restart_job_crashed")
    # The standby had every commit (a fast stop sends the last WAL to it): nothing was lost, none said.
    assert not replica.events("state_database_rolled_back")


def test_a_failover_that_loses_the_last_commits_is_said_and_sends_nothing_twice(world: HaWorld, pair: Pair) -> None:
    # An asynchronous standby 8 s behind, promoted (pg_ctl stop -m immediate on the primary): the
    # new primary's lease row still named the leader under its epoch, 8 s old, so the leader
    # renewed it and led on, and nothing said a word, though 31 of 46 history records were gone
    # and the requests of the 8 restarts it had sent and finished in those seconds were pending
    # again: at the next rollout the new leader sent each of them a second time. The leader now
    # says its database lost commits, and finishes those requests again.
    first = leader_asked_for_every_restart(world)
    standby = caught_up(pair)
    standby.cut_off()  # every request is on it; what the leader writes from now on is not
    cut_at = len(world.restarts())
    wait_until(lambda: len(world.restarts()) >= cut_at + 8, 20, "restarts sent after the standby fell behind")
    time.sleep(LEASE["renew_interval"] * 2)  # renewals the standby never receives
    pair.primary.stop("immediate")
    standby.promote()
    wait_until(lambda: bool(first.events("state_database_rewritten")), 15, "the leader writes again what was lost")
    (said,) = first.events("state_database_rolled_back")
    assert said["level"] == "error"
    assert LEASE["renew_interval"] * 2 <= said["lost_seconds"] <= 60, said
    (rewritten,) = first.events("state_database_rewritten")
    assert rewritten["finished_again"] >= 8, rewritten
    assert first.leading(), "the lease survived: the leader leads on"

    wait_until(lambda: pair.pending() == 0, 30, "every request ended", every=0.5)
    # A rollout: the next leader recovers what the database says is pending (nothing now).
    second = world.start("b")
    assert first.process is not None
    first.process.terminate()
    first.process.wait(timeout=30)
    wait_until(second.leading, 15, "the next replica leads")
    wait_until(lambda: second.ready() == 200, 30, "the next leader is ready")
    time.sleep(2)
    sent = Counter(c["connector"] for c in world.restarts())
    assert sorted(sent) == REQUESTED, f"never sent: {sorted(set(REQUESTED) - set(sent))}"
    assert max(sent.values()) == 1, f"sent twice: {sorted(n for n, k in sent.items() if k > 1)}"
    history = Counter(row[0] for row in pair.query(standby, "SELECT connector FROM restart_history"))
    assert max(history.values()) == 1, "a restart recorded twice"


def test_a_failover_that_loses_a_takeover_sends_nothing_twice_and_loses_nothing(world: HaWorld, pair: Pair) -> None:
    # The standby misses a change of leader: a was killed with a backlog, b took the lease over
    # and sent what a had left, then the primary died and the standby was promoted. Its lease row
    # named a under a's epoch. b took its refused renewal for a takeover ("its epoch is newer"),
    # stood by, led again and recovered the restarts it had finished (their ends were lost): each
    # sent a second time; and those b had accepted and not sent yet were lost, the API saying
    # them pending for good (a failover probe: 34 sent twice, 32 of 40 lost).
    first = leader_asked_for_every_restart(world)
    second = world.start("b")
    standby = caught_up(pair)  # every request is on it; the change of leader will not be
    standby.cut_off()
    assert first.process is not None
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    wait_until(second.leading, 20, "b takes the lease over")
    wait_until(lambda: pair.primary_pending() == 0, 30, "b sent what a left", every=0.5)
    with httpx.Client(timeout=10) as client:
        for name in LATER:
            assert world.request_restart(second, name, client).status_code == 202
    pair.primary.stop("immediate")  # b's last commits, its lease among them, are not on the standby
    standby.promote()

    wait_until(lambda: bool(second.events("state_database_rewritten")), 20, "b writes again what was lost")
    (said,) = second.events("state_database_rolled_back")
    assert said["found_holder"].startswith("replica-a/") and said["held_epoch"] == said["found_epoch"] + 1, said
    assert not second.events("leadership_lost"), "b took the rollback for a takeover"
    wait_until(lambda: pair.pending() == 0, 30, "every request ended", every=0.5)
    # One on the wire when a was killed ends `interrupted` (it may not have reached the API), not sent again.
    interrupted = {e["connector"] for e in second.events("restart_finished") if e["outcome"] == "interrupted"}
    wait_until(lambda: {c["connector"] for c in world.restarts()} | interrupted == set(REQUESTED + LATER), 30,
               "every restart asked for was sent", every=0.5)
    sent = Counter(c["connector"] for c in world.restarts())
    assert max(sent.values()) == 1, f"sent twice: {sorted(n for n, k in sent.items() if k > 1)}"
    assert second.leading(), "b leads on"
