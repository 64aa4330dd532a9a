"""check-config warns of a SQLite state file `run` could not open here: it said `valid` of a state
directory on a read-only filesystem, and `run` then exited 1 (an operations probe, 2026-12-06).
With the shipped Recreate rollout, a new pod that exits leaves no watchdog at all."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from watchdog.cli import main

from .support import CLUSTER_ID, ENVIRONMENT


def _config(tmp_path: Path, state: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": {"path": str(state)},
    }))
    return path


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("missing/state.db", "Cannot create state file {tmp}/missing/state.db: directory {tmp}/missing does not exist (is the volume mounted?)"),
        ("state.db", "State file {tmp}/state.db is a directory, not a file"),
    ],
    ids=["directory-missing", "path-is-a-directory"],
)
def test_check_config_warns_of_a_state_file_run_could_not_open_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None, where: str, said: str
) -> None:
    state = tmp_path / where
    if where == "state.db":
        state.mkdir()
    assert main(["check-config", "--config", str(_config(tmp_path, state))]) == 0  # valid: a warning, not an error
    err = capsys.readouterr().err
    assert f"warning: {said.format(tmp=tmp_path)}" in err, err
    assert "`run` here would exit 1" in err


def test_check_config_says_nothing_of_a_state_file_run_could_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    assert main(["check-config", "--config", str(_config(tmp_path, tmp_path / "state.db"))]) == 0
    assert "state" not in capsys.readouterr().err
    assert not (tmp_path / "state.db").exists() and not (tmp_path / "state.db.lock").exists(), "check-config created a file"
