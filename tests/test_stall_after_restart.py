"""A daemon started again on its state file (a rolling update, a crash) judges stalls at once: since
when each connector has been seen RUNNING is kept in the store (state/running.py) and taken back
when the last listing is recent (engine/running_seed.py). Before, it was memory only: the new
process judged nothing for `grace` + `delay` + three windows, a stall in that span was never
restarted, and nothing said so. A connector paused while no daemon ran must not read as a stall:
after a long downtime the count starts from now, and the daemon says when its rules judge again.
On the simulator and a fake clock, through the real engine and stall checker."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import structlog
from pydantic import SecretStr

from bench.postgres import take_lease
from watchdog.app import Daemon
from watchdog.engine.running_seed import seeds
from watchdog.model import ConnectorKey
from watchdog.report import format_timestamp
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.stall import granularity_for
from watchdog.state import SqliteStateStore
from watchdog.state.postgres import PostgresStateStore

from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    SELF_MANAGED,
    Clock,
    World,
    cannot_run_here,
    daemon_config,
    sim_scenario,
)
from .test_database_privileges import PASSWORD, app_role
from .test_history_reason import held_by_a_reader
from .test_stalled import DELAY, GRACE, STALLED_RULE, restarts, run

STALL_AT = 1200  # as the first daemon stops: its stall shows to checks from 2100 s on
WINDOW = STALLED_RULE["trigger"]["window"]
SOURCES = [
    {"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}},
    {"name": "steady-source", "records_per_second": 10},
]


def _world(path: Path) -> World:
    clock = Clock()
    scenario = sim_scenario(SOURCES, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    w = World(simulator, _daemon(simulator, clock, path), clock)
    return w


def _daemon(simulator: Simulator, clock: Clock, path: Path, **settings: Any) -> Daemon:
    config = daemon_config([STALLED_RULE], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000}, state={"path": str(path)}, **settings)
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    return daemon


async def _restart_daemon(w: World, path: Path, down_for: float) -> None:
    """Stop the daemon, no daemon for `down_for` seconds, then a new one on the same file."""
    await w.daemon.stop()
    assert w.clock is not None
    w.clock.advance(down_for)
    w.daemon = _daemon(w.simulator, w.clock, path)


async def test_a_daemon_started_again_judges_a_stall_at_its_first_check_that_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 1200)  # 20 polls and checks: both sources seen RUNNING for 20 minutes
    await _restart_daemon(w, path, down_for=60)  # a rolling update
    with structlog.testing.capture_logs() as logs:
        await run(w, 1260)
    # The stall shows in two quiet windows ending `delay` ago from STALL_AT + 2 x window + delay
    # on: the new process's first check that reads it restarts it. Before: the new process took
    # both sources as running since its first poll (1260 s), judged neither before 1260 + delay +
    # 3 x window = 2460 s, and by then the three windows read 0 (idle): never restarted.
    times = restarts(w, "orders-source")
    assert len(times) == 1, times
    assert STALL_AT + 2 * WINDOW + DELAY <= times[0] <= STALL_AT + 2 * WINDOW + DELAY + 120, times
    assert restarts(w, "steady-source") == []
    assert not [e for e in logs if e["event"] == "stall_checks_judge_from"], "the kept times were taken: nothing to say"
    await w.daemon.stop()


async def test_a_source_paused_while_no_daemon_ran_is_not_judged_stalled_and_the_wait_is_said(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 1200)
    await w.daemon.stop()
    assert w.clock is not None
    # Paused 100 s after the last daemon stopped, resumed 1000 s later; the new daemon starts 1200 s
    # after the stop. Its first checks' windows show it moving, then nothing for two windows: a stall,
    # if it were taken as running through them.
    sim_now = w.simulator.now()
    world = w.simulator._world
    world.connector(CLUSTER_ID, "steady-source").pause(sim_now + 100, 0)
    world.connector(CLUSTER_ID, "steady-source").resume(sim_now + 1100, 0)
    w.clock.advance(1200)
    w.daemon = _daemon(w.simulator, w.clock, path)
    with structlog.testing.capture_logs() as logs:
        await run(w, 600)
    assert restarts(w, "steady-source") == [], "judged on windows spanning a pause no daemon saw"
    said = [e for e in logs if e["event"] == "stall_checks_judge_from"]
    assert [(e["rule"], e["cluster"], e["connectors"]) for e in said] == [("stalled", CLUSTER, 2)], said
    started = w.clock.wall()
    assert said[0]["judge_from"] > (started.replace(microsecond=0)).isoformat()
    assert "more than the" in said[0]["note"], said[0]["note"]
    await w.daemon.stop()


async def test_a_first_start_says_when_its_stalled_rules_judge(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.db"
    with structlog.testing.capture_logs() as logs:
        w = _world(path)
        await run(w, 60)
    [said] = [e for e in logs if e["event"] == "stall_checks_judge_from"]
    assert said["connectors"] == 2 and "no listing of this cluster is recorded" in said["note"], said
    # The time said is the first the checks judge: grace, then delay + three windows (and a
    # point's step) after the first listing. Before 4602304 made grace come before the windows,
    # the line said the longer of the two; after it, it said a time `grace` too early.
    step = granularity_for(timedelta(seconds=300).total_seconds())[1]
    assert w.clock is not None
    listed = w.clock.wall() - timedelta(seconds=60)
    judge_from = datetime.fromisoformat(said["judge_from"])
    assert abs(judge_from - (listed + timedelta(seconds=GRACE + DELAY + 3 * 300 + step))) <= timedelta(seconds=60), said
    queried = [c.t for c in w.simulator.calls if c.endpoint == "metrics_query"]
    await run(w, int((judge_from - w.clock.wall()).total_seconds()) - 60)
    assert [c for c in w.simulator.calls if c.endpoint == "metrics_query"] == queried == [], "nothing judged before"
    await run(w, 180)
    assert [c for c in w.simulator.calls if c.endpoint == "metrics_query"], "judged from then on"
    await w.daemon.stop()


async def test_an_older_release_opens_the_state_file_this_one_wrote(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 180)
    await w.daemon.stop()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM connector_running").fetchone()[0] == 2
        assert db.execute("SELECT user_version FROM pragma_user_version").fetchone()[0] == 1, "no new schema version"
    base = Path("/tmp/s77/base")
    if not (base / "watchdog").is_dir():  # the release before this change, where this worktree has it
        return
    answer = subprocess.run([sys.executable, "-m", "watchdog", "status", "--state", str(path)], cwd=tmp_path,
                            env={"PYTHONPATH": str(base), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=60)
    assert answer.returncode == 0, answer.stderr


def _lease(server: Any, url: str, holder: str) -> int:
    """The lease taken by `holder`, the one before it (if any) left to expire as a killed leader's does."""
    with psycopg.connect(url, password=server.password.get_secret_value(), autocommit=True) as conn:
        conn.execute("UPDATE leader_lease SET expires_at = '-infinity' WHERE id = 1")
    return take_lease(server, url, holder)


async def _replica(server: Any, url: str, simulator: Simulator, clock: Clock, holder: str) -> Daemon:
    """A replica on the shared database that has just taken the lease as `holder`."""
    store = PostgresStateStore(url, password=server.password, now=clock.wall)
    store.fence(await asyncio.to_thread(_lease, server, url, holder), holder)
    config = daemon_config([STALLED_RULE], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall,
                    rng=lambda: 0.5, state=store)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    return daemon


async def _take_over(w: World, server: Any, url: str) -> Daemon:
    """The leader dies (nothing stopped cleanly) and the other replica takes the lease a minute
    later; the dead one's daemon, to close once the test is done."""
    assert w.clock is not None
    dead = w.daemon
    w.daemon = await _replica(server, url, w.simulator, w.clock, "b")
    w.clock.advance(60)  # the lease runs out, the standby takes it
    return dead


async def _bury(dead: Daemon) -> None:
    await dead.queue.close(0.1)
    dead.state.close()


def _simulated() -> tuple[Simulator, Clock]:
    clock = Clock()
    scenario = sim_scenario(SOURCES, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    return Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp()), clock


async def test_a_replica_that_takes_over_judges_the_stall_the_dead_leader_saw_coming(postgres_server: Any,
                                                                                    postgres_url: str) -> None:
    """The takeover on a shared PostgreSQL store: the other replica judges at once what the dead
    leader saw run."""
    simulator, clock = _simulated()
    w = World(simulator, await _replica(postgres_server, postgres_url, simulator, clock, "a"), clock)
    await run(w, 1200)
    dead = await _take_over(w, postgres_server, postgres_url)
    with structlog.testing.capture_logs() as logs:
        await run(w, 1260)
    times = restarts(w, "orders-source")
    assert len(times) == 1, times
    assert STALL_AT + 2 * WINDOW + DELAY <= times[0] <= STALL_AT + 2 * WINDOW + DELAY + 120, times
    assert not [e for e in logs if e["event"] == "stall_checks_judge_from"]
    await w.daemon.stop()
    await _bury(dead)


def test_a_postgresql_role_that_may_not_create_the_tables_starts_and_says_so(postgres_server: Any,
                                                                             postgres_url: str) -> None:
    """Tables a DBA made with the release before, the role granted reads and writes only: the
    store opens (refused, the upgrade stopped a daemon the release before ran), keeps nothing of
    since when connectors run, and says so once."""
    database = postgres_url.rsplit("/", 1)[1]
    with app_role(postgres_server, postgres_url, "app") as (role, url):
        PostgresStateStore(postgres_url, password=postgres_server.password).close()
        with postgres_server.connect(database) as admin:
            admin.execute("DROP TABLE connector_running, cluster_listed")
            admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        with structlog.testing.capture_logs() as logs:
            with PostgresStateStore(url, password=SecretStr(PASSWORD)) as store:
                store.fence(take_lease(postgres_server, postgres_url), "test-replica")
                store.record_running(CLUSTER, Clock().wall(), {"orders-source": Clock().wall()}, set())
                listed_at, stored = store.running_seen(CLUSTER)
        said = [line for line in logs if line["event"] == "running_since_not_kept"]
        assert len(said) == 1 and "connector_running" in said[0]["note"], logs
        # The first listing says why, not "no listing of this cluster is recorded" (the probe's F3).
        assert stored == {}
        why = seeds(listed_at, stored, Clock().wall(), timedelta(seconds=60)).unusable
        assert "may not create them" in why and "no listing" not in why, why


# The only checks whose windows show the stall ([moved, 0, 0]: those of STALL_AT + 900 to + 1200 s)
# fall in a 429 spell of the Metrics API, and the daemon stops (or the leader dies) inside it. The
# first check that reads again (2460 s) sees nothing in its own three windows (idle): only the
# span since the last judged windows shows the stall (stall.catch_up).
SPELL = (STALL_AT + 840, STALL_AT + 1260)


def _spell(w: World) -> None:
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"from": SPELL[0], "until": SPELL[1]},
                             "action": {"status": 429, "headers": {"Retry-After": "0"}}}])


def _lane_on_test_clock(w: World) -> None:
    # The lane's pauses run on the test's clock: the check after a 429 waits out its pause in no real time.
    assert w.clock is not None
    w.daemon.gateways[w.daemon.METRICS_LANE].limiter._clock = w.clock.monotonic


async def test_a_stall_the_last_daemon_could_not_read_before_it_stopped_is_restarted_by_the_next(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.db"
    w = _world(path)
    _spell(w)
    _lane_on_test_clock(w)
    await run(w, STALL_AT + 1020)  # stopped in the spell, its last judged windows those of 1980 s
    await _restart_daemon(w, path, down_for=60)
    _lane_on_test_clock(w)
    with structlog.testing.capture_logs() as logs:
        await run(w, 600)
    # Before: the new process knew no windows judged, its first reading check read its own three
    # (idle), and the stall was never restarted (0 restarts).
    times = restarts(w, "orders-source")
    assert len(times) == 1 and SPELL[1] <= times[0] <= SPELL[1] + 120, times
    assert restarts(w, "steady-source") == []
    [caught] = [e for e in logs if e["event"] == "stall_check_caught_up"]
    assert caught["clusters"] == [CLUSTER], caught
    await w.daemon.stop()


async def test_a_stall_the_dead_leader_could_not_read_is_restarted_by_the_replica_that_took_over(
        postgres_server: Any, postgres_url: str) -> None:
    """The probe's F1: the leader dies during a 429 spell that covers the only checks that could
    see the stall; the replica that takes over reads the span the dead one missed."""
    simulator, clock = _simulated()
    w = World(simulator, await _replica(postgres_server, postgres_url, simulator, clock, "a"), clock)
    _spell(w)
    _lane_on_test_clock(w)
    await run(w, STALL_AT + 1020)
    dead = await _take_over(w, postgres_server, postgres_url)
    _lane_on_test_clock(w)
    await run(w, 600)
    times = restarts(w, "orders-source")
    assert len(times) == 1 and SPELL[1] <= times[0] <= SPELL[1] + 120, times  # before: 0 restarts
    assert restarts(w, "steady-source") == []
    await w.daemon.stop()
    await _bury(dead)


async def test_a_cluster_a_reload_redefines_is_not_taken_as_running_from_what_was_kept_before(tmp_path: Path) -> None:
    """Redefined (another Kafka cluster under the name, perhaps), the store's times are of the
    connectors as defined before: the next listing counts from itself, and says so."""
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 600)
    redefined = daemon_config([STALLED_RULE], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                              rate_limit={"max_requests_per_second": 10000}, state={"path": str(path)},
                              clusters={CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID,
                                                  "credential": "main"}})
    w.daemon._reload_config = lambda: redefined  # type: ignore[method-assign]
    assert await w.daemon.reload("test") is True
    with structlog.testing.capture_logs() as logs:
        await run(w, 60)
    said = [e for e in logs if e["event"] == "stall_checks_judge_from"]
    assert [(e["connectors"], "redefined" in e["note"]) for e in said] == [(2, True)], said
    assert w.daemon.engine.running_since[ConnectorKey(CLUSTER, "steady-source")] == w.clock.wall() - timedelta(seconds=60)
    await w.daemon.stop()


async def test_a_stamp_ahead_of_the_clock_is_not_taken_as_a_recent_listing(tmp_path: Path) -> None:
    """The probe's F1 on SQLite: the last listing's stamp a day ahead (a clock that ran ahead and
    was put right) says nothing of how long no daemon listed: the new process counts from its own
    first poll and says why. Before: taken as recent, the stored times were used and the stall was
    restarted at the first check that read it (1 restart, nothing said)."""
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 1200)
    await _restart_daemon(w, path, down_for=60)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE cluster_listed SET at = ?", ((w.clock.wall() + timedelta(days=1)).isoformat(),))  # type: ignore[union-attr]
    db.close()
    with structlog.testing.capture_logs() as logs:
        await run(w, 1260)
    assert restarts(w, "orders-source") == [], "judged on stored times a stamp from the future vouched for"
    said = [e for e in logs if e["event"] == "stall_checks_judge_from"]
    assert [(e["cluster"], e["connectors"]) for e in said] == [(CLUSTER, 2)], said
    assert re.search(r"is 864\d\d s ahead of this clock", said[0]["note"]), said[0]["note"]
    await w.daemon.stop()


def test_the_stamp_is_judged_on_the_database_clock_whatever_the_replicas_clocks(postgres_server: Any,
                                                                             postgres_url: str) -> None:
    """The probe's F1 on PostgreSQL: the last listing's age is told by the database's clock (as the
    lease's expiry is), so replicas' clocks need not agree. A leader 20 minutes fast whose last
    listing was 15 minutes ago: before, its stamp read 5 minutes ahead of the successor's clock and
    was taken as recent. A leader 20 minutes slow that listed just now: before, read 1200 s old."""
    real = Clock().wall  # the successor's clock (fixed: only the difference matters)
    bound = timedelta(seconds=60)
    for skew, listed_ago, usable in ((timedelta(minutes=20), timedelta(minutes=15), False),
                                     (-timedelta(minutes=20), timedelta(0), True)):
        def leader_now(skew: timedelta = skew) -> Any:
            return real() + skew
        with PostgresStateStore(postgres_url, password=postgres_server.password, now=leader_now) as leader:
            leader.fence(take_lease(postgres_server, postgres_url), "test-replica")
            leader.record_running(CLUSTER, leader_now() - listed_ago, {"orders-source": leader_now() - timedelta(hours=2)},
                                  set())
        with PostgresStateStore(postgres_url, password=postgres_server.password, now=real) as successor:
            listed_at, stored = successor.running_seen(CLUSTER)
            kept = seeds(listed_at, stored, real(), bound)
        assert listed_at is not None and abs(real() - listed_ago - listed_at) < timedelta(seconds=5), (skew, listed_at)
        assert (kept.unusable == "") is usable, (skew, kept.unusable)
        if not usable:
            assert "900 s old" in kept.unusable, kept.unusable


def test_side_tables_the_role_may_not_use_are_said_so_with_what_to_grant(postgres_server: Any, postgres_url: str) -> None:
    """The probe's F3: the side tables made by their owner (a listing of the cluster recorded), the
    daemon's role granted the core tables only. It starts, and says the role may not read and
    write them, with the GRANT; the first listing says the same, not "no listing is recorded".
    Before: "the role may not create tables ... until the tables ... are made" (they were there,
    information_schema hid them), then "no listing of this cluster is recorded"."""
    database = postgres_url.rsplit("/", 1)[1]
    with app_role(postgres_server, postgres_url, "app") as (role, url):
        with PostgresStateStore(postgres_url, password=postgres_server.password) as owner:
            owner.fence(take_lease(postgres_server, postgres_url), "test-replica")
            owner.record_running(CLUSTER, Clock().wall(), {"orders-source": Clock().wall()}, set())
        with postgres_server.connect(database) as admin:
            admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON connector_state, restart_history, pending_request, "
                          f"leader_lease, schema_version TO {role}")
            admin.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
            admin.execute(f"GRANT SELECT ON cluster_listed TO {role}")  # reads only: not enough either
        with structlog.testing.capture_logs() as logs:
            with PostgresStateStore(url, password=SecretStr(PASSWORD), now=Clock().wall) as store:
                store.fence(take_lease(postgres_server, postgres_url), "test-replica")
                store.record_running(CLUSTER, Clock().wall(), {"orders-source": Clock().wall()}, set())  # nothing, no error
                listed_at, stored = store.running_seen(CLUSTER)
                assert store.problem is None
        [said] = [line for line in logs if line["event"] == "running_since_not_kept"]
        assert "may not read and write" in said["note"] and "may not create" not in said["note"], said
        assert (f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.connector_running, public.cluster_listed, "
                f"public.stall_judged TO {role}") in said["note"], said
        why = seeds(listed_at, stored, Clock().wall(), timedelta(seconds=60)).unusable
        assert "may not read and write" in why and "no listing" not in why, why


async def test_an_unreadable_stamp_is_said_so_not_taken_for_no_listing(tmp_path: Path) -> None:
    """The probe's F3 on SQLite: a stamp that is not a time (a hand edit, a disk error) is "not
    known", and the start says it cannot be read. Before: "no listing of this cluster is recorded"."""
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 600)
    await _restart_daemon(w, path, down_for=60)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE cluster_listed SET at = 'x'")
    db.close()
    with structlog.testing.capture_logs() as logs:
        await run(w, 60)
    said = [e for e in logs if e["event"] == "stall_checks_judge_from"]
    assert [(e["cluster"], e["connectors"]) for e in said] == [(CLUSTER, 2)], said
    assert "cannot be read" in said[0]["note"] and "no listing" not in said[0]["note"], said[0]["note"]
    await w.daemon.stop()
    with sqlite3.connect(path) as db:  # rewritten by the first listing: the next start takes it back
        assert [row[0][:4] for row in db.execute("SELECT at FROM cluster_listed")] == ["2026"]
    db.close()


async def test_a_connector_created_again_under_its_name_counts_as_running_from_the_listing_that_shows_it(
        tmp_path: Path) -> None:
    """Deleted and created again under its name (another lcc- id: Terraform replacing it), it is
    another connector: its namesake's time is not its own, live or through the store. Before,
    the poll said `connector_replaced` and kept the old connector's running-since (0 s), and the
    store kept it too (no id): a new one was judged on windows from before it existed."""
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 600)
    assert w.clock is not None
    w.simulator.delete_connector(CLUSTER_ID, "steady-source")
    w.simulator.add_connector(CLUSTER_ID, {"name": "steady-source", "id": "lcc-new2", "records_per_second": 10})
    replaced_at = w.clock.wall()
    await run(w, 60)
    since = w.daemon.engine.running_since
    assert since[ConnectorKey(CLUSTER, "steady-source")] == replaced_at, "its namesake's time was kept"
    assert since[ConnectorKey(CLUSTER, "orders-source")] < replaced_at
    with sqlite3.connect(path) as db:
        kept = dict(db.execute("SELECT connector, since FROM connector_running").fetchall())
    assert kept["steady-source"] == format_timestamp(replaced_at), kept
    await w.daemon.stop()


async def test_a_connector_created_again_while_no_daemon_ran_is_not_taken_for_its_namesake(tmp_path: Path) -> None:
    """The same while the daemon was down for a minute (a rolling update): the store keeps the
    lcc- id with the time, and a listed connector of another id counts from the new start."""
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 600)
    await w.daemon.stop()
    assert w.clock is not None
    w.simulator.delete_connector(CLUSTER_ID, "steady-source")
    w.simulator.add_connector(CLUSTER_ID, {"name": "steady-source", "id": "lcc-new2", "records_per_second": 10})
    w.clock.advance(60)
    w.daemon = _daemon(w.simulator, w.clock, path)
    started = w.clock.wall()
    with structlog.testing.capture_logs() as logs:
        await run(w, 60)
    since = w.daemon.engine.running_since
    assert since[ConnectorKey(CLUSTER, "steady-source")] == started, "taken as running since its namesake's time"
    assert since[ConnectorKey(CLUSTER, "orders-source")] < started - timedelta(seconds=500), "the other one is seeded"
    said = [e for e in logs if e["event"] == "stall_checks_judge_from"]
    assert [(e["connectors"], "another lcc- id" in e["note"]) for e in said] == [(1, True)], said
    await w.daemon.stop()


PREVIOUS_RELEASE = "e40a6aa"  # the release before the side tables' added columns (running.ADDED_COLUMNS)


def _previous_release(tmp_path: Path) -> Path:
    """The previous release's tree, from this repository's history."""
    tree = tmp_path / "previous"
    tree.mkdir()
    # From the repository's root: `git archive` run in a subdirectory archives that subdirectory
    # only, and the previous "release" was then this one, imported from the installed package.
    archive = subprocess.run(["git", "-C", str(Path(__file__).parent.parent), "archive", PREVIOUS_RELEASE],
                             capture_output=True, timeout=60)
    if archive.returncode != 0:
        cannot_run_here(f"the previous release is not in this repository's history: {archive.stderr[:200]!r}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True, timeout=60)
    assert (tree / "watchdog" / "state" / "running.py").is_file(), "the previous release's code"
    return tree


def _as_previous_release(tree: Path, path: Path, script: str, *args: str) -> str:
    # -I would drop PYTHONPATH too: the package is found first on PYTHONPATH, checked by the script.
    check = f"import watchdog, sys; assert watchdog.__file__.startswith({str(tree)!r}), watchdog.__file__\n"
    answer = subprocess.run([sys.executable, *(args or ("-c", check + script, str(path)))], cwd=tree.parent,
                            env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=60)
    assert answer.returncode == 0, answer.stderr
    return answer.stdout


_PREVIOUS_WRITES = """
import sys
from datetime import datetime, timezone
from watchdog.state import SqliteStateStore
at = datetime(2026, 3, 1, 13, 0, tzinfo=timezone.utc)
with SqliteStateStore(sys.argv[1]) as store:
    store.record_running("prod", at, {"added-by-previous": at, "steady-source": at}, {"orders-source"})
    store.record_judged("stalled", {"prod": (at, at, at, at, "PT1M", 60)})
    print(sorted(store.running_seen("prod")[1]))
"""


async def test_the_previous_release_opens_and_writes_the_side_tables_this_one_made(tmp_path: Path) -> None:
    """The side tables' new columns are nullable and the previous release's statements name their
    columns: it opens a store this release made, reads and writes the tables, and `status` reads
    it; its rows have no id, and this release takes their times for no connector."""
    tree = _previous_release(tmp_path)
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 180)
    await w.daemon.stop()
    with SqliteStateStore(path) as store:
        identity, ids = store.running_identity("prod")
        steady = ids["steady-source"]
    assert steady is not None and steady.startswith("lcc-")
    assert identity == f"confluent_cloud {ENVIRONMENT}/{CLUSTER_ID}"
    assert _as_previous_release(tree, path, _PREVIOUS_WRITES).split() == ["['added-by-previous',", "'steady-source']"]
    _as_previous_release(tree, path, "", "-m", "watchdog", "status", "--state", str(path))
    with SqliteStateStore(path) as store:
        # A row it inserts has no id (its time is seeded to no connector listed with one); one it
        # rewrites keeps the id it had, which names the connector it was written for or one gone
        # (lcc- ids are not used again): at worst a time not taken, never another connector's.
        # Its stamp's rewrite leaves the identity as it was: the name's definition when this
        # release last listed it (another since then reads as redefined: the safe side).
        assert store.running_identity("prod") == (identity, {"added-by-previous": None, "steady-source": steady})


async def test_this_release_adds_its_columns_to_the_side_tables_the_previous_one_made(tmp_path: Path) -> None:
    tree = _previous_release(tmp_path)
    path = tmp_path / "watchdog.db"
    _as_previous_release(tree, path, _PREVIOUS_WRITES)
    with SqliteStateStore(path) as store:
        assert store.running_identity("prod") == (None, {"added-by-previous": None, "steady-source": None})
        at = Clock().wall()
        store.record_running("prod", at, {"orders-source": at}, set(), ids={"orders-source": "lcc-1"})
        assert store.running_identity("prod")[1]["orders-source"] == "lcc-1"
    _as_previous_release(tree, path, _PREVIOUS_WRITES)  # and the previous release still writes it


def _connect_daemon(simulator: Simulator, clock: Clock, path: Path, connect: str) -> Daemon:
    """A daemon whose cluster `prod` is the simulator's Kafka Connect cluster `connect`."""
    rule = {"name": "heal", "trigger": {"type": "status", "interval": 60}, "select": {"include": ["*"]}}
    config = daemon_config([rule], backend=SELF_MANAGED, state={"path": str(path)},
                           clusters={CLUSTER: {"backend": SELF_MANAGED, "urls": [f"http://sim/kafka-connect/{connect}"]}})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    return daemon


async def test_a_cluster_redefined_while_no_daemon_ran_is_not_taken_as_running_from_the_cluster_before(
        tmp_path: Path) -> None:
    """`prod` pointed at other Connect workers (another Kafka Connect cluster, whose connectors
    have the same names and no lcc- ids) and the daemon started again at once: the store's times
    are of the cluster before. Before, the rows were keyed by the cluster's name only and the
    new process took them (12:00); the same change by a reload said "redefined" and counted
    from its first poll, and so does a start now."""
    clock = Clock()
    connectors = [{"name": "sink-1", "records_per_second": 10}]
    scenario = {**sim_scenario([], backend=SELF_MANAGED),
                "kafka_connect_clusters": [{"name": "connect-a", "connectors": connectors},
                                           {"name": "connect-b", "connectors": connectors}]}
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    path = tmp_path / "watchdog.db"
    daemon = _connect_daemon(simulator, clock, path, "connect-a")
    for _ in range(10):
        await daemon.pollers[CLUSTER].poll()
        clock.advance(60)
    await daemon.stop()
    clock.advance(30)  # a rollout of the config change
    key = ConnectorKey(CLUSTER, "sink-1")
    daemon = _connect_daemon(simulator, clock, path, "connect-a")  # control: the same cluster takes its time
    await daemon.pollers[CLUSTER].poll()
    assert daemon.engine.running_since[key] == clock.epoch
    await daemon.stop()
    daemon = _connect_daemon(simulator, clock, path, "connect-b")
    started = clock.wall()
    with structlog.testing.capture_logs() as logs:
        await daemon.pollers[CLUSTER].poll()
    await daemon.stop()
    assert daemon.engine.running_since[key] == started, "taken as running since the other cluster's time"
    said = [e for e in logs if e["event"] == "stall_checks_judge_from"]
    assert not said, "no stalled rule: nothing to say"


async def test_a_confluent_cluster_redefined_while_no_daemon_ran_says_so_when_its_stalled_rules_judge(
        tmp_path: Path) -> None:
    """`prod` given another kafka_cluster_id (a migration: the connectors created again there
    under the same names) and the daemon started again at once: said as a reload says it."""
    clock = Clock()
    scenario = sim_scenario(SOURCES, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None})
    scenario["environments"][0]["clusters"].append({"id": "lkc-new001", "connectors": SOURCES})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    path = tmp_path / "watchdog.db"
    w = World(simulator, _daemon(simulator, clock, path), clock)
    await run(w, 600)
    await w.daemon.stop()
    clock.advance(30)
    w.daemon = _daemon(simulator, clock, path, clusters={CLUSTER: {"environment_id": ENVIRONMENT,
                                                                   "kafka_cluster_id": "lkc-new001"}})
    started = clock.wall()
    with structlog.testing.capture_logs() as logs:
        await run(w, 60)
    await w.daemon.stop()
    assert w.daemon.engine.running_since[ConnectorKey(CLUSTER, "orders-source")] == started
    said = [e for e in logs if e["event"] == "stall_checks_judge_from"]
    assert [(e["connectors"], "redefined" in e["note"]) for e in said] == [(2, True)], said
    assert "lkc-prod01" in said[0]["note"] and "lkc-new001" in said[0]["note"], said[0]["note"]


async def test_the_hourly_sweep_deletes_what_the_store_kept_of_clusters_and_rules_no_longer_watched(
        tmp_path: Path) -> None:
    """Rows of a cluster discovery no longer finds (or the config no longer names), last listed
    longer than state.forget_vanished_after ago, and the windows of a stalled rule renamed: gone at
    the hourly sweep, said once. Before, nothing deleted them (a fleet of short-lived clusters
    grew them for good); a configured cluster's rows stay."""
    path = tmp_path / "watchdog.db"
    w = _world(path)
    await run(w, 120)
    assert w.clock is not None
    long_ago = w.clock.wall() - timedelta(seconds=w.daemon.config.state.forget_vanished_after + 60)
    windows = (long_ago, long_ago, long_ago, long_ago, "PT1M", 60)
    w.daemon.state.record_running("ephemeral-0", long_ago, {"orders-source": long_ago}, set())
    w.daemon.state.record_running("ephemeral-1", w.clock.wall(), {"orders-source": long_ago}, set())  # too recent
    w.daemon.state.record_judged("stalled-v0", {CLUSTER: windows})
    w.daemon.state.record_judged("stalled", {"ephemeral-0": windows})
    with structlog.testing.capture_logs() as logs:
        await w.daemon.engine.forget_vanished()
    assert w.daemon.state.running_seen("ephemeral-0") == (None, {})
    assert w.daemon.state.running_seen("ephemeral-1")[0] == w.clock.wall()
    assert w.daemon.state.running_seen(CLUSTER)[1].keys() == {"orders-source", "steady-source"}
    assert w.daemon.state.judged("stalled-v0") == {}
    assert list(w.daemon.state.judged("stalled")) == [CLUSTER]
    [said] = [e for e in logs if e["event"] == "stall_memory_pruned"]
    assert said["removed"] == 4 and said["rules_kept"] == ["stalled"], said
    await w.daemon.stop()


def test_with_postgresql_a_side_table_held_by_a_long_reader_delays_the_start_a_second_at_most(
        postgres_server: Any, postgres_url: str) -> None:
    """Adding the side tables' new columns to tables the previous release made (ALTER TABLE) waits
    for every transaction that read them (a pg_dump), and every read and write of them queues
    behind it meanwhile, an older replica leading beside this one included. It waits 1 s, starts
    without the tables (said, as a role that may not alter them), and the next start adds them."""
    import time

    with held_by_a_reader(postgres_server, postgres_url, "connector_running", "DROP COLUMN connector_id"):
        began = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
                assert store.running_identity(CLUSTER) == (None, {})
        assert time.monotonic() - began < 4
        said = [line for line in logs if line["event"] == "running_since_not_kept"]
        assert len(said) == 1 and "the next start adds them" in said[0]["note"], logs
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:  # the next start
        store.fence(take_lease(postgres_server, postgres_url), "test-replica")
        at = Clock().wall()
        store.record_running(CLUSTER, at, {"orders-source": at}, set(), ids={"orders-source": "lcc-1"})
        assert store.running_identity(CLUSTER)[1] == {"orders-source": "lcc-1"}
