"""Restarts a state store outage ended (`dropped`: the store could not record their attempt) and whose
outcome it could not record either: once the store takes writes again, each outcome is written
once, soon, without holding the event loop, and never after another leader's recovery took over
the restarts they name; a restart whose turn meets the outage ends `dropped`, never as a crashed
job; and a leader with nothing else to write says it can write again soon after the database can
(docs/high-availability.md: the database down).

The outage is a real PostgreSQL database turned read-only (a failover in progress: reads answer,
every write is refused), then writable again, or its connection cut (a proxy in front of it stopped)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from bench import delay_proxy
from bench.postgres import PostgresServer, take_lease
from bench.schedule_store import Traced
from watchdog.app import Daemon
from watchdog.config import Config, Credential
from watchdog.config.loading import build_config
from watchdog.engine import MANUAL_RULE
from watchdog.leadership.sole import SoleLeader
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state import StateStoreError
from watchdog.state.postgres import PostgresStateStore

from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, TEST_API_KEY, TEST_API_SECRET, sim_scenario

HOLDER = "test-replica"


class Leads(SoleLeader):
    """The leadership of a replica that leads, the test having taken the lease for it (no election runs)."""

    def __init__(self) -> None:
        pass


@contextlib.contextmanager
def read_only(server: PostgresServer, url: str) -> Iterator[None]:
    """The database refuses every write (its sessions read-only, as a standby promoted late is)."""
    name = url.rsplit("/", 1)[1]

    def turn(value: str) -> None:
        with server.connect() as admin:
            admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))

    turn("on")
    try:
        yield
    finally:
        turn("off")


def pg_config(server: PostgresServer, url: str, *, token: str | None = None) -> Config:
    """A daemon's config on the database of `url`: cluster prod, a status rule every 30 s; its API
    guarded by `token` when one is given."""
    data = {
        "api": {"base_url": "http://sim"}, "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"url": url},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 30}, "select": {"include": ["*"]}}],
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    secrets: dict[str, Any] = {"credentials": {"main": credential}, "state": {"password": server.password}}
    if token is not None:
        secrets["server"] = {"auth_token": SecretStr(token)}
    return build_config(data, "test", secrets=secrets)


async def leader(server: PostgresServer, url: str, store: PostgresStateStore, names: list[str]) -> Daemon:
    """A daemon on `store` (the database of `url`, its lease taken), with the restarts of `names`
    asked for by name and queued, not started."""
    config = pg_config(server, url)
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": n} for n in names])))
    store.fence(await asyncio.to_thread(take_lease, server, url, HOLDER), HOLDER)  # asyncio.run inside
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), state=store)
    daemon.leadership = Leads()
    daemon.queue.may_send = daemon.leadership.may_send
    for name in names:
        asked = daemon.engine.on_request(ConnectorKey(CLUSTER, name), None, trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                         reason="asked", known_missing=False)
        assert asked.job is not None
    return daemon


async def end_in_an_outage(server: PostgresServer, url: str, daemon: Daemon) -> int:
    """Runs the queue while the database refuses writes: every restart ends `dropped`, its outcome
    kept in memory. Returns how many. Their wait for the store (dispatch.STORE_WAIT_SECONDS) is
    over at once: they end as restarts the store stayed unable to record for that long."""
    daemon.queue.store_wait_seconds = 0
    with read_only(server, url):
        daemon.queue.start()
        await daemon.queue.join()
    outcomes = [job.outcome for job in daemon.recorder.finished_jobs]
    assert set(outcomes) == {Outcome.DROPPED}, outcomes
    return len(outcomes)


async def test_outcomes_an_outage_left_unrecorded_are_written_in_a_few_round_trips(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # 994 restarts a 5 s outage ended, written back one transaction each (two round trips) once
    # the database was back, held the leader's event loop 7.4 s with its database 3 ms away
    # (watchdog run: /healthz unanswered for 7.4 s; 1,500 would have outlasted renew_deadline).
    names = [f"c{i:03d}" for i in range(300)]
    with Traced(postgres_url, password=postgres_server.password) as store:
        daemon = await leader(postgres_server, postgres_url, store, names)
        try:
            assert await end_in_an_outage(postgres_server, postgres_url, daemon) == len(names)
            assert store.pending() and len(store.history(limit=1000)) == 0
            store.restart_count()
            with structlog.testing.capture_logs() as logs:
                daemon.recorder.record_unrecorded()
            trips = store.round_trips()
            assert len(store.history(limit=1000)) == len(names)
            assert store.pending() == []
        finally:
            await daemon.stop()
    assert sum(e["event"] == "restart_outcome_recorded_late" for e in logs) == len(names)
    assert trips <= 4, f"{len(names)} outcomes written late took {trips} round trips"


async def test_outcomes_left_unrecorded_when_the_lead_was_lost_are_left_to_the_next_leadership(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # The outage outlasted renew_deadline: the leader stood by with the outcomes still in memory,
    # their requests still pending in the database, and took the lease again once it was back (a
    # new epoch). Its recovery queued the requests again and sent them, and the old outcomes were
    # then written too: each restart twice in the history, `dropped` and `accepted` (watchdog run,
    # 1,000 restarts asked for by name, a 12 s outage: 994 of each). The next leadership decides.
    names = [f"c{i:02d}" for i in range(40)]
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        daemon = await leader(postgres_server, postgres_url, store, names)
        try:
            await end_in_an_outage(postgres_server, postgres_url, daemon)
            with structlog.testing.capture_logs() as logs:
                await daemon._follow("could not renew the lease")
            store.fence(await asyncio.to_thread(take_lease, postgres_server, postgres_url, HOLDER), HOLDER)
            assert daemon.engine.recover() == (len(names), 0)
            daemon.queue.start()
            await daemon.queue.join()
            history = store.history(limit=1000)
        finally:
            await daemon.stop()
    by_connector: dict[str, list[Outcome]] = {}
    for record in history:
        by_connector.setdefault(record.key.connector, []).append(record.outcome)
    assert by_connector == {name: [Outcome.ACCEPTED] for name in names}
    (standing_by,) = [e for e in logs if e["event"] == "standing_by"]
    assert standing_by["outcomes_left_to_leader"] == len(names)


async def test_outcomes_left_unrecorded_are_written_once_the_store_takes_writes_again(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # The database back, polls writing again, /readyz and watchdog_state_store_writable saying so:
    # the outcomes were still only in memory, written at the next restart's send or at the stop.
    # Killed meanwhile (a node lost, an OOM kill), the leader left them pending, and the next
    # start sent every restart its log had said `dropped` (watchdog run, 100 restarts asked for by
    # name, a 5 s outage, 15 s of polls, kill -9: the next start queued the 99 dropped again).
    names = [f"c{i:02d}" for i in range(40)]
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        daemon = await leader(postgres_server, postgres_url, store, names)
        beating = asyncio.create_task(daemon.heartbeat())
        try:
            await end_in_an_outage(postgres_server, postgres_url, daemon)
            await daemon.pollers[CLUSTER].poll()  # a write that works: the store takes writes again
            assert store.problem is None
            for _ in range(50):  # the heartbeat's next beats (one a second)
                if not store.pending():
                    break
                await asyncio.sleep(0.1)
            left = len(store.pending())
            history = store.history(limit=1000)
        finally:
            beating.cancel()
            daemon.state.close()  # kill -9: no stop, nothing more written
    assert left == 0, f"{left} restarts reported dropped still pending 5 s after the store took writes again"
    assert sorted(r.key.connector for r in history if r.outcome is Outcome.DROPPED) == names


async def test_a_restart_whose_turn_meets_the_database_gone_ends_dropped_not_crashed(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # The database went away between two writes (nothing had failed yet) as a restart's turn came:
    # the read of its connector's state at the turn raised through the queue, logged as a bug
    # (restart_job_crashed, a traceback) and ended `network_error`, 'internal error:
    # StateStoreError', counted as the API's failure though no call was made (watchdog run on
    # PostgreSQL, the server stopped with restarts queued). It waits for the store, as a restart
    # whose turn meets a database failover does (tests/test_database_failover.py), and ends
    # `dropped` once the database has stayed out of reach for that wait (shortened here), saying
    # why, as the restarts after it do.
    port, proxy = delay_proxy.start(postgres_server.port, 0.0)
    far = postgres_url.replace(f":{postgres_server.port}/", f":{port}/")
    names = ["c0", "c1", "c2"]
    try:
        with PostgresStateStore(far, password=postgres_server.password) as store:
            daemon = await leader(postgres_server, postgres_url, store, names)
            daemon.queue.store_wait_seconds = 1.5
            try:
                proxy.terminate()  # the database out of reach: its connection cut, none made again
                proxy.wait(timeout=10)
                with structlog.testing.capture_logs() as logs:
                    daemon.queue.start()
                    await daemon.queue.join()
            finally:
                await daemon.stop()
    finally:
        if proxy.poll() is None:
            proxy.terminate()
            proxy.wait(timeout=10)
        if proxy.stdout is not None:
            proxy.stdout.close()
    assert not [e for e in logs if e["event"] == "restart_job_crashed"]
    jobs = daemon.recorder.finished_jobs
    assert [job.outcome for job in jobs] == [Outcome.DROPPED] * len(names)
    assert "the state database cannot be" in jobs[0].message and "load a connector's state" in jobs[0].message
    assert sorted(e["connector"] for e in logs if e["event"] == "restart_waiting_for_state") == names


async def test_a_leader_with_nothing_to_write_is_ready_again_once_its_database_takes_writes(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # Alert rules only (nothing polled): a webhook or a request whose write a blip of the database
    # refused left the store's failure standing. The database back within a second, the leader
    # still led, but answered /readyz 503 and kept watchdog_state_store_writable at 0 until its
    # next write, the hourly pruning: out of its Service meanwhile, so Alertmanager's webhooks,
    # the writes that would have cleared it, never reached it, and WatchdogCannotRecordDecisions
    # paged after 2 minutes (watchdog run: 503 for the 60 s watched). The 30-second sign of life
    # (what a state file writes) now tries a write that records nothing while a failure stands.
    registry_value = "watchdog_state_store_writable"
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        daemon = await leader(postgres_server, postgres_url, store, [])
        errors = "watchdog_state_store_errors_total"
        try:
            with read_only(postgres_server, postgres_url):
                with pytest.raises(StateStoreError):  # the API answers it 503
                    daemon.engine.on_request(ConnectorKey(CLUSTER, "orders"), None, trigger=Trigger.MANUAL,
                                             rule=MANUAL_RULE, reason="asked", known_missing=False)
                assert store.problem is not None
                counted = daemon.metrics.registry.get_sample_value(errors)
                daemon.mark_alive()  # still refused: said once, not counted again, the reason kept
                assert daemon.metrics.registry.get_sample_value(errors) == counted
                assert "remember a restart request" in (store.problem or "")
            assert daemon.probes.readiness()[1]["state_store"] != "ok"  # /readyz 503, saying why
            daemon.mark_alive()  # the heartbeat's, every 30 s
            assert daemon.probes.readiness()[1]["state_store"] == "ok"
            assert daemon.metrics.registry.get_sample_value(registry_value) == 1.0
        finally:
            await daemon.stop()
