"""The daemon against real Apache Kafka Connect: one KRaft broker and two distributed workers on
loopback (conftest.py), real failures healed for real.

The daemon runs in this process with its real components (poller, engine, queue, the Kafka
Connect client over HTTP, the state store, metrics); the tests call its poll and restart entry
points themselves instead of waiting for its timers, so each step happens when the cluster is
in the state the step is about.

The module timeout covers the first test's wait for the session's cluster: on a fresh machine
Maven first fetches about 55 MB of jars (cached afterwards), then the cluster starts (~15 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.queue.election import ELECTION_DELAY_CAP
from watchdog.queue.job import Phase

from ...support import CLUSTER, SELF_MANAGED, daemon_config
from .admin import (
    POISON,
    Admin,
    brief,
    connector_state,
    eventually,
    good_record,
    running,
    task_failed,
)
from .cluster import KafkaCluster, Worker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

FAST = {"max_requests_per_second": 1000, "backoff": {"base": 0.2, "cap": 1.0}, "max_retries": 8}
TOKEN = "kafka-e2e-token-5b1e"


def status_rule(**fields: Any) -> dict[str, Any]:
    return {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
            "select": {"include": ["*"]}, **fields}


def make_daemon(urls: list[str], rules: list[dict[str, Any]], transport: httpx.AsyncBaseTransport | None = None,
                **settings: Any) -> Daemon:
    config = daemon_config(rules, backend=SELF_MANAGED, **{"rate_limit": FAST, **settings})
    cluster = config.clusters[CLUSTER].model_copy(update={"urls": urls})
    return Daemon(config.model_copy(update={"clusters": {CLUSTER: cluster}}), transport=transport)


@contextlib.asynccontextmanager
async def running_daemon(urls: list[str], rules: list[dict[str, Any]], **kwargs: Any) -> AsyncIterator[Daemon]:
    d = make_daemon(urls, rules, **kwargs)
    d.queue.start()
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture
def admin(kafka: KafkaCluster, tmp_path: Path) -> Admin:
    return Admin(kafka.urls, tmp_path / "files")


def sample(d: Daemon, name: str, **labels: str) -> float:
    return d.metrics.registry.get_sample_value(name, labels) or 0.0


def decisions(d: Daemon, decision: str, trigger: str = "status", rule: str = "heal") -> float:
    return sample(d, "watchdog_decisions_total", cluster=CLUSTER, rule=rule, trigger=trigger, decision=decision)


def jobs_for(d: Daemon, connector: str) -> list[Any]:
    return [job for job in d.recorder.finished_jobs if job.key.connector == connector]


async def poll(d: Daemon) -> None:
    await d.pollers[CLUSTER].poll()
    await asyncio.wait_for(d.queue.join(), 130)


def instances(status: dict[str, Any]) -> dict[str, str]:
    """Instance -> worker id: `connector` and `task-N`."""
    placed = {"connector": status["connector"]["worker_id"]}
    placed.update({f"task-{t['id']}": t["worker_id"] for t in status["tasks"]})
    return placed


# --- a poison record: fails, is restarted, fails again, backs off, gives up, is fixed ---------


async def test_a_sink_failing_on_a_poison_record_is_restarted_backs_off_gives_up_and_recovers_once_fixed(
    kafka: KafkaCluster, admin: Admin
) -> None:
    await admin.feed("poison-feed", "poison-1", [good_record("one"), POISON, good_record("two")])
    out = await admin.sink("poison-sink", "poison-1")
    rule = status_rule(backoff={"base": 2.5, "cap": 5, "jitter": 0}, max_restarts=2)
    try:
        await admin.wait_for("poison-sink", task_failed, "the poison record did not fail the task")
        async with running_daemon(kafka.urls, [rule]) as d:
            # 1. Seen FAILED: only the failed instances are restarted, and the 202 says so.
            await poll(d)
            (first,) = jobs_for(d, "poison-sink")
            assert (first.outcome, first.status_code) == (Outcome.ACCEPTED, 202)
            assert first.message == "202: connector RUNNING; tasks 0 RESTARTING", "onlyFailed=true: the connector kept running"
            [kept] = [r for r in d.state.history(cluster=CLUSTER, connector="poison-sink") if r.job_id == first.id]
            assert "DataException" in kept.evidence["tasks"][0]["trace"], "the real trace was kept before the restart"

            # 2. The task fails again on the same record; the backoff holds the next restart.
            await admin.wait_for("poison-sink", task_failed, "the restarted task did not fail again")

            async def restarted_twice() -> bool:
                await poll(d)
                return len(jobs_for(d, "poison-sink")) >= 2

            await eventually(restarted_twice, 30, "no second restart after the backoff", interval=0.5)
            second = jobs_for(d, "poison-sink")[1]
            assert second.outcome is Outcome.ACCEPTED
            assert decisions(d, "backoff") >= 1, "polls inside the gap were held back"
            assert second.first_sent_at - first.first_sent_at >= 5.0, "gap(1) = min(2.5 * 2, 5) s"

            # 3. max_restarts reached: gave up, and nothing more is sent.
            await admin.wait_for("poison-sink", task_failed, "the task did not fail a third time")
            await asyncio.sleep(5.5)  # past the last gap: only the budget can hold it now
            await poll(d)
            assert decisions(d, "budget_spent") >= 1
            assert sample(d, "watchdog_connector_gave_up", cluster=CLUSTER, connector="poison-sink") == 1
            assert len(jobs_for(d, "poison-sink")) == 2

            # 4. The operator moves the connector past the record: the next poll sees it healthy.
            await admin.sink("poison-sink", "poison-1", **{"errors.tolerance": "all"})
            await admin.wait_for("poison-sink", running, "the reconfigured sink did not run")
            await eventually(lambda: _contains(out, "two"), 30, "the record after the poison was not written")
            await poll(d)
            # Still given up (the flag clears with the count: probe of rules, finding 4) ...
            assert sample(d, "watchdog_connector_gave_up", cluster=CLUSTER, connector="poison-sink") == 1
            await asyncio.sleep(5.2)  # healthy for the whole current gap ...
            await poll(d)
            state = d.state.load(ConnectorKey(CLUSTER, "poison-sink"))
            assert (state.attempts, state.gave_up) == (0, False), "... and the counter is reset"
            assert sample(d, "watchdog_connector_gave_up", cluster=CLUSTER, connector="poison-sink") == 0
            assert len(jobs_for(d, "poison-sink")) == 2
    finally:
        for name in ("poison-sink", "poison-feed"):
            await admin.delete(name)


async def _contains(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text()


# --- only the failed instances restart --------------------------------------------------------


async def test_only_the_failed_instances_restart_while_others_keep_running(kafka: KafkaCluster, admin: Admin) -> None:
    # One sink whose task fails on a poison record, and a bystander with instances on every
    # worker. (A poison record in one partition of a two-task sink fails both tasks for real:
    # the failed task's consumer leaves the group and the partition moves to the other task.)
    await admin.feed("mixed-feed", "mixed", [POISON])
    await admin.sink("mixed-sink", "mixed")
    await admin.sink("bystander", "quiet", tasks=4)
    try:
        before = await admin.wait_for("mixed-sink", task_failed, "the poison record did not fail the task")
        # The leader plans the restart from its own copy of the status topic: in one fresh-clone CI
        # (c8f44c9) the poll saw task 0 FAILED and the restart's 202 said `tasks 0 RUNNING`, nothing
        # restarted. The daemon reported it as it was; this test is about what a restart does.
        await admin.wait_for_every_worker("mixed-sink", task_failed, "every worker sees the task FAILED")
        bystander = await admin.wait_for("bystander", lambda s: running(s, 4), "the bystander did not run")
        failed_on = before["tasks"][0]["worker_id"]
        neighbours = {instance for instance, worker in instances(bystander).items() if worker == failed_on}
        assert neighbours, f"no bystander instance shares {failed_on}: {instances(bystander)}"

        async with running_daemon(kafka.urls, [status_rule()]) as d:
            await poll(d)
            (job,) = jobs_for(d, "mixed-sink")
            assert jobs_for(d, "bystander") == []
            assert job.answer is not None
            assert (job.answer.state, [t.state for t in job.answer.tasks]) == ("RUNNING", ["RESTARTING"]), \
                "the worker restarts the failed task, not the connector instance"

        after = await admin.wait_for("mixed-sink", task_failed, "the failed task did not fail again")
        assert after["connector"]["worker_id"] == before["connector"]["worker_id"]
        now = await admin.status("bystander")
        assert running(now, 4) and instances(now) == instances(bystander), "the bystander's instances stayed put"
    finally:
        for name in ("mixed-sink", "mixed-feed", "bystander"):
            await admin.delete(name)


# --- a worker killed mid-run ------------------------------------------------------------------


async def test_a_killed_workers_tasks_move_without_a_restart_and_calls_fail_over(kafka: KafkaCluster, admin: Admin) -> None:
    doomed = kafka.add_worker()
    names = [f"spread-{i}" for i in range(3)]
    for name in names:
        await admin.sink(name, "quiet", tasks=2)
    try:
        async def on_doomed() -> bool:
            placed = [await admin.status(name) for name in names]
            return all(running(s, 2) for s in placed) and any(
                doomed.worker_id in instances(s).values() for s in placed)

        await eventually(on_doomed, 60, f"no instance ran on {doomed.name}")
        async with running_daemon([doomed.url, kafka.workers[0].url], [status_rule()]) as d:
            await poll(d)
            doomed.kill()  # kill -9 mid-run
            seen: set[str] = set()
            polls = 1

            async def moved() -> bool:
                nonlocal polls
                await poll(d)
                polls += 1
                statuses = d.engine.statuses
                for name in names:
                    status = statuses[ConnectorKey(CLUSTER, name)]
                    seen.update([status.state, *(t.state for t in status.tasks)])
                placed = [await admin.status(name) for name in names]
                return all(running(s, 2) and doomed.worker_id not in instances(s).values() for s in placed)

            await eventually(moved, 60, "the killed worker's instances did not move", interval=0.5)
            assert d.recorder.finished_jobs == [], f"nothing restarted (states seen: {sorted(seen)})"
            assert decisions(d, "restart") == 0
            assert sample(d, "watchdog_polls_total", cluster=CLUSTER, result="ok") == polls, "every poll answered"
            assert sample(d, "watchdog_api_requests_total", credential=f"kafka-connect/{CLUSTER}", endpoint="list",
                          status_class="2xx") == polls
    finally:
        for name in names:
            await admin.delete(name)


# --- a restart while a worker joins -----------------------------------------------------------


class Recording(httpx.AsyncBaseTransport):
    """The real transport, remembering each answer's worker, status and content type."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self.answers: list[tuple[int | None, str, int, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._real.handle_async_request(request)
        body = (await response.aread())[:300].decode("utf-8", "replace")
        self.answers.append((request.url.port, request.url.path, response.status_code, body))
        return response

    async def aclose(self) -> None:
        await self._real.aclose()


async def test_a_restart_sent_while_a_worker_joins_ends_accepted(kafka: KafkaCluster, admin: Admin) -> None:
    await admin.sink("join-target", "quiet", tasks=2)
    try:
        await admin.wait_for("join-target", lambda s: running(s, 2), "did not run")
        joining = kafka.add_worker(wait=False)
        await eventually(lambda: _serving_page(joining), 60, f"{joining.name} never answered its starting 404 page",
                         interval=0.05)
        transport = Recording()
        async with running_daemon([joining.url, kafka.workers[0].url], [status_rule()], transport=transport) as d:
            statuses = await d.pollers[CLUSTER].list()
            assert statuses is not None, "the list failed over to the running worker"
            key = ConnectorKey(CLUSTER, "join-target")
            record = d.engine.on_request(key, statuses[key.connector], trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                         reason="while a worker joins")
            await asyncio.wait_for(d.queue.join(), 130)
        assert record.job is not None and record.job.outcome is Outcome.ACCEPTED, record.job and record.job.message
        assert record.job.status_code == 202
        restart_answers = [(port, status) for port, path, status, _ in transport.answers if path.endswith("/restart")]
        assert restart_answers[-1] == (kafka.workers[0].port, 202)
        # What the joining worker said first: Jetty's own 404 (Connect's resources not there yet;
        # JSON, not Connect's error body, since the daemon asks for JSON), which is not taken for
        # "no such connector". A 409 would have been retried by the queue.
        pages = [body for port, _, status, body in transport.answers if port == joining.port and status == 404]
        assert pages and all("error_code" not in body for body in pages), transport.answers
        kafka.wait_ready(joining)
    finally:
        await admin.delete("join-target")


async def _serving_page(worker: Worker) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            response = await http.get(f"{worker.url}/connectors")
    except httpx.TransportError:
        return False
    return response.status_code == 404 and "html" in response.headers.get("content-type", "")


# --- STOPPED and PAUSED are never restarted ---------------------------------------------------


async def test_stopped_and_paused_connectors_are_never_restarted_by_any_trigger(kafka: KafkaCluster, admin: Admin) -> None:
    await admin.sink("held-stopped", "quiet")
    await admin.sink("held-paused", "quiet")
    try:
        for name in ("held-stopped", "held-paused"):
            await admin.wait_for(name, running, "did not run")
        await admin.stop("held-stopped")
        await admin.pause("held-paused")
        await admin.wait_for("held-stopped", lambda s: connector_state(s) == "STOPPED", "did not stop")
        await admin.wait_for("held-paused", lambda s: connector_state(s) == "PAUSED", "did not pause")
        rules = [
            status_rule(),
            {"name": "nightly", "trigger": {"type": "schedule", "interval": 3600}, "select": {"include": ["held-*"]}},
            {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorDown"},
                                             "cluster_label": "cluster", "connector_label": "connector"},
             "select": {"include": ["held-*"]}},
        ]
        d = make_daemon(kafka.urls, rules, token=TOKEN)
        await d.start()
        try:
            await poll(d)
            await d.run_schedule_rule("nightly")
            for name in ("held-stopped", "held-paused"):
                key = ConnectorKey(CLUSTER, name)
                manual = d.engine.on_request(key, d.engine.statuses[key], trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                             reason="test")
                assert manual.job is None and manual.decision.value == "transient", brief(await admin.status(name))
            alerts = {"version": "4", "status": "firing", "receiver": "watchdog", "groupKey": "g", "alerts": [
                {"status": "firing", "labels": {"alertname": "ConnectorDown", "cluster": CLUSTER, "connector": name},
                 "annotations": {}, "startsAt": "2026-03-01T12:00:00Z", "fingerprint": f"fp-{name}"}
                for name in ("held-stopped", "held-paused")]}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{d.bound_port}") as http:
                answer = await http.post("/v1/alertmanager", json=alerts, headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 200, answer.text
            assert [a["result"] for a in answer.json()["alerts"]] == ["refused", "refused"], answer.text
            await asyncio.wait_for(d.queue.join(), 30)
            assert d.recorder.finished_jobs == [], "nothing was sent"
            assert decisions(d, "transient") >= 2
            assert decisions(d, "transient", trigger="schedule", rule="nightly") == 2
        finally:
            await d.stop()
        assert connector_state(await admin.status("held-stopped")) == "STOPPED"
        assert connector_state(await admin.status("held-paused")) == "PAUSED"
    finally:
        for name in ("held-stopped", "held-paused"):
            await admin.delete(name)


# --- schedule and manual restarts restart every instance --------------------------------------


async def test_schedule_and_manual_restarts_restart_every_instance_and_keep_the_answer(
    kafka: KafkaCluster, admin: Admin
) -> None:
    await admin.sink("everything", "quiet", tasks=2)
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "interval": 3600}, "select": {"connectors": ["everything"]}}]
    try:
        await admin.wait_for("everything", lambda s: running(s, 2), "did not run")
        # The gap off: the schedule's run comes moments after the restart by name, and within
        # queue.manual_restart_gap it is refused `recently_restarted` (tests/test_restart_gap_between_rules.py).
        async with running_daemon(kafka.urls, rules, queue={"manual_restart_gap": 0}) as d:
            statuses = await d.pollers[CLUSTER].list()
            assert statuses is not None
            key = ConnectorKey(CLUSTER, "everything")
            manual = d.engine.on_request(key, statuses["everything"], trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="t")
            await asyncio.wait_for(d.queue.join(), 130)
            await admin.wait_for("everything", lambda s: running(s, 2), "did not run again after the manual restart")
            await d.run_schedule_rule("nightly")
            await asyncio.wait_for(d.queue.join(), 130)
            scheduled = next(job for job in d.recorder.finished_jobs if job.primary.trigger is Trigger.SCHEDULE)
            for job in (manual.job, scheduled):
                assert job is not None and (job.outcome, job.status_code) == (Outcome.ACCEPTED, 202)
                assert job.message == "202: connector RESTARTING; tasks 0 RESTARTING, 1 RESTARTING", "onlyFailed=false"
            history = d.state.history(key, limit=5)
            assert [h.message for h in history] == [scheduled.message, manual.job.message]
        await admin.wait_for("everything", lambda s: running(s, 2), "did not run again")
    finally:
        await admin.delete("everything")


# --- a restart held by a stuck broker ---------------------------------------------------------


async def test_restarts_held_by_a_stuck_broker_hold_up_neither_the_poll_nor_each_other(
    kafka: KafkaCluster, admin: Admin
) -> None:
    """With the broker stopped (SIGSTOP: a hung broker), a worker answers the list at once from
    its cache but a restart only after 30 s (it cannot write the restart request). Restarts of
    the other connectors and the next poll used to wait for that answer (one call at a time on
    the cluster's lane: 120 s and 297 s measured with the broker stopped for five minutes); and
    with as many restarts as the lane has slots, the poll still waited for one of them."""
    names = [f"stuck-{i}" for i in range(4)]  # an outage fails many at once: max_concurrent_requests
    await admin.feed("stuck-feed", "stuck-1", [POISON])
    for name in names:
        await admin.sink(name, "stuck-1")
    assert kafka.broker is not None
    broker = kafka.broker.process
    try:
        for name in names:
            await admin.wait_for(name, task_failed, "the poison record did not fail the task")
        async with running_daemon(kafka.urls, [status_rule(select={"connectors": names})],
                                  breaker={"max_failing_share": None}) as d:
            loop = asyncio.get_running_loop()

            async def on_the_wire() -> bool:
                jobs = [d.queue.pending_job(ConnectorKey(CLUSTER, name)) for name in names]
                return sum(1 for job in jobs if job is not None and job.phase is Phase.SENDING) >= 3

            broker.send_signal(signal.SIGSTOP)
            try:
                await d.pollers[CLUSTER].poll()
                await eventually(on_the_wire, 10, "the restarts did not wait for the workers together", interval=0.05)
                started = loop.time()
                await asyncio.wait_for(d.pollers[CLUSTER].poll(), 10)
                assert loop.time() - started < 5, "the poll waited for a restart's answer"
                assert await on_the_wire(), "the restarts are still unanswered: the broker is stopped"
            finally:
                broker.send_signal(signal.SIGCONT)
            await asyncio.wait_for(d.queue.join(), 130)
            assert [job.outcome for job in d.recorder.finished_jobs] == [Outcome.ACCEPTED] * 4, [
                (job.outcome, job.message) for job in d.recorder.finished_jobs]
            assert sample(d, "watchdog_polls_total", cluster=CLUSTER, result="ok") == 2
    finally:
        for name in [*names, "stuck-feed"]:
            await admin.delete(name)


# --- the leader killed: a follower cannot pass a restart on -------------------------------------


async def test_a_restart_of_every_instance_asked_while_the_leader_is_dead_is_made_once_a_new_one_leads(
    kafka: KafkaCluster, tmp_path: Path
) -> None:
    """A follower passes a restart on to the leader; with the leader killed (kill -9) it answers
    500 "IO Error trying to forward REST request: java.net.ConnectException: Connection refused"
    until the group has elected another (about 6 s here: session.timeout.ms 6 s). Nothing ran it,
    but a restart of every instance so answered ended `unconfirmed` at once ("the worker may have
    run it") and was never made. A Connect cluster of its own, so that the session's keeps its
    workers."""
    workers = kafka.add_group("leader-loss")
    admin = Admin([w.url for w in workers], tmp_path / "files")
    await admin.sink("orphan", "quiet", tasks=2)
    try:
        await admin.wait_for("orphan", lambda s: running(s, 2), "did not run")
        leader = kafka.leader(workers)
        assert leader is not None, "no worker logged the group's leader"
        [follower] = [w for w in workers if w is not leader]
        transport = Recording()
        # Retries enough to outlast the election (each waits up to 2 s).
        patient = {**FAST, "backoff": {"base": 1.0, "cap": 2.0}, "max_retries": 20}
        async with running_daemon([follower.url], [status_rule()], transport=transport, rate_limit=patient) as d:
            statuses = await d.pollers[CLUSTER].list()
            assert statuses is not None
            leader.kill()
            key = ConnectorKey(CLUSTER, "orphan")
            record = d.engine.on_request(key, statuses["orphan"], trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                         reason="the leader is dead")
            await asyncio.wait_for(d.queue.join(), 130)
        answers = [(status, body) for _, path, status, body in transport.answers if path.endswith("/restart")]
        assert answers[0][0] == 500 and "java.net.ConnectException" in answers[0][1], answers
        assert record.job is not None and (record.job.outcome, record.job.status_code) == (Outcome.ACCEPTED, 202), (
            record.job and record.job.message)
        assert record.job.message == "202: connector RESTARTING; tasks 0 RESTARTING, 1 RESTARTING", "made, every instance"
        assert [status for status, _ in answers].count(202) == 1, "made once"
        await admin.wait_for("orphan", lambda s: running(s, 2), "did not run again after the restart")
    finally:
        for worker in workers:  # the group goes with them (no delete: it may have no leader)
            worker.stop()


# Kafka Connect's own defaults for a worker's group membership (the session's workers use 6 s).
KAFKA_DEFAULT_SESSION = {"session.timeout.ms": 10000, "heartbeat.interval.ms": 3000}


async def test_a_restart_asked_as_the_leader_dies_outlasts_an_election_with_kafkas_defaults(
    kafka: KafkaCluster, tmp_path: Path
) -> None:
    """With Kafka's default session.timeout.ms (10 s) a follower answered every restart 500
    "IO Error trying to forward REST request: java.net.ConnectException" for 12 s after kill -9
    of the leader. The daemon's own defaults (rate_limit.max_retries 3, backoff from 1 s) spent
    the retries in about 4 s: the restart ended server_error, not made. It is tried again while
    the group elects (without spending max_retries) and made once the new leader answers."""
    workers = kafka.add_group("election", settings=KAFKA_DEFAULT_SESSION)
    admin = Admin([w.url for w in workers], tmp_path / "files")
    await admin.sink("elected", "quiet", tasks=2)
    try:
        await admin.wait_for("elected", lambda s: running(s, 2), "did not run", timeout=90)
        leader = kafka.leader(workers)
        assert leader is not None, "no worker logged the group's leader"
        [follower] = [w for w in workers if w is not leader]
        transport = Recording()
        with capture_logs() as logs:
            async with running_daemon([follower.url], [status_rule()], transport=transport, rate_limit={}) as d:
                statuses = await d.pollers[CLUSTER].list()
                assert statuses is not None
                leader.kill()
                killed = asyncio.get_running_loop().time()
                record = d.engine.on_request(ConnectorKey(CLUSTER, "elected"), statuses["elected"],
                                             trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="the leader is dead")
                await asyncio.wait_for(d.queue.join(), 90)
                took = asyncio.get_running_loop().time() - killed
        answers = [(status, body) for _, path, status, body in transport.answers if path.endswith("/restart")]
        assert answers[0][0] == 500 and "java.net.ConnectException" in answers[0][1], answers
        assert record.job is not None and (record.job.outcome, record.job.status_code) == (Outcome.ACCEPTED, 202), (
            record.job and record.job.message, answers)
        assert [status for status, _ in answers].count(202) == 1, "made once"
        assert took > 7.0, f"the election lasted {took:.1f} s: longer than max_retries' backoff at most"
        retries = [e for e in logs if e["event"] == "restart_retry_scheduled"]
        assert retries and all(e.get("between_leaders") for e in retries), retries
        assert record.job.failures == 0, "no retry of max_retries spent"
        # Within seconds of the new leader (the follower's log, one clock): on the backoff's own
        # doubling, 31 s after it (the sixth try 31 s after the fifth).
        # Jetty writes a request's log line after the answer has gone: a fresh-clone CI run read
        # the log in between (the 202 logged, and found missing).
        accepted_line = r"^\[([^\]]+)\] .*POST /connectors/elected/restart\S* HTTP/1.1\" 202"

        async def logged() -> bool:
            return re.search(accepted_line, follower.log_path.read_text(errors="replace"), re.MULTILINE) is not None

        await eventually(logged, 10, "the follower logged the accepted restart", interval=0.1)
        log = follower.log_path.read_text(errors="replace")
        [*_, elected] = re.finditer(r"^\[([^\]]+)\] .*Joined group at generation", log, re.MULTILINE)
        [made] = re.finditer(accepted_line, log, re.MULTILINE)
        after = (_logged_at(made) - _logged_at(elected)).total_seconds()
        assert 0 <= after <= 2 * ELECTION_DELAY_CAP, f"made {after:.1f} s after the new leader joined"
        print(f"accepted {took:.1f} s after kill -9, {after:.1f} s after the new leader joined, "
              f"{len(answers)} calls: {[s for s, _ in answers]}")
        await admin.wait_for("elected", lambda s: running(s, 2), "did not run again after the restart", timeout=90)
    finally:
        for worker in workers:
            worker.stop()


def _logged_at(line: re.Match[str]) -> datetime:
    """When a worker logged a line (`[2026-12-03 12:44:27,379] ...`)."""
    return datetime.strptime(line.group(1), "%Y-%m-%d %H:%M:%S,%f")
