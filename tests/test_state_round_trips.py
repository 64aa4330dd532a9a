"""What remembering and sending restarts costs in round trips to PostgreSQL: with the database a few
milliseconds away, each is that much of a schedule run, a poll or the queue's send path.

Every request is still durable before it is queued (a commit each): a commit point's statements
go in one pipeline with their COMMIT, and a transaction's BEGIN with its fence."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.postgres import PostgresServer, take_lease
from bench.schedule_store import Traced
from watchdog.app import Daemon
from watchdog.model import ConnectorStatus, TaskStatus

from .support import CLUSTER, daemon_config, in_process, sim_scenario

NIGHTLY = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}


async def test_a_schedule_run_remembers_each_restart_in_two_round_trips(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # A nightly rule selecting 300 connectors: each restart is remembered (a commit) before it
    # is queued. Its statement, its COMMIT, then the BEGIN and the fence of the batch's next
    # transaction were four round trips, each waiting for its answer: 2,000 connectors with
    # PostgreSQL 3 ms away took 45 s (fsync off; 52 s with fsync on).
    names = [f"c{i:03d}" for i in range(300)]
    statuses = {n: ConnectorStatus(name=n, state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),)) for n in names}
    with Traced(postgres_url, password=postgres_server.password) as far:
        far.fence(await asyncio.to_thread(take_lease, postgres_server, postgres_url), "test-replica")
        w = in_process(sim_scenario([{"name": n} for n in names]),
                       daemon_config([NIGHTLY], queue={"shutdown_deadline": 0}))
        daemon = Daemon(w.daemon.config, transport=w.daemon._transport, state=far)
        try:
            far.restart_count()
            await daemon.engine.on_schedule(daemon.config.rules[0], CLUSTER, statuses)
            trips = far.round_trips()
            assert len(far.pending()) == len(names)
        finally:
            await daemon.stop()
    # 2 per restart (its fence and its write with its commit), and one per slice to end it.
    assert trips <= 2 * len(names) + 20, f"a schedule run remembering {len(names)} restarts took {trips} round trips"


async def test_a_restart_sent_costs_two_round_trips_per_write(postgres_server: PostgresServer, postgres_url: str) -> None:
    # The queue's send path writes twice per restart, each durable when it returns: the attempt
    # before the call (mark_sending), the outcome after it (finish). Each was four round trips
    # (BEGIN, the fence, the statements, COMMIT), now two. The connector's state is also read
    # four times per restart (the gates and the recorder, a round trip each): 12 per restart
    # before, 8 now.
    names = [f"c{i:02d}" for i in range(20)]
    asked: list[Any] = []
    with Traced(postgres_url, password=postgres_server.password) as far:
        far.fence(await asyncio.to_thread(take_lease, postgres_server, postgres_url), "test-replica")
        w = in_process(sim_scenario([{"name": n} for n in names]),
                       daemon_config([NIGHTLY], rate_limit={"max_requests_per_second": 1000}))
        daemon = Daemon(w.daemon.config, transport=w.daemon._transport, state=far)
        try:
            statuses = {n: ConnectorStatus(name=n, state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),)) for n in names}
            await daemon.engine.on_schedule(daemon.config.rules[0], CLUSTER, statuses)
            far.restart_count()
            daemon.queue.start()
            await daemon.queue.join()
            trips = far.round_trips()
            asked = [c for c in w.simulator.restarts()]
            assert far.pending() == [] and len(far.history(limit=100)) == len(names)
        finally:
            await daemon.stop()
    assert len(asked) == len(names)
    assert trips <= 8 * len(names) + 10, f"sending {len(names)} restarts took {trips} round trips to record them"
