"""`watchdog status` (and `history`) reading a state file that does not exist point to `--daemon`:
the file may have been moved away while a daemon runs. Found by the runbook probe
(WatchdogCannotRecordDecisions, 2026-12-06): with the daemon's state.db moved aside, `watchdog
status` said "State file .../state.db does not exist: no daemon has written state there yet." and
exited 1, while the daemon ran and its /readyz and `status --daemon` said the file was moved."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from watchdog.cli import main

from .support import CLUSTER_ID, ENVIRONMENT


@pytest.mark.parametrize("command", ["status", "history"])
def test_a_state_file_moved_away_is_not_said_to_mean_no_daemon(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": {"path": str(tmp_path / "state.db")}, "server": {"port": 9555},
    }))
    assert main([command, "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"State file {tmp_path / 'state.db'} does not exist: no daemon has written state there yet, or its " \
           "files were moved away or deleted while a daemon ran (that daemon then records nothing: put them back)." in err
    assert f"A daemon running there answers itself: watchdog {command} --daemon http://127.0.0.1:9555" in err, err
