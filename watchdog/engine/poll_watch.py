"""What a status poll says once of a connector, or of a rule, for a person to look at: a state no
known API reports (`unknown_state`), a connector awaiting a worker or transient too long
(`degraded_too_long`, `transient_too_long`), a name a Kafka Connect worker cannot forward
(`connector_name_unroutable`), a rule's exact names the cluster does not list
(`selected_connectors_not_listed`). Each when it appears or changes, and when it ends. `PollWatch`
is mixed into `StatusIntake` (status_intake.py), which calls it for each connector it judges.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ..config import Rule, StatusTrigger
from ..model import ConnectorKey, ConnectorStatus, Health
from ..rules import awaiting_a_worker, failed_tasks, named_but_missing, tasks_said, unknown_states
from .core import log
from .decisions import Decisions
from .stuck import held_unchosen, held_unchosen_note
from .unroutable import unroutable_note

_NAMES_SHOWN = 20  # of a rule's names not listed, in one log line
# Tasks (and unknown states) named in one `unknown_state` or `degraded_too_long` line; the rest
# are counted. A connector listed with 50,000 tasks made lines of 1.4 MB.
TASKS_SHOWN = 20
# What a connector UNASSIGNED with tasks FAILED is told (rules.classify: `failed`): on Kafka Connect
# the status rule restarts what failed, the tasks, and the instance waits for a worker.
_UNASSIGNED_FAILED = ("UNASSIGNED with {tasks} FAILED: a restart of what failed restarts those tasks (onlyFailed), "
                      "not the connector instance, which awaits a worker (a rebalance assigns it)")
# On Confluent Cloud, whose restart has no onlyFailed (connect/cloud.py: it restarts the connector
# and every task): the words above were false there, and an operator read that the tasks running
# beside the failed ones were left alone. Cloud's spec lists no UNASSIGNED connector state, so the
# decision stays the one classify makes; only what the restart does is said as it is.
_UNASSIGNED_FAILED_CLOUD = ("UNASSIGNED with {tasks} FAILED: a restart on Confluent Cloud restarts the connector and "
                            "every task{others} (its API has no restart of only what failed)")


def unassigned_failed_words(status: ConnectorStatus, *, self_managed: bool) -> str:
    """What a restart of a connector UNASSIGNED with tasks FAILED does, on its backend."""
    failed = failed_tasks(status)
    if self_managed:
        return _UNASSIGNED_FAILED.format(tasks=tasks_said(failed))
    others = [task for task in status.tasks if task.id not in failed]
    running = [task.id for task in others if task.state.upper() == "RUNNING"]
    beside = f", {tasks_said(running)} RUNNING included" if running else ""
    if len(others) > len(running):
        beside += f"{',' if beside else ''} {len(others) - len(running)} in other states too"
    return _UNASSIGNED_FAILED_CLOUD.format(tasks=tasks_said(failed), others=beside)


# What `unknown_state` says will happen (PollWatch._watch_unknown).
UNKNOWN_DONE = ("taken as transient, not restarted; look at the connector, and restart it by hand (watchdog "
                 "restart) if it has failed")
_UNKNOWN_NOTE = f"a state the watchdog does not know: {UNKNOWN_DONE}"
_UNKNOWN_KNOWN_BESIDE_NOTE = ("a task state the watchdog does not know, beside tasks in states it does: the connector is "
                              "judged {health} for those, and decided as the rule says; look at the connector")


class PollWatch(Decisions):
    def _watch_named(self, cluster: str, listed: Iterable[str]) -> None:
        """A status rule's exact `connectors:` names that its cluster does not list (a typo, a
        name written with a space, a connector renamed or deleted) watch nothing: a failure of
        the connector meant was never restarted, and nothing said so. Said once per rule and
        cluster when such names appear or change, and when they are all listed again."""
        present = set(listed)
        watching = {rule.name for rule in self.config.rules if rule.enabled and isinstance(rule.trigger, StatusTrigger)}
        for where in [where for where in self.named_missing_reported if where[1] == cluster and where[0] not in watching]:
            del self.named_missing_reported[where]  # a rule removed or turned off: said afresh if it returns
        for rule in self.config.rules:
            if rule.name not in watching:
                continue
            missing = tuple(named_but_missing(rule, cluster, present))
            where = (rule.name, cluster)
            if missing == self.named_missing_reported.get(where, ()):
                continue
            if missing:
                self.named_missing_reported[where] = missing
                log.warning("selected_connectors_not_listed", cluster=cluster, rule=rule.name,
                            connectors=list(missing[:_NAMES_SHOWN]), count=len(missing),
                            note="the rule names these connectors exactly and the cluster has none of that name "
                                 "(a typo? renamed? deleted?): nothing watches them")
            else:
                del self.named_missing_reported[where]
                log.info("selected_connectors_listed", cluster=cluster, rule=rule.name)

    def _watch_unknown(self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, health: Health) -> None:
        """A state no known API reports (one Confluent adds tomorrow) is classified `transient`,
        so it is never restarted on; it is said once, with the state, when it appears or changes.
        Left unsaid, a failure reported under a new name was never restarted, and nothing told.
        A task in one beside a FAILED (or USER_ACTIONABLE_ERROR) task of a connector in a known
        state is judged by that task (rules.classify), and the line says so: it said "not
        restarted" as the restart went."""
        unknown = unknown_states(status)
        if unknown == self.unknown_reported.get(key, ()):
            return
        if unknown:
            self.unknown_reported[key] = unknown
            log.warning("unknown_state", cluster=key.cluster, connector=key.connector, rule=rule.name,
                        states=list(unknown[:TASKS_SHOWN]), connector_state=status.state,
                        **_shown_tasks(status, unknown_first=True),
                        **({"states_not_shown": len(unknown) - TASKS_SHOWN} if len(unknown) > TASKS_SHOWN else {}),
                        note=_UNKNOWN_NOTE if health is Health.TRANSIENT else _UNKNOWN_KNOWN_BESIDE_NOTE.format(
                            health=health.value))
        else:
            del self.unknown_reported[key]
            log.info("unknown_state_ended", cluster=key.cluster, connector=key.connector, state=status.state)

    def _watch_unroutable(self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, now: datetime) -> None:
        """A self-managed connector with no task whose name a worker cannot forward to the leader
        (unroutable.UNROUTABLE_CHARS): said once, when it has stayed so for `degraded_report_after` (unroutable.py)."""
        if not self.self_managed(key.cluster):
            return
        assert isinstance(rule.trigger, StatusTrigger)
        limit = rule.trigger.degraded_report_after
        if self.unroutable_names.seen(key, status, now, limit):
            log.warning("connector_name_unroutable", cluster=key.cluster, connector=key.connector, rule=rule.name,
                        state=status.state, report_after_seconds=limit, note=unroutable_note(key.connector))

    def _watch_degraded(self, rule: Rule, key: ConnectorKey, status: ConnectorStatus, now: datetime) -> None:
        """A connector DEGRADED with no task in error is not restarted (its tasks await a worker);
        one that stays so longer than the rule's `degraded_report_after` is reported once. So is
        one UNASSIGNED or RUNNING with a task UNASSIGNED (awaiting_a_worker): Kafka Connect has no
        DEGRADED, and such a connector of a self-managed cluster stayed unreported for good.
        And one transient for another reason nobody chose (stuck.py): `transient_too_long`."""
        awaiting = awaiting_a_worker(status)
        if not awaiting and not held_unchosen(status):
            self.degraded_since.pop(key, None)
            if key in self.degraded_reported:
                self.degraded_reported.discard(key)
                ended = "degraded_ended" if key not in self.unchosen_reported else "transient_too_long_ended"
                self.unchosen_reported.discard(key)
                log.info(ended, cluster=key.cluster, connector=key.connector, state=status.state)
            return
        since = self.degraded_since.setdefault(key, now)
        assert isinstance(rule.trigger, StatusTrigger)
        limit = rule.trigger.degraded_report_after
        if key not in self.degraded_reported and (now - since).total_seconds() >= limit:
            self.degraded_reported.add(key)
            (self.unchosen_reported.discard if awaiting else self.unchosen_reported.add)(key)
            log.warning(
                "degraded_too_long" if awaiting else "transient_too_long", cluster=key.cluster,
                connector=key.connector, rule=rule.name, since=since.isoformat(), report_after_seconds=limit,
                state=status.state, **_shown_tasks(status),
                note=_awaiting_note(status, self.self_managed(key.cluster)) if awaiting else held_unchosen_note(
                    status, limit, self_managed=self.self_managed(key.cluster)),
            )


def _shown_tasks(status: ConnectorStatus, *, unknown_first: bool = False) -> dict[str, object]:
    """The `tasks` of a log line (id: state), at most TASKS_SHOWN of them (those in a state no API
    reports first, with `unknown_first`), and how many were left out."""
    tasks = list(status.tasks)
    if unknown_first:
        unknown = set(unknown_states(status))
        tasks.sort(key=lambda task: task.state not in unknown)
    shown: dict[str, object] = {"tasks": {t.id: t.state for t in tasks[:TASKS_SHOWN]}}
    if len(tasks) > TASKS_SHOWN:
        shown["tasks_not_shown"] = len(tasks) - TASKS_SHOWN
    return shown


def _awaiting_note(status: ConnectorStatus, self_managed: bool) -> str:
    """What a `degraded_too_long` line advises: Confluent allocates a DEGRADED connector's tasks;
    a Kafka Connect instance UNASSIGNED that long is run by no worker."""
    failed = failed_tasks(status)
    if status.state.upper() == "UNASSIGNED" and failed and not self_managed:
        # A state Cloud's spec does not list: no worker of ours to check.
        return (f"{unassigned_failed_words(status, self_managed=False)}; UNASSIGNED is no state Confluent Cloud "
                "documents: look at the connector, and ask Confluent support if it stays")
    if status.state.upper() == "UNASSIGNED" and failed:
        return (f"{_UNASSIGNED_FAILED.format(tasks=tasks_said(failed))}; no worker has said it runs the connector "
                "instance (reassigned after scheduled.rebalance.max.delay.ms, 5 minutes by default; before 3.6 a "
                "stale UNASSIGNED can last): check the workers, or restart every instance by hand (watchdog restart)")
    if status.state.upper() == "DEGRADED":
        return "DEGRADED with no task in error (tasks await a worker): not restarted; ask Confluent support if it stays"
    # Not "no worker runs it": before Kafka 2.6 (KAFKA-9472) a task removed by lowering tasks.max
    # stays listed UNASSIGNED for good, and before 3.6 (KAFKA-12525) a stale UNASSIGNED can hide a
    # task that runs.
    return ("UNASSIGNED: no worker has said it runs it (a worker that left has its instances reassigned after "
            "scheduled.rebalance.max.delay.ms, 5 minutes by default; before Kafka 2.6 a task removed by lowering "
            "tasks.max stays listed so, and before 3.6 a stale UNASSIGNED can hide one that runs): not restarted, "
            "a restart of what failed leaves it; check the workers, or restart it by hand (watchdog restart)")
