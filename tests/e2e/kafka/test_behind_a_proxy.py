"""Real Kafka Connect workers each behind their own reverse proxy (nginx_like.py), one of them
killed: its proxy answers nginx's HTML `502 Bad Gateway` page. Before 2026-12-07 every restart
of every instance (by name, an alert's, a schedule's) asked until the next poll went to that dead
worker alone and ended `unconfirmed`, "the worker may have run it", none made (probe s73, finding
1: 7 of 10 against three 4.3.1 workers).

Cost: one more worker of the session's release (about 8 s to join, stopped at the end)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger

from ...support import CLUSTER
from .admin import Admin, running
from .cluster import KafkaCluster
from .nginx_like import NginxLike
from .test_real_kafka_connect import running_daemon, status_rule

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


async def test_restarts_of_every_instance_go_past_a_dead_workers_proxy_502_and_are_made_once(
    kafka: KafkaCluster, tmp_path: Path
) -> None:
    admin = Admin([kafka.workers[0].url], tmp_path / "files")  # not through the worker killed below
    doomed = kafka.add_worker()
    names = [f"proxied-{i}" for i in range(3)]
    try:
        for name in names:
            await admin.sink(name, "quiet")
        for name in names:
            await admin.wait_for(name, running, f"{name} did not run")
        async with NginxLike(doomed.port) as dead, NginxLike(kafka.workers[0].port) as alive:
            async with running_daemon([dead.url, alive.url], [status_rule()]) as d:
                statuses = await d.pollers[CLUSTER].list()  # answered through the doomed worker's proxy
                assert statuses is not None and dead.calls and not alive.calls
                doomed.kill()  # kill -9: its proxy answers 502 from now on
                jobs = []
                for name in names:
                    record = d.engine.on_request(ConnectorKey(CLUSTER, name), statuses[name], trigger=Trigger.MANUAL,
                                                 rule=MANUAL_RULE, reason="test")
                    await asyncio.wait_for(d.queue.join(), 130)
                    jobs.append(record.job)

            assert [job.outcome for job in jobs] == [Outcome.ACCEPTED] * 3, [job.message for job in jobs]
            # The dead worker's proxy met once (and its root asked once), then the live one asked first.
            assert dead.posts() == [f"/connectors/{names[0]}/restart"], dead.calls
            assert Counter(method for method, path in dead.calls if path == "/") == {"GET": 1}
            assert set(alive.posts()) == {f"/connectors/{name}/restart" for name in names}, alive.calls
        for name in names:
            await admin.wait_for(name, running, f"{name} did not run again")
    finally:
        for name in names:
            await admin.delete(name)
