"""What a start does with the restarts a stopped daemon kept: a schedule's restart kept through a
night with no daemon is a missed run, not a restart at 09:00; through a rollout it still goes out."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import MutableMapping
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry

from bench.postgres import PostgresServer, take_lease
from watchdog.app import Daemon
from watchdog.cli import main
from watchdog.config.leadership import LeaseTiming
from watchdog.engine import MANUAL_RULE
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.report import kept_holds
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state import SqliteStateStore
from watchdog.state.postgres import PostgresStateStore

from .support import CLUSTER, Clock, daemon_config, sim_scenario

NIGHTLY = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["orders"]}}


def daemon(path: Path, simulator: Simulator, clock: Clock) -> Daemon:
    config = daemon_config([NIGHTLY], state={"path": str(path)}, rate_limit={"max_requests_per_second": 10000})
    return Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall, rng=lambda: 0.5)


async def crashed_with_a_scheduled_restart_kept(path: Path, simulator: Simulator, clock: Clock) -> None:
    """The 03:00 run queued its restart, the daemon was alive a moment later, then it died unsent."""
    first = daemon(path, simulator, clock)
    statuses = await first.pollers[CLUSTER].list()
    assert statuses is not None
    (rule,) = first.config.rules
    await first.engine.on_schedule(rule, CLUSTER, statuses)  # queued; the queue never started
    first.mark_alive()  # as the heartbeat does
    first.state.close()  # killed: no clean stop


def restarts_sent(simulator: Simulator) -> list[int]:
    return [c.status_code for c in simulator.calls if c.endpoint == "restart"]


@pytest.mark.parametrize(("down_for", "sent"), [(6 * 3600, False), (20, True)], ids=["six hours", "a rollout"])
async def test_a_kept_schedule_restart_is_sent_after_a_rollout_and_missed_after_a_night_without_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], down_for: float, sent: bool
) -> None:
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])), clock=clock.monotonic)
    path = tmp_path / "state.db"
    await crashed_with_a_scheduled_restart_kept(path, simulator, clock)
    clock.advance(down_for)

    second = daemon(path, simulator, clock)
    with structlog.testing.capture_logs() as logs:
        await second.start(serve_http=False)
        await second.queue.join()
    dropped = second.metrics.registry.get_sample_value("watchdog_restarts_total", {
        "cluster": CLUSTER, "connector": "orders", "rule": "nightly", "trigger": "schedule", "outcome": "dropped"})
    await second.stop()

    with SqliteStateStore(path) as store:
        assert store.pending() == []
        (record,) = store.history()
    if sent:
        assert restarts_sent(simulator) == [202], "a nightly restart interrupted by a rollout still goes out"
        assert record.outcome is Outcome.ACCEPTED
        return
    assert restarts_sent(simulator) == [], "a 03:00 restart went out six hours late"
    assert dropped == 1
    assert record.outcome is Outcome.DROPPED and record.message.startswith("missed while no daemon ran: 6h00m")
    (finished,) = [e for e in logs if e["event"] == "restart_finished"]
    assert finished["outcome"] == "dropped" and finished["rule"] == "nightly" and "6h00m" in finished["message"]
    capsys.readouterr()  # the daemons' own lines
    assert main(["history", "--state", str(path), "--json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)["restarts"]
    assert shown["outcome"] == "dropped" and "missed while no daemon ran" in shown["message"]


async def sent_once_by_the_next_start(path: Path, simulator: Simulator, clock: Clock) -> list[MutableMapping[str, Any]]:
    """The next start sends the kept restart, once, and records it accepted; what it logged."""
    again = daemon(path, simulator, clock)
    with structlog.testing.capture_logs() as logs:
        await again.start(serve_http=False)
        await again.queue.join()
    await again.stop()
    with SqliteStateStore(path) as store:
        (record,) = store.history()
    assert record.outcome is Outcome.ACCEPTED, record.message
    assert restarts_sent(simulator) == [202]
    return logs


async def test_a_kept_restart_of_another_trigger_is_sent_whatever_the_gap(tmp_path: Path) -> None:
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])), clock=clock.monotonic)
    path = tmp_path / "state.db"
    first = daemon(path, simulator, clock)
    statuses = await first.pollers[CLUSTER].list()
    assert statuses is not None
    record = first.engine.on_request(ConnectorKey(CLUSTER, "orders"), statuses.get("orders"),
                                     trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="by hand")
    assert record.job is not None
    first.mark_alive()
    first.state.close()
    clock.advance(6 * 3600)
    second = daemon(path, simulator, clock)
    await second.start(serve_http=False)
    await second.queue.join()
    await second.stop()
    assert restarts_sent(simulator) == [202], "a person's request is kept until sent, as before"


async def test_with_postgresql_the_gap_is_measured_from_the_previous_leaders_last_lease_renewal(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, the lease row with it
    timing = LeaseTiming(3.0, 2.0, 0.5)

    async def elected(identity: str) -> float | None:
        replica = Elector(postgres_url, postgres_server.password, timing, LeadershipMetrics(CollectorRegistry()),
                          identity=identity)
        done: asyncio.Event = asyncio.Event()

        async def on_elected(epoch: int) -> None:
            done.set()

        async def on_lost(reason: str) -> None:
            pass

        replica.start(on_elected, on_lost)
        try:
            await asyncio.wait_for(done.wait(), 30)
            return replica.absent_for
        finally:
            await replica.stop(release=True)

    assert await elected("first") is None, "a lease never held: nothing to measure"
    assert (await elected("rollout") or 99) < 5, "the previous leader renewed a moment ago"
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as admin:
        admin.execute("UPDATE leader_lease SET renewed_at = clock_timestamp() - interval '6 hours'")
    gap = await elected("morning")
    assert gap is not None and 6 * 3600 <= gap < 6 * 3600 + 60


def test_a_file_an_older_release_wrote_has_no_known_last_sign_of_life(tmp_path: Path) -> None:
    """Such a release kept no record of being alive, and its newest record says when it last wrote,
    not when it stopped (it writes nothing during a 429 pause): not known. (Before, that record stood
    in for one, and a rollout at the end of a long pause dropped the schedule's kept restarts as
    missed.) The record is one more table, not a schema version: a rollback to that release still
    opens the file."""
    path = tmp_path / "state.db"
    seen = Clock().wall()
    with SqliteStateStore(path) as store:
        store.observe_status(ConnectorKey(CLUSTER, "orders"), "RUNNING", seen)
    with closing(sqlite3.connect(path)) as db:
        db.execute("DROP TABLE daemon_alive")  # as the older release left it
        db.commit()
    with SqliteStateStore(path) as store:
        assert store.last_alive() is None
        assert store.schema_version == 1


async def test_a_kept_restart_of_a_rule_the_new_config_lacks_says_so_without_naming_a_reload(tmp_path: Path) -> None:
    """Started again with a config that no longer has the rule (edited while the daemon was down):
    the restart is not sent, and its message does not send the reader after a reload nobody made."""
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])), clock=clock.monotonic)
    path = tmp_path / "state.db"
    await crashed_with_a_scheduled_restart_kept(path, simulator, clock)
    config = daemon_config([{**NIGHTLY, "name": "weekly"}], state={"path": str(path)})
    second = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall)
    await second.start(serve_http=False)
    await second.queue.join()
    await second.stop()
    assert restarts_sent(simulator) == []
    with SqliteStateStore(path) as store:
        (record,) = store.history()
    assert record.outcome is Outcome.DROPPED
    assert "in the config the daemon restarted with" in record.message


async def test_with_postgresql_a_schedule_restart_kept_while_no_replica_led_for_hours_is_missed(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])), clock=clock.monotonic)
    state = {"url": postgres_url, "leader_election": {"lease_duration": 3, "renew_deadline": 2, "renew_interval": 0.5}}
    config = daemon_config([NIGHTLY], state=state, rate_limit={"max_requests_per_second": 10000})
    config = config.model_copy(update={"state": config.state.model_copy(update={"password": postgres_server.password})})

    def replica() -> Daemon:
        return Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall)

    first = replica()
    epoch = await asyncio.to_thread(take_lease, postgres_server, postgres_url, "last-leader")
    first.state.fence(epoch, "last-leader")
    statuses = await first.pollers[CLUSTER].list()
    assert statuses is not None
    await first.engine.on_schedule(first.config.rules[0], CLUSTER, statuses)  # queued, never sent: every replica down
    first.state.close()
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as admin:
        admin.execute("UPDATE leader_lease SET renewed_at = clock_timestamp() - interval '6 hours', "
                      "expires_at = clock_timestamp() - interval '6 hours'")

    second = replica()
    await second.start(serve_http=False)
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not second.state.history() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        (record,) = second.state.history()
    finally:
        await second.stop()
    assert restarts_sent(simulator) == []
    assert record.outcome is Outcome.DROPPED and record.message.startswith("missed while no daemon ran: 6h00m")
    assert "last lease renewal" in record.message


async def test_a_restart_kept_by_an_older_release_after_a_rollback_is_sent_at_the_upgrade_that_follows(
    tmp_path: Path,
) -> None:
    """This release ran (its record of being alive), was rolled back to an older release, which
    ran for six hours and wrote its records (a poll, the 03:00 run's restart) but no record of
    being alive, and this release came back 20 s after it stopped. Before, the gap was measured
    from this release's own last record: six hours, and the restart ended dropped, 'missed while
    no daemon ran: 6h00m', though a daemon had run until 20 s before."""
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])), clock=clock.monotonic)
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.mark_alive(clock.wall())  # this release, before the rollback
    clock.advance(6 * 3600)
    older = daemon(path, simulator, clock)  # writes as an older release does: the same rows, no daemon_alive
    statuses = await older.pollers[CLUSTER].list()
    assert statuses is not None
    older.state.observe_status(ConnectorKey(CLUSTER, "orders"), "RUNNING", clock.wall())
    (rule,) = older.config.rules
    await older.engine.on_schedule(rule, CLUSTER, statuses)
    older.state.close()  # stopped for the upgrade with its restart unsent
    clock.advance(20)

    await sent_once_by_the_next_start(path, simulator, clock)


async def test_a_kept_schedule_restart_of_a_file_whose_last_writer_recorded_no_sign_of_life_is_sent_and_said_so(
    tmp_path: Path,
) -> None:
    """A release from before `daemon_alive` (e46d901 .. 48967ab, a supported rollback target) kept the
    03:00 run's restart through a 429 pause of 5.5 minutes, writing nothing meanwhile, and was stopped
    for the upgrade 3 s before this release started. Before, the gap was measured from its newest
    record (the request itself) and the restart ended `dropped`, "missed while no daemon ran: 5m",
    though that daemon had run until 3 s before: the gap is not known, and the start says so."""
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])), clock=clock.monotonic)
    path = tmp_path / "state.db"
    await crashed_with_a_scheduled_restart_kept(path, simulator, clock)
    with closing(sqlite3.connect(path)) as db:
        db.execute("DROP TABLE daemon_alive")  # as such a release leaves the file
        db.commit()
    clock.advance(330)
    # What `watchdog status` says of it meanwhile is what the start then does: before, "sends it
    # if it comes soon after the stop", of a start that sends it whatever the gap.
    with SqliteStateStore(path, read_only=True) as store:
        holds = kept_holds(store.pending(), now=clock.wall(), last_alive=store.last_alive(clock.wall()), grace=300)
    (held,) = holds.values()
    assert "the next start sends it, unless it finds the daemon before gone for more than 5m" in held[1], held

    logs = await sent_once_by_the_next_start(path, simulator, clock)
    assert not [e for e in logs if "no daemon ran" in str(e.get("message", ""))]
    (said,) = [e for e in logs if e["event"] == "kept_schedule_restarts_gap_unknown"]
    assert said["connectors"] == [f"{CLUSTER}/orders"] and said["rules"] == ["nightly"]
    assert "not known" in said["note"]


async def test_a_kept_schedule_restart_written_long_after_the_files_last_beat_is_sent_not_missed(
    tmp_path: Path,
) -> None:
    """This release beat, was rolled back to an older release that ran for an hour (its records, no
    beat), whose 03:00 run's restart then waited out a 429 pause of 5.5 minutes: its newest record is
    no sign of when it stopped. Before: dropped, "missed while no daemon ran: 5m30s"."""
    clock = Clock()
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])), clock=clock.monotonic)
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.mark_alive(clock.wall())  # this release, before the rollback
    clock.advance(3600)
    older = daemon(path, simulator, clock)  # writes as an older release does: no daemon_alive
    statuses = await older.pollers[CLUSTER].list()
    assert statuses is not None
    (rule,) = older.config.rules
    await older.engine.on_schedule(rule, CLUSTER, statuses)
    older.state.close()
    clock.advance(330)

    await sent_once_by_the_next_start(path, simulator, clock)


def test_the_last_sign_of_life_is_unknown_when_the_last_writer_recorded_none(tmp_path: Path) -> None:
    """A record within a few beats of the file's record of being alive is this release's (it beats
    every 30 s; one killed between beats left a record or two later): the newer counts. One later
    than that, or a file with no record of being alive, was written by a release that records
    none: when it stopped is not known (None)."""
    path = tmp_path / "state.db"
    alive = Clock().wall()
    key = ConnectorKey(CLUSTER, "orders")
    with SqliteStateStore(path) as store:
        store.observe_status(key, "RUNNING", alive)
        assert store.last_alive() is None, "no record of being alive: not known"
        store.mark_alive(alive)
        store.observe_status(key, "RUNNING", alive + timedelta(seconds=20))
        assert store.last_alive() == alive + timedelta(seconds=20), "killed between two beats"
        store.observe_status(key, "RUNNING", alive + timedelta(minutes=10))
        assert store.last_alive() is None, "a writer that beat no more"
        assert store.last_alive(now=alive + timedelta(minutes=5)) == alive, "a record ahead of now does not count"
