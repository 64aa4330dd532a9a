"""What remembering and sending restarts costs in round trips to PostgreSQL: with the database a few
milliseconds away, each is that much of a schedule run, a poll or the queue's send path.

Every request is still durable before it is queued (a commit each): a commit point's statements
go in one pipeline with their COMMIT, and a transaction's BEGIN with its fence."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest

from bench.postgres import PostgresServer, take_lease
from bench.schedule_store import Traced
from watchdog.alerts import WebhookPayload
from watchdog.app import Daemon
from watchdog.engine.core import READ_AHEAD
from watchdog.model import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    Health,
    TaskStatus,
    Trigger,
)

from .support import CLUSTER, CLUSTER_ID, daemon_config, in_process, sim_scenario

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
    # 2 per restart (its fence and its write with its commit); per slice (the run lets the loop
    # go every POLL_SLICE_SECONDS: up to 20 slices on a loaded machine), one to end it and, since
    # the gap after another rule's restart (engine/restart_gap.py), one to read its states afresh
    # in one batch, and one more per READ_AHEAD connectors within a slice. Locally 607 (one slice).
    batches = -(-len(names) // READ_AHEAD)
    slices = 20
    assert trips <= 2 * len(names) + 2 * slices + batches, \
        f"a schedule run remembering {len(names)} restarts took {trips} round trips"


async def test_a_restart_sent_costs_two_round_trips_per_write(postgres_server: PostgresServer, postgres_url: str) -> None:
    # The queue's send path writes twice per restart, each durable when it returns: the attempt
    # before the call (mark_sending), the outcome after it (finish). Each was four round trips
    # (BEGIN, the fence, the statements, COMMIT), now two. The connector's state was also read
    # four times per restart (the gates and the recorder, a round trip each), now once: 12 per
    # restart, then 8, now 5 (test_a_restart_sent_reads_its_connectors_state_once, below).
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
    assert trips <= 5 * len(names) + 10, f"sending {len(names)} restarts took {trips} round trips to record them"


TOKEN = "round-trips-token-0123456789"
TRIGGER_RULES = {
    # The status rule watches the healthy connectors too: ten failing of forty, not an outage.
    "status": {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}},
    "schedule": NIGHTLY | {"select": {"include": ["c*"]}},
    "alert": {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled"},
              "cluster_label": "kafka_cluster_id", "connector_label": "connector"}, "select": {"include": ["c*"]}},
    "api": NIGHTLY | {"select": {"include": ["c*"]}},
}


def _firing(connector: str) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "ConnectorStalled", "kafka_cluster_id": CLUSTER_ID,
                                           "connector": connector},
            "annotations": {}, "startsAt": datetime(2026, 3, 1, tzinfo=timezone.utc).isoformat(),
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": connector}


@pytest.mark.parametrize("trigger", list(TRIGGER_RULES))
async def test_a_restart_sent_reads_its_connectors_state_once(
    postgres_server: PostgresServer, postgres_url: str, trigger: str,
) -> None:
    # From a restart's submit (a poll, a schedule run, an alert, a request by name) to its outcome
    # recorded, the send path read the connector's state four times, a round trip each: at the
    # job's turn (the gates), again after its wait for budget, before its call (its attempt) and
    # at its end (its record), though nothing but the job itself had written it in between. Now
    # once (at its turn), and again only when something wrote it since (the store's write marks):
    # 8 round trips per restart sent, now 5 (the turn's read, two per write).
    names = [f"c{i:02d}" for i in range(10)]
    state = "FAILED" if trigger == "status" else "RUNNING"
    statuses = {n: ConnectorStatus(name=n, state=state, tasks=(TaskStatus(0, state),)) for n in names}
    statuses |= {f"ok{i:02d}": ConnectorStatus(name=f"ok{i:02d}", state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),))
                 for i in range(30)}
    scenario = sim_scenario([{"name": n, "script": {"initial": statuses[n].state}} for n in statuses])
    with Traced(postgres_url, password=postgres_server.password) as far:
        far.fence(await asyncio.to_thread(take_lease, postgres_server, postgres_url), "test-replica")
        w = in_process(scenario, daemon_config([TRIGGER_RULES[trigger]], token=TOKEN,
                                               rate_limit={"max_requests_per_second": 1000}))
        daemon = Daemon(w.daemon.config, transport=w.daemon._transport, state=far)
        engine = daemon.engine
        try:
            engine.on_listing(CLUSTER, statuses)
            if trigger == "status":
                await engine.on_poll(CLUSTER, statuses)
            elif trigger == "schedule":
                await engine.on_schedule(daemon.config.rules[0], CLUSTER, statuses)
            elif trigger == "alert":
                payload = {"version": "4", "groupKey": "{}", "truncatedAlerts": 0, "status": "firing",
                           "receiver": "watchdog", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                           "externalURL": "", "alerts": [_firing(n) for n in names]}
                engine.on_alerts(WebhookPayload.model_validate(payload))
            else:
                for name in names:
                    key = ConnectorKey(CLUSTER, name)
                    engine.on_request(key, statuses[name], trigger=Trigger.MANUAL, rule="manual", reason="asked")
            assert len(far.pending()) == len(names)
            far.restart_count()
            daemon.queue.start()
            await daemon.queue.join()
            trips = far.round_trips()
            sent = far.history(limit=100)
        finally:
            await daemon.stop()
    assert sorted(r.key.connector for r in sent) == names and {r.outcome.value for r in sent} == {"accepted"}
    assert trips <= 5 * len(names) + 2, (
        f"{len(names)} {trigger} restarts took {trips} round trips from their turn to their outcome recorded")


async def test_a_state_written_while_a_job_waits_is_read_again(postgres_server: PostgresServer, postgres_url: str) -> None:
    # Read once at a job's turn, the state is read again when anything wrote it since: a poll
    # that saw the connector healthy again while its restart waited for budget drops it, as
    # before; and a batch that rolled back leaves no state of its own behind to be used again.
    key = ConnectorKey(CLUSTER, "c00")
    failed = ConnectorStatus(name="c00", state="FAILED", tasks=(TaskStatus(0, "FAILED"),))
    statuses = {"c00": failed} | {f"ok{i}": ConnectorStatus(name=f"ok{i}", state="RUNNING",
                                                            tasks=(TaskStatus(0, "RUNNING"),)) for i in range(5)}
    with Traced(postgres_url, password=postgres_server.password) as far:
        far.fence(await asyncio.to_thread(take_lease, postgres_server, postgres_url), "test-replica")
        w = in_process(sim_scenario([{"name": n} for n in statuses]), daemon_config([TRIGGER_RULES["status"]],
                                                                                 queue={"shutdown_deadline": 0}))
        daemon = Daemon(w.daemon.config, transport=w.daemon._transport, state=far)
        try:
            await daemon.engine.on_poll(CLUSTER, statuses)
            job = daemon.queue.pending_job(key)
            assert job is not None
            recorder = daemon.recorder
            assert recorder.drop_reason(job) is None  # its turn: read
            far.restart_count()
            assert recorder.drop_reason(job) is None and far.round_trips() == 0  # nothing wrote it since
            healthy = ConnectorState(health=Health.HEALTHY)
            with pytest.raises(RuntimeError), far.batch():
                far.observe_status(key, "RUNNING", datetime.now(timezone.utc), state=healthy)
                assert recorder.drop_reason(job) == "connector healthy again before its turn"  # its own write
                raise RuntimeError("the slice failed")
            assert recorder.drop_reason(job) is None  # rolled back: read again, still failed
            far.observe_status(key, "RUNNING", datetime.now(timezone.utc), state=healthy)  # a poll saw it healthy
            assert recorder.drop_reason(job) == "connector healthy again before its turn"
        finally:
            await daemon.stop()


def test_write_marks_forget_the_oldest_on_the_safe_side() -> None:
    # Bounded: a connector whose last write was forgotten counts as written when it was forgotten.
    from watchdog.state.marks import WriteMarks

    marks = WriteMarks(kept=2)
    a, b, c = (ConnectorKey(CLUSTER, name) for name in "abc")
    before = marks.now()
    marks.wrote(a)
    read_a = marks.now()
    assert not marks.unchanged_since(a, before) and marks.unchanged_since(a, read_a)
    assert marks.unchanged_since(b, before)  # never written
    marks.wrote(b)
    marks.wrote(c)  # a's last write forgotten: any connector not remembered counts as written then
    assert marks.unchanged_since(a, read_a) and not marks.unchanged_since(a, before)
    assert not marks.unchanged_since(ConnectorKey(CLUSTER, "d"), before)
    assert marks.unchanged_since(c, marks.now()) and not marks.unchanged_since(c, read_a)
    marks.wrote_all()
    assert not marks.unchanged_since(c, marks.now() - 1) and marks.unchanged_since(c, marks.now())
