"""`watchdog status` marks a connector a reload stopped watching (listed, no status rule selects it
now) as unwatched, not as it was last seen: its health is no longer judged and no poll restarts it.

Found by a probe (probe_audit, run2): `heal-b3`, excluded by a reload, then FAILED, showed
`heal-b3  healthy  RUNNING ... now  no` in `watchdog status --daemon` for as long as the daemon ran
(NEXT ALLOWED `now` read as "a restart is due"), and read from the state file after the stop,
`gone (last seen RUNNING 4m ago)`, which README says means deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from watchdog.app import Daemon
from watchdog.cli import main
from watchdog.config import load_config
from watchdog.report import render_status, status_rows_from_json
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, sim_cluster, sim_scenario
from .test_reload import HEAL, write


def _line(table: str, connector: str) -> str:
    return next(line for line in table.splitlines() if line.strip().startswith(connector + " "))


async def test_a_connector_a_reload_stopped_watching_shows_unwatched_from_the_daemon_and_the_state_file(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path, state = tmp_path / "config.yaml", tmp_path / "state.db"
    write(path, [HEAL], state={"path": str(state)})
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}, {"name": "billing"}])))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    await daemon.start(serve_http=False)
    try:
        await daemon.pollers[CLUSTER].poll()
        write(path, [{**HEAL, "select": {"include": ["*"], "exclude": ["billing"]}}], state={"path": str(state)})
        assert await daemon.reload("test") is True
        simulator.set_state(sim_cluster(), "billing", "FAILED")  # failed after the reload: nothing judges it
        await daemon.pollers[CLUSTER].poll()
        document = {"connectors": daemon.connector_rows()}
    finally:
        await daemon.stop()
    rows = {row["connector"]: row for row in document["connectors"]}
    # Before: no such field; the row as last seen, healthy, RUNNING, next allowed now.
    assert rows["billing"]["unwatched"] is True and rows["billing"]["gone"] is False, rows
    assert rows["orders"]["unwatched"] is False, rows
    table = render_status(status_rows_from_json(document), now=datetime.now(UTC))
    billing = _line(table, "billing")
    assert billing.split()[1:5] == ["-", "unwatched", "(last", "seen"], table
    assert billing.split()[-2:] == ["-", "no"], table
    assert _line(table, "orders").split()[1:3] == ["healthy", "RUNNING"], table

    # From the state file, with the config that excludes it: unwatched, not gone (deleted).
    capsys.readouterr()
    assert main(["status", "--config", str(path)]) == 0
    billing = _line(capsys.readouterr().out, "billing")
    assert "unwatched (last seen RUNNING " in billing and "gone" not in billing, billing
    assert main(["status", "--config", str(path), "--json"]) == 0
    stored = {row["connector"]: row for row in json.loads(capsys.readouterr().out)["connectors"]}
    assert stored["billing"]["unwatched"] is True and stored["billing"]["gone"] is False, stored
    # Without the config, the file alone cannot tell it from a deleted one: gone, as README says.
    assert main(["status", "--state", str(state)]) == 0
    assert "gone (last seen RUNNING " in _line(capsys.readouterr().out, "billing")
