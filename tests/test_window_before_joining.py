"""A schedule run its windows hold does not join another rule's queued restart: it says
`window_closed`, and the restart's history names the rule that asked for it alone (probe of rules,
finding 5: the held run joined through the `duplicate` path, its log said `duplicate`/`merged`,
never `window_closed`, and the history read `schedule+status`)."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from watchdog.model import ConnectorKey, Trigger

from .support import CLUSTER, daemon_config, in_process, sim_scenario

HEAL = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}
FROZEN = {"name": "frozen-schedule", "trigger": {"type": "schedule", "interval": 10},
          "select": {"connectors": ["x-1"]}, "windows": {"blackout": ["Mon-Sun 00:00-24:00 UTC"]}}


async def test_a_schedule_run_its_window_holds_says_window_closed_and_does_not_join_a_queued_restart() -> None:
    w = in_process(sim_scenario([{"name": "x-1", "id": "lcc-x1", "script": {"initial": "FAILED"}}]),
                   daemon_config([HEAL, FROZEN]))
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "x-1")
    await daemon.pollers[CLUSTER].poll()
    assert daemon.queue.is_pending(key), "the status rule's restart, queued"
    with capture_logs() as logs:
        await asyncio.wait_for(daemon.run_schedule_rule("frozen-schedule"), 10)
    said = [e for e in logs if e["event"] == "decision" and e["rule"] == "frozen-schedule"]
    assert [e["decision"] for e in said] == ["window_closed"], said
    assert "rule windows closed; next open" in str(said[0]["detail"])
    assert not [e for e in logs if e["event"] == "restart_queued"], "nothing joined the queued restart"
    daemon.queue.start()
    await asyncio.wait_for(daemon.queue.join(), 10)
    try:
        [record] = daemon.state.history(key)
    finally:
        await daemon.stop()
    assert (record.rule, record.triggers) == ("heal", (Trigger.STATUS,)), record
