"""Who asked for a restart, and why, kept in its history record (docs/operations.md).

Before, the reason a person typed (`watchdog restart --reason "..."`, POST /v1/restart's
`reason`) and an alert's origin lived in the pending request alone, deleted when the job ended:
`watchdog history` (table and --json, the daemon's GET /v1/history) said `manual  accepted` and
nothing of who or why; only the `restart_queued` log line had it. The two columns are added
without a schema version, so that an older release rolled back to still opens, reads and writes
the state file or database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from pydantic import SecretStr

from bench.postgres import PostgresServer, take_lease
from watchdog.cli import main
from watchdog.model import ConnectorKey, HistoryRecord, Outcome, RestartRequest, Trigger
from watchdog.report import render_history
from watchdog.simulator import Scenario, Simulator
from watchdog.state import SqliteStateStore
from watchdog.state.postgres import PostgresStateStore
from watchdog.state.schema import MIGRATIONS, check_version

from .support import CLUSTER, Clock, daemon_config, served, sim_scenario, until
from .test_database_privileges import PASSWORD, app_role

TOKEN = "history-reason-token-3b9c1e7a"
KEY = ConnectorKey(CLUSTER, "orders-sink")
NOW = datetime(2026, 12, 4, 2, 14, tzinfo=timezone.utc)
# A reason as a person types it in an incident: longer than the table's column, with a line break.
REASON = "INC-4711: orders lag since 02:05, restarting after the broker roll\nasked by alice (on call)"
ON_ONE_LINE = " ".join(REASON.split())

# The release before this one wrote its history records so (its rows.insert_history, verbatim):
# the columns it names, and no others.
OLDER_RELEASE_INSERT = """
    INSERT INTO restart_history (at, cluster, connector, job_id, rule, primary_trigger, triggers,
        outcome, status_code, request_id, message, tries, attempt, evidence, recommendations)
    VALUES ({marks})
"""


def older_insert(placeholder: str) -> str:
    return OLDER_RELEASE_INSERT.format(marks=", ".join([placeholder] * 15))


def older_values(at: str | datetime, job_id: str) -> tuple[Any, ...]:
    return (at, KEY.cluster, KEY.connector, job_id, "manual", "manual", '["manual"]', "accepted", 202, None, "", 1,
            None, None, "[]")


def record(job_id: str, at: datetime = NOW, reason: str | None = REASON, origin: str | None = "") -> HistoryRecord:
    return HistoryRecord(at=at, key=KEY, job_id=job_id, rule="manual", trigger=Trigger.MANUAL,
                         triggers=(Trigger.MANUAL,), outcome=Outcome.ACCEPTED, status_code=202, tries=1,
                         reason=reason, origin=origin)


def history_row(table: str) -> str:
    """The table's row of the connector, from a stdout the in-process daemon's log shares."""
    (row,) = [line for line in table.splitlines() if line[:2].isdigit() and f" {KEY} " in line]
    return row


def table_and_json(out: str) -> tuple[str, list[dict[str, Any]]]:
    start = out.index('{\n  "restarts"')
    answer, _ = json.JSONDecoder().raw_decode(out[start:])
    return out[:start], answer["restarts"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield {"path": str(tmp_path / "state.db")}
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.database()
    try:
        yield {"url": url, "password": server.password}
    finally:
        server.drop(url)


async def test_a_reason_given_to_restart_through_the_daemon_is_in_its_history_table_and_json(
    store_settings: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`watchdog restart --daemon URL ... --reason TEXT`, then `watchdog history --daemon URL`
    (table and --json) once the restart is done, with either store."""
    from watchdog.app import Daemon

    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": KEY.connector}])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    password = store_settings.pop("password", None)
    async with served(simulator) as url:
        config = daemon_config([heal], base_url=url, token=TOKEN, state=store_settings)
        if password is not None:
            config = config.model_copy(update={"state": config.state.model_copy(update={"password": password})})
        daemon = Daemon(config)
        await daemon.start()
        try:
            await until(lambda: daemon.leadership.leading and daemon.pollers[CLUSTER].first_poll_done, "a first poll")
            daemon_url = f"http://127.0.0.1:{daemon.bound_port}"
            asked = await asyncio.to_thread(main, ["restart", "--daemon", daemon_url, KEY.cluster, KEY.connector,
                                                   "--reason", REASON])
            assert asked == 0, capsys.readouterr()
            capsys.readouterr()
            assert await asyncio.to_thread(main, ["history", "--daemon", daemon_url]) == 0
            assert await asyncio.to_thread(main, ["history", "--daemon", daemon_url, "--json"]) == 0
            out, _ = capsys.readouterr()
        finally:
            await daemon.stop()
    table, restarts = table_and_json(out)
    header = next(line for line in table.splitlines() if line.startswith("TIME "))
    assert "REASON" in header, header
    row = history_row(table)
    # The reason's column: its start on one line, cut where the column ends.
    column = header.index("REASON")
    shown = row[column:header.index("OUTCOME")].rstrip()
    assert shown == ON_ONE_LINE[:37] + "...", row
    assert "\n" not in shown and "\\n" not in row
    assert row[header.index("OUTCOME"):].startswith("accepted")
    (restart,) = restarts
    assert restart["reason"] == REASON, "whole, in JSON"
    assert restart["origin"] == "" and restart["trigger"] == "manual"


def test_a_persons_reason_is_kept_when_the_restart_joined_a_schedules() -> None:
    """One job, two requests: the schedule's first, then a person's (`duplicate`, joined). The
    history keeps the person's reason and origin; `triggers` names both."""
    from watchdog.model import asked_by

    def request(trigger: Trigger, reason: str, origin: str = "") -> RestartRequest:
        return RestartRequest(id=reason, key=KEY, rule="nightly", trigger=trigger, reason=reason, requested_at=NOW,
                              origin=origin)

    schedule, person = request(Trigger.SCHEDULE, "scheduled"), request(Trigger.MANUAL, "deploy 42, bob")
    alert = request(Trigger.ALERT, "alert ConnectorLagHigh", origin="3c5e8a17d0b2f946")
    assert asked_by([schedule, person]) is person
    assert asked_by([alert, schedule, person]) is person
    assert asked_by([alert, schedule]) is alert, "else the first: the job's own"


async def test_a_persons_restart_that_joined_a_schedules_on_the_wire_is_remembered_by_the_persons_reason(
    tmp_path: Path,
) -> None:
    """The schedule's restart is on the wire (the API slow to answer) when a person asks for the
    same connector: the request joins it (`duplicate`), and the one restart's record and its
    restart_finished line say the person's reason, not `scheduled`."""

    from watchdog.engine import MANUAL_RULE
    from watchdog.queue import Phase

    from .test_durable import daemon, wait_until

    clock = Clock()
    faults = [{"match": {"endpoint": "restart"}, "action": {"delay_seconds": 1}}]
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": KEY.connector}], faults=faults)),
                          clock=clock.monotonic)
    nightly = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"},
               "select": {"connectors": [KEY.connector]}}
    running = daemon(tmp_path / "state.db", simulator, clock, [nightly])
    running.queue.start()
    with structlog.testing.capture_logs() as logs:
        scheduled = running.engine.on_request(KEY, None, trigger=Trigger.SCHEDULE, rule="nightly", reason="scheduled",
                                              known_missing=False)
        assert scheduled.job is not None
        await wait_until(lambda: scheduled.job is not None and scheduled.job.phase is Phase.SENDING, "on the wire")
        person = running.engine.on_request(KEY, None, trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason=REASON,
                                           known_missing=False)
        assert person.decision.value == "duplicate" and person.job is scheduled.job
        await running.queue.join()
    await running.stop()
    with SqliteStateStore(tmp_path / "state.db", read_only=True) as store:
        (kept,) = store.history()
    assert kept.reason == REASON and kept.origin == ""
    assert set(kept.triggers) == {Trigger.SCHEDULE, Trigger.MANUAL} and kept.rule == "nightly"
    (finished,) = [e for e in logs if e["event"] == "restart_finished"]
    assert finished["reason"] == REASON


def test_a_reason_in_the_table_is_one_printable_line_no_wider_than_its_column() -> None:
    """An alert's summary is whatever its sender wrote: line breaks, a terminal escape. JSON
    keeps it whole; the table shows it escaped, on one line, within REASON_WIDTH."""
    from watchdog.report import REASON_WIDTH

    hostile = record("job-1", reason="alert orders-sink moved\nno records\x1b[2J\x1b]0;pwned\x07 for 15 minutes now")
    header, row = render_history([hostile], now=NOW).splitlines()
    cell = row[header.index("REASON"):header.index("OUTCOME")].rstrip()
    assert "\x1b" not in row and "\n" not in row and "\x07" not in row
    assert cell == "alert orders-sink moved no records\\x1..." and len(cell) == REASON_WIDTH


def test_records_from_before_show_no_reason_not_an_error(tmp_path: Path) -> None:
    """A state file of the release before (its schema, its records), upgraded by this one: the
    old records' reason is not known (`-`, null), the new ones have theirs."""
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as db:  # as the release before made it
        for statement in MIGRATIONS[0].statements:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute(older_insert("?"), older_values((NOW - timedelta(hours=1)).isoformat(), "job-old"))
        db.commit()
    with SqliteStateStore(path, read_only=True) as reader:  # `watchdog history --state`: never changes it
        (old,) = reader.history()
    assert old.reason is None and old.origin is None
    with SqliteStateStore(path) as store:  # the daemon's start adds the columns
        store.finish("job-new", KEY, None, record("job-new"))
        new, old = store.history()
    assert (new.reason, new.origin) == (REASON, "") and old.reason is None
    table = render_history([new, old], now=NOW)
    header, new_row, old_row = table.splitlines()
    column = slice(header.index("REASON"), header.index("OUTCOME"))
    assert old_row[column].strip() == "-"
    assert new_row[column].strip().startswith("INC-4711: orders lag")


def test_a_file_this_release_wrote_is_read_and_written_by_the_release_before(tmp_path: Path) -> None:
    """The rollback: no new schema version (the release before checks the version and the
    tables and columns of version 1, as check_version does, unchanged), its INSERT names its
    columns, and it reads by name. Then this release again reads both records."""
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.finish("job-new", KEY, None, record("job-new"))
    with closing(sqlite3.connect(path)) as db:  # the release before, at its start and its writes
        db.row_factory = sqlite3.Row
        assert check_version(db, path) == 1 == len(MIGRATIONS)
        db.execute(older_insert("?"), older_values((NOW + timedelta(minutes=1)).isoformat(), "job-rolled-back"))
        db.commit()
        rows = db.execute("SELECT * FROM restart_history ORDER BY at DESC").fetchall()
        assert [row["job_id"] for row in rows] == ["job-rolled-back", "job-new"]
    with SqliteStateStore(path) as store:  # upgraded again
        rolled_back, new = store.history()
    assert rolled_back.reason is None and new.reason == REASON


def test_with_postgresql_an_older_releases_table_gets_the_columns_and_keeps_taking_its_writes(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """A database the release before made (no reason, origin): this release adds them at its
    start; the release before (a replica of it during a rolling update, or after a rollback)
    still writes its records, their reason unknown."""
    database = postgres_url.rsplit("/", 1)[1]
    PostgresStateStore(postgres_url, password=postgres_server.password).close()
    with postgres_server.connect(database) as admin:  # as the release before left it
        admin.execute("ALTER TABLE restart_history DROP COLUMN reason, DROP COLUMN origin")
        admin.execute(older_insert("%s"), older_values(NOW - timedelta(hours=1), "job-old"))
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        store.fence(take_lease(postgres_server, postgres_url), "test-replica")
        store.finish("job-new", KEY, None, record("job-new", origin="3c5e8a17d0b2f946"))
        with postgres_server.connect(database) as older:
            older.execute(older_insert("%s"), older_values(NOW + timedelta(minutes=1), "job-rolled-back"))
        rolled_back, new, old = store.history()
    assert (new.reason, new.origin) == (REASON, "3c5e8a17d0b2f946")
    assert rolled_back.reason is None and old.reason is None and old.origin is None


def test_with_postgresql_a_role_that_may_not_alter_the_table_keeps_the_history_without_them(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """Tables a DBA made with the release before, the application's role granted reads and
    writes only: this release starts and records as before (refused, the upgrade stopped a daemon
    the release before ran), saying once what the table's owner can run."""
    database = postgres_url.rsplit("/", 1)[1]
    with app_role(postgres_server, postgres_url, "app") as (role, url):
        PostgresStateStore(postgres_url, password=postgres_server.password).close()
        with postgres_server.connect(database) as admin:
            admin.execute("ALTER TABLE restart_history DROP COLUMN reason, DROP COLUMN origin")
            admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        with structlog.testing.capture_logs() as logs:
            with PostgresStateStore(url, password=SecretStr(PASSWORD)) as store:
                store.fence(take_lease(postgres_server, postgres_url), "test-replica")
                store.finish("job-new", KEY, None, record("job-new"))
                (kept,) = store.history()
        assert kept.job_id == "job-new" and kept.reason is None
        said = [line for line in logs if line["event"] == "history_reason_not_kept"]
        assert len(said) == 1 and "ALTER TABLE restart_history ADD COLUMN reason text" in str(said[0]), logs


@contextmanager
def held_by_a_reader(postgres_server: PostgresServer, postgres_url: str, table: str, drop: str) -> Iterator[None]:
    """The database with `table` as an older release made it (`drop`: what ALTER TABLE takes away of
    it), and a transaction that read it (a pg_dump) open meanwhile, its lock held until the end."""
    database = postgres_url.rsplit("/", 1)[1]
    PostgresStateStore(postgres_url, password=postgres_server.password).close()
    with postgres_server.connect(database) as admin:
        admin.execute(f"ALTER TABLE {table} {drop}")
    with postgres_server.connect(database) as dump:
        dump.autocommit = False
        dump.execute(f"SELECT count(*) FROM {table}")  # its lock held until the transaction ends
        yield
        dump.rollback()


def test_with_postgresql_a_table_held_by_a_long_reader_delays_the_start_a_second_at_most(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """A pg_dump (docs/operations.md: the copy to keep before an upgrade) holds every table it reads
    until it ends: adding the columns would wait for it, every read and write of the history queued
    behind, and the statement timeout then refused the start. It waits 1 s, starts without them, and
    the next start adds them."""
    import time

    with held_by_a_reader(postgres_server, postgres_url, "restart_history", "DROP COLUMN reason, DROP COLUMN origin"):
        began = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
                epoch = take_lease(postgres_server, postgres_url)
                store.fence(epoch, "test-replica")
                store.finish("job-new", KEY, None, record("job-new"))
                (kept,) = store.history()
        assert time.monotonic() - began < 4
        assert kept.reason is None
        assert [line["event"] for line in logs].count("history_reason_not_kept") == 1, logs
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:  # the next start
        store.fence(epoch, "test-replica")
        store.finish("job-next", KEY, None, record("job-next", at=NOW + timedelta(minutes=1)))
        assert [r.reason for r in store.history()] == [REASON, None]
