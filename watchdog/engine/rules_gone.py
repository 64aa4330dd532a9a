"""Why a queued restart's rules no longer ask for it at its turn (a reload disabled, removed,
renamed or narrowed them, or its cluster is gone or renamed), in words that say what happened
and what comes next (JobRecorder.drop_reason).

A cluster entry renamed (`prod:` to `prod-eu:`, the same ids) during a backlog ended every queued
restart `dropped` "its rule 'heal' no longer selects prod/conn-8 after a reload": the rule had not
changed; the cluster had been renamed, and the restart was decided again at once under the new
name with the backoff carried (cluster_state_carried). A rule renamed said "disabled or removed"
and nothing of the rule that now selects the connector. The words now name the cluster's new name
or the rules that select the connector now, and that their next poll decides again.
"""

from __future__ import annotations

from ..config import Config
from ..model import Trigger
from ..queue import RestartJob
from ..rules import selects

# Rules named when saying which select the connector now: the first few, sorted, and a count.
NAMED_RULES = 3


def rules_gone(job: RestartJob, config: Config) -> str | None:
    """Why the job's rules no longer ask for it, when a reload disabled or removed every rule
    it came from, or narrowed them so that they no longer select its connector (an `exclude`
    added in an incident to stop its restarts; its cluster no longer selected, or no longer
    configured: before, such a queued restart still went out). A restart someone asked for
    by name, or one of a rule that still selects it, keeps the job; None then."""
    rules = {rule.name: rule for rule in config.rules}
    cluster, connector = job.key.cluster, job.key.connector
    removed, narrowed = set(), set()
    for request in job.requests:
        if request.trigger is Trigger.MANUAL:
            return None
        rule = rules.get(request.rule)
        if rule is None or not rule.enabled:
            removed.add(request.rule)
        elif cluster not in config.clusters or not selects(rule.select, cluster, connector):
            narrowed.add(request.rule)
        else:
            return None
    # A restart kept in the state file meets the config the daemon started with, not a reload:
    # "by a reload" alone sent whoever read it looking for a reload nobody made.
    when = "by a reload, or in the config the daemon restarted with, before its turn"
    if cluster not in config.clusters:
        return _cluster_gone(job, config, when)
    why = []
    if removed:
        why.append(f"its rule {_names(removed)} was disabled or removed {when}")
    if narrowed:
        why.append(f"its rule {_names(narrowed)} no longer selects {cluster}/{connector} after a reload, or in the "
                   "config the daemon restarted with, before its turn")
    now = sorted(rule.name for rule in config.rules if rule.enabled and rule.name not in removed | narrowed
                 and selects(rule.select, cluster, connector))
    if now:
        more = f" and {len(now) - NAMED_RULES} more" if len(now) > NAMED_RULES else ""
        said = ("rule {} selects it now and decides again at its next poll or run" if len(now) == 1
                else "rules {} select it now and decide again at their next poll or run")
        why.append(said.format(_names(set(now[:NAMED_RULES])) + more))
    return "; ".join(why) or None


def _cluster_gone(job: RestartJob, config: Config, when: str) -> str:
    """The job's cluster is no longer configured: renamed (a cluster of the same environment and
    lkc- ids is, under another name) or removed."""
    cluster = job.key.cluster
    asked = {request.cluster_address for request in job.requests} - {""}
    renamed = sorted(name for name, entry in config.clusters.items() if entry.address and entry.address in asked)
    if renamed:
        return (f"its cluster {cluster} was renamed {renamed[0]} {when} (the same Kafka cluster, "
                f"{config.cluster_address(renamed[0])}): not sent under the old name; {renamed[0]}'s next poll decides "
                "again, its connectors' backoff and budget carried")
    gone = (f"its cluster {cluster} is no longer configured (removed {when}, or no longer found by discovery): "
            "nothing polls or restarts it under that name now")
    if config.discovery is not None and asked:
        # The reload that turns discovery on and drops the listed entry: discovery finds the
        # cluster at its refresh after this turn, under its lkc- id, and carries the state
        # (discovery/former_names.py). "Nothing polls or restarts it now" was false then.
        return (f"{gone}; discovery is on: if it finds the same Kafka cluster ({', '.join(sorted(asked))}), it watches "
                "it under its lkc- id, its connectors' backoff and budget carried, and its next poll decides again")
    return gone


def _names(rules: set[str]) -> str:
    return ", ".join(f"'{name}'" for name in sorted(rules))
