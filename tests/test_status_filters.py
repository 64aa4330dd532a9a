"""`watchdog status --cluster C --problems`: the rows that matter in a fleet of thousands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
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


def _deleted_ones(path: Path) -> Path:
    """prod: one connector the last poll listed, and two it did not (deleted 20 s before:
    seen RUNNING, and seen FAILED after one restart), as `watchdog run` leaves them."""
    now = datetime.now(UTC)
    before = now - timedelta(seconds=20)
    with SqliteStateStore(path) as store:
        store.observe_status(ConnectorKey("prod", "still-here"), "RUNNING", now, ConnectorState(health=Health.HEALTHY))
        store.observe_status(ConnectorKey("prod", "deleted-running"), "RUNNING", before,
                             ConnectorState(health=Health.HEALTHY))
        store.observe_status(ConnectorKey("prod", "deleted-failed"), "FAILED", before,
                             ConnectorState(health=Health.FAILED, attempts=1, last_restart_at=before - timedelta(seconds=5),
                                            next_allowed_at=before - timedelta(seconds=1)))
    return path


def test_status_problems_from_the_state_file_says_deleted_connectors_are_gone_as_the_full_table_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Probe soak F1: `--problems` left the one deleted while RUNNING out, and showed the one
    # deleted while FAILED as `failed  FAILED ... now` (a live failing connector due a restart
    # the watchdog will never send), while the same file without --problems said both gone:
    # `gone` was worked out again on the rows --problems kept, the deleted one the newest there.
    state = str(_deleted_ones(tmp_path / "state.db"))
    assert main(["status", "--state", state]) == 0
    full = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("    ")}
    assert main(["status", "--state", state, "--problems"]) == 0
    out = capsys.readouterr().out
    shown = {line.split()[0]: line for line in out.splitlines() if line.startswith("    ")}
    assert sorted(name for name in shown if name != "CONNECTOR") == ["deleted-failed", "deleted-running"]
    for name in ("deleted-failed", "deleted-running"):
        assert "gone (last seen" in shown[name], out
        assert shown[name].split()[1] == full[name].split()[1]  # HEALTH as last judged, in both
    assert main(["status", "--state", state, "--problems", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {item["connector"]: item["gone"] for item in document["connectors"]} == \
        {"deleted-failed": True, "deleted-running": True}
