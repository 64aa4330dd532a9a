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

An alert rule has no poll and no run: a renamed one (or a cluster renamed where only alert rules
select the connector) decides again only when Alertmanager sends the alert again, hours later for
one already answered. The words said "decides again at its next poll or run" (or "prod-eu's next
poll") of it; they now say when it does, that nothing restarts it before, and how to restart it
now (its restart_finished line at warning, JobRecorder). The restart is not carried to the
renamed rule: a request keeps no alert labels, so whether the new rule's `match` takes the alert
is not known, and kept under the old rule's name it would escape the new rule's windows and
dry-run.
"""

from __future__ import annotations

from ..config import CloudCluster, Config, Rule, ScheduleTrigger
from ..model import Trigger
from ..plan import poll_intervals, trigger_of
from ..queue import RestartJob
from ..rules import selects
from ..state.backends import is_shared

# Rules named when saying which select the connector now: the first few, sorted, and a count.
NAMED_RULES = 3
# Said when only alert rules select the connector now: no poll or run of the watchdog's decides
# again before Alertmanager repeats the alert (hours). The restart_finished line of such a drop
# is at warning (JobRecorder): a failed connector is left waiting, not a plan changed.
NOTHING_RESTARTS_IT_BEFORE = "nothing restarts it before then"


def rules_gone(job: RestartJob, config: Config) -> str | None:
    """Why the job's rules no longer ask for it, when a reload disabled or removed every rule
    it came from, or narrowed them so that they no longer select its connector (an `exclude`
    added in an incident to stop its restarts; its cluster no longer selected, or no longer
    configured: before, such a queued restart still went out). A restart someone asked for
    by name, or one of a rule that still selects it, keeps the job; None then."""
    rules = {rule.name: rule for rule in config.rules}
    cluster, connector = job.key.cluster, job.key.connector
    removed, narrowed, retyped, missing = set(), set(), set(), set()
    for request in job.requests:
        if request.trigger is Trigger.MANUAL:
            return None
        rule = rules.get(request.rule)
        if rule is None or not rule.enabled:
            removed.add(request.rule)
            if rule is None:
                missing.add(request.rule)
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
    if removed and is_shared(config.state):
        # With replicas the request may have been asked for by another replica, under its config
        # (a rolling update half way): "removed by a reload" sent the reader looking for a reload
        # nobody made (an HA probe: 145 kept schedule restarts so ended). What is known is that
        # this replica's config lacks (or disables) the rule; how it came to differ is not.
        if missing:
            why.append(f"its rule {_names(missing)} is not in this replica's config")
        if removed - missing:
            why.append(f"its rule {_names(removed - missing)} is disabled in this replica's config")
        why[-1] += (f" (config_digest {config.digest()}): it was asked for under a config that had it, another "
                    "replica's (replicas' configs differ: a rolling update half way?) or this one's before a reload "
                    "or its restart; not sent")
    elif removed:
        why.append(f"its rule {_names(removed)} was disabled or removed {when}")
    for name in sorted(retyped):
        why.append(f"its rule '{name}' is no longer a schedule rule ({_kind(rules[name])} now) since a reload, or in the "
                   "config the daemon restarted with, before its turn: not sent")
    if narrowed:
        why.append(f"its rule {_names(narrowed)} no longer selects {cluster}/{connector} after a reload, or in the "
                   "config the daemon restarted with, before its turn")
    now = [rule for rule in config.rules if rule.enabled and rule.name not in removed | narrowed
           and selects(rule.select, cluster, connector)]
    if now:
        why.append(_who_decides(now, "now", cluster, connector))
    return "; ".join(why) or None


def _who_decides(now: list[Rule], where: str, cluster: str, connector: str) -> str:
    """What the rules that select the connector (`now`: enabled, selecting it `where`) do next.
    A status or schedule rule decides again at its next poll or run; an alert rule only when
    Alertmanager sends an alert for it again, which, for one already answered, is its route's
    repeat_interval (hours). "Decides again at its next poll or run" was said of an alert rule
    too (a rule renamed while the alert's restart waited out a 429): the failed connector waited
    hours, told a decision was coming."""
    polled = sorted(rule.name for rule in now if trigger_of(rule) is not Trigger.ALERT)
    alerted = sorted(rule.name for rule in now if trigger_of(rule) is Trigger.ALERT)
    said = []
    if polled:
        said.append(("rule {} selects it {} and decides again at its next poll or run" if len(polled) == 1
                     else "rules {} select it {} and decide again at their next poll or run").format(_some(polled), where))
    if alerted and polled:
        said.append(f"alert rule{'s' if len(alerted) > 1 else ''} {_some(alerted)} too, when Alertmanager sends an alert "
                    "for it again")
    elif alerted:
        said.append(
            (f"alert rule {_some(alerted)} selects it {where}, but decides" if len(alerted) == 1
             else f"alert rules {_some(alerted)} select it {where}, but decide")
            + f" again only when Alertmanager sends an alert for it again (for one still firing, at its route's "
              f"repeat_interval, 4h by default): {NOTHING_RESTARTS_IT_BEFORE}; to restart it now: watchdog restart "
              f"{cluster} {connector} --daemon URL")
    return "; ".join(said)


def _cluster_gone(job: RestartJob, config: Config, when: str) -> str:
    """The job's cluster is no longer configured: renamed (a cluster of the same environment and
    lkc- ids is, under another name) or removed."""
    cluster = job.key.cluster
    asked = {request.cluster_address for request in job.requests} - {""}
    renamed = sorted(name for name, entry in config.clusters.items() if entry.address and entry.address in asked)
    if renamed:
        new = renamed[0]
        said = (f"its cluster {cluster} was renamed {new} {when} (the same Kafka cluster, "
                f"{config.cluster_address(new)}): not sent under the old name; ")
        if new in poll_intervals(config):
            return said + f"{new}'s next poll decides again, its connectors' backoff and budget carried"
        # Nothing polls the new name (only alert or schedule rules select it): "its next poll
        # decides again" promised a decision nothing makes.
        now = [rule for rule in config.rules if rule.enabled and selects(rule.select, new, job.key.connector)]
        said += (f"its connectors' backoff and budget carried; no rule polls {new}: "
                 + (_who_decides(now, "there", new, job.key.connector) if now else "no rule selects it there"))
        entry = config.clusters[new]
        if any(trigger_of(rule) is Trigger.ALERT for rule in now) and isinstance(entry, CloudCluster):
            # An alert's cluster label is matched to a cluster's name or its kafka_cluster_id: one
            # that says the old name matches nothing after the rename.
            said += (f" (an alert whose cluster label says {cluster} matches no cluster now: {new} or "
                     f"{entry.kafka_cluster_id} does)")
        return said
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


def _some(names: list[str]) -> str:
    """The first NAMED_RULES of the sorted names, quoted, and how many more."""
    more = f" and {len(names) - NAMED_RULES} more" if len(names) > NAMED_RULES else ""
    return _names(set(names[:NAMED_RULES])) + more


def _names(rules: set[str]) -> str:
    return ", ".join(f"'{name}'" for name in sorted(rules))
