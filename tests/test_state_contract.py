"""The state store contract (watchdog/state/contract.py), run against both backends: the embedded
SQLite file and a real PostgreSQL server (bench/postgres.py). Round trips, the pending-request
flow and its transactions, history and its pruning, batches, and (PostgreSQL) fencing by epoch.

`reopened()` is what a daemon started after a crash, or another replica, would read: only what was
committed (SQLite: a read-only reader beside the writer, which holds the file's lock; PostgreSQL:
another connection)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.postgres import PostgresServer, take_lease
from watchdog.model import (
    ConnectorKey,
    ConnectorState,
    Health,
    Outcome,
    PendingPhase,
    PendingRequest,
    Trigger,
)
from watchdog.report import StatusRow
from watchdog.state import MEMORY, Fenced, SqliteStateStore, StateStore, StateStoreError, pruning
from watchdog.state.postgres import PostgresStateStore
from watchdog.state.postgres_schema import MIGRATIONS as POSTGRES_MIGRATIONS
from watchdog.state.schema import MIGRATIONS as SQLITE_MIGRATIONS

from .state_samples import (
    AUDIT,
    BILLING,
    FULL_STATE,
    OLDER_DRY_RUN_RECORDS,
    OLDER_DRY_RUN_STATE,
    OLDER_LEAKY_RECORD,
    ORDERS,
    T0,
    Clock,
    record,
    request,
)

Reopen = Callable[[], AbstractContextManager[StateStore]]
FailOn = Callable[[str, str], None]
OpenStore = Callable[[Callable[[], datetime]], AbstractContextManager[StateStore]]


class Backend:
    """How one backend opens, reopens and breaks a store."""

    def __init__(self, name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.name = name
        if name == "sqlite":
            self.path = tmp_path / "watchdog.db"
        else:
            self.server: PostgresServer = request.getfixturevalue("postgres_server")
            self.url: str = request.getfixturevalue("postgres_url")

    def open(self, now: Callable[[], datetime] | None = None) -> StateStore:
        now = now or Clock(T0 + timedelta(days=1))
        if self.name == "sqlite":
            return SqliteStateStore(self.path, now=now)
        store = PostgresStateStore(self.url, password=self.server.password, now=now)
        store.fence(take_lease(self.server, self.url))
        return store

    def reopen(self) -> StateStore:
        if self.name == "sqlite":
            return SqliteStateStore(self.path, read_only=True)
        return PostgresStateStore(self.url, password=self.server.password, read_only=True)

    def fail_on(self, table: str, event: str) -> None:
        """Make the next write of `event` on `table` fail inside the database, part-way through a
        transaction."""
        name = f"fail_{event.lower()}"
        if self.name == "sqlite":
            with sqlite3.connect(self.path) as db:
                db.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
            db.close()
            return
        with psycopg.connect(self.url, password=self.server.password.get_secret_value(), autocommit=True) as db:
            db.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "  # type: ignore[arg-type]
                       "$$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$")
            db.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def backend_of_store(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(str(request.param), tmp_path, request)


@pytest.fixture
def store(backend_of_store: Backend) -> Iterator[StateStore]:
    opened = backend_of_store.open()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def reopened(backend_of_store: Backend) -> Reopen:
    def reopen() -> AbstractContextManager[StateStore]:
        return backend_of_store.reopen()  # type: ignore[return-value]  # both stores are context managers

    return reopen


@pytest.fixture
def fail_on(backend_of_store: Backend) -> FailOn:
    return backend_of_store.fail_on


@pytest.fixture
def open_store(backend_of_store: Backend) -> OpenStore:
    return backend_of_store.open  # type: ignore[return-value]


# -- per-connector state -------------------------------------------------------------------------


def test_both_stores_say_they_outlive_the_daemon_and_memory_does_not(store: StateStore) -> None:
    # The log's note for an `unsent` restart ("kept ..., sent at the next start") rests on it.
    assert store.durable is True
    with SqliteStateStore(MEMORY) as in_memory:
        assert in_memory.durable is False


def test_an_unknown_connector_has_the_initial_state(store: StateStore) -> None:
    assert store.load(ORDERS) == ConnectorState()


def test_state_round_trips_exactly(store: StateStore, reopened: Reopen) -> None:
    healthy = ConnectorState(attempts=1, health=Health.HEALTHY, healthy_since=T0 + timedelta(seconds=1))
    store.save(ORDERS, FULL_STATE)
    store.save(BILLING, healthy)
    with reopened() as other:
        assert other.load(ORDERS) == FULL_STATE
        assert other.load(BILLING) == healthy
        assert list(other.items()) == [(BILLING, healthy), (ORDERS, FULL_STATE)]


def test_times_in_other_zones_are_kept_as_the_same_instant_in_utc(store: StateStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    store.save(ORDERS, ConnectorState(last_restart_at=datetime(2026, 3, 29, 12, 0, tzinfo=plus_two)))
    loaded = store.load(ORDERS).last_restart_at
    assert loaded == T0 and loaded.tzinfo == timezone.utc


def test_naive_times_are_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        store.save(ORDERS, ConnectorState(last_restart_at=datetime(2026, 3, 29, 10, 0)))
    assert store.load(ORDERS) == ConnectorState()


def test_save_replaces_and_forget_drops_only_that_connector(store: StateStore) -> None:
    store.save(ORDERS, FULL_STATE)
    store.save(ORDERS, ConnectorState(attempts=1))
    store.save(BILLING, FULL_STATE)
    store.forget(ORDERS)
    store.forget(AUDIT)  # never seen: nothing to do
    assert dict(store.items()) == {BILLING: FULL_STATE}


def test_forgetting_a_connector_keeps_its_history(store: StateStore) -> None:
    store.finish("j1", ORDERS, FULL_STATE, record("j1"))
    store.forget(ORDERS)
    assert [r.job_id for r in store.history(ORDERS)] == ["j1"]


def test_status_rows_join_the_state_and_the_last_seen_status(store: StateStore) -> None:
    store.observe_status(ORDERS, "FAILED", T0)
    store.save(ORDERS, FULL_STATE)  # saving the state keeps the seen status...
    store.save(BILLING, ConnectorState(health=Health.HEALTHY))
    store.observe_status(BILLING, "RUNNING", T0 + timedelta(seconds=5))  # ...and the reverse
    store.observe_status(AUDIT, "PROVISIONING", T0)  # seen before any state was saved
    assert store.rows() == [
        StatusRow(BILLING, ConnectorState(health=Health.HEALTHY), "RUNNING", T0 + timedelta(seconds=5)),
        StatusRow(ORDERS, FULL_STATE, "FAILED", T0),
        StatusRow(AUDIT, ConnectorState(), "PROVISIONING", T0),
    ]


def test_the_rows_seen_before_a_moment_are_those_the_sweep_may_forget(store: StateStore) -> None:
    # The hourly sweep reads only these (StatusIntake.forget_vanished): the connectors a poll saw
    # since are not read at all, nor one never seen (a state saved without a status) that has no
    # time to count a grace from (one with a restart time: tests/test_forget_unpolled.py). At the moment itself counts as before, as the sweep's grace does.
    store.observe_status(ORDERS, "FAILED", T0, state=FULL_STATE)
    store.observe_status(BILLING, "RUNNING", T0 + timedelta(microseconds=1))
    store.observe_status(AUDIT, "RUNNING", T0 - timedelta(days=2))
    store.save(ConnectorKey("prod", "never-seen"), ConnectorState(attempts=1))
    assert store.rows_seen_before(T0) == [
        StatusRow(ORDERS, FULL_STATE, "FAILED", T0),
        StatusRow(AUDIT, ConnectorState(), "RUNNING", T0 - timedelta(days=2)),
    ]
    assert store.rows_seen_before(T0 - timedelta(days=3)) == []


def test_a_status_seen_and_a_state_are_written_together(store: StateStore, reopened: Reopen) -> None:
    # A poll writes what it saw and the connector's state in one statement (one round trip).
    store.save(ORDERS, ConnectorState(attempts=3))
    store.observe_status(ORDERS, "FAILED", T0, state=FULL_STATE)
    store.observe_status(BILLING, "RUNNING", T0, state=ConnectorState(health=Health.HEALTHY))  # a new row
    store.observe_status(AUDIT, "PAUSED", T0)  # without a state: the status only, as before
    with reopened() as other:
        assert other.rows() == [
            StatusRow(BILLING, ConnectorState(health=Health.HEALTHY), "RUNNING", T0),
            StatusRow(ORDERS, FULL_STATE, "FAILED", T0),
            StatusRow(AUDIT, ConnectorState(), "PAUSED", T0),
        ]
    store.observe_status(ORDERS, "RUNNING", T0 + timedelta(seconds=5))  # keeps the state
    assert store.load(ORDERS) == FULL_STATE
    with pytest.raises(ValueError, match="no time zone"):
        store.observe_status(BILLING, "FAILED", T0, state=ConnectorState(last_restart_at=datetime(2026, 3, 29, 10, 0)))
    assert store.load(BILLING) == ConnectorState(health=Health.HEALTHY)


def test_many_states_are_loaded_at_once(store: StateStore) -> None:
    store.save(ORDERS, FULL_STATE)
    store.save(BILLING, ConnectorState(attempts=1))
    store.observe_status(AUDIT, "RUNNING", T0)  # a status seen, no state saved: the initial state
    unknown = ConnectorKey("other", "orders")  # same name, another cluster: not ORDERS' state
    assert store.load_many([AUDIT, ORDERS, unknown, BILLING]) == {
        AUDIT: ConnectorState(), ORDERS: FULL_STATE, unknown: ConnectorState(), BILLING: ConnectorState(attempts=1)}
    assert store.load_many([]) == {}
    many = [ConnectorKey("big", f"c{i:04d}") for i in range(1000)]  # more than one read's parameters (SQLite)
    with store.batch():
        for i, key in enumerate(many[::100]):
            store.save(key, ConnectorState(attempts=i + 1))
    loaded = store.load_many(many)
    assert list(loaded) == many
    assert [loaded[key].attempts for key in many[::100]] == list(range(1, 11))
    assert sum(state.attempts for state in loaded.values()) == sum(range(1, 11))


# -- history -------------------------------------------------------------------------------------


def test_history_round_trips_every_field(store: StateStore, reopened: Reopen) -> None:
    evidence = {
        "state": "FAILED",
        "trace": "org.apache.kafka.connect.errors.ConnectException: boom\n\tat X.y(X.java:1)",
        "tasks": [{"id": 0, "state": "FAILED", "msg": "Invalid credentials", "trace": "é ☃ \u0000 null byte"}],
    }
    full = record(
        "j1", at=T0 + timedelta(microseconds=1), trigger=Trigger.ALERT, triggers=(Trigger.STATUS, Trigger.ALERT),
        outcome=Outcome.SERVER_ERROR, status_code=503, request_id="abc", message="HTTP 503: busy", tries=4,
        attempt=2, evidence=evidence, recommendations=("Check the API key", "Rotate it"),
        reason="alert Connector lag é ☃\n\tasked by alice", origin="3c5e8a17d0b2f946",  # who asked, and why
    )
    bare = record(
        "j2", key=BILLING, at=T0 + timedelta(minutes=1), trigger=Trigger.SCHEDULE, triggers=(),
        outcome=Outcome.DRY_RUN, status_code=None, request_id=None, tries=0, attempt=None,
    )
    store.finish("j1", ORDERS, None, full)
    store.finish("j2", BILLING, None, bare)
    with reopened() as other:
        assert other.history() == [bare, full]


def test_history_is_newest_first_per_connector_and_limited(store: StateStore) -> None:
    for minute in range(5):
        store.finish(f"o{minute}", ORDERS, None, record(f"o{minute}", at=T0 + timedelta(minutes=minute)))
        store.finish(f"b{minute}", BILLING, None, record(f"b{minute}", BILLING, at=T0 + timedelta(minutes=minute)))
    assert [r.job_id for r in store.history(ORDERS)] == ["o4", "o3", "o2", "o1", "o0"]
    assert [r.job_id for r in store.history(limit=3)] == ["b4", "o4", "b3"]
    assert [r.job_id for r in store.history(BILLING, limit=2)] == ["b4", "b3"]
    assert store.history(AUDIT) == []


def test_history_is_read_by_cluster_or_by_connector_name_in_any_cluster(store: StateStore) -> None:
    elsewhere = ConnectorKey("staging", ORDERS.connector)
    for minute, key in enumerate((ORDERS, BILLING, elsewhere, ORDERS)):
        store.finish(f"j{minute}", key, None, record(f"j{minute}", key, at=T0 + timedelta(minutes=minute)))
    assert [r.job_id for r in store.history(connector=ORDERS.connector)] == ["j3", "j2", "j0"]
    assert [r.job_id for r in store.history(cluster="prod")] == ["j3", "j1", "j0"]
    assert [r.job_id for r in store.history(cluster="staging", connector=ORDERS.connector, limit=5)] == ["j2"]
    assert [r.job_id for r in store.history(connector=ORDERS.connector, limit=1)] == ["j3"]


def test_prune_by_age_deletes_older_records_of_every_connector(open_store: OpenStore) -> None:
    clock = Clock(T0 + timedelta(days=30))
    with open_store(clock) as store:
        store.finish("old", ORDERS, None, record("old", at=T0))
        store.finish("old-b", BILLING, None, record("old-b", BILLING, at=T0 + timedelta(days=1) - timedelta(microseconds=1)))
        store.finish("edge", ORDERS, None, record("edge", at=T0 + timedelta(days=1)))
        store.finish("new", BILLING, None, record("new", BILLING, at=T0 + timedelta(days=29)))
        assert store.prune(max_age=timedelta(days=29), max_entries=100) == 2
        assert [r.job_id for r in store.history()] == ["new", "edge"]


def test_prune_by_count_keeps_the_newest_of_each_connector(store: StateStore) -> None:
    for minute in range(6):
        store.finish(f"o{minute}", ORDERS, None, record(f"o{minute}", at=T0 + timedelta(minutes=minute)))
    store.finish("b0", BILLING, None, record("b0", BILLING, at=T0 - timedelta(minutes=5)))
    # Two records at the same instant: the one written last counts as newer.
    store.finish("o5-again", ORDERS, None, record("o5-again", at=T0 + timedelta(minutes=5)))
    assert store.prune(max_age=timedelta(days=365), max_entries=2) == 5
    assert [r.job_id for r in store.history(ORDERS)] == ["o5-again", "o5"]
    assert [r.job_id for r in store.history(BILLING)] == ["b0"], "a quiet connector keeps its history"
    assert store.prune(max_age=timedelta(days=365), max_entries=2) == 0


def test_prune_in_steps_reaches_every_connector_and_every_old_record(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon prunes in steps of a bounded number of records (pruning.py): a few old records
    # a step, a few connectors a step, in (cluster, connector) order. With steps this small, 15
    # connectors and 10 old records take several of each, and none is skipped or pruned twice:
    # the page boundaries fall between names that sort close ("a", "a-b": "a" < "a-b" < "b").
    monkeypatch.setattr(pruning, "OLD_PER_STEP", 3)
    monkeypatch.setattr(pruning, "CONNECTORS_PER_STEP", 4)
    keys = [ConnectorKey(cluster, f"n{i}") for cluster in ("a", "a-b", "b") for i in range(5)]
    with open_store(Clock(T0 + timedelta(days=30))) as store:
        for n, key in enumerate(keys):
            for minute in range(4):
                store.finish(f"{n}-{minute}", key, None, record(f"{n}-{minute}", key, at=T0 + timedelta(days=29, minutes=minute)))
        for n, key in enumerate(keys[:10]):
            store.finish(f"old-{n}", key, None, record(f"old-{n}", key, at=T0))
        steps = list(pruning.prune_steps(store, timedelta(days=29), 2))
        assert sum(steps) == 10 + 15 * 2
        assert len(steps) == 4 + 4, "ceil(10 / 3) steps of old records (the last short), 15 connectors 4 a step"
        for n, key in enumerate(keys):
            assert [r.job_id for r in store.history(key)] == [f"{n}-3", f"{n}-2"], key
        assert store.prune(timedelta(days=29), 2) == 0


@pytest.mark.parametrize(("max_age", "max_entries"), [(timedelta(0), 10), (timedelta(days=1), 0)])
def test_prune_refuses_limits_that_would_delete_everything(
    store: StateStore, max_age: timedelta, max_entries: int
) -> None:
    store.finish("j1", ORDERS, None, record("j1"))
    with pytest.raises(ValueError, match="history limits must be positive"):
        store.prune(max_age=max_age, max_entries=max_entries)
    assert len(store.history()) == 1


# -- pending requests: queued -> sending -> finished ---------------------------------------------


def test_a_request_goes_queued_then_sending_then_finished(store: StateStore, reopened: Reopen) -> None:
    alert = request("r1", trigger=Trigger.ALERT, origin="fp-123", dry_run=True, reason="alert: ConnectorDown")
    counted = ConnectorState(attempts=1, last_restart_at=T0, next_allowed_at=T0 + timedelta(minutes=2))

    store.add_pending(alert, "job-1")
    with reopened() as after_crash:
        assert after_crash.pending() == [PendingRequest(alert, "job-1", PendingPhase.QUEUED)]
        assert after_crash.load(ORDERS) == ConnectorState(), "nothing counted before the call"

    store.mark_sending("job-1", ORDERS, counted)
    with reopened() as after_crash:
        assert after_crash.pending() == [PendingRequest(alert, "job-1", PendingPhase.SENDING)]
        assert after_crash.load(ORDERS) == counted, "the attempt is counted before the call goes out"

    final = replace(counted, health=Health.FAILED)
    store.finish("job-1", ORDERS, final, record("job-1", attempt=1))
    with reopened() as after_crash:
        assert after_crash.pending() == []
        assert after_crash.load(ORDERS) == final
        assert [r.job_id for r in after_crash.history()] == ["job-1"]


def test_an_answered_request_is_queued_again_with_its_attempt_kept(store: StateStore, reopened: Reopen) -> None:
    """A 429 (or any answer) proves the call is off the wire: until its next try the request is
    as unsent as one never tried, so a restart of the daemon sends it rather than ending it."""
    store.add_pending(request("r1"), "job-1")
    store.add_pending(request("r2", BILLING, at=T0 + timedelta(seconds=1)), "job-2")
    counted = ConnectorState(attempts=1, last_restart_at=T0, next_allowed_at=T0 + timedelta(minutes=2))
    store.mark_sending("job-1", ORDERS, counted)
    store.mark_sending("job-2", BILLING, ConnectorState(attempts=1))
    store.mark_queued("job-1")
    with reopened() as after_crash:
        assert [(p.request.id, p.phase) for p in after_crash.pending()] == [
            ("r1", PendingPhase.QUEUED), ("r2", PendingPhase.SENDING),
        ], "only that job's requests"
        assert after_crash.load(ORDERS) == counted, "the attempt stays counted"
    store.mark_sending("job-1", ORDERS, counted)  # the retry goes out
    assert store.pending()[0].phase is PendingPhase.SENDING


def test_finish_without_a_state_leaves_the_state_alone(store: StateStore) -> None:
    store.save(ORDERS, FULL_STATE)
    store.add_pending(request("r1", trigger=Trigger.SCHEDULE), "job-1")
    store.finish("job-1", ORDERS, None, record("job-1", outcome=Outcome.REJECTED, status_code=400))
    assert store.load(ORDERS) == FULL_STATE
    assert store.pending() == []


def test_merged_requests_move_through_the_phases_together(store: StateStore) -> None:
    store.add_pending(request("r1"), "job-1")
    store.add_pending(request("r2", trigger=Trigger.ALERT, at=T0 + timedelta(seconds=1)), "job-1")
    store.add_pending(request("r3", BILLING, at=T0 + timedelta(seconds=2)), "job-2")
    store.mark_sending("job-1", ORDERS, ConnectorState(attempts=1))
    assert [(p.request.id, p.phase) for p in store.pending()] == [
        ("r1", PendingPhase.SENDING), ("r2", PendingPhase.SENDING), ("r3", PendingPhase.QUEUED),
    ]
    store.finish("job-1", ORDERS, None, record("job-1"))
    assert [p.request.id for p in store.pending()] == ["r3"]


def test_pending_is_oldest_first(store: StateStore) -> None:
    store.add_pending(request("late", at=T0 + timedelta(minutes=1)), "job-1")
    store.add_pending(request("early", BILLING, at=T0), "job-2")
    store.add_pending(request("early-too", AUDIT, at=T0), "job-3")
    assert [p.request.id for p in store.pending()] == ["early", "early-too", "late"]


def test_a_recovered_request_queued_again_keeps_its_phase(store: StateStore) -> None:
    store.add_pending(request("r1"), "job-old")
    store.mark_sending("job-old", ORDERS, ConnectorState(attempts=1))
    # The daemon died; the new one queues the request again, under a new job.
    store.add_pending(request("r1"), "job-new")
    assert store.pending() == [PendingRequest(request("r1"), "job-new", PendingPhase.SENDING)]
    store.finish("job-new", ORDERS, None, record("job-new"))
    assert store.pending() == []


def test_withdrawn_requests_are_forgotten(store: StateStore) -> None:
    for rid in ("r1", "r2", "r3"):
        store.add_pending(request(rid), "job-1")
    store.withdraw_pending(["r1", "r3", "unknown"])
    assert [p.request.id for p in store.pending()] == ["r2"]


def test_finish_refuses_a_record_of_another_job(store: StateStore) -> None:
    store.add_pending(request("r1"), "job-1")
    with pytest.raises(ValueError, match="given for prod/orders-source job job-1"):
        store.finish("job-1", ORDERS, None, record("job-2"))
    with pytest.raises(ValueError, match="given for prod/billing-sink"):
        store.finish("job-1", BILLING, None, record("job-1"))
    assert len(store.pending()) == 1 and store.history() == []


def test_finish_is_all_or_nothing(store: StateStore, reopened: Reopen, fail_on: FailOn) -> None:
    store.save(ORDERS, FULL_STATE)
    store.add_pending(request("r1"), "job-1")
    fail_on("pending_request", "DELETE")  # the last of finish's three writes
    with pytest.raises(StateStoreError) as caught:
        store.finish("job-1", ORDERS, ConnectorState(), record("job-1"))
    assert str(caught.value) == f"{store.description}: could not record a finished restart: disk on fire."
    with reopened() as after:
        assert after.history() == [], "the history insert was rolled back"
        assert after.load(ORDERS) == FULL_STATE, "the state save was rolled back"
        assert len(after.pending()) == 1


def test_mark_sending_is_all_or_nothing(store: StateStore, reopened: Reopen, fail_on: FailOn) -> None:
    store.add_pending(request("r1"), "job-1")
    fail_on("connector_state", "INSERT")  # after the phase flip
    with pytest.raises(StateStoreError, match="could not mark a restart as sending: disk on fire"):
        store.mark_sending("job-1", ORDERS, ConnectorState(attempts=1))
    with reopened() as after:
        assert after.pending()[0].phase is PendingPhase.QUEUED
        assert after.load(ORDERS) == ConnectorState()


def test_the_store_works_after_a_failed_transaction(store: StateStore, fail_on: FailOn) -> None:
    fail_on("restart_history", "INSERT")
    with pytest.raises(StateStoreError):
        store.finish("job-1", ORDERS, None, record("job-1"))
    store.save(ORDERS, FULL_STATE)  # no transaction was left open
    assert store.load(ORDERS) == FULL_STATE


# -- batches -------------------------------------------------------------------------------------


def test_a_batch_commits_its_writes_together(store: StateStore, reopened: Reopen) -> None:
    with store.batch():
        store.observe_status(ORDERS, "FAILED", T0)
        store.save(ORDERS, FULL_STATE)
        assert store.load(ORDERS) == FULL_STATE, "a batch reads its own writes"
    with reopened() as other:
        assert other.rows() == [StatusRow(ORDERS, FULL_STATE, "FAILED", T0)]


def test_a_batchs_statuses_are_written_in_order_and_read_back(store: StateStore, reopened: Reopen) -> None:
    # PostgreSQL sends a batch's statuses with its next statement, together: still in order,
    # still read by the batch itself, and committed with it.
    later = T0 + timedelta(seconds=5)
    with store.batch():
        store.observe_status(ORDERS, "FAILED", T0, state=FULL_STATE)
        store.observe_status(ORDERS, "RUNNING", later)  # the status only: the state stays
        store.observe_status(BILLING, "RUNNING", T0)
        store.observe_status(BILLING, "FAILED", later, state=ConnectorState(attempts=2))
        assert store.load_many([ORDERS, BILLING]) == {ORDERS: FULL_STATE, BILLING: ConnectorState(attempts=2)}
        store.observe_status(AUDIT, "FAILED", T0, state=ConnectorState(attempts=1))
        store.save(AUDIT, ConnectorState(attempts=4))  # a later write of the same row wins
    with reopened() as other:
        assert other.rows() == [
            StatusRow(BILLING, ConnectorState(attempts=2), "FAILED", later),
            StatusRow(ORDERS, FULL_STATE, "RUNNING", later),
            StatusRow(AUDIT, ConnectorState(attempts=4), "FAILED", T0),
        ]


def test_a_failed_batch_writes_none_of_its_statuses(store: StateStore, reopened: Reopen, fail_on: FailOn) -> None:
    # PostgreSQL: the statuses kept for the next statement go in its transaction, and a failure
    # rolls them back with it (SQLite writes each at once, a transaction each).
    fail_on("restart_history", "INSERT")
    with pytest.raises(StateStoreError), store.batch():
        store.observe_status(BILLING, "FAILED", T0, state=FULL_STATE)
        store.finish("job-1", ORDERS, None, record("job-1"))
    if isinstance(store, PostgresStateStore):
        with reopened() as other:
            assert other.rows() == []
    store.observe_status(ORDERS, "RUNNING", T0, state=ConnectorState(attempts=1))
    assert store.load(ORDERS) == ConnectorState(attempts=1) and store.problem is None


def test_a_request_added_inside_a_batch_is_durable_when_add_pending_returns(store: StateStore, reopened: Reopen) -> None:
    with pytest.raises(RuntimeError, match="the poll broke"), store.batch():
        store.add_pending(request("r1"), "job-1")
        with reopened() as other:
            assert [p.request.id for p in other.pending()] == ["r1"], "remembered before it is queued"
        raise RuntimeError("the poll broke")
    with reopened() as other:
        assert [p.request.id for p in other.pending()] == ["r1"], "a later failure of the batch keeps it"


def test_a_failed_batch_leaves_the_store_usable(store: StateStore, fail_on: FailOn) -> None:
    fail_on("restart_history", "INSERT")
    with pytest.raises(StateStoreError), store.batch():
        store.save(BILLING, FULL_STATE)
        store.finish("job-1", ORDERS, None, record("job-1"))
    store.save(ORDERS, FULL_STATE)
    assert store.load(ORDERS) == FULL_STATE
    assert store.problem is None, "a write that succeeds clears the problem"


def test_a_failed_write_is_reported_until_one_succeeds(store: StateStore, fail_on: FailOn) -> None:
    failures: list[int] = []
    store.on_failure = lambda: failures.append(1)
    fail_on("restart_history", "INSERT")
    with pytest.raises(StateStoreError):
        store.finish("job-1", ORDERS, None, record("job-1"))
    assert failures == [1] and store.problem is not None and "disk on fire" in store.problem
    store.save(ORDERS, FULL_STATE)
    assert store.problem is None


def test_both_backends_have_the_same_schema_versions() -> None:
    assert [m.description for m in POSTGRES_MIGRATIONS] == [m.description for m in SQLITE_MIGRATIONS]


def test_a_new_store_is_at_the_latest_schema(store: StateStore) -> None:
    assert store.schema_version == len(SQLITE_MIGRATIONS)


# -- fencing (PostgreSQL: replicas share the store) ------------------------------------------------


@pytest.fixture
def pg(postgres_server: PostgresServer, postgres_url: str) -> Iterator[PostgresStateStore]:
    with PostgresStateStore(postgres_url, password=postgres_server.password, now=Clock()) as opened:
        yield opened


def test_a_store_without_leadership_writes_nothing(pg: PostgresStateStore) -> None:
    with pytest.raises(Fenced, match="not the leader"):
        pg.save(ORDERS, FULL_STATE)
    assert pg.load(ORDERS) == ConnectorState() and pg.problem is None, "fencing is not a store failure"


def test_a_write_under_a_stale_epoch_is_refused_and_changes_nothing(
    pg: PostgresStateStore, postgres_server: PostgresServer, postgres_url: str
) -> None:
    old = take_lease(postgres_server, postgres_url, "replica-a")
    pg.fence(old)
    pg.add_pending(request("r1"), "job-1")
    new = take_lease(postgres_server, postgres_url, "replica-a")  # the same holder again: the epoch still rises
    assert new == old + 1
    for write in (
        lambda: pg.mark_sending("job-1", ORDERS, ConnectorState(attempts=1)),
        lambda: pg.mark_queued("job-1"),
        lambda: pg.finish("job-1", ORDERS, FULL_STATE, record("job-1")),
        lambda: pg.save(ORDERS, FULL_STATE),
        lambda: pg.add_pending(request("r2"), "job-2"),
        lambda: pg.withdraw_pending(["r1"]),
        lambda: pg.prune(timedelta(days=1), 1),
    ):
        with pytest.raises(Fenced, match=f"epoch {old}, the lease is at epoch {new}"):
            write()
    assert pg.pending() == [PendingRequest(request("r1"), "job-1", PendingPhase.QUEUED)]
    assert pg.load(ORDERS) == ConnectorState() and pg.history() == []
    assert pg.problem is None
    pg.fence(new)
    pg.save(ORDERS, FULL_STATE)
    assert pg.load(ORDERS) == FULL_STATE


def test_a_write_under_the_same_epoch_won_by_another_holder_is_refused(
    pg: PostgresStateStore, postgres_server: PostgresServer, postgres_url: str
) -> None:
    """A failover of the database that loses its last commits (asynchronous replication) rolls
    the lease back; the next replica then wins the very epoch the old leader still writes under.
    The holder is checked too, so the old leader's writes are refused."""
    epoch = take_lease(postgres_server, postgres_url, "replica-a")
    pg.fence(epoch, "replica-a")
    pg.save(ORDERS, FULL_STATE)
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("UPDATE leader_lease SET holder = 'replica-b'")  # same epoch, another holder
    with pytest.raises(Fenced, match=f"epoch {epoch} as replica-a, the lease is at epoch {epoch} \\(held by replica-b\\)"):
        pg.save(BILLING, FULL_STATE)
    assert pg.load(BILLING) == ConnectorState()


def test_a_takeover_waits_for_a_batch_then_fences_it(
    pg: PostgresStateStore, postgres_server: PostgresServer, postgres_url: str
) -> None:
    """A batch holds the lease row share-locked from its first write to its commit: a replica
    taking over waits for it. A commit point (add_pending, durable when it returns) releases the
    lock, as any COMMIT does, and a takeover waiting on it gets in there: what the batch wrote up
    to that point is kept (it committed under the old epoch, before the takeover, and the new
    leader's recovery reads it), and every write after it is refused. Nothing is written after a
    takeover, and no caller sees an error for a write that committed."""
    import threading

    pg.fence(take_lease(postgres_server, postgres_url, "replica-a"))
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("UPDATE leader_lease SET expires_at = '-infinity'")  # replica-a froze; its lease ran out
    taken: list[int] = []
    returned: list[str] = []
    with pytest.raises(Fenced, match="the lease is at epoch 2"), pg.batch():
        pg.save(ORDERS, FULL_STATE)
        takeover = threading.Thread(target=lambda: taken.append(take_lease(postgres_server, postgres_url, "replica-b")))
        takeover.start()
        takeover.join(0.5)
        assert taken == [], "the takeover did not wait for the batch"
        pg.add_pending(request("r1"), "job-1")  # a commit point: returns normally, its write committed
        returned.append("add_pending")
        takeover.join(10)
        assert len(taken) == 1, "the takeover did not get in at the commit point"
        pg.save(BILLING, FULL_STATE)  # after the takeover: refused
    assert returned == ["add_pending"], "a write that committed was reported as refused"
    with pytest.raises(Fenced):
        pg.save(AUDIT, FULL_STATE)
    with pytest.raises(Fenced), pg.batch():
        pass
    assert [p.request.id for p in pg.pending()] == ["r1"]
    assert pg.load(ORDERS) == FULL_STATE, "written before the takeover: kept"
    assert pg.load(BILLING) == ConnectorState() and pg.load(AUDIT) == ConnectorState()


def test_a_takeover_waits_for_a_write_in_progress(
    pg: PostgresStateStore, postgres_server: PostgresServer, postgres_url: str
) -> None:
    """The epoch is checked in the write's own transaction: a takeover cannot slip between the
    check and the write."""
    pg.fence(take_lease(postgres_server, postgres_url, "replica-a"))
    with psycopg.connect(postgres_url, password=postgres_server.password.get_secret_value(), autocommit=True) as other:
        other.execute("UPDATE leader_lease SET expires_at = '-infinity'")
        other.execute("SET statement_timeout = 500")
        with pg.batch():
            pg.save(ORDERS, FULL_STATE)
            with pytest.raises(psycopg.errors.QueryCanceled):
                other.execute("UPDATE leader_lease SET holder = 'replica-b', epoch = epoch + 1")
    assert pg.load(ORDERS) == FULL_STATE


def test_a_read_only_spell_ends_with_the_store_writable_again(
    pg: PostgresStateStore, postgres_server: PostgresServer, postgres_url: str
) -> None:
    """A database turned read-only for a while (a failover in progress, a disk nearly full):
    writes fail, then work again. The fence check's transaction was left aborted by the refused
    SELECT ... FOR SHARE, and every later write on the connection failed for good ("current
    transaction is aborted"): a leader that held its lease and recorded nothing."""
    import time

    pg.fence(take_lease(postgres_server, postgres_url, "replica-a"))
    pg.save(ORDERS, FULL_STATE)

    def eventually(write: Callable[[], object], succeeds: bool) -> None:
        deadline = time.monotonic() + 10  # a reload reaches every session within moments
        while True:
            try:
                write()
                if succeeds:
                    return
            except StateStoreError:
                if not succeeds:
                    return
            assert time.monotonic() < deadline, f"the write {'never succeeded' if succeeds else 'never failed'}"
            time.sleep(0.1)

    with psycopg.connect(postgres_url, password=postgres_server.password.get_secret_value(), autocommit=True) as admin:
        admin.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        admin.execute("SELECT pg_reload_conf()")
        try:
            eventually(lambda: pg.save(BILLING, FULL_STATE), succeeds=False)
        finally:
            admin.execute("ALTER SYSTEM RESET default_transaction_read_only")
            admin.execute("SELECT pg_reload_conf()")
    eventually(lambda: pg.save(AUDIT, FULL_STATE), succeeds=True)
    assert pg.load(AUDIT) == FULL_STATE and pg.problem is None


def test_a_database_restart_needs_no_action(tmp_path: Path) -> None:
    server = PostgresServer()
    server.start()
    try:
        url = server.database()
        with PostgresStateStore(url, password=server.password) as store:
            store.fence(take_lease(server, url))
            store.save(ORDERS, FULL_STATE)
            server.stop("fast")
            with pytest.raises(StateStoreError, match="could not load a connector's state"):
                store.load(ORDERS)
            with pytest.raises(StateStoreError):
                store.load(ORDERS)  # fails at once: no new connection for a second
            server.start()
            deadline = asyncio.run(_wait_for(lambda: _loads(store), 10.0))
            assert deadline, "the store did not reconnect"
            assert store.load(ORDERS) == FULL_STATE
    finally:
        server.destroy()


def _loads(store: StateStore) -> bool:
    try:
        store.load(ORDERS)
    except StateStoreError:
        return False
    return True


async def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if condition():
            return True
        await asyncio.sleep(0.2)
    return False


def test_a_newer_database_is_refused(postgres_server: PostgresServer, postgres_url: str) -> None:
    PostgresStateStore(postgres_url, password=postgres_server.password).close()
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StateStoreError, match="has schema version 99, newer than the 1 this watchdog knows"):
        PostgresStateStore(postgres_url, password=postgres_server.password)


def test_records_of_a_newer_release_are_refused_by_name(postgres_server: PostgresServer, postgres_url: str) -> None:
    PostgresStateStore(postgres_url, password=postgres_server.password).close()
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("""INSERT INTO restart_history (at, cluster, connector, job_id, rule, primary_trigger, triggers,
                      outcome, message, tries, recommendations)
                      VALUES (now(), 'prod', 'orders', 'j1', 'heal', 'status', '["status", "forecast"]', 'accepted',
                      'm', 1, '[]')""")
    with pytest.raises(StateStoreError, match="holds records this watchdog does not know "
                                              r"\(trigger in the restart history: 'forecast'\): a newer release"):
        PostgresStateStore(postgres_url, password=postgres_server.password)


def test_another_applications_tables_are_refused(postgres_server: PostgresServer, postgres_url: str) -> None:
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("CREATE TABLE connector_state (id int)")
    with pytest.raises(StateStoreError, match="has the tables connector_state but no watchdog schema version"):
        PostgresStateStore(postgres_url, password=postgres_server.password)


@pytest.mark.parametrize(("table", "refusal"), [
    # Flyway's table before version 5: a text version ('2.1' crashed the daemon on int()).
    ("schema_version (version varchar); INSERT INTO schema_version VALUES ('1'), ('2.1')",
     "has a schema_version table that is not the watchdog's (its version column is character varying)"),
    # Another application counting its migrations as integers, at 1: it passed for the watchdog's.
    ("schema_version (version int); INSERT INTO schema_version VALUES (1)",
     "has schema version 1 but not the watchdog's tables connector_state, leader_lease, pending_request, "
     "restart_history"),
])
def test_another_applications_schema_version_table_is_refused_unchanged(
    postgres_server: PostgresServer, postgres_url: str, table: str, refusal: str
) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    with postgres_server.connect(name) as db:
        for statement in f"CREATE TABLE {table}".split(";"):
            db.execute(statement)
        before = db.execute("SELECT * FROM schema_version").fetchall()
    for read_only in (False, True):
        with pytest.raises(StateStoreError, match=re.escape(refusal)):
            PostgresStateStore(postgres_url, password=postgres_server.password, read_only=read_only)
    with postgres_server.connect(name) as db:
        assert db.execute("SELECT * FROM schema_version").fetchall() == before
        tables = db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()
        assert tables == [("schema_version",)], "nothing was created beside it"


def test_a_wrong_password_is_refused_without_showing_it(postgres_server: PostgresServer, postgres_url: str) -> None:
    from pydantic import SecretStr

    with pytest.raises(StateStoreError) as caught:
        PostgresStateStore(postgres_url, password=SecretStr("wrong-password-9Kq"))
    assert "password authentication failed" in str(caught.value)
    assert "wrong-password-9Kq" not in str(caught.value) and postgres_url in str(caught.value)


def test_replicas_starting_together_migrate_once(postgres_server: PostgresServer, postgres_url: str) -> None:
    import concurrent.futures

    def open_one(_: Any) -> int:
        with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
            return store.schema_version

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_one, range(4))) == [1, 1, 1, 1]


def test_a_last_restart_an_older_release_kept_from_a_dry_run_is_found(store: StateStore) -> None:
    """Only a release before dry-run attempts were kept in memory wrote a state whose last restart
    is a dry-run record's time; a live restart's state is never found so."""
    for sample in OLDER_DRY_RUN_RECORDS:
        store.finish(sample.job_id, ORDERS, OLDER_DRY_RUN_STATE, sample)
    live = ConnectorState(attempts=1, last_restart_at=T0, next_allowed_at=T0 + timedelta(minutes=2))
    store.finish("live-1", BILLING, live, record("live-1", BILLING, at=T0, attempt=1))
    store.finish("dry-3", BILLING, None, record("dry-3", BILLING, at=T0 + timedelta(seconds=9), outcome=Outcome.DRY_RUN, tries=0))
    assert store.dry_run_last_restarts() == [ORDERS]


def test_a_password_an_older_release_kept_in_the_history_is_read_masked(store: StateStore) -> None:
    """Releases before URL credentials were masked as they arrive kept them in the history: after
    an upgrade GET /v1/history and `watchdog history --json` showed them for history.max_age.
    So did releases before a setting that names a secret (`connection.password=...`, JSON's
    `"aws.secret.access.key": "..."`, `Bearer ...`) was masked as it arrives (2026-12-06)."""
    store.finish(OLDER_LEAKY_RECORD.job_id, ORDERS, None, OLDER_LEAKY_RECORD)
    (kept,) = store.history()
    shown = repr(kept)
    assert "Hunter2Secret99" not in shown and "Pgpass4242" not in shown
    for secret in ("Conn9Secret", "AwsKey7Secret", "eyJhbGci.Tok3n.sig"):
        assert secret not in shown
    assert "connection.password=***" in kept.message and '"aws.secret.access.key": "***"' in kept.message
    assert "password=***" in kept.message and "jdbc:postgresql://***@db2/x" in kept.message
    assert kept.evidence is not None and kept.evidence["tasks"][0]["trace"] == kept.evidence["trace"]
    assert "password=***" in kept.evidence["trace"] and "password=***" in kept.recommendations[0]


def test_since_when_connectors_run_is_kept_per_cluster_and_changes_only_what_a_listing_changed(store: StateStore) -> None:
    # state/running.py: what a new leader's stall checks take back (engine/running_seed.py).
    assert store.running_seen("prod") == (None, {})
    store.record_running("prod", T0, {"orders": T0 - timedelta(hours=2), "billing": T0}, set())
    store.record_running("other", T0, {"orders": T0}, set())
    later = T0 + timedelta(minutes=1)
    store.record_running("prod", later, {"audit": later}, {"billing"})  # audit started, billing stopped
    store.record_running("prod", later + timedelta(minutes=1), {}, set())  # nothing changed: the stamp alone
    assert _listed(store, "prod") == (later + timedelta(minutes=1), {"orders": T0 - timedelta(hours=2), "audit": later})
    assert _listed(store, "other") == (T0, {"orders": T0})
    many = {f"c{i:04d}": T0 for i in range(1500)}  # a first listing of a large cluster: one write
    store.record_running("big", T0, many, set())
    store.record_running("big", later, {}, set(many) - {"c0000"})
    assert _listed(store, "big") == (later, {"c0000": T0})


def _listed(store: StateStore, cluster: str) -> tuple[datetime | None, dict[str, datetime]]:
    """running_seen, the stamp to the second: with PostgreSQL it is kept on the database's clock
    (running.py, POSTGRES_STAMP_AT), which runs on between the write and the read while the
    store's given clock stands still, so it reads a few milliseconds older."""
    listed_at, since = store.running_seen(cluster)
    if listed_at is not None and isinstance(store, PostgresStateStore):
        listed_at = (listed_at + timedelta(milliseconds=500)).replace(microsecond=0)  # to the nearest second
    return listed_at, since


def test_the_lcc_id_each_running_time_is_of_is_kept_with_it(store: StateStore) -> None:
    # A time is seeded only to a connector listed with the same id (engine/status_intake.py).
    store.record_running("prod", T0, {"orders": T0, "billing": T0}, set(), ids={"orders": "lcc-1"})
    assert store.running_identity("prod")[1] == {"orders": "lcc-1", "billing": None}
    later = T0 + timedelta(minutes=1)
    store.record_running("prod", later, {"orders": later}, {"billing"}, ids={"orders": "lcc-2"})  # created again
    assert store.running_identity("prod")[1] == {"orders": "lcc-2"}
    assert _listed(store, "prod") == (later, {"orders": later})
    assert store.running_identity("other") == (None, {})


def test_which_kafka_cluster_a_listing_was_of_is_kept_with_its_stamp(store: StateStore) -> None:
    # A start under another definition of the name takes none of the times (engine/cluster_identity.py).
    store.record_running("prod", T0, {"orders": T0}, set(), identity="confluent_cloud env-1/lkc-a")
    store.record_running("dev", T0, {}, set())
    assert store.running_identity("prod")[0] == "confluent_cloud env-1/lkc-a"
    assert store.running_identity("dev")[0] is None
    store.record_running("prod", T0 + timedelta(minutes=1), {}, set(), identity="confluent_cloud env-1/lkc-b")
    assert store.running_identity("prod") == ("confluent_cloud env-1/lkc-b", {"orders": None})


def test_side_tables_an_older_release_made_are_given_their_new_columns(backend_of_store: Backend) -> None:
    store = backend_of_store.open()
    store.close()
    # The tables as the release before made them.
    drops = ("ALTER TABLE connector_running DROP COLUMN connector_id", "ALTER TABLE cluster_listed DROP COLUMN identity")
    if backend_of_store.name == "sqlite":
        with sqlite3.connect(backend_of_store.path) as db:
            for drop in drops:
                db.execute(drop)
        db.close()
    else:
        with psycopg.connect(backend_of_store.url, password=backend_of_store.server.password.get_secret_value(),
                             autocommit=True) as conn:
            for drop in drops:
                conn.execute(drop)  # type: ignore[arg-type]
    store = backend_of_store.open()
    try:
        store.record_running("prod", T0, {"orders": T0}, set(), ids={"orders": "lcc-1"}, identity="kafka_connect x")
        assert store.running_identity("prod") == ("kafka_connect x", {"orders": "lcc-1"})
    finally:
        store.close()


def test_the_side_rows_of_clusters_and_rules_no_longer_configured_are_pruned_in_bounded_steps(store: StateStore) -> None:
    # Before, nothing deleted them: rows = connectors x every cluster ever watched (probe_upgrade F4).
    # `recent` no later than the store's clock (T0 + 1 day): with PostgreSQL a stamp is its age on
    # the database's clock (running.POSTGRES_STAMP_AT), and a time ahead of the store's is now.
    old, recent = T0, T0 + timedelta(days=1) - timedelta(minutes=1)
    windows = (T0, T0, T0, T0, "PT1M", 60)
    for cluster in ("kept", "gone-0", "gone-1", "gone-2", "gone-3", "gone-4"):
        store.record_running(cluster, old, {"orders": old, "billing": old}, set())
    store.record_running("gone-recently", recent, {"orders": recent}, set())
    clusters = ["kept", "gone-0", "gone-1", "gone-2", "gone-3", "gone-4", "gone-recently"]
    store.record_judged("stalled", dict.fromkeys(clusters, windows))
    store.record_judged("stalled-v0", {"kept": windows, "gone-recently": windows})
    steps = list(pruning.side_steps(store, lambda cluster: cluster == "kept", {"stalled"}, old + timedelta(hours=12),
                                    per_step=2))
    # At most two clusters per step (each: its 2 connectors' rows, its stamp, its windows), then
    # the windows of the rule gone (2 rows).
    assert steps[0] == 8 and max(steps) == 8 and sum(steps) == 5 * 4 + 2, steps
    for cluster in ("gone-0", "gone-4"):
        assert store.running_seen(cluster) == (None, {})
    assert _listed(store, "kept") == (old, {"orders": old, "billing": old}), "configured: kept, however old"
    assert _listed(store, "gone-recently") == (recent, {"orders": recent}), "younger than the cutoff: kept"
    assert sorted(store.judged("stalled")) == ["gone-recently", "kept"]
    assert store.judged("stalled-v0") == {}, "a rule no longer configured"


def test_the_windows_a_stall_check_judged_are_kept_per_rule_and_cluster(store: StateStore) -> None:
    # state/running.py: what a new leader's first stall check reads the missed span from (stall.catch_up).
    assert store.judged("stalled") == {}
    first = (T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=10), T0 + timedelta(minutes=15), "PT1M", 60)
    store.record_judged("stalled", {"prod": first, "other": first})
    later = tuple(at + timedelta(minutes=1) for at in first[:4]) + ("PT1M", 60)
    store.record_judged("stalled", {"prod": later})  # type: ignore[dict-item]
    store.record_judged("quiet", {"prod": first})
    assert store.judged("stalled") == {"prod": later, "other": first}
    assert store.judged("quiet") == {"prod": first}
