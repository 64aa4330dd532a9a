"""`watchdog status` of a connector only a rule in dry run watches, restarted live by name: its
LAST RESTART was labelled `(dry run)` (probe s73, finding 4: `2026-12-07T05:53:16Z (36s ago) (dry
run)` of the live manual restart), and a user read that no live restart had been made."""

from __future__ import annotations

import asyncio
from typing import Any

from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.report import render_status, status_rows_from_json

from .support import CLUSTER, daemon_config, in_process, sim_scenario

TRIAL = {"name": "trial", "dry_run": True, "select": {"include": ["*"]}, "backoff": {"base": 5, "cap": 10, "jitter": 0},
         "trigger": {"type": "status", "interval": 5, "confirm_polls": 1}}


def _line(table: str, connector: str) -> str:
    [line] = [line for line in table.splitlines() if line.lstrip().startswith(connector)]
    return line


async def test_a_live_restart_by_name_is_not_labelled_dry_run_in_the_status_of_a_connector_on_trial() -> None:
    failing = {"initial": "FAILED", "recover_after_restarts": "never"}
    w = in_process(sim_scenario([{"name": "old-00", "id": "lcc-old00", "script": failing}]), daemon_config([TRIAL]),
                   fake_time=True)
    assert w.clock is not None
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "old-00")
    daemon.queue.start()
    try:
        await daemon.pollers[CLUSTER].poll()  # the trial's dry-run restart
        await daemon.queue.join()
        w.clock.advance(7)
        record = daemon.engine.on_request(key, daemon.engine.statuses[key], trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                          reason="by hand")
        await asyncio.wait_for(daemon.queue.join(), 10)
        w.clock.advance(36)
    finally:
        await daemon.queue.close(0)
    assert record.job is not None and record.job.outcome is Outcome.ACCEPTED
    assert len(w.simulator.restarts()) == 1, "the restart by name was made"

    document: dict[str, Any] = {"connectors": daemon.connector_rows()}
    line = _line(render_status(status_rows_from_json(document), now=w.clock.wall()), "old-00")
    # Before: "... 1 (dry run)  2026-...Z (36s ago) (dry run)  ...": the live restart said a dry one.
    assert "(36s ago) (dry run)" not in line and "(36s ago)" in line, line
    assert "1 (dry run)" in line, "the attempts are still the trial's"
    [row] = document["connectors"]
    assert row["dry_run"] and row["last_restart_live"], row  # GET /v1/connectors says it too
