"""A leader whose lease renewal came back only after its renew deadline (the process starved of
CPU, or its event loop held, with the renewal's answer waiting): the restarts that reached their
send in between were refused and left "to the leader", in the shared state. The replica is that
leader; had it gone on under the same epoch, nothing would ever have recovered them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import CollectorRegistry

from watchdog.config.leadership import LeaseTiming
from watchdog.leadership import elector as elector_module
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.state.postgres import PostgresStateStore


async def test_a_renewal_answered_after_a_refused_send_steps_down_and_leads_again_under_a_new_epoch(
    postgres_server: Any, postgres_url: str, monkeypatch: Any,
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, lease table included
    timing = LeaseTiming(lease_duration=3.0, renew_deadline=2.0, renew_interval=0.2)
    skew = [0.0]  # seconds the replica's clock is ahead of the loop's: a stall the loop did not see
    elector = Elector(postgres_url, postgres_server.password, timing, LeadershipMetrics(CollectorRegistry()),
                      identity="replica-a/1/k", clock=lambda: time.monotonic() + skew[0])
    elected: list[int] = []
    lost: list[str] = []
    refused: list[str | None] = []
    real_renew = elector_module.lease.renew
    stalled = False

    async def renew_answered_late(conn: Any, me: str, epoch: int, lease_seconds: float) -> bool:
        nonlocal stalled
        held = await real_renew(conn, me, epoch, lease_seconds)
        if not stalled and elected:
            # The answer waits while the process stalls past the last renewal's deadline (but not
            # past this renewal's start + renew_deadline); meanwhile a restart reaches its send.
            stalled = True
            skew[0] += elector._deadline - time.monotonic() - skew[0] + 0.05
            refused.append(elector.may_send())
        return held

    async def on_elected(epoch: int) -> None:
        elected.append(epoch)

    async def on_lost(reason: str) -> None:
        lost.append(reason)

    monkeypatch.setattr(elector_module.lease, "renew", renew_answered_late)
    elector.start(on_elected, on_lost)
    try:
        async with asyncio.timeout(10):
            while len(elected) < 2 and not (stalled and elector.may_send() is None):
                await asyncio.sleep(0.02)
        assert refused and refused[0] is not None and "renew_deadline" in refused[0], refused
        # Not leading on as if nothing was refused: the refused restarts are left in the shared
        # state, and only taking the lead again (recovery) sends them.
        assert lost, "the replica went on leading under the epoch whose restarts it had left to 'the leader'"
        assert "renew" in lost[0]
        async with asyncio.timeout(10):
            while len(elected) < 2:
                await asyncio.sleep(0.02)
        assert elected[1] > elected[0] and elector.may_send() is None
    finally:
        await elector.stop()


async def test_a_leader_whose_start_held_the_loop_past_renew_deadline_leads_on_when_no_one_took_the_lease(
    postgres_server: Any, postgres_url: str,
) -> None:
    # Taking the lead recovers what the last leader left, on the event loop, before the first
    # renewal: 1,000 kept restarts with PostgreSQL 3 ms away took 4 s. Past renew_deadline, the
    # replica stepped down at once, took the lead again, recovered the same restarts again, and
    # so on for ever, sending nothing, though no one else had taken the lease.
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, lease table included
    timing = LeaseTiming(lease_duration=3.0, renew_deadline=1.0, renew_interval=0.2)
    elector = Elector(postgres_url, postgres_server.password, timing, LeadershipMetrics(CollectorRegistry()),
                      identity="replica-a/1/k")
    elected: list[int] = []
    lost: list[str] = []

    async def on_elected(epoch: int) -> None:
        elected.append(epoch)
        if len(elected) == 1:
            time.sleep(1.3)  # the recovery holding the loop: no renewal can run meanwhile

    async def on_lost(reason: str) -> None:
        lost.append(reason)

    elector.start(on_elected, on_lost)
    try:
        async with asyncio.timeout(10):
            while not elected:
                await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)  # renewals at 0.2 s
        assert lost == [] and elected == elected[:1], "stepped down though the lease was still its own"
        assert elector.leading and elector.may_send() is None
    finally:
        await elector.stop()


async def test_after_a_long_start_the_lease_is_renewed_before_the_queue_first_asks(
    postgres_server: Any, postgres_url: str,
) -> None:
    # The queue starts right after the recovery (leadership/host.py): its first may_send, before
    # the election loop could renew, was refused, the restart left "to the leader" and the replica
    # stepped down to recover it, again past renew_deadline: the same loop for ever.
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass
    timing = LeaseTiming(lease_duration=3.0, renew_deadline=1.0, renew_interval=0.2)
    elector = Elector(postgres_url, postgres_server.password, timing, LeadershipMetrics(CollectorRegistry()),
                      identity="replica-a/1/k")
    first_ask: list[str | None] = []
    lost: list[str] = []

    async def on_elected(epoch: int) -> None:
        if not first_ask:
            time.sleep(1.3)  # the recovery holding the loop
            await elector.renew_if_late()
            first_ask.append(elector.may_send())  # the queue's first send

    async def on_lost(reason: str) -> None:
        lost.append(reason)

    elector.start(on_elected, on_lost)
    try:
        async with asyncio.timeout(10):
            while not first_ask:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        assert first_ask == [None] and lost == [] and elector.leading
    finally:
        await elector.stop()
