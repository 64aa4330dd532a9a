"""`watchdog status --problems` on a fleet with no problem says so, and how many it watches."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.model import ConnectorKey, ConnectorState, Health
from watchdog.state import SqliteStateStore


def _healthy_fleet(path: Path) -> Path:
    now = datetime.now(UTC)
    with SqliteStateStore(path) as store:
        for cluster, name in [("prod", "orders-sink"), ("prod", "billing-sink"), ("side", "audit-sink")]:
            store.observe_status(ConnectorKey(cluster, name), "RUNNING", now, ConnectorState(health=Health.HEALTHY))
    return path


@pytest.mark.parametrize(("flags", "said"), [
    (["--problems"], "No connector needs a look (3 watched, all healthy)."),
    (["--cluster", "prod", "--problems"], "No connector needs a look (2 watched, all healthy)."),
])
def test_status_problems_on_a_healthy_fleet_says_none_needs_a_look_not_that_none_is_watched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], said: str,
) -> None:
    # It said "No watched connectors.", read at 3 a.m. as a daemon that watches nothing.
    assert main(["status", "--state", str(_healthy_fleet(tmp_path / "state.db")), *flags]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == said
