"""`watchdog history CONNECTOR` of a name neither the status nor the history knows: said in a note,
with the close name `restart` offers, beside "No restarts recorded." (exit 0: the name may be right,
a connector only alert or schedule rules watch has no status row); a known connector with no restart
gets "No restarts recorded." alone."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.model import ConnectorKey, ConnectorState, Health, HistoryRecord, Outcome, Trigger
from watchdog.simulator import Scenario, Simulator
from watchdog.state import SqliteStateStore

from .support import CLUSTER, served, sim_scenario, until

TOKEN = "cli-history-names-token-5f0a9e3d"


def _state_file(path: Path) -> Path:
    """orders-sink restarted once; quiet-sink watched, never restarted."""
    at = datetime.now(timezone.utc) - timedelta(minutes=5)
    with SqliteStateStore(path) as store:
        key = ConnectorKey(CLUSTER, "orders-sink")
        store.finish("job-1", key, ConnectorState(attempts=1), HistoryRecord(
            at=at, key=key, job_id="job-1", rule="heal", trigger=Trigger.STATUS, triggers=(Trigger.STATUS,),
            outcome=Outcome.ACCEPTED, status_code=202, tries=1, attempt=1))
        store.observe_status(ConnectorKey(CLUSTER, "quiet-sink"), "RUNNING", at, ConnectorState(health=Health.HEALTHY))
    return path


def _said(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("typed", ["ordres-sink", "orders-sink "])
def test_history_of_a_mistyped_connector_says_no_such_connector_is_known_and_offers_the_close_name(
    typed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: `No restarts recorded.`, exit 0, for a connector the watchdog had restarted: at
    # 3 a.m., "the watchdog never touched it".
    state = str(_state_file(tmp_path / "state.db"))
    capsys.readouterr()
    code, out, err = _said(capsys, "history", typed, "--state", state)
    assert code == 0 and "No restarts recorded." in out, (out, err)
    assert f"note: {typed!r} is in neither the state file's status nor its history (a connector only alert or " \
           "schedule rules watch has no status row until restarted; else a typo?); did you mean 'orders-sink'?" in err, err
    # A connector it knows that was never restarted: as before.
    code, out, err = _said(capsys, "history", "quiet-sink", "--state", state)
    assert code == 0 and "No restarts recorded." in out and err == "", (out, err)


async def test_history_of_a_mistyped_connector_from_the_daemon_says_so_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.app import Daemon

    from .support import daemon_config

    path = _state_file(tmp_path / "state.db")
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders-sink"}, {"name": "quiet-sink"}])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token=TOKEN, state={"path": str(path)}))
        await daemon.start()
        try:
            await until(lambda: daemon.pollers[CLUSTER].first_poll_done, "a first poll")
            at = f"http://127.0.0.1:{daemon.bound_port}"
            capsys.readouterr()
            typo = await asyncio.to_thread(_said, capsys, "history", "ordres-sink", "--daemon", at)
            quiet = await asyncio.to_thread(_said, capsys, "history", "quiet-sink", "--daemon", at)
        finally:
            await daemon.stop()
    code, _, err = typo
    assert code == 0, typo
    assert "note: 'ordres-sink' is in neither the daemon's status nor its history (a connector only alert or " \
           "schedule rules watch has no status row until restarted; else a typo?); did you mean 'orders-sink'?" in err, err
    code, out, err = quiet
    assert code == 0 and "No restarts recorded." in out and "note:" not in err, quiet


async def test_history_of_a_connector_only_an_alert_rule_watches_is_no_restarts_recorded_exit_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The verification of F4's first fix: `q1`, listed, watched by an alert rule only and never
    # restarted (no status row), was answered "no connector named 'q1' ... (a typo?)", exit 1.
    from watchdog.app import Daemon

    from .support import daemon_config

    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "q1"}])))
    paged = {"name": "paged", "trigger": {"type": "alert", "match": {"alertname": "ConnectorDown"}},
             "select": {"include": ["*"]}}
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    async with served(simulator) as url:
        daemon = Daemon(daemon_config([paged], base_url=url, token=TOKEN))
        await daemon.start()
        try:
            at = f"http://127.0.0.1:{daemon.bound_port}"
            capsys.readouterr()
            code, out, err = await asyncio.to_thread(_said, capsys, "history", "q1", "--daemon", at)
        finally:
            await daemon.stop()
    assert code == 0 and "No restarts recorded." in out, (out, err)
    assert "a connector only alert or schedule rules watch has no status row" in err, err
