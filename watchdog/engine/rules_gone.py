"""Why a queued restart's rules no longer ask for it at its turn (a reload disabled, removed,
renamed or narrowed them, or its cluster is gone or renamed), in words that say what happened
and what comes next (JobRecorder.drop_reason).

A cluster entry renamed (`prod:` to `prod-eu:`, the same ids) during a backlog ended every queued
restart `dropped` "its rule 'heal' no longer selects prod/conn-8 after a reload": the rule had not
changed; the cluster had been renamed, and the restart was decided again at once under the new
name with the backoff carried (cluster_state_carried). A rule renamed said "disabled or removed"
and nothing of the rule that now selects the connector. The words now name the cluster's new name
or the rules that select the connector now, and that their next poll decides again.

A schedule rule turned into a status (or alert) rule of the same name kept its run's queued
restarts, and the run itself went on (triggers/host.py asked only for an enabled rule of that
name): every healthy connector of the clusters it had not listed yet was restarted while the
status rule judged each `healthy`. A schedule request whose rule is no longer a schedule rule
is now gone as a removed rule's is, and `schedule_rule_now` is what a run goes on under.
"""

from __future__ import annotations

from ..config import Config, Rule, ScheduleTrigger
from ..model import Trigger
from ..plan import trigger_of
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
    removed, narrowed, retyped = set(), set(), set()
    for request in job.requests:
        if request.trigger is Trigger.MANUAL:
            return None
        rule = rules.get(request.rule)
        if rule is None or not rule.enabled:
            removed.add(request.rule)
        elif request.trigger is Trigger.SCHEDULE and trigger_of(rule) is not Trigger.SCHEDULE:
            # A scheduled restart is a blanket one, judged on no failure: its rule turned into a
            # status (or alert, or stalled) rule of the same name no longer asks for it. Kept, the
            # run's queued restarts of healthy connectors went out under the rule that had just
            # judged them `healthy`. (A failure restart whose rule was re-typed is kept: its
            # connector was seen failing, and the gates judge it again at its turn.)
            retyped.add(request.rule)
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
    for name in sorted(retyped):
        why.append(f"its rule '{name}' is no longer a schedule rule ({_kind(rules[name])} now) since a reload, or in the "
                   "config the daemon restarted with, before its turn: not sent")
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


def schedule_rule_now(config: Config, name: str) -> Rule | None:
    """The rule of that name as the config has it now, if it is enabled and still a schedule
    rule: what a schedule run under way goes on under (triggers/host.py)."""
    rule = next((r for r in config.rules if r.name == name), None)
    return rule if rule is not None and rule.enabled and isinstance(rule.trigger, ScheduleTrigger) else None


def why_not_a_schedule_rule(config: Config, name: str) -> str:
    """Why a schedule run of the rule `name` ends (schedule_rule_now found none)."""
    rule = next((r for r in config.rules if r.name == name), None)
    if rule is None:
        return f"rule '{name}' was removed by a reload"
    if not rule.enabled:
        return f"rule '{name}' was disabled by a reload"
    return f"rule '{name}' is no longer a schedule rule ({_kind(rule)} now) since a reload"


def _kind(rule: Rule) -> str:
    kind = trigger_of(rule).value
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} rule"


def _names(rules: set[str]) -> str:
    return ", ".join(f"'{name}'" for name in sorted(rules))
