"""`watchdog status` says of a connector whose restart attempts the API accepted none of (every
call refused, answered 500, or still queued after a 429) that no restart was made: ATTEMPTS and
LAST RESTART count calls (README: a failed call counts as an attempt), and the row alone read as
"restarted, and still FAILED".

Found by a probe (probe_audit, run2): `err500-0  failed  FAILED  5  ...(3m ago)  when healthy  yes`
after five attempts all answered 500, and `late-0 ... 1  2026-12-06T10:21:49Z (31s ago)` whose one
call was answered 429 and never sent again, while `history late-0` said "No restarts recorded."."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from watchdog.cli import main
from watchdog.model import (
    ConnectorKey,
    ConnectorState,
    Health,
    HistoryRecord,
    Outcome,
    RestartRequest,
    Trigger,
)
from watchdog.report import render_status, status_rows_from_json
from watchdog.server import create_app
from watchdog.state import SqliteStateStore

from .support import CLUSTER, daemon_config, in_process, sim_scenario

TOKEN = "status-attempts-token-7c2e"


def _record(job: str, key: ConnectorKey, at: datetime, attempt: int, outcome: Outcome, code: int) -> HistoryRecord:
    return HistoryRecord(at=at, key=key, job_id=job, rule="heal", trigger=Trigger.STATUS, triggers=(Trigger.STATUS,),
                         outcome=outcome, status_code=code, tries=4, attempt=attempt)


def test_status_from_the_state_file_says_which_attempts_the_api_accepted_none_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    now = datetime.now(UTC)
    refused, restarted, queued = (ConnectorKey("prod", name) for name in ("err500-sink", "stubborn-sink", "late-sink"))
    with SqliteStateStore(path) as store:
        for key, outcome, code in ((refused, Outcome.SERVER_ERROR, 500), (restarted, Outcome.ACCEPTED, 202)):
            for attempt in range(1, 6):
                at = now - timedelta(minutes=10 - attempt)
                store.finish(f"job-{key.connector}-{attempt}", key, ConnectorState(
                    attempts=attempt, last_restart_at=at, gave_up=attempt == 5, health=Health.FAILED),
                    _record(f"job-{key.connector}-{attempt}", key, at, attempt, outcome, code))
        # An earlier round, accepted, before its count reset: not one of the five.
        store.finish("job-old", refused, None, _record("job-old", refused, now - timedelta(hours=5), 1,
                                                     Outcome.ACCEPTED, 202))
        # One call answered 429, then unsent at the stop: its attempt counted, no record.
        store.observe_status(queued, "FAILED", now - timedelta(seconds=40), ConnectorState(
            attempts=1, last_restart_at=now - timedelta(seconds=31), health=Health.FAILED))
        store.add_pending(RestartRequest(id="req-late", key=queued, rule="heal", trigger=Trigger.STATUS,
                                         reason="failed: connector FAILED", requested_at=now - timedelta(seconds=40)),
                          "job-late")

    assert main(["status", "--state", str(path)]) == 0
    out = capsys.readouterr().out
    # Before: nothing under the table said that no restart was made.
    assert "No restart made (ATTEMPTS and LAST RESTART count calls, and these the API did not accept):" in out, out
    assert ("prod/err500-sink: none of its 5 attempts was accepted by the API: 5 answered HTTP 500 (server_error); "
            "LAST RESTART is its last attempt's call, not a restart made") in out, out
    assert ("prod/late-sink: its 1 attempt was not accepted by the API: 1 still queued or kept (see Held); "
            "LAST RESTART is its last attempt's call, not a restart made") in out, out
    assert "stubborn-sink:" not in out, out

    assert main(["status", "--state", str(path), "--json"]) == 0
    rows = {row["connector"]: row for row in json.loads(capsys.readouterr().out)["connectors"]}
    assert rows["err500-sink"]["attempts_not_accepted"].startswith("none of its 5 attempts was accepted"), rows
    assert rows["stubborn-sink"]["attempts_not_accepted"] is None, rows


async def test_status_from_the_daemon_says_its_refused_attempts_made_no_restart() -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 60, "confirm_polls": 1},
              "select": {"include": ["*"]}}]
    scenario = sim_scenario(
        [{"name": "refused-sink", "script": {"initial": "FAILED", "recover_after_restarts": "never"}},
         {"name": "ok-sink", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}],
        faults=[{"match": {"endpoint": "restart", "connector": "refused-sink"}, "action": {"status": 403}}])
    w = in_process(scenario, daemon_config(rules, token=TOKEN), fake_time=True)
    w.daemon.queue.start()
    try:
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
                w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon") as http:
            document: dict[str, Any] = (await http.get(
                "/v1/connectors", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    finally:
        await w.daemon.queue.close(1.0)
    rows = {row["connector"]: row for row in document["connectors"]}
    assert rows["refused-sink"]["attempts"] == rows["ok-sink"]["attempts"] == 1, rows
    # Before: no such field, and the table said ATTEMPTS 1 and LAST RESTART as of a restart made.
    assert rows["refused-sink"]["attempts_not_accepted"] == (
        "its 1 attempt was not accepted by the API: 1 answered HTTP 403 (forbidden); "
        "LAST RESTART is its last attempt's call, not a restart made"), rows
    assert rows["ok-sink"]["attempts_not_accepted"] is None, rows
    assert w.clock is not None
    table = render_status(status_rows_from_json(document), now=w.clock.wall())
    assert f"{CLUSTER}/refused-sink: its 1 attempt was not accepted by the API: 1 answered HTTP 403" in table, table


def test_a_status_reads_the_history_of_the_most_recently_restarted_failing_connectors_only() -> None:
    # One read per connector: on the event loop of a daemon with a PostgreSQL state, thousands
    # failing at once made thousands of round trips for one GET /v1/connectors.
    from watchdog.model import ConnectorKey, ConnectorState, Health
    from watchdog.report import StatusRow
    from watchdog.report.attempts import with_attempts_notes

    at = datetime(2026, 12, 6, tzinfo=UTC)
    rows = [StatusRow(ConnectorKey("prod", f"c{i}"), ConnectorState(
        attempts=1, health=health, last_restart_at=at + timedelta(minutes=i)))
        for i, health in enumerate([Health.FAILED, Health.FAILED, Health.HEALTHY, Health.FAILED])]
    read: list[str] = []
    noted = with_attempts_notes(rows, lambda key, limit: read.append(key.connector) or [], most=2)
    assert sorted(read) == ["c1", "c3"], "the two restarted last of those failing; not the healthy c2"
    assert [row.key.connector for row in noted] == ["c0", "c1", "c2", "c3"], "every row, in its order"


async def test_a_connector_given_up_on_after_calls_the_api_refused_says_so_in_its_gave_up_line() -> None:
    # An audit: err500-0, every call answered 500, was said given up on "after 5 attempts", as if
    # five restarts had not fixed it; the API had made none.
    from structlog.testing import capture_logs

    from .support import CLUSTER, daemon_config, in_process, sim_scenario

    faults = [{"match": {"endpoint": "restart"}, "action": {"status": 500}}]
    rule = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
            "max_restarts": 2, "backoff": {"base": 0.001, "cap": 0.001, "jitter": 0}}
    w = in_process(sim_scenario([{"name": "sink", "script": {"initial": "FAILED"}}], faults=faults),
                   daemon_config([rule], rate_limit={"max_retries": 0, "max_requests_per_second": 1000}))
    w.daemon.queue.start()
    with capture_logs() as logs:
        for _ in range(3):
            await w.daemon.pollers[CLUSTER].poll()
            await w.daemon.queue.join()
    await w.daemon.stop()
    [said] = [e for e in logs if e["event"] == "gave_up"]
    assert said["attempts_not_accepted"] == ("none of its 2 attempts was accepted by the API: 2 answered HTTP 500 "
                                             "(server_error); LAST RESTART is its last attempt's call, not a restart made")
