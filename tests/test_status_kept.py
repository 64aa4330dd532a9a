"""`watchdog status --state FILE` of a stopped daemon shows the restart requests its state file
still holds (queued, or on the wire, at the stop), and what the next start does with each
(engine/recovery.py): a person checking the file before `watchdog restart` sees one coming.

Found by a probe (probe_audit, run2): seven requests kept at a SIGTERM, a manual one among them
that goes out at the next start, and `status --state` showed each of those connectors with NEXT
ALLOWED `now` and nothing under the table."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.model import (
    ConnectorKey,
    ConnectorState,
    Health,
    PendingPhase,
    PendingRequest,
    RestartRequest,
    Trigger,
)
from watchdog.state import SqliteStateStore


def _kept_file(path: Path, stopped_ago: timedelta) -> None:
    now = datetime.now(UTC)
    stop = now - stopped_ago
    with SqliteStateStore(path) as store:
        given_up = ConnectorKey("prod", "stuck-sink")
        store.observe_status(given_up, "FAILED", stop - timedelta(seconds=5), ConnectorState(
            attempts=5, last_restart_at=stop - timedelta(minutes=3), gave_up=True, health=Health.FAILED))
        failing = ConnectorKey("prod", "orders-sink")
        store.observe_status(failing, "FAILED", stop - timedelta(seconds=5), ConnectorState(health=Health.FAILED))
        wire = ConnectorKey("prod", "wire-sink")
        store.observe_status(wire, "FAILED", stop - timedelta(seconds=5), ConnectorState(health=Health.FAILED))

        def kept(key: ConnectorKey, rule: str, trigger: Trigger, reason: str, job: str,
                 phase: PendingPhase = PendingPhase.QUEUED) -> None:
            store.add_pending(RestartRequest(id=f"req-{job}", key=key, rule=rule, trigger=trigger, reason=reason,
                                             requested_at=stop - timedelta(seconds=30)), job, phase=phase)

        kept(given_up, "manual", Trigger.MANUAL, "deploy 42", "job-1")
        kept(failing, "heal", Trigger.STATUS, "failed: connector FAILED", "job-2")
        kept(wire, "heal", Trigger.STATUS, "failed: connector FAILED", "job-3", PendingPhase.SENDING)
        kept(ConnectorKey("prod", "nightly-sink"), "nightly", Trigger.SCHEDULE, "scheduled", "job-4")
        store.mark_alive(stop)


def _rows(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines() if line.startswith("    ") and line.split()}


def test_status_from_a_stopped_daemon_s_state_file_shows_its_kept_restarts_and_what_the_next_start_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    _kept_file(path, timedelta(minutes=10))

    assert main(["status", "--state", str(path)]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    # Before: `when healthy` (given up), `now` (the others), no row for nightly-sink, and no line
    # under the table.
    assert rows["stuck-sink"].split()[-2:] == ["queued", "yes"], out
    assert "held: queued" in rows["orders-sink"] and "held: sending" in rows["wire-sink"], out
    assert "held: queued" in rows["nightly-sink"], out
    assert "Held (a restart wanted, not made yet):" in out, out
    assert ("prod/stuck-sink: queued (10m ago): kept in the state store at its daemon's stop (its last sign "
            "of life 10m ago): a manual restart (rule manual: 'deploy 42') asked 10m ago, not sent: the next start "
            "queues it again and sends it") in out, out
    assert ("prod/orders-sink: queued (10m ago): kept in the state store at its daemon's stop (its last sign of "
            "life 10m ago): a status restart (rule heal: 'failed: connector FAILED') asked 10m ago, not sent: the next "
            "start drops it, and its first poll decides again (the backoff and budget kept)") in out, out
    assert ("a status restart (rule heal: 'failed: connector FAILED') asked 10m ago, its call was perhaps on the "
            "wire at the stop: the next start ends it interrupted (it may or may not have reached the API), never "
            "sent again") in out, out
    assert ("a schedule restart (rule nightly: 'scheduled') asked 10m ago, not sent: the next start drops it as "
            "a missed run (the daemon's last sign of life was 10m ago; a schedule's run more than 5m late is not "
            "made)") in out, out

    assert main(["status", "--state", str(path), "--json"]) == 0
    document = {row["connector"]: row for row in json.loads(capsys.readouterr().out)["connectors"]}
    # Before: null ("the state file does not know").
    assert document["stuck-sink"]["held"]["decision"] == "queued", document
    assert document["stuck-sink"]["held"]["detail"].endswith("the next start queues it again and sends it"), document
    assert document["wire-sink"]["held"]["decision"] == "sending", document
    assert document["nightly-sink"]["attempts"] == 0 and document["nightly-sink"]["held"] is not None, document


def test_status_beside_a_daemon_alive_on_the_file_says_it_has_the_kept_restarts_queued(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    _kept_file(path, timedelta(seconds=10))

    assert main(["status", "--state", str(path)]) == 0
    out = capsys.readouterr().out
    # Seconds tick while the test runs: the ages are matched as any.
    assert re.search(r"prod/stuck-sink: queued \(4\ds ago\): kept in the state store \(a daemon, or a one-shot command "
                     r"such as `watchdog restart`, was alive on it 1\ds ago: if a daemon still runs, it has it queued, and `status --daemon` says what it waits for\): a manual "
                     r"restart", out), out
    assert re.search(r"a schedule restart \(rule nightly: 'scheduled'\) asked 4\ds ago, not sent: the next start sends "
                     r"it if it comes within 4m \(else drops it as a missed run: a schedule's run more than 5m late is "
                     r"not made\)", out), out


def test_a_kept_alert_restart_is_an_alert_restart() -> None:
    from watchdog.report.kept import _asked

    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    request = RestartRequest(id="r", key=ConnectorKey("prod", "a"), rule="paged", trigger=Trigger.ALERT,
                             reason="alert ConnectorDown", requested_at=now - timedelta(minutes=2))
    assert _asked(PendingRequest(request, "job"), now).startswith("an alert restart (rule paged: 'alert ConnectorDown')")
