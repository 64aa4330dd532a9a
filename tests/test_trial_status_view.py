"""What status shows of a connector that a live rule and a rule on trial (`dry_run: true`) both
select: the live state, what was really sent and whether the live rule gave up. It showed the
trial's view (`(dry run)`, its would-be attempts, `gave_up: false`) while WatchdogConnectorGaveUp
paged the live give-up: the on-call engineer read the table and the page disagree."""

from __future__ import annotations

from typing import Any

from watchdog.model import ConnectorKey

from .support import CLUSTER, daemon_config, in_process, sim_scenario

_BACKOFF = {"base": 5, "cap": 10, "jitter": 0}
LIVE = {"name": "heal-live", "max_restarts": 1, "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
        "select": {"include": ["*"]}, "backoff": _BACKOFF}


def _trial(select: dict[str, Any]) -> dict[str, Any]:
    return {"name": "trial-fast", "dry_run": True, "max_restarts": 5, "select": select, "backoff": _BACKOFF,
            "trigger": {"type": "status", "interval": 5, "confirm_polls": 1}}


def _row(rows: list[dict[str, Any]], connector: str) -> dict[str, Any]:
    [row] = [r for r in rows if r["connector"] == connector]
    return row


async def test_status_shows_the_live_give_up_of_a_connector_a_trial_also_watches() -> None:
    failing = {"initial": "FAILED", "recover_after_restarts": "never"}
    scenario = sim_scenario([{"name": "orders-sink", "id": "lcc-orders1", "script": failing}])
    w = in_process(scenario, daemon_config([_trial({"connectors": ["orders-sink"]}), LIVE]), fake_time=True)
    assert w.clock is not None
    daemon, key = w.daemon, ConnectorKey(CLUSTER, "orders-sink")
    daemon.queue.start()
    try:
        for _ in range(6):
            await daemon.pollers[CLUSTER].poll()
            await daemon.queue.join()
            w.clock.advance(5)
    finally:
        await daemon.queue.close(0)
    live = daemon.state.load(key)
    assert live.gave_up and live.attempts == 1, live
    assert len(w.simulator.restarts()) == 1, "the live rule restarted it once, then gave up"
    row = _row(daemon.connector_rows(), "orders-sink")
    assert (row["gave_up"], row["attempts"], row["dry_run"]) == (True, 1, False), row


async def test_a_connector_only_a_trial_watches_still_shows_the_trials_view() -> None:
    """The guard: where no live rule selects the connector, the dry run's would-be cadence is all
    there is to show, marked `(dry run)`, as before."""
    failing = {"initial": "FAILED", "recover_after_restarts": "never"}
    scenario = sim_scenario([{"name": "orders-sink", "id": "lcc-orders1", "script": failing}])
    live = {**LIVE, "select": {"connectors": ["payments-sink"]}}
    w = in_process(scenario, daemon_config([_trial({"connectors": ["orders-sink"]}), live]), fake_time=True)
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        for _ in range(3):
            await daemon.pollers[CLUSTER].poll()
            await daemon.queue.join()
            w.clock.advance(10)
    finally:
        await daemon.queue.close(0)
    assert w.simulator.restarts() == []
    row = _row(daemon.connector_rows(), "orders-sink")
    assert row["dry_run"] and row["attempts"] >= 2, row
