"""One restart ends once when the lead changes while it finishes (docs/promises.md: one
`restart_finished` line, one count, one history record per job), with replicas on a real
PostgreSQL database:

- the database refuses writes as the answer to a call on the wire comes back, past
  renew_deadline: the leader stands by with that outcome unwritten, and leading again records
  it as it ended (before: its recovery ended the same job `interrupted`, "the daemon stopped",
  counted and logged a second time, and the history kept only that);
- another replica led meanwhile and ended it `interrupted`: its words name a replica that lost
  the lead, not a daemon that stopped, and the first one, leading again, writes nothing over it;
- a leader frozen with a call on the wire, fenced when it wakes: the new leader ends the job,
  and the old one neither counts nor logs an end of its own (before: `unconfirmed`, an error,
  counted where WatchdogRestartsFailing counts failures)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import structlog

from bench.postgres import PostgresServer, take_lease
from watchdog.app import Daemon
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state.postgres import PostgresStateStore

from .support import CLUSTER, sim_scenario
from .test_outage_outcomes import HOLDER, Leads, pg_config

NAME = "orders-sink"
KEY = ConnectorKey(CLUSTER, NAME)


async def _replica(server: PostgresServer, url: str, store: PostgresStateStore, holder: str,
                   on_restart: Callable[[], Awaitable[None]] | None = None) -> Daemon:
    """A daemon on `store` that holds the lease as `holder` (no election runs). `on_restart` runs
    as a restart call reaches the API, before its 202 goes back: what happens while it is on the wire."""
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": NAME}])))
    api = create_app(simulator)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if on_restart is not None and scope["type"] == "http" and scope["path"].endswith("/restart"):
            await on_restart()
        await api(scope, receive, send)

    taken = take_lease if holder == HOLDER else _take_over
    store.fence(await asyncio.to_thread(taken, server, url, holder), holder)
    daemon = Daemon(pg_config(server, url), transport=httpx.ASGITransport(app=app), state=store)
    daemon.leadership = Leads()
    daemon.queue.may_send = daemon.leadership.may_send
    return daemon


def _take_over(server: PostgresServer, url: str, holder: str) -> int:
    """The lease taken over by `holder` (a replica whose lease expired meanwhile): its new epoch."""
    with server.connect(url.rsplit("/", 1)[1]) as admin:
        row = admin.execute("UPDATE leader_lease SET holder = %s, epoch = epoch + 1, "
                            "expires_at = clock_timestamp() + interval '60 s' RETURNING epoch", (holder,)).fetchone()
    assert row is not None
    return int(row[0])


def _ask(daemon: Daemon) -> None:
    asked = daemon.engine.on_request(KEY, None, trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="asked",
                                     known_missing=False)
    assert asked.job is not None


def _read_only(server: PostgresServer, url: str, on: bool) -> None:
    name = url.rsplit("/", 1)[1]
    with server.connect() as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def _counted(daemon: Daemon, outcome: str) -> float:
    labels = {"cluster": CLUSTER, "connector": NAME, "rule": MANUAL_RULE, "trigger": "manual", "outcome": outcome}
    return daemon.metrics.registry.get_sample_value("watchdog_restarts_total", labels) or 0.0


async def _answered_in_an_outage(server: PostgresServer, url: str, store: PostgresStateStore) -> Daemon:
    """A leader whose restart call goes out, the database turning read-only while it is on the
    wire: the 202 comes back and its outcome cannot be written. Then the leader stands by."""
    async def outage() -> None:
        await asyncio.to_thread(_read_only, server, url, True)

    daemon = await _replica(server, url, store, HOLDER, outage)
    _ask(daemon)
    daemon.queue.start()
    await daemon.queue.join()
    (job,) = daemon.recorder.finished_jobs
    assert job.outcome is Outcome.ACCEPTED and job.status_code == 202
    await daemon._follow("could not renew the lease within renew_deadline")
    await asyncio.to_thread(_read_only, server, url, False)
    return daemon


async def test_an_answer_the_database_could_not_record_is_recorded_when_the_replica_leads_again(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        daemon = await _answered_in_an_outage(postgres_server, postgres_url, store)
        try:
            with structlog.testing.capture_logs() as logs:
                store.fence(await asyncio.to_thread(_take_over, postgres_server, postgres_url, HOLDER), HOLDER)
                daemon._recover_as_leader()
            history = store.history(KEY)
            pending = store.pending()
        finally:
            await daemon.stop()
    assert [(r.outcome, r.status_code, r.tries) for r in history] == [(Outcome.ACCEPTED, 202, 1)]
    assert pending == []
    assert [e for e in logs if e["event"] == "restart_finished"] == [], "ended a second time"
    (late,) = [e for e in logs if e["event"] == "restart_outcome_recorded_late"]
    assert late["outcome"] == "accepted"
    assert (_counted(daemon, "accepted"), _counted(daemon, "interrupted")) == (1, 0)


async def test_a_restart_another_leader_ended_meanwhile_keeps_its_end_which_names_no_stopped_daemon(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store, \
            PostgresStateStore(postgres_url, password=postgres_server.password) as other_store:
        daemon = await _answered_in_an_outage(postgres_server, postgres_url, store)
        other = await _replica(postgres_server, postgres_url, other_store, "other-replica")
        try:
            other.engine.recover(absence=None)  # the other replica led meanwhile, and recovered it
            store.fence(await asyncio.to_thread(_take_over, postgres_server, postgres_url, HOLDER), HOLDER)
            with structlog.testing.capture_logs() as logs:
                daemon._recover_as_leader()
            history = store.history(KEY)
        finally:
            await other.stop()
            await daemon.stop()
    (record,) = history
    assert record.outcome is Outcome.INTERRUPTED
    assert "lost the lead" in record.message and "the daemon stopped" not in record.message, record.message
    assert not [e for e in logs if e["event"] in ("restart_finished", "restart_outcome_recorded_late")]


async def test_a_fenced_leader_woken_with_an_answer_leaves_the_restarts_end_to_the_leader(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    async def taken_over() -> None:
        # The leader frozen with its call on the wire: another replica takes the lease meanwhile.
        await asyncio.to_thread(_take_over, postgres_server, postgres_url, "other-replica")

    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        daemon = await _replica(postgres_server, postgres_url, store, HOLDER, taken_over)
        try:
            _ask(daemon)
            with structlog.testing.capture_logs() as logs:
                daemon.queue.start()
                await daemon.queue.join()
            pending = store.pending()
        finally:
            await daemon.stop()
    assert [e for e in logs if e["event"] == "restart_finished"] == [], "an end the new leader's recovery makes"
    (left,) = [e for e in logs if e["event"] == "restart_end_left_to_leader"]
    assert left["outcome"] == "accepted" and "not counted here" in left["note"]
    assert sum(_counted(daemon, o.value) for o in Outcome) == 0
    assert [p.request.key for p in pending] == [KEY], "still the leader's to end"
