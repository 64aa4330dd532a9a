"""`watchdog status` read from the state file says where dry-run comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from watchdog.cli import main

from .support import CLUSTER_ID, ENVIRONMENT


def _config(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "api": {"base_url": "http://127.0.0.1:9"}, "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": {"path": str(tmp_path / "state.db")},
        "rules": [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}},
                  {"name": "trial", "dry_run": True, "trigger": {"type": "status"}, "select": {"include": ["a-*"]}}],
        **extra,
    }))
    return path


@pytest.mark.parametrize(("extra", "said"), [
    # Two probes read "the config sets dry-run" as the whole daemon's, with one rule of two on trial.
    ({}, "note: the config's rule trial is dry-run: "),
    ({"dry_run": True}, "note: the config sets dry-run: "),
])
def test_the_note_names_what_sets_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None, extra: dict[str, Any], said: str,
) -> None:
    from watchdog.state import SqliteStateStore

    SqliteStateStore(tmp_path / "state.db").close()  # a daemon ran on it
    assert main(["status", "--config", str(_config(tmp_path, **extra))]) == 0
    err = capsys.readouterr().err
    assert said in err, err
