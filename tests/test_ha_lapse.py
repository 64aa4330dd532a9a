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
