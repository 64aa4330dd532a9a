"""A replica whose start of leading fails again and again (a database a DBA changed, records it
cannot read) backs off: before, it took the free lease, failed on a traceback, gave the lease back
and took it again once every renew_interval for ever (an upgrade probe: 19 tracebacks in 20 s).
Now each wait is twice the last (START_RETRY_MAX at most), the traceback is logged once per kind
of failure (then `repeated`), the free lease is left to the other replicas meanwhile, and a start
that succeeds ends it."""

from __future__ import annotations

import asyncio

import structlog
from prometheus_client import CollectorRegistry

from bench.postgres import PostgresServer
from watchdog.config.leadership import LeaseTiming
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.state.postgres import PostgresStateStore

from .support import until


async def test_a_start_of_leading_that_keeps_failing_backs_off_and_leaves_the_lease_to_another_replica(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    PostgresStateStore(postgres_url, password=postgres_server.password).close()  # the schema, lease table included
    timing = LeaseTiming(6.0, 2.0, 0.2)
    failing = Elector(postgres_url, postgres_server.password, timing, LeadershipMetrics(CollectorRegistry()),
                      identity="replica-a/1/k")
    other = Elector(postgres_url, postgres_server.password, timing, LeadershipMetrics(CollectorRegistry()),
                    identity="replica-b/1/k")
    other_led: list[int] = []

    async def fail(epoch: int) -> None:
        raise KeyError("seen_at")

    async def lead(epoch: int) -> None:
        other_led.append(epoch)

    async def lost(reason: str) -> None:
        pass

    with structlog.testing.capture_logs() as logs:
        failing.start(fail, lost)
        try:
            await asyncio.sleep(4.0)
            failed = [entry for entry in logs if entry["event"] == "leader_start_failed"]
            # renew_interval 0.2: tries at about 0, 0.2, 0.6, 1.4, 3.0 s. Before: one every 0.2 s (about 15).
            assert 3 <= len(failed) <= 6, f"{len(failed)} failed starts in 4 s"
            assert [entry.get("exc_info") for entry in failed] == [True] + [None] * (len(failed) - 1), failed
            assert [entry["repeated"] for entry in failed] == list(range(1, len(failed) + 1))
            assert failed[-1]["error"] == "KeyError: 'seen_at'" and failed[-1]["next_try_in"] > 1
            said = failing.unreachable or ""
            assert "could not start leading (KeyError: 'seen_at'" in said and "time(s) in a row" in said, said
            # What a standby answers meanwhile (/readyz's leader_unknown, its 503): the lease is read
            # and free for the others. Before: "the lease cannot be read ... no replica can take the
            # lease while the database does not answer" (verification of eb8ffba).
            note = failing.no_leader_note()
            assert "could not start leading" in note and "cannot be read" not in note, note
            assert "no replica can take the lease" not in note, note
            # The free lease goes to a replica that can lead, though this one campaigns all along.
            other.start(lead, lost)
            await until(lambda: bool(other_led), "the other replica leads", timeout=10)
            assert not failing.leading
        finally:
            await other.stop()
            await failing.stop()
