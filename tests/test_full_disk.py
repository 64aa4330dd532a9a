"""A state file that stops taking writes (issue 12, item 11): a full disk, or a filesystem the
kernel remounted read-only after an error. Decisions cannot be recorded, so nothing is restarted
(its attempt could not be counted: the backoff would not hold), and the daemon says so (a poll
result, a metric, /readyz, an alert) instead of looking healthy.

SQLite itself refuses the writes here (`PRAGMA query_only`: every write fails as it would on a
filesystem that takes none); mounting a small filesystem to fill up needs privileges tests do not
have. Reads keep working, as they do on a full disk."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import structlog

from watchdog.cli import main
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Trigger
from watchdog.server import create_app
from watchdog.state import SqliteStateStore, StateStoreError
from watchdog.triggers.streak import REPEAT_EVERY_SECONDS

from .support import CLUSTER, World, daemon_config, in_process, sim_scenario, until
from .test_api import AUTH, TOKEN

RULE = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
        "backoff": {"base": 1, "cap": 10, "jitter": 0}}


def world(tmp_path: Path) -> World:
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}, {"name": "fine"}]
    w = in_process(sim_scenario(connectors), daemon_config([RULE], token=TOKEN, state={"path": str(tmp_path / "state.db")}))
    w.daemon.queue.start()
    return w


def stop_writes(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA query_only = 1")


def allow_writes(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA query_only = 0")


async def test_a_full_disk_stops_restarts_and_says_so(tmp_path: Path) -> None:
    w = world(tmp_path)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    w.daemon.probes.config_loaded = True
    stop_writes(w.daemon.state._db)

    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert not w.simulator.restarts(), "a restart went out whose attempt could not be recorded"
    # The poll listed the cluster but its decisions were not recorded: not `ok`, not fresh.
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="state_error") == 1
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 0
    assert w.daemon.metrics.registry.get_sample_value("watchdog_last_successful_poll_timestamp_seconds", {"cluster": CLUSTER}) is None
    assert w.sample("watchdog_state_store_errors_total") >= 1
    assert w.sample("watchdog_state_store_writable") == 0
    ready = await http.get("/readyz")
    assert ready.status_code == 503 and "could not" in ready.json()["state_store"]
    # A request through the API is refused with a reason, and Alertmanager-style clients retry.
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "fine"}, headers=AUTH)
    assert response.status_code == 503 and "cannot record decisions" in response.json()["error"]
    assert w.sample("watchdog_http_requests_total", route="restarts", status_class="5xx") == 1
    assert not w.simulator.restarts()

    allow_writes(w.daemon.state._db)
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.restarts()] == ["broken"]
    # The listing made for the API request, and this poll.
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 2
    assert (await http.get("/readyz")).status_code == 200
    assert w.sample("watchdog_state_store_writable") == 1
    await w.daemon.stop()


async def test_a_state_file_locked_by_another_process_costs_one_wait_not_one_per_queued_restart(tmp_path: Path) -> None:
    # Another process holding the file's write lock (an `sqlite3` shell left in a transaction)
    # makes every write wait the busy timeout, on the event loop. Each queued restart then waited
    # it twice, one after another: 25 queued took a SIGTERM with a 20 s deadline 110 s and more,
    # /healthz unanswered all along. Now the first failed write is the only one waited for until
    # the stop's last try, and the restarts stay pending in the file for the next start.
    connectors = [{"name": f"c{i}"} for i in range(10)]
    path = tmp_path / "state.db"
    config = daemon_config([RULE], state={"path": str(path)}, queue={"shutdown_deadline": 1, "manual_restart_gap": 0})
    w = in_process(sim_scenario(connectors), config)
    w.daemon.state._db.execute("PRAGMA busy_timeout = 300")  # 5 s in production: the same waits, shorter
    # Polls' restarts: ended `dropped` at a full disk, their outcomes wait to be written. (Restarts
    # by name no longer do: they end `unsent`, kept, which writes nothing: probe_restart F1.)
    for i in range(10):
        record = w.daemon.engine.on_request(ConnectorKey(CLUSTER, f"c{i}"), None, trigger=Trigger.STATUS,
                                            rule=RULE["name"], reason="test", known_missing=False)
        assert record.job is not None
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    # Counted, not timed (a bound in seconds is a loaded machine's as much as the daemon's): each
    # write the daemon begins meets the lock and waits the busy timeout out, on the event loop.
    statements: list[str] = []
    w.daemon.state._db.set_trace_callback(statements.append)

    w.daemon.queue.start()
    await w.daemon.queue.join()
    await w.daemon.stop()
    holder.execute("ROLLBACK")
    waits = sum(statement.startswith("BEGIN IMMEDIATE") for statement in statements)

    assert not w.simulator.restarts(), "a restart went out whose attempt could not be recorded"
    # One wait when the lock is met, one for the stop's last try, one for its sign of life; 22
    # waits (6.7 s) before, two per queued restart.
    assert waits <= 3, f"the event loop waited for the lock {waits} times for 10 queued restarts"
    with SqliteStateStore(path) as store:
        assert len(store.pending()) == 10, "a restart asked for was neither sent nor kept for the next start"


def _run_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "api": {"base_url": "http://127.0.0.1:9"},
        "credentials": {"main": {}}, "clusters": {CLUSTER: {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": str(tmp_path / "state.db")},
        "rules": [RULE],
    }))
    return config


def test_a_start_on_a_full_disk_with_restarts_kept_says_so_without_a_traceback(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod restarted while its volume is full: the start's first writes failed and `watchdog run`
    died on a Python traceback. The hourly pruning no longer stops a start (the daemon runs and
    says so, as it does when the disk fills while it runs); restarts kept that cannot be taken up
    stop it with the store's message, and stay kept."""
    from watchdog.model import ConnectorKey, RestartRequest, Trigger

    with SqliteStateStore(tmp_path / "state.db") as store:
        store.add_pending(RestartRequest(id="r1", key=ConnectorKey(CLUSTER, "orders"), rule="manual",
                                         trigger=Trigger.MANUAL, reason="by hand", origin="cli",
                                         requested_at=datetime(2026, 3, 1, tzinfo=timezone.utc)), "j1")

    def full(self: SqliteStateStore, *args: object, **kwargs: object) -> None:
        raise StateStoreError(f"State file {self.path}: could not write: database or disk is full.")

    monkeypatch.setattr(SqliteStateStore, "prune", full)
    monkeypatch.setattr(SqliteStateStore, "add_pending", full)
    assert main(["run", "--config", str(_run_config(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"State file {tmp_path / 'state.db'}: could not write: database or disk is full. "
                                    "The restarts it kept stay in it, unsent, for the next start.")
    assert "StateStoreError" not in err, "no traceback"
    monkeypatch.undo()
    with SqliteStateStore(tmp_path / "state.db") as store:
        assert [p.request.id for p in store.pending()] == ["r1"]


async def test_a_start_whose_history_cannot_be_pruned_still_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: SqliteStateStore, *args: object, **kwargs: object) -> None:
        raise StateStoreError(f"State file {self.path}: could not prune the restart history: database or disk is full.")

    # The daemon prunes in steps (state/pruning.py), beside the start: its first step fails.
    monkeypatch.setattr(SqliteStateStore, "prune_older", full)
    w = in_process(sim_scenario([{"name": "fine"}]), daemon_config([RULE], state={"path": str(tmp_path / "state.db")}))
    with structlog.testing.capture_logs() as logs:
        await w.daemon.start(serve_http=False)
        await until(lambda: any(e["event"] == "history_not_pruned" for e in logs), "the prune's failure said")
    await w.daemon.stop()
    assert any(e["event"] == "history_not_pruned" and "disk is full" in e["error"] for e in logs)
    assert any(e["event"] == "started" for e in logs)


async def test_the_alive_record_on_a_full_disk_adds_no_failure_to_the_one_reported_and_resumes(tmp_path: Path) -> None:
    # The daemon records that it is alive every 30 s. On a full disk each beat counted one more
    # store error, logged one more warning and put "could not record that the daemon is alive"
    # in /readyz in place of what could not be recorded: 20 errors and warnings in 10 minutes.
    w = world(tmp_path)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    w.daemon.probes.config_loaded = True
    stop_writes(w.daemon.state._db)
    with structlog.testing.capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
        reason = (await http.get("/readyz")).json()["state_store"]
        for _ in range(20):  # ten minutes of beats
            w.daemon.mark_alive()
    assert w.sample("watchdog_state_store_errors_total") == 1
    assert (await http.get("/readyz")).json()["state_store"] == reason
    assert "connector's status" in reason
    assert not [e for e in logs if e["event"] == "alive_not_recorded" and e["log_level"] != "debug"]

    allow_writes(w.daemon.state._db)
    before = w.daemon.state.last_alive()
    w.daemon.mark_alive()
    assert (await http.get("/readyz")).status_code == 200
    assert w.daemon.state.last_alive() != before, "the record was not written once the disk had room"
    await http.aclose()
    await w.daemon.stop()


async def test_a_full_disk_met_first_by_the_alive_record_is_said_once(tmp_path: Path) -> None:
    # A daemon with nothing else to write: the beat's failure is the one reported.
    w = world(tmp_path)
    stop_writes(w.daemon.state._db)
    with structlog.testing.capture_logs() as logs:
        for _ in range(20):
            w.daemon.mark_alive()
    assert w.sample("watchdog_state_store_errors_total") == 1
    assert "record that the daemon is alive" in (w.daemon.state.problem or "")
    assert [e["log_level"] for e in logs if e["event"] == "alive_not_recorded"] == ["warning"] + ["debug"] * 19
    allow_writes(w.daemon.state._db)
    w.daemon.mark_alive()
    assert w.daemon.state.problem is None
    await w.daemon.stop()


async def test_a_full_disk_for_an_hour_of_polls_is_said_every_few_minutes_not_every_poll(tmp_path: Path) -> None:
    # Each poll of each cluster logged poll_not_judged at error level while the disk was full:
    # 720 error lines an hour per cluster polled every 5 s, burying the rest.
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
    # The limiter runs on real time: its local ceiling must not slow this fake hour down.
    config = daemon_config([RULE], state={"path": str(tmp_path / "state.db")},
                           rate_limit={"max_requests_per_second": 10000})
    w = in_process(sim_scenario(connectors), config, fake_time=True)
    assert w.clock is not None
    w.daemon.queue.start()
    stop_writes(w.daemon.state._db)
    with structlog.testing.capture_logs() as logs:
        for _ in range(720):
            await w.daemon.pollers[CLUSTER].poll()
            w.clock.advance(5)
        allow_writes(w.daemon.state._db)
        await w.daemon.pollers[CLUSTER].poll()
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="state_error") == 720
    said = [e for e in logs if e["event"] == "poll_not_judged" and e["log_level"] == "error"]
    assert 1 <= len(said) <= 3600 / REPEAT_EVERY_SECONDS + 1, len(said)
    assert "repeated" not in said[0] and all(e["failing_since"] == said[1]["failing_since"] for e in said[1:])
    # "The store", whichever it is: "the state file" was said of a PostgreSQL database too.
    assert said[0]["note"] == "the state store cannot record decisions; nothing was restarted"
    [ended] = [e for e in logs if e["event"] == "poll_not_judged_ended"]
    assert ended["failed_polls"] == 720
    await w.daemon.stop()


async def test_outcomes_past_what_is_kept_to_write_later_are_each_said_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The outcomes a state file refused wait in memory to be written later, at most UNRECORDED_KEPT
    # (10,000). Past that the oldest fell off the deque without a word: its request stayed pending,
    # and the next start sent again a restart whose `dropped` had been logged. Each is said now, so
    # that the operator knows which restarts the next start will send (kept: 4 here).
    monkeypatch.setattr("watchdog.engine.recorder.UNRECORDED_KEPT", 4)
    connectors = [{"name": f"c{i}"} for i in range(10)]
    path = tmp_path / "state.db"
    config = daemon_config([RULE], state={"path": str(path)}, queue={"shutdown_deadline": 1, "manual_restart_gap": 0})
    w = in_process(sim_scenario(connectors), config)
    # Polls' restarts: ended `dropped` at a full disk, their outcomes wait to be written. (Restarts
    # by name no longer do: they end `unsent`, kept, which writes nothing: probe_restart F1.)
    for i in range(10):
        record = w.daemon.engine.on_request(ConnectorKey(CLUSTER, f"c{i}"), None, trigger=Trigger.STATUS,
                                            rule=RULE["name"], reason="test", known_missing=False)
        assert record.job is not None
    stop_writes(w.daemon.state._db)

    with structlog.testing.capture_logs() as logs:
        w.daemon.queue.start()
        await w.daemon.queue.join()
        allow_writes(w.daemon.state._db)
        await w.daemon.stop()  # writes what it kept

    assert not w.simulator.restarts()
    given_up = [e["connector"] for e in logs if e["event"] == "restart_outcome_given_up"]
    assert given_up == [f"c{i}" for i in range(6)]
    stopped = next(e for e in logs if e["event"] == "stopped")
    assert "outcomes_not_recorded" not in stopped, stopped  # the 4 kept were written at the stop
    with SqliteStateStore(path) as store:
        still_pending = sorted(p.request.key.connector for p in store.pending())
        recorded = sorted(r.key.connector for r in store.history(limit=100))
    # What the next start sends is exactly what was said given up; the 4 kept were written.
    assert still_pending == given_up
    assert recorded == [f"c{i}" for i in range(6, 10)]


async def test_restarts_a_full_disk_keeps_end_unsent_kept_not_dropped(tmp_path: Path) -> None:
    # probe_restart F1: queued restarts by name whose turn found the state file unwritable ended
    # `dropped` (counted, logged, answered "finished: dropped") while their rows stayed queued in
    # the file, and the next start sent them: two final outcomes each, re-asked by hand.
    w = world(tmp_path)
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    asked = [w.daemon.engine.on_request(ConnectorKey(CLUSTER, "fine"), w.daemon.engine.statuses[ConnectorKey(CLUSTER, "fine")],
                                        trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="deploy 42")]
    stop_writes(w.daemon.state._db)
    restarts_before = len(w.simulator.restarts())
    with structlog.testing.capture_logs() as logs:
        await w.daemon.queue.join()
    job = asked[0].job
    assert job is not None and job.outcome is not None
    assert job.outcome.value == "unsent", (job.outcome, job.message)  # before: dropped
    assert job.kept_for.endswith("sent at the next start"), job.kept_for
    assert len(w.simulator.restarts()) == restarts_before, "sent though its attempt could not be recorded"
    assert w.total("watchdog_restarts_total", outcome="dropped") == 0
    finished = [e for e in logs if e["event"] == "restart_finished"]
    assert [e["outcome"] for e in finished] == ["unsent"] and finished[0]["log_level"] == "warning", finished
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
        w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon")
    followed = (await http.get(f"/v1/restarts/{asked[0].request_id}", headers=AUTH)).json()
    assert followed["state"] == "pending" and "sent at the next start" in followed["job"]["message"], followed
    with structlog.testing.capture_logs() as logs:
        await w.daemon.stop()
    stopped = next(e for e in logs if e["event"] == "stopped")
    assert stopped["unsent"] == 1, stopped  # before: 0, though one is kept

    # The next start sends it, once: its one final outcome.
    w2 = world(tmp_path)
    await w2.daemon.start(serve_http=False)
    try:
        await until(lambda: any(c.connector == "fine" for c in w2.simulator.restarts()), "the kept restart sent")
    finally:
        await w2.daemon.stop()
    assert [c.connector for c in w2.simulator.restarts()].count("fine") == 1


async def test_the_stop_says_which_answered_restarts_the_next_start_reports_interrupted(tmp_path: Path) -> None:
    # probe_restart F1: a restart answered 202 whose outcome the full disk did not take comes back
    # `interrupted` at the next start (its row still says `sending`); nothing said so at the stop.
    from .support import HeldCalls

    w = world(tmp_path)
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    held = HeldCalls(w, "/restart")
    key = ConnectorKey(CLUSTER, "fine")
    record = w.daemon.engine.on_request(key, w.daemon.engine.statuses[key], trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                        reason="deploy 42")
    await held.reached.wait()  # marked `sending`, its call on the wire
    stop_writes(w.daemon.state._db)
    held.release()
    with structlog.testing.capture_logs() as logs:
        await w.daemon.queue.join()
    assert record.job is not None and record.job.outcome is not None and record.job.outcome.value == "accepted"
    # What the error line says becomes of it is what the next start does (below). Before: "the
    # next start sends it", of a restart the next start reported `interrupted` and did not send.
    [unrecorded] = [e for e in logs if e["event"] == "restart_outcome_not_recorded"]
    assert "the next start reports it `interrupted`" in unrecorded["note"], unrecorded["note"]
    assert "sends it" not in unrecorded["note"], unrecorded["note"]
    with structlog.testing.capture_logs() as logs:
        await w.daemon.stop()
    stopped = next(e for e in logs if e["event"] == "stopped")
    assert stopped["outcomes_not_recorded"] == 1 and stopped["reported_interrupted_at_next_start"] == 1, stopped

    w2 = world(tmp_path)
    sent_before = len(w2.simulator.restarts())
    with structlog.testing.capture_logs() as logs:
        await w2.daemon.start(serve_http=False)
        await w2.daemon.stop()
    ended = [e for e in logs if e["event"] == "restart_finished" and e.get("connector") == "fine"]
    assert [e["outcome"] for e in ended] == ["interrupted"], ended
    assert "restart_outcome_not_recorded" in ended[0]["message"], ended[0]["message"]
    assert len(w2.simulator.restarts()) == sent_before, "sent again"
