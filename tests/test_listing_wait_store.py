"""A restart request whose cluster must be listed first, on a leader whose event loop is held by
state store statements waiting on a lock on a state table, is answered 503 naming the state
database, not the API key: the 503 said "the listing did not finish within 5 s (its API key, main,
may be waiting for rate-limit budget)" for every late listing, and its reader looked at the key's
budget and at the other tools sharing the key (an HA probe under load, 2026-12-07). The key's wait
is named only when the listing's call was waiting for the key's budget; both when both took time."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from bench.postgres import PostgresServer, take_lease
from watchdog.app import Daemon
from watchdog.model import ConnectorKey, ConnectorState
from watchdog.server import create_app
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as simulator_app
from watchdog.state.postgres import PostgresStateStore
from watchdog.triggers import poller as poller_module
from watchdog.triggers.listing_wait import ListingWait

from .support import CLUSTER, sim_scenario
from .test_outage_outcomes import HOLDER, Leads, pg_config

TOKEN = "listing-wait-token-8d2e41"
LOCK_SECONDS = 2.5  # under the statement timeout (5 s): the write waits it out, then succeeds


def _hold_lock(server: PostgresServer, url: str, held: threading.Event) -> None:
    """A DBA's statement holding a state table (a VACUUM FULL, an ALTER TABLE) for LOCK_SECONDS."""
    with server.connect(url.rsplit("/", 1)[1]) as admin:
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE connector_state IN ACCESS EXCLUSIVE MODE")
        held.set()
        admin.execute(f"SELECT pg_sleep({LOCK_SECONDS})")
        admin.execute("COMMIT")


async def test_a_request_held_by_a_locked_state_table_is_told_the_database_was_slow_not_the_key(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(poller_module, "LISTING_WAIT_SECONDS", 1.0)
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders-sink"}])))
    api = simulator_app(simulator)
    held, reached, release = threading.Event(), asyncio.Event(), asyncio.Event()

    async def listed_slowly(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/connectors"):
            reached.set()  # the list call is out; its answer waits until the test has its own
            await release.wait()
        await api(scope, receive, send)

    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        store.fence(await asyncio.to_thread(take_lease, postgres_server, postgres_url, HOLDER), HOLDER)
        daemon = Daemon(pg_config(postgres_server, postgres_url, token=TOKEN), transport=httpx.ASGITransport(app=listed_slowly),
                        state=store)
        daemon.leadership = Leads()
        daemon.queue.may_send = daemon.leadership.may_send
        locker = asyncio.create_task(asyncio.to_thread(_hold_lock, postgres_server, postgres_url, held))
        try:
            await asyncio.to_thread(held.wait, 30)
            app = create_app(daemon.metrics.registry, daemon.probes, daemon.api_context())
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon",
                                         headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                asked = asyncio.create_task(http.post("/v1/restarts", json={
                    "cluster": CLUSTER, "connector": "orders-sink", "reason": "deploy 42"}))
                await asyncio.wait_for(reached.wait(), 30)  # the request waits for the listing now
                # Another task's store write (a poll's, an alert's) waits on the lock, holding the
                # event loop meanwhile: the store is synchronous on it.
                store.save(ConnectorKey(CLUSTER, "other-sink"), ConnectorState())
                answer = await asyncio.wait_for(asked, 30)
        finally:
            release.set()
            await locker
            await daemon.stop()
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert "the listing did not finish within 1 s (the state database was slow: its calls held this replica's " \
           "event loop" in error, error
    assert "(a lock on its tables? a slow statement?)" in error, error
    assert "rate-limit budget" not in error and "API key" not in error, error


def test_the_key_is_named_only_when_the_listing_waited_for_its_budget() -> None:
    def said(**what: Any) -> str:
        facts: dict[str, Any] = {"waited": 5.0, "elapsed": 5.0, "credential": "main", "for_budget": False,
                                 "on_the_wire": False, "store_seconds": 0.0, "store": "state database"}
        return ListingWait(**{**facts, **what}).reason()

    assert said(for_budget=True) == ("the listing did not finish within 5 s (its API key, main, was waiting for "
                                     "rate-limit budget); it goes on")
    assert said(on_the_wire=True) == ("the listing did not finish within 5 s (the list call went out and had no "
                                      "answer yet (a slow API?)); it goes on")
    # The probe's: the store held the loop for nearly all of the wait, whatever the call was doing.
    store_only = said(for_budget=True, elapsed=5.7, store_seconds=5.0)
    assert "the state database was slow: its calls held this replica's event loop 5.0 s of the 5.7 s" in store_only
    assert "API key" not in store_only
    # Both took time: both said, neither blamed alone.
    both = said(for_budget=True, elapsed=6.0, store_seconds=3.0)
    assert "the state database was slow" in both
    assert both.endswith("; its API key, main, was waiting for rate-limit budget: either may be the cause); it goes on")
