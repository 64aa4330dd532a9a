"""A failure restart whose only call was answered 429 restarted nothing: the state store holds the
connector as if no attempt had been made (engine/unmade_attempts.py), with two replicas on a real
PostgreSQL database, and on one replica the retry that goes through is counted once.

Before, the attempt counted before the call stayed in the stored state when the 429 put the request
back to `queued`. The replica that got the 429 did not count its retry again, but a leader lost
before the retry (SIGKILL, SIGSTOP, a flap) left its successor a connector judged on a restart never
made: `decision backoff ... 1 restart attempt(s) so far; its backoff lets the next go at ... (in
3m)`, one of max_restarts spent, for a FAILED connector nothing had restarted (an HA probe under
load, 2026-12-07)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from bench.postgres import PostgresServer, take_lease
from watchdog.app import Daemon
from watchdog.config import Config, Credential
from watchdog.config.loading import build_config
from watchdog.model import ConnectorKey, PendingPhase
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state.postgres import PostgresStateStore

from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    TEST_API_KEY,
    TEST_API_SECRET,
    sim_scenario,
    until,
)
from .test_end_once_across_lead import _take_over
from .test_outage_outcomes import HOLDER, Leads

NAME = "orders-sink"
KEY = ConnectorKey(CLUSTER, NAME)
# Its first restart call is refused 429, with a pause longer than the test: the replica that got
# it does not try again meanwhile.
REFUSED_ONCE = {"match": {"endpoint": "restart"}, "when": {"count": 1},
                "action": {"status": 429, "headers": {"Retry-After": "3600"}}}
REFUSED_BRIEFLY = {"match": {"endpoint": "restart"}, "when": {"count": 1},
                   "action": {"status": 429, "headers": {"Retry-After": "1"}}}


def _config(server: PostgresServer, url: str) -> Config:
    """Two failed polls in a row make a restart (confirm_polls 2), backoff 2 minutes after the first."""
    data = {
        "api": {"base_url": "http://sim"}, "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"url": url},
        "rate_limit": {"max_requests_per_second": 1000}, "queue": {"shutdown_deadline": 0.2},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 30, "confirm_polls": 2},
                   "select": {"include": ["*"]}, "backoff": {"base": 60, "cap": 3600}}],
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    return build_config(data, "test", secrets={"credentials": {"main": credential},
                                               "state": {"password": server.password}})


async def _replica(server: PostgresServer, url: str, store: PostgresStateStore, simulator: Simulator,
                   holder: str) -> Daemon:
    """A daemon on `store` that leads as `holder` (no election runs), the lease taken (over) for it."""
    taken = take_lease if holder == HOLDER else _take_over
    store.fence(await asyncio.to_thread(taken, server, url, holder), holder)
    daemon = Daemon(_config(server, url), transport=httpx.ASGITransport(app=create_app(simulator)), state=store)
    daemon.leadership = Leads()
    daemon.queue.may_send = daemon.leadership.may_send
    return daemon


def _failed() -> Simulator:
    scenario = sim_scenario([{"name": NAME, "script": {"initial": "FAILED", "recover_after_restarts": "never"}}],
                            faults=[REFUSED_ONCE])
    return Simulator(Scenario.model_validate(scenario))


def _restart_calls(simulator: Simulator) -> list[int | None]:
    return [call.status_code for call in simulator.calls if call.endpoint == "restart"]


async def taken_over(server: PostgresServer, url: str, store: PostgresStateStore,
                     simulator: Simulator) -> tuple[Daemon, list[MutableMapping[str, Any]]]:
    """Another replica takes over: it recovers what the store holds, starts its queue, polls
    once (its next poll) and sends what it decides. Returns it (the caller stops it) and its log."""
    successor = await _replica(server, url, store, simulator, "other-replica")
    try:
        with structlog.testing.capture_logs() as logs:
            successor.engine.recover(absence=None)
            successor.queue.start()
            await successor.pollers[CLUSTER].poll()
            await asyncio.wait_for(successor.queue.join(), 30)
    except BaseException:
        await successor.stop()
        raise
    return successor, logs


def _of_it(logs: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == event and e.get("connector") == NAME]


async def test_the_successor_restarts_at_its_next_poll_a_connector_whose_only_call_was_answered_429(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    simulator = _failed()
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store, \
            PostgresStateStore(postgres_url, password=postgres_server.password) as other_store:
        first = await _replica(postgres_server, postgres_url, store, simulator, HOLDER)
        successor = None
        try:
            first.queue.start()
            await first.pollers[CLUSTER].poll()
            await first.pollers[CLUSTER].poll()  # the second failed poll: the restart goes, answered 429
            await until(lambda: _restart_calls(simulator) == [429], "the restart answered 429")
            await until(lambda: [p.phase for p in store.pending()] == [PendingPhase.QUEUED], "queued again")
            # The leader is lost before its retry (SIGKILL, SIGSTOP past its lease): another takes over.
            successor, logs = await taken_over(postgres_server, postgres_url, other_store, simulator)
            stored = other_store.load(KEY)
        finally:
            if successor is not None:
                await successor.stop()
            await first.stop()
    (decision,) = _of_it(logs, "decision")
    assert decision["decision"] == "restart", decision
    assert "restart attempt(s) so far" not in decision.get("detail", ""), decision
    ended = {e["outcome"]: e for e in _of_it(logs, "restart_finished")}
    assert ended["dropped"]["tries"] == 0, ended  # the request the 429 put back: the poll decides again
    assert ended["accepted"]["attempt"] == 1, ended
    assert stored.attempts == 1, stored
    assert _restart_calls(simulator) == [429, 202]


async def test_a_retry_after_a_429_is_counted_once_by_the_replica_that_got_it(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    scenario = sim_scenario([{"name": NAME, "script": {"initial": "FAILED", "recover_after_restarts": "never"}}],
                            faults=[REFUSED_BRIEFLY])
    simulator = Simulator(Scenario.model_validate(scenario))
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store, \
            PostgresStateStore(postgres_url, password=postgres_server.password, read_only=True) as reader:
        daemon = await _replica(postgres_server, postgres_url, store, simulator, HOLDER)
        try:
            daemon.queue.start()
            await daemon.pollers[CLUSTER].poll()
            with structlog.testing.capture_logs() as logs:
                await daemon.pollers[CLUSTER].poll()
                await until(lambda: _restart_calls(simulator) == [429], "the restart answered 429")
                await until(lambda: [p.phase for p in store.pending()] == [PendingPhase.QUEUED], "queued again")
                between = reader.load(KEY)  # what a successor would read until the retry
                await asyncio.wait_for(daemon.queue.join(), 30)  # the retry, after the 1 s pause
            after = reader.load(KEY)
            history = store.history(KEY)
        finally:
            await daemon.stop()
    assert (between.attempts, between.next_allowed_at) == (0, None), between
    assert _restart_calls(simulator) == [429, 202]
    assert after.attempts == 1, after
    assert after.last_restart_at is not None and after.next_allowed_at is not None
    # The gap is the first attempt's (2 minutes by base 60 s), counted from the call that went through.
    assert 120 <= (after.next_allowed_at - after.last_restart_at).total_seconds() <= 120 * 1.5, after
    assert [(r.outcome.value, r.attempt, r.tries) for r in history] == [("accepted", 1, 2)]
    (ended,) = _of_it(logs, "restart_finished")
    assert (ended["outcome"], ended["attempt"]) == ("accepted", 1), ended
