"""The database's clock stepped back while the whole fleet was down (NTP putting right a clock
that ran fast, a VM restored from a snapshot, a failover to a server whose clock lags): the dead
leader's lease row then lies far ahead of that clock. Before, no replica could take it until its
expires_at came round (an HA probe, 2026-12-07: an hour with no leader, every standby Ready naming
the dead replica, nothing logged). Now a standby says it (`leader_lease_ahead_of_clock`) and takes
the lease once the row stayed unchanged for a whole lease; a healthy leader, whose renewals keep
changing the row, is never robbed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import structlog
from prometheus_client import CollectorRegistry

from watchdog.config.leadership import LeaseTiming
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.state.postgres import PostgresStateStore

TIMING = LeaseTiming(lease_duration=2.0, renew_deadline=1.5, renew_interval=0.2)


def _elector(server: Any, url: str, name: str) -> Elector:
    return Elector(url, server.password, TIMING, LeadershipMetrics(CollectorRegistry()), identity=name)


def _step_back(server: Any, url: str, seconds: int) -> None:
    """The lease row as a step back of the database's clock by `seconds` leaves it."""
    with psycopg.connect(url, password=server.password.get_secret_value(), autocommit=True) as conn:
        conn.execute(f"UPDATE leader_lease SET expires_at = expires_at + interval '{seconds} seconds', "
                     f"renewed_at = renewed_at + interval '{seconds} seconds' WHERE id = 1")


def _elected(into: list[str], name: str) -> Any:
    async def call(epoch: int) -> None:
        into.append(name)
    return call


async def _nothing(reason: str) -> None:
    pass


async def test_a_standby_takes_a_dead_leaders_lease_left_ahead_of_a_clock_that_stepped_back(
    postgres_server: Any, postgres_url: str,
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass
    dead, standby = _elector(postgres_server, postgres_url, "dead/1/k"), _elector(postgres_server, postgres_url, "b/1/k")
    elected: list[str] = []
    try:
        dead.start(_elected(elected, "dead"), _nothing)
        async with asyncio.timeout(5):
            while not dead.leading:
                await asyncio.sleep(0.02)
        await dead.stop(release=False)  # killed: the lease stays, naming it
        _step_back(postgres_server, postgres_url, 3600)
        with structlog.testing.capture_logs() as logs:
            started = time.monotonic()
            standby.start(_elected(elected, "b"), _nothing)
            while not standby.leading and time.monotonic() - started < 6:
                await asyncio.sleep(0.05)
            took = time.monotonic() - started
            holder_named = standby.holder
    finally:
        await standby.stop(release=False)
    assert standby.leading or elected == ["dead", "b"], (
        f"no replica led {took:.1f}s after the start: the lease stays ahead for an hour (elected: {elected})")
    assert took <= TIMING.lease_duration + 2 * TIMING.renew_interval + 1.0, took
    ahead = [entry for entry in logs if entry["event"] == "leader_lease_ahead_of_clock"]
    assert len(ahead) == 1 and ahead[0]["log_level"] == "warning", ahead
    assert ahead[0]["holder"] == "dead/1/k" and 3590 < ahead[0]["renewed_ahead_seconds"] <= 3600, ahead[0]
    assert holder_named == "b/1/k"
    elected_lines = [entry for entry in logs if entry["event"] == "leader_elected"]
    assert elected_lines and elected_lines[0]["taken_over"] is True and elected_lines[0]["epoch"] == 2


async def test_a_healthy_leader_is_not_robbed_after_the_clock_stepped_back_under_it(
    postgres_server: Any, postgres_url: str,
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass
    leader, standby = _elector(postgres_server, postgres_url, "a/1/k"), _elector(postgres_server, postgres_url, "b/1/k")
    elected: list[str] = []
    try:
        leader.start(_elected(elected, "a"), _nothing)
        async with asyncio.timeout(5):
            while not leader.leading:
                await asyncio.sleep(0.02)
        standby.start(_elected(elected, "b"), _nothing)
        async with asyncio.timeout(5):
            while standby.holder is None:
                await asyncio.sleep(0.02)
        with structlog.testing.capture_logs():
            for _ in range(4):  # the clock steps back again and again under a live leader
                _step_back(postgres_server, postgres_url, 3600)
                await asyncio.sleep(TIMING.lease_duration / 2)
            await asyncio.sleep(TIMING.lease_duration)
    finally:
        await standby.stop(release=False)
        await leader.stop()
    assert elected == ["a"], f"the healthy leader's lease was taken: {elected}"
