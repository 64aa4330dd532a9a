"""A PostgreSQL restarted or failed over between two uses of the store (a minor-version upgrade,
a managed database's maintenance, a failover: over in seconds). The server's goodbye ("terminating
connection due to administrator command") waits on the store's idle connection and is read only at
its next use, minutes later perhaps: that first call failed, whatever it was (a restart request
answered 503 "cannot record decisions now", a new leader's pruning at a takeover). Such a call is now made again on a new connection, once, where
that is safe: a read, or a transaction's start (BEGIN and the fence), before anything was written."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from bench.ha import HaWorld, scenario, wait_until
from bench.postgres import PostgresServer, take_lease
from watchdog.model import ConnectorKey, ConnectorState, RestartRequest, Trigger
from watchdog.state.errors import StateStoreError
from watchdog.state.postgres import PostgresStateStore

from .test_database_silent import SilentProxy

ORDERS = ConnectorKey("prod", "orders")


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    """A server of this test's own: the tests restart it."""
    made = PostgresServer()
    made.start()
    try:
        yield made
    finally:
        made.destroy()


def restarted(server: PostgresServer) -> None:
    server.stop("fast")
    server.start()


def test_the_first_calls_after_a_database_restart_long_over_succeed(server: PostgresServer) -> None:
    url = server.database()
    with PostgresStateStore(url, password=server.password) as store:
        store.fence(take_lease(server, url))
        store.save(ORDERS, ConnectorState(attempts=1))
        restarted(server)
        assert store.load(ORDERS).attempts == 1, "a read"
        restarted(server)
        store.save(ORDERS, ConnectorState(attempts=2))  # a write: its transaction's start
        restarted(server)
        with store.batch():
            store.add_pending(RestartRequest("request-1", ORDERS, "manual", Trigger.MANUAL, "by hand",
                                             datetime.now(timezone.utc)), "job-1")
        assert [p.job_id for p in store.pending()] == ["job-1"] and store.load(ORDERS).attempts == 2
        assert store.problem is None


def test_a_database_down_still_fails_the_call_at_once(server: PostgresServer) -> None:
    url = server.database()
    with PostgresStateStore(url, password=server.password) as store:
        store.fence(take_lease(server, url))
        server.stop("fast")
        started = time.monotonic()
        with pytest.raises(StateStoreError, match="could not save"):
            store.save(ORDERS, ConnectorState(attempts=1))
        assert time.monotonic() - started < 5
        server.start()


@pytest.mark.process
def test_a_restart_asked_for_after_a_database_restart_is_sent_not_refused(tmp_path: Path, server: PostgresServer) -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 300, "confirm_polls": 1}, "select": {"include": ["*"]}}]
    world = HaWorld(tmp_path, server, server.database(), rules,
                    lease={"lease_duration": 15, "renew_deadline": 10, "renew_interval": 2})
    try:
        world.start_simulator(scenario([{"name": "orders"}]))
        leader = world.start("a")
        wait_until(lambda: leader.ready() == 200 and leader.leading(), 30, "the replica leads and has polled")
        restarted(server)
        wait_until(lambda: not leader.events("leader_lease_unreachable")
                   or bool(leader.events("leader_lease_reachable")), 10, "the lease renewed again")
        with httpx.Client(timeout=10) as client:
            answer = world.request_restart(leader, "orders", client)
        assert answer.status_code == 202, answer.text
        wait_until(lambda: any(c["connector"] == "orders" for c in world.restarts()), 10, "the restart is sent")
        assert not leader.events("http_request_not_recorded")
    finally:
        world.stop()
        print(world.tails())


def test_a_connection_lost_while_waited_on_is_not_tried_again(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    """Lost after a wait (a route gone: TCP's timeout ends it), the connection is no blip long over:
    a new one would hold the event loop for the connect timeout (3 s) more, against a database that
    answers no better (played by a proxy that, silent, cuts its connections after 2 s and takes new
    ones without forwarding them)."""
    proxy = SilentProxy(postgres_server.port)
    try:
        with PostgresStateStore(proxy.url(postgres_url, postgres_server), password=postgres_server.password) as store:
            store.load(ORDERS)
            proxy.silence()
            threading.Timer(2.0, proxy.cut).start()
            started = time.monotonic()
            with pytest.raises(StateStoreError):
                store.load(ORDERS)
            assert time.monotonic() - started < 3.5, "a new connection was tried, and waited for"
    finally:
        proxy.close()


def test_a_commit_point_in_a_batch_tells_the_store_the_database_takes_writes_again(server: PostgresServer) -> None:
    """A failed write leaves `problem` set, and the queue drops what it would send while it is set
    (a restart whose attempt could not be counted). A restart remembered in a poll's batch once the
    database was back (its commit point the batch's last write) committed, yet left `problem`
    set until the next write outside a batch (the lease's, up to renew_interval later): the
    restart it had just remembered was dropped. The SQLite store had the same (review-scale)."""
    url = server.database()
    with PostgresStateStore(url, password=server.password) as store:
        store.fence(take_lease(server, url))
        server.stop("fast")
        with pytest.raises(StateStoreError):
            store.save(ORDERS, ConnectorState(attempts=1))
        assert store.problem is not None
        server.start()
        time.sleep(1.1)  # the store tries a new connection at most once a second
        with store.batch():
            store.add_pending(RestartRequest("request-1", ORDERS, "heal", Trigger.STATUS, "FAILED",
                                             datetime.now(timezone.utc)), "job-1")
        assert [p.job_id for p in store.pending()] == ["job-1"]
        assert store.problem is None, "committed, yet the store still reports the failure before it"
