"""GET /v1/connectors read in steps (api/row_reading.py, state/row_pages.py): the event loop is let
go between pages, and the answer is the one read in one go.

A soak probe under name churn (deleted connectors keep a row for state.forget_vanished_after)
found every reading held the whole loop for a time that grew with the rows kept: at 20,297 rows
on PostgreSQL, /healthz, the webhooks and the lease's renewal waited 1 to 2.4 s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from watchdog.api import row_reading
from watchdog.app import Daemon
from watchdog.model import (
    ConnectorKey,
    ConnectorState,
    Decision,
    Health,
    HistoryRecord,
    Outcome,
    RestartRequest,
    Trigger,
)
from watchdog.report import EVERY_ROW, RowQuery
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as create_sim_app
from watchdog.state import SqliteStateStore, StateStore
from watchdog.state.row_pages import rows_page

from .support import CLUSTER, CLUSTER_ID, World, daemon_config, sim_scenario
from .test_api import CONNECTORS, RULES, TOKEN, polled

SEEN = datetime(2026, 3, 1, 11, 0, tzinfo=timezone.utc)
# Names whose order differs between bytes, a locale's collation and case: the pages must follow rows()'s.
NAMES = ["Zeta", "alpha", "_under", "éclair", "Alpha-2", "zz", "a b", "0day", "ÅSE", "beta"]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        with SqliteStateStore(tmp_path / "state.db") as sqlite:
            yield sqlite
        return
    from bench.postgres import take_lease
    from watchdog.state.postgres import PostgresStateStore

    server, url = request.getfixturevalue("postgres_server"), request.getfixturevalue("postgres_url")
    with PostgresStateStore(url, password=server.password) as postgres:
        postgres.fence(take_lease(server, url, "replica-a"))
        # A database whose collation is a language's (as most are made), not "C": its primary
        # key's order, the pages' order, is then not rows()'s, and the answer must not follow it.
        with server.connect(url.rsplit("/", 1)[1]) as admin:
            admin.execute('ALTER TABLE connector_state ALTER COLUMN connector TYPE text COLLATE "en-x-icu", '
                          'ALTER COLUMN cluster TYPE text COLLATE "en-x-icu"')
        yield postgres


def _world(store: StateStore) -> World:
    simulator = Simulator(Scenario.model_validate(sim_scenario(CONNECTORS)))
    daemon = Daemon(daemon_config(RULES, token=TOKEN), transport=httpx.ASGITransport(app=create_sim_app(simulator)), state=store)
    return World(simulator, daemon, None)


def _failed_call(key: ConnectorKey, at: datetime, attempt: int, status: int, outcome: Outcome) -> HistoryRecord:
    return HistoryRecord(at=at, key=key, job_id=f"{key.connector}-{attempt}", rule="heal", trigger=Trigger.STATUS,
                         triggers=(Trigger.STATUS,), outcome=outcome, status_code=status, tries=1, attempt=attempt)


def _fill(store: StateStore) -> None:
    """Of every kind GET /v1/connectors tells apart, beside the polled cluster's three live ones."""
    with store.batch():
        for n in range(40):  # deleted: seen by earlier polls, ten at each moment (ties for the cap)
            store.observe_status(ConnectorKey(CLUSTER, f"deleted-{n:02d}"), "RUNNING", SEEN - timedelta(minutes=n // 10),
                                 ConnectorState(health=Health.HEALTHY))
        for n, name in enumerate(NAMES):  # of a cluster no longer in the config, half of them failing
            failing = n % 2 == 0
            store.observe_status(ConnectorKey("removed-cluster", name), "FAILED" if failing else "RUNNING",
                                 SEEN - timedelta(minutes=n % 3), ConnectorState(health=Health.FAILED if failing else Health.HEALTHY))
        for name in NAMES:  # deleted too, with names in every order
            store.observe_status(ConnectorKey(CLUSTER, name), "PAUSED", SEEN - timedelta(hours=1),
                                 ConnectorState(health=Health.TRANSIENT))
        store.save(ConnectorKey(CLUSTER, "never-polled"), ConnectorState(attempts=1, last_restart_at=SEEN))
    for n, name in enumerate(["refused-a", "refused-b", "gave-up"]):  # attempts the API accepted none of
        key = ConnectorKey(CLUSTER, name)
        store.observe_status(key, "FAILED", SEEN - timedelta(minutes=90), ConnectorState(
            health=Health.FAILED, attempts=2, consecutive_failures=4, gave_up=name == "gave-up",
            last_restart_at=SEEN - timedelta(minutes=n)))
        for attempt in (1, 2):
            job = f"{name}-{attempt}"
            at = SEEN - timedelta(minutes=10 - attempt)
            store.add_pending(RestartRequest(id=job, key=key, rule="heal", trigger=Trigger.STATUS, reason="failed",
                                             requested_at=at), job)
            store.finish(job, key, None, _failed_call(key, at, attempt, 500, Outcome.SERVER_ERROR))


def _shown_the_other_ways(w: World) -> None:
    """A dry run's view of one connector, and a gate holding another: the daemon's, not the file's."""
    views = {ConnectorKey(CLUSTER, "billing-sink"): ConnectorState(health=Health.FAILED, attempts=3, last_restart_at=SEEN),
             ConnectorKey(CLUSTER, "deleted-05"): ConnectorState(health=Health.FAILED, attempts=1, last_restart_at=SEEN)}
    w.daemon.engine.trial_views = lambda: dict(views)  # type: ignore[method-assign]
    w.daemon.engine.held[ConnectorKey(CLUSTER, "orders-sink")] = (Decision.BACKOFF, "held by a test", SEEN)


QUERIES = [RowQuery(), RowQuery(problems=True), RowQuery(gone=False), RowQuery(problems=True, gone=False),
           RowQuery(cluster=CLUSTER), RowQuery(cluster=CLUSTER_ID, problems=True), RowQuery(cluster="removed-cluster"),
           RowQuery(cap=0), RowQuery(cap=3), RowQuery(cap=15), RowQuery(problems=True, cap=4), EVERY_ROW]


async def test_the_answer_read_in_steps_is_the_answer_read_at_once(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(store)
    await polled(w)
    _fill(store)
    _shown_the_other_ways(w)
    monkeypatch.setattr(row_reading, "PAGE_ROWS", 4)  # many pages, a page boundary inside every run of ties
    seen_kinds: set[str] = set()
    for query in QUERIES:
        at_once, in_steps = w.daemon.connector_answer(query), await w.daemon.connector_reading(query)
        assert json.dumps(in_steps) == json.dumps(at_once), query
        for row in in_steps["connectors"]:
            seen_kinds |= {kind for kind in ("gone", "cluster_unwatched", "dry_run", "held", "attempts_not_accepted")
                           if row[kind]} | ({"live"} if not row["gone"] and not row["unwatched"] else set())
        if query.cap == 3:
            assert in_steps["left_out"]["gone"] > 0 and in_steps["left_out"]["cluster_unwatched"] > 0, in_steps["left_out"]
    assert seen_kinds == {"gone", "cluster_unwatched", "dry_run", "held", "attempts_not_accepted", "live"}
    await w.daemon.queue.close(1, 1)


def test_the_store_read_by_pages_gives_every_row_once(store: StateStore) -> None:
    _fill(store)
    every = sorted((row.key.cluster, row.key.connector) for row in store.rows())
    for size in (1, 3, 1000):
        paged: list[tuple[str, str]] = []
        after = None
        while (page := rows_page(store, after, size)) is not None and page:
            paged += [(row.key.cluster, row.key.connector) for row in page]
            after = page[-1].key
        assert sorted(paged) == every and len(set(paged)) == len(paged), size
