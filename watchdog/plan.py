"""What a config asks the daemon to run: which clusters are polled and how often, which rules have
scheduler jobs of their own, and under which trigger each rule's decisions are counted. Pure
functions of the config."""

from __future__ import annotations

from .config import (
    AlertTrigger,
    CloudCluster,
    Config,
    Rule,
    ScheduleTrigger,
    StalledTrigger,
    StatusTrigger,
)
from .model import Trigger


def poll_intervals(config: Config) -> dict[str, float]:
    """Each cluster with a status rule is polled once per the shortest interval among its rules.
    A stalled rule needs polling too (which connectors run, since when, their lcc- ids): at its
    own interval unless a status rule polls faster."""
    intervals: dict[str, float] = {}
    for cluster, settings in config.clusters.items():
        for rule in config.rules_for_cluster(cluster):
            trigger = rule.trigger
            if isinstance(trigger, StatusTrigger) or (isinstance(trigger, StalledTrigger) and isinstance(settings, CloudCluster)):
                intervals[cluster] = min(intervals.get(cluster, trigger.interval), trigger.interval)
    return intervals


def rule_clusters(config: Config, rule: Rule) -> list[str]:
    """The clusters, configured or discovered, that the rule's `select.clusters` names or globs match."""
    return [cluster for cluster in config.clusters if rule.select.selects_cluster(cluster)]


def trigger_of(rule: Rule) -> Trigger:
    if isinstance(rule.trigger, StatusTrigger):
        return Trigger.STATUS
    if isinstance(rule.trigger, AlertTrigger):
        return Trigger.ALERT
    if isinstance(rule.trigger, StalledTrigger):
        return Trigger.STALLED
    return Trigger.SCHEDULE


def timed_rules(config: Config) -> dict[str, Rule]:
    """Rules with a job of their own: schedules and stall checks."""
    return {r.name: r for r in config.rules if r.enabled and isinstance(r.trigger, ScheduleTrigger | StalledTrigger)}


def job_id(rule: Rule) -> str:
    return f"stalled:{rule.name}" if isinstance(rule.trigger, StalledTrigger) else f"rule:{rule.name}"
