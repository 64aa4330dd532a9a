"""A leader whose config lacks a rule (a rolling update half way: the replica that led before ran a
rule this one does not have) ends that rule's kept restarts `dropped` at their turn, as documented;
it now says so once, at the takeover: a `taken_over_requests_of_unknown_rules` warning with how many
and by which rules, and with replicas each dropped line says that the rule is not in this replica's
config rather than that a reload removed it. Before, an HA probe's kept schedule run over 150
connectors was ended 145 times at info, "its rule 'every-minute' was disabled or removed by a
reload, or in the config the daemon restarted with", by a replica where no reload happened
(2026-12-07)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from watchdog.engine import MANUAL_RULE
from watchdog.engine.rules_gone import rules_gone
from watchdog.model import ConnectorKey, RestartRequest, Trigger
from watchdog.queue import RestartJob

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
EVERY_MINUTE = {"name": "every-minute", "trigger": {"type": "schedule", "cron": "* * * * *"},
                "select": {"include": ["*"]}}
HEAL = {"name": "heal", "select": {"include": ["*"]}, "trigger": {"type": "status", "interval": 60}}


def _scenario() -> dict[str, Any]:
    return sim_scenario([{"name": name} for name in NAMES])


async def _asked(rules: list[dict[str, Any]]) -> World:
    """The daemon that led: its run queued a restart of every connector, and one was asked for by
    name; none sent yet (it is killed before its queue runs)."""
    before = in_process(_scenario(), daemon_config(rules))
    statuses = await before.daemon.pollers[CLUSTER].list()
    assert statuses is not None
    rule = next(rule for rule in before.daemon.config.rules if rule.name == "every-minute")
    await before.daemon.engine.on_schedule(rule, CLUSTER, statuses)
    asked = before.daemon.engine.on_request(ConnectorKey(CLUSTER, "extra-sink"), None, trigger=Trigger.MANUAL,
                                            rule=MANUAL_RULE, reason="operator", known_missing=False)
    assert asked.job is not None
    return before


async def test_a_leader_without_the_rule_says_once_how_many_kept_requests_of_it_end_dropped() -> None:
    before = await _asked([HEAL, EVERY_MINUTE])
    successor = in_process(_scenario(), daemon_config([HEAL]))
    logs = await take_over_kept(before, successor)
    (said,) = [e for e in logs if e["event"] == "taken_over_requests_of_unknown_rules"]
    assert said["log_level"] == "warning"
    assert (said["requests"], said["rules"]) == (3, {"every-minute": 3}), said
    assert said["config_digest"] == successor.daemon.config.digest()
    assert "has no rule 'every-minute'" in said["note"] and "none sent" in said["note"], said["note"]
    ended = {e["connector"]: e["outcome"] for e in logs if e["event"] == "restart_finished"}
    assert [ended[name] for name in NAMES] == ["dropped"] * 3, ended
    assert ended["extra-sink"] != "dropped", "the one asked for by name goes out (the simulator has no such connector)"
    assert successor.simulator.restarts(CLUSTER_ID) == [], "none of the rule's restarts sent"


async def test_a_disabled_rule_is_named_so_and_a_leader_with_the_rule_says_nothing() -> None:
    before = await _asked([HEAL, EVERY_MINUTE])
    successor = in_process(_scenario(), daemon_config([HEAL, {**EVERY_MINUTE, "enabled": False}]))
    logs = await take_over_kept(before, successor)
    (said,) = [e for e in logs if e["event"] == "taken_over_requests_of_unknown_rules"]
    assert said["rules"] == {"every-minute": 3} and "disables rule 'every-minute'" in said["note"], said
    before = await _asked([HEAL, EVERY_MINUTE])
    same = in_process(_scenario(), daemon_config([HEAL, EVERY_MINUTE]))
    logs = await take_over_kept(before, same)
    assert not [e for e in logs if e["event"] == "taken_over_requests_of_unknown_rules"]


def test_with_replicas_the_dropped_words_say_the_rule_is_not_in_this_replicas_config() -> None:
    config = daemon_config([HEAL], state={"url": "postgresql://watchdog@db.invalid:5432/watchdog"})
    key = ConnectorKey(CLUSTER, "orders-sink")
    request = RestartRequest("r1", key, "every-minute", Trigger.SCHEDULE, "scheduled",
                             datetime(2026, 12, 7, tzinfo=timezone.utc))
    why = rules_gone(RestartJob("j1", key, "main", [request], 0.0), config)
    assert why is not None
    assert why.startswith("its rule 'every-minute' is not in this replica's config "
                          f"(config_digest {config.digest()})"), why
    assert "reload" not in why.split(":")[0] and "another replica's" in why, why
    assert "rule 'heal' selects it now and decides again at its next poll or run" in why, why
