"""`watchdog history` asked of a running daemon, as README says it reads."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.model import (
    MAX_HISTORY_SERVED,
    ConnectorKey,
    ConnectorState,
    HistoryRecord,
    Outcome,
    Trigger,
)
from watchdog.simulator import Scenario, Simulator
from watchdog.state import SqliteStateStore

from .support import CLUSTER, served, sim_scenario, until

TOKEN = "cli-history-token-5f0a9e3d"


async def test_a_limit_past_what_the_daemon_serves_shows_the_newest_it_serves_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # README: "`--limit` is 1 or more (default 50; a daemon serves at most 1,000; from the state
    # file any number". Asked `--limit 5000` of a daemon whose history held 1,020 restarts, the
    # command sent limit=5000 as given and printed `the daemon answered HTTP 400: limit must be a
    # whole number from 1 to 1000`, exit 1: nothing shown, and a script read it as a failure.
    from watchdog.app import Daemon

    from .support import daemon_config

    path = tmp_path / "state.db"
    start = datetime.now(timezone.utc) - timedelta(hours=1)  # within state.history.max_age
    with SqliteStateStore(path) as store:
        for n in range(MAX_HISTORY_SERVED + 20):  # 6 connectors, each below history.max_entries
            key = ConnectorKey(CLUSTER, f"sink-{n % 6}")
            store.finish(f"job-{n}", key, ConnectorState(attempts=1), HistoryRecord(
                at=start + timedelta(seconds=n), key=key, job_id=f"job-{n}", rule="heal", trigger=Trigger.STATUS,
                triggers=(Trigger.STATUS,), outcome=Outcome.ACCEPTED, status_code=202, tries=1, attempt=1))
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": f"sink-{n}"} for n in range(6)])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token=TOKEN, state={"path": str(path)}))
        await daemon.start()
        try:
            await until(lambda: daemon.pollers[CLUSTER].first_poll_done, "a first poll")
            daemon_url = f"http://127.0.0.1:{daemon.bound_port}"
            capsys.readouterr()
            past = await asyncio.to_thread(main, ["history", "--daemon", daemon_url, "--limit", "5000", "--json"])
            past_out, past_err = capsys.readouterr()
            within = await asyncio.to_thread(main, ["history", "--daemon", daemon_url, "--limit", "20", "--json"])
            within_out, within_err = capsys.readouterr()
        finally:
            await daemon.stop()
    assert past == 0, past_err
    shown = _restarts(past_out)
    assert len(shown) == MAX_HISTORY_SERVED == 1000
    assert shown[0]["job_id"] == f"job-{MAX_HISTORY_SERVED + 19}", "the newest first"
    assert "the daemon serves at most 1000 restarts: these are the newest 1000" in past_err, past_err
    assert "--state" in past_err, "where the rest can be read"
    assert within == 0 and len(_restarts(within_out)) == 20
    assert "serves at most" not in within_err, within_err


def _restarts(out: str) -> list[dict[str, object]]:
    """The `--json` answer's restarts, from a stdout the in-process daemon's log shares."""
    answer, _ = json.JSONDecoder().raw_decode(out[out.index('{\n  "restarts"'):])
    return answer["restarts"]  # type: ignore[no-any-return]
