"""A replica whose link to the database answers too late (a slow or lossy path, a pooler whose
upstream turned slow): its statements reach the database and commit, their answers come after the
elector stopped waiting. Before, each campaign of the replica that had stepped down took its own
lease again blind (`OR holder = me` in lease.ACQUIRE, the answer lost): a whole lease more each
time, while it believed itself a standby and sent nothing, and the healthy standby was kept out
(an HA probe, 2026-12-07: 30 s with nothing restarted, where config.example.yaml promises a
takeover within lease_duration + renew_interval).

Played here by wrapping the lease's statements of one replica: each runs on the database (and
commits), then its answer is held for longer than the elector waits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from watchdog.config.leadership import LeaseTiming
from watchdog.leadership import elector as elector_module
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.state.postgres import PostgresStateStore

TIMING = LeaseTiming(lease_duration=3.0, renew_deadline=2.0, renew_interval=0.2)


def _late_answers(monkeypatch: Any, slow: Elector) -> list[bool]:
    """Once the returned flag's [0] is True, every lease statement `slow` makes commits and its
    answer never comes in time."""
    late = [False]
    for name in ("acquire", "renew", "read", "reclaim", "release", "restore", "give_back"):
        real = getattr(elector_module.lease, name, None)
        if real is None:
            continue

        def wrapped(conn: Any, *args: Any, _real: Any = real) -> Any:
            async def run() -> Any:
                answer = await _real(conn, *args)  # reaches the database, commits
                if late[0] and conn is slow._conn:
                    await asyncio.sleep(60)  # the answer, held past the elector's bound
                return answer
            return run()

        monkeypatch.setattr(elector_module.lease, name, wrapped)
    return late


async def test_a_standby_takes_over_within_the_lease_from_a_leader_whose_answers_come_too_late(
    postgres_server: Any, postgres_url: str, monkeypatch: Any,
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, lease table included

    def elector(name: str) -> Elector:
        return Elector(postgres_url, postgres_server.password, TIMING, LeadershipMetrics(CollectorRegistry()),
                       identity=name)

    a, b = elector("replica-a/1/k"), elector("replica-b/1/k")
    late = _late_answers(monkeypatch, a)
    elected: list[str] = []

    def on_elected(name: str) -> Any:
        async def call(epoch: int) -> None:
            elected.append(name)
        return call

    async def nothing(reason: str) -> None:
        pass

    both_sending: list[float] = []
    took_over: float | None = None
    try:
        with structlog.testing.capture_logs() as logs:
            a.start(on_elected("a"), nothing)
            async with asyncio.timeout(10):
                while not a.leading:
                    await asyncio.sleep(0.02)
            b.start(on_elected("b"), nothing)
            async with asyncio.timeout(10):
                while b.holder is None:
                    await asyncio.sleep(0.02)
            late[0] = True  # a's link turns slow: its statements commit, their answers come too late
            turned = time.monotonic()
            while not b.leading and time.monotonic() - turned < 8:
                if a.leading and a.renewal_late() is None and b.leading:
                    both_sending.append(time.monotonic() - turned)
                await asyncio.sleep(0.02)
            if b.leading:
                took_over = time.monotonic() - turned
            await asyncio.sleep(1.0)  # a keeps campaigning into its slow link meanwhile
            still_leading = b.leading and b.renewal_late() is None
    finally:
        for each in (b, a):
            await each.stop(release=False)

    bound = TIMING.lease_duration + TIMING.renew_interval + 1.0  # a renewal under way when the link turned
    assert took_over is not None, ("the healthy standby never led: the replica whose answers come too late kept "
                                   f"taking its own lease again, blind (elected: {elected})")
    assert took_over <= bound, f"the standby led {took_over:.1f}s after the link turned slow (at most {bound}s)"
    assert not both_sending, "two replicas could send at once"
    assert still_leading, "the standby lost the lease again to the replica that cannot hear the database"
    assert not a.leading and elected.count("a") == 1, elected
    lost = [entry for entry in logs if entry["event"] == "leadership_lost"]
    assert lost and lost[0]["replica"] == "replica-a/1/k", lost
