"""The daemon against real Kafka Connect workers of the releases users still run: 2.8.2 (before
3.0: restarts ignore `includeTasks`/`onlyFailed`, KIP-745) and 3.4.1 (flags honoured; no STOPPED,
`PUT /stop` came in 3.5). Each release is a Connect cluster of its own, one worker started from
that release's jars (jars.py, `pom-worker.xml`), joined to the session's pinned broker: Kafka 4's
broker still serves clients from 2.1 on (KIP-896), so no older broker and no ZooKeeper are needed.

What each test checks is what a user sees at 3 a.m.: the failed tasks run again, and the daemon
says what it did (the 204 that restarted only the connector instance, then each task restarted by
id; or the 202 naming the instances restarting), not "restarted" while a task stays FAILED.

Cost on top of the pinned release's tests (measured on the shared 2-core machine): about 15 s
in all once the jars are cached (the two workers start side by side in about 8 s, the four tests
take about 6 s); a cold Maven fetch of both releases adds about 20 s. The rolling upgrade (a
2.8.2 leader and a worker of the pinned release in one group, started one after the other) adds
about 15 s.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Health, Outcome, Trigger
from watchdog.rules import classify

from ...support import CLUSTER
from .admin import Admin, brief, task_states
from .cluster import KafkaCluster, Worker
from .test_real_kafka_connect import decisions, jobs_for, poll, running_daemon, status_rule

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

# Before 3.0 (KIP-745) and before 3.5 (KIP-875); docs/self-managed-connect.md "Stalled connectors
# and self-managed Kafka Connect" names them.
OLDER_RELEASES = ("2.8.2", "3.4.1")
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"


@pytest.fixture(scope="module")
def older(kafka: KafkaCluster) -> Iterator[dict[str, Worker]]:
    """One worker of each older release, started side by side, stopped after this module."""
    workers = {version: kafka.add_older_worker(version, wait=False) for version in OLDER_RELEASES}
    try:
        for worker in workers.values():
            kafka.wait_ready(worker)
        yield workers
    finally:
        kafka.stop_older_workers()


def ignores_flags(version: str) -> bool:
    return tuple(int(part) for part in version.split(".")) < (3, 0)


async def failing_sink(admin: Admin, name: str, directory: Path, tasks: int) -> dict[str, Any]:
    """A FileStreamSink whose output directory does not exist: each task fails as it starts
    ("Couldn't find or create file"), and runs once the directory is there and it is restarted."""
    shutil.rmtree(directory, ignore_errors=True)
    await admin.put_config(name, {"connector.class": SINK, "file": str(directory / "out.txt"), "topics": f"{name}-in",
                                  "tasks.max": str(tasks)})
    return await admin.wait_for(name, lambda s: task_states(s) == ["FAILED"] * tasks, "the tasks did not fail")


def all_running(tasks: int) -> Any:
    return lambda s: s.get("connector", {}).get("state") == "RUNNING" and task_states(s) == ["RUNNING"] * tasks


@pytest.mark.parametrize("version", OLDER_RELEASES)
async def test_failed_tasks_of_an_older_worker_run_again_and_the_daemon_says_how(
    older: dict[str, Worker], version: str, tmp_path: Path
) -> None:
    worker = older[version]
    admin = Admin([worker.url], tmp_path / "files")
    name = "broken-sink"
    directory = tmp_path / "missing"
    before = await failing_sink(admin, name, directory, tasks=2)
    try:
        directory.mkdir()  # the cause is fixed; only a restart starts the tasks again
        await asyncio.sleep(1)
        assert task_states(await admin.status(name)) == ["FAILED", "FAILED"], "a FAILED task stays FAILED by itself"
        async with running_daemon([worker.url], [status_rule()]) as d:
            await poll(d)
            (job,) = jobs_for(d, name)
            assert job.outcome is Outcome.ACCEPTED, job.message
            if ignores_flags(version):
                # The flagged restart restarted the connector instance only (204, no body); the
                # daemon then restarted each FAILED task by id, and says so.
                assert job.status_code == 204
                assert job.message == ("this Kafka Connect ignored includeTasks/onlyFailed (answered 204); "
                                       "restarted tasks 0, 1 one by one")
            else:
                assert job.status_code == 202
                assert job.message == "202: connector RUNNING; tasks 0 RESTARTING, 1 RESTARTING", "onlyFailed=true"
            [kept] = [r for r in d.state.history(cluster=CLUSTER, connector=name) if r.job_id == job.id]
            assert kept.message == job.message
            assert "Couldn't find or create file" in kept.evidence["tasks"][0]["trace"], "the real trace was kept"

            after = await admin.wait_for(name, all_running(2), "the failed tasks did not run again")
            assert after["connector"]["worker_id"] == before["connector"]["worker_id"]
            await poll(d)
            status = d.engine.statuses[ConnectorKey(CLUSTER, name)]
            assert classify(status) is Health.HEALTHY, brief(after)
            assert len(jobs_for(d, name)) == 1, "nothing more was sent"
            assert decisions(d, "restart") == 1
    finally:
        await admin.delete(name)


@pytest.mark.parametrize("version", OLDER_RELEASES)
async def test_a_manual_restart_restarts_every_instance_of_an_older_worker(
    older: dict[str, Worker], version: str, tmp_path: Path
) -> None:
    worker = older[version]
    admin = Admin([worker.url], tmp_path / "files")
    name = "whole-sink"
    out = tmp_path / "out"
    out.mkdir()
    await admin.put_config(name, {"connector.class": SINK, "file": str(out / "out.txt"), "topics": f"{name}-in",
                                  "tasks.max": "2"})
    try:
        await admin.wait_for(name, all_running(2), "did not run")
        async with running_daemon([worker.url], [status_rule()]) as d:
            statuses = await d.pollers[CLUSTER].list()
            assert statuses is not None
            key = ConnectorKey(CLUSTER, name)
            record = d.engine.on_request(key, statuses[name], trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="t")
            await asyncio.wait_for(d.queue.join(), 130)
            job = record.job
            assert job is not None and job.outcome is Outcome.ACCEPTED, job and job.message
            if ignores_flags(version):
                assert (job.status_code, job.message) == (204, (
                    "this Kafka Connect ignored includeTasks/onlyFailed (answered 204); restarted tasks 0, 1 one by one"))
            else:
                assert (job.status_code, job.message) == (202, "202: connector RESTARTING; tasks 0 RESTARTING, 1 RESTARTING")
        await admin.wait_for(name, all_running(2), "did not run again")
    finally:
        await admin.delete(name)


@pytest.mark.parametrize("version", OLDER_RELEASES)
@pytest.mark.parametrize("name", [".", ".."])
async def test_a_failed_connector_named_with_dots_is_restarted_where_the_worker_serves_it(
    older: dict[str, Worker], version: str, name: str, tmp_path: Path
) -> None:
    """Jetty 9.4 (Kafka Connect before 4.0) routes `/connectors/%2E%2E/restart` to the connector
    `..`; the daemon refused such names without a call, so they stayed FAILED for ever there."""
    worker = older[version]
    admin = Admin([worker.url], tmp_path / "files")
    encoded = "%2E" * len(name)  # the admin's httpx would remove a literal dot segment
    directory = tmp_path / "missing"
    await admin.create(name, {"connector.class": SINK, "file": str(directory / "out.txt"), "topics": "dots-in",
                              "tasks.max": "1"})
    try:
        await admin.wait_for(encoded, lambda s: task_states(s) == ["FAILED"], "the task did not fail")
        directory.mkdir()
        async with running_daemon([worker.url], [status_rule(select={"connectors": [name]})]) as d:
            await poll(d)
            (job,) = jobs_for(d, name)
            assert job.outcome is Outcome.ACCEPTED, job.message
        await admin.wait_for(encoded, all_running(1), "the failed task did not run again")
    finally:
        await admin.delete(encoded)


@pytest.fixture(scope="module")
def upgrading(kafka: KafkaCluster) -> Iterator[tuple[Worker, Worker]]:
    """A rolling upgrade from 2.x: a 2.8.2 worker (the leader) and a worker of the pinned release
    in one group; the newer one passes every write on to the 2.8.2 leader."""
    workers = kafka.add_rolling_upgrade("upgrade", ("2.8.2", None))
    try:
        leader = KafkaCluster.leader(workers)
        assert leader is workers[0], f"the 2.8.2 worker should lead: {leader and leader.name}"
        yield workers[0], workers[1]
    finally:
        for worker in workers:
            worker.stop()


async def test_failed_tasks_restarted_through_a_newer_worker_whose_leader_is_2_8_run_again(
    upgrading: tuple[Worker, Worker], tmp_path: Path
) -> None:
    """The newer worker sends the 2.8.2 leader's 204 (the connector instance alone restarted, the
    flags ignored) on as a 202 with an empty body: recorded `accepted 202`, the tasks were never
    restarted, and the daemon gave up on them. It now restarts them by id and says why."""
    leader, newer = upgrading
    admin = Admin([leader.url], tmp_path / "files")
    name = "upgrade-sink"
    directory = tmp_path / "missing"
    await failing_sink(admin, name, directory, tasks=2)
    try:
        directory.mkdir()
        async with running_daemon([newer.url, leader.url], [status_rule()]) as d:
            await poll(d)
            (job,) = jobs_for(d, name)
            assert (job.outcome, job.status_code) == (Outcome.ACCEPTED, 202), job.message
            assert job.message == (
                "this Kafka Connect answered 202 naming no instance it restarts (a leader before 3.0 ignores "
                "includeTasks/onlyFailed and restarts the connector instance only); restarted tasks 0, 1 one by one")
            await admin.wait_for(name, all_running(2), "the failed tasks did not run again")
    finally:
        await admin.delete(name)
