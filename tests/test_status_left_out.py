"""`watchdog status --daemon` says the rows the daemon left out of GET /v1/connectors (the rows of
deleted connectors past GONE_ROWS_LISTED, report/row_select.py): without it, a table cut at 1,000
deleted rows read as the whole of them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from watchdog.cli import main
from watchdog.model import ConnectorKey, ConnectorState, Health
from watchdog.report import GONE_ROWS_LISTED
from watchdog.simulator import Scenario, Simulator

from .support import CLUSTER, daemon_config, served, sim_scenario, until

TOKEN = "status-left-out-token-8c1d2e4f"
SEEN = datetime(2026, 3, 1, 11, 0, tzinfo=timezone.utc)


async def test_status_from_the_daemon_says_how_many_deleted_rows_it_did_not_list(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.app import Daemon

    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)

    def status(*extra: str) -> tuple[int, str, str]:
        code = main(["status", "--daemon", f"http://127.0.0.1:{daemon.bound_port}", *extra])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token=TOKEN))
        await daemon.start()
        try:
            await until(lambda: daemon.pollers[CLUSTER].first_poll_done, "a first poll")
            with daemon.state.batch():  # deleted since, as a pipeline creating a connector per deploy leaves them
                for n in range(GONE_ROWS_LISTED + 5):
                    daemon.state.observe_status(ConnectorKey(CLUSTER, f"auto-{n:05d}"), "RUNNING",
                                                SEEN + timedelta(seconds=n), ConnectorState(health=Health.HEALTHY))
            capsys.readouterr()
            whole = await asyncio.to_thread(status)
            problems = await asyncio.to_thread(status, "--problems")
        finally:
            await daemon.stop()
    for code, out, err in (whole, problems):
        assert code == 0, err
        assert (f"note: 5 row(s) of deleted connectors and 0 of clusters no longer watched not listed by the daemon: "
                f"only the {GONE_ROWS_LISTED} most recently seen rows") in err, err
        assert "auto-00004" not in out and "auto-00005" in out, "the newest listed, the oldest left out"
