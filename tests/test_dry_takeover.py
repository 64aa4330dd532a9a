"""A leader in dry run that takes over restarts asked for live (a rolling update turning dry_run on,
one replica at a time) ends them `dry_run`, as documented, and now says so once, at the takeover:
a `taken_over_live_requests_in_dry_run` warning with how many and by which rules. Before, each
ended at info alone: an HA probe's nightly run over 200 connectors, its live leader killed 18
restarts in, was ended 183 times `dry_run` by a dry-run replica with nothing saying that those
restarts had been asked for live (2026-12-07)."""

from __future__ import annotations

from typing import Any

from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Trigger

from .support import (
    CLUSTER,
    CLUSTER_ID,
    World,
    daemon_config,
    in_process,
    sim_scenario,
    take_over_kept,
)

NAMES = ["orders-sink", "billing-sink", "audit-sink"]
NIGHTLY = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}


def _scenario() -> dict[str, Any]:
    return sim_scenario([{"name": name} for name in NAMES])


async def _asked_live(nightly: dict[str, Any]) -> World:
    """The replica that led: its nightly run queued a restart of every connector, and one asked for
    by name, none sent yet (it is killed before its queue runs)."""
    live = in_process(_scenario(), daemon_config([nightly]))
    statuses = await live.daemon.pollers[CLUSTER].list()
    assert statuses is not None
    (rule,) = live.daemon.config.rules
    await live.daemon.engine.on_schedule(rule, CLUSTER, statuses)
    asked = live.daemon.engine.on_request(ConnectorKey(CLUSTER, "extra-sink"), None, trigger=Trigger.MANUAL,
                                          rule=MANUAL_RULE, reason="operator", known_missing=False)
    assert asked.job is not None
    assert len(live.daemon.state.pending()) == len(NAMES) + 1
    return live


async def test_a_leader_in_dry_run_says_once_which_live_requests_it_took_over_end_dry_run() -> None:
    live = await _asked_live(NIGHTLY)
    successor = in_process(_scenario(), daemon_config([NIGHTLY], dry_run=True))
    logs = await take_over_kept(live, successor)
    (said,) = [e for e in logs if e["event"] == "taken_over_live_requests_in_dry_run"]
    assert said["log_level"] == "warning"
    assert (said["requests"], said["rules"]) == (4, {"manual": 1, "nightly": 3}), said
    assert said["dry_run_by"] == "this replica's config sets dry_run: true"
    assert "asked for live" in said["note"] and "none sent" in said["note"]
    ended = [e["outcome"] for e in logs if e["event"] == "restart_finished"]
    assert ended == ["dry_run"] * 4, ended
    assert successor.simulator.restarts(CLUSTER_ID) == [], "none sent"


async def test_a_rule_in_dry_run_on_the_new_leader_is_named_and_a_request_by_name_still_goes() -> None:
    live = await _asked_live(NIGHTLY)
    successor = in_process(_scenario(), daemon_config([{**NIGHTLY, "dry_run": True}]))
    logs = await take_over_kept(live, successor)
    (said,) = [e for e in logs if e["event"] == "taken_over_live_requests_in_dry_run"]
    assert (said["requests"], said["rules"]) == (3, {"nightly": 3}), said
    assert said["dry_run_by"] == "this replica's config sets dry_run: true on rule 'nightly'"


async def test_live_requests_taken_over_by_a_live_leader_are_not_said() -> None:
    live = await _asked_live(NIGHTLY)
    successor = in_process(_scenario(), daemon_config([NIGHTLY]))
    logs = await take_over_kept(live, successor)
    assert not [e for e in logs if e["event"] == "taken_over_live_requests_in_dry_run"]
