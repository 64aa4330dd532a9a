"""`watchdog status --cluster C --problems`: the rows that matter in a fleet of thousands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.model import ConnectorKey, ConnectorState, Health
from watchdog.state import SqliteStateStore


def _state_file(path: Path) -> Path:
    now = datetime.now(UTC)
    with SqliteStateStore(path) as store:
        for cluster, name, health, state in [("prod", "fine", Health.HEALTHY, "RUNNING"),
                                             ("prod", "broken", Health.FAILED, "FAILED"),
                                             ("side", "also-broken", Health.FAILED, "FAILED"),
                                             ("side", "ok", Health.HEALTHY, "RUNNING")]:
            store.observe_status(ConnectorKey(cluster, name), state, now, ConnectorState(health=health))
    return path


def _names(out: str) -> list[str]:
    return sorted(line.split()[0] for line in out.splitlines()
                  if line.startswith("    ") and line.split() and line.split()[0] != "CONNECTOR")


@pytest.mark.parametrize(("flags", "shown"), [
    ([], ["also-broken", "broken", "fine", "ok"]),
    (["--problems"], ["also-broken", "broken"]),
    (["--cluster", "side"], ["also-broken", "ok"]),
    (["--cluster", "side", "--problems"], ["also-broken"]),
])
def test_status_shows_one_cluster_or_only_the_connectors_that_need_a_look(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], shown: list[str],
) -> None:
    assert main(["status", "--state", str(_state_file(tmp_path / "state.db")), *flags]) == 0
    assert _names(capsys.readouterr().out) == shown


def test_status_of_a_cluster_it_does_not_know_says_which_it_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--state", str(_state_file(tmp_path / "state.db")), "--cluster", "prdo"]) == 1
    # As `history --cluster prdo` says it (it said "no watched connector of cluster 'prdo'").
    assert "unknown cluster 'prdo': neither the config nor the state file knows it; clusters shown: prod, side" \
        in capsys.readouterr().err
