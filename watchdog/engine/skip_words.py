"""Why a rule's restart is skipped, in the words of its `decision` line: the same reason in the
same words whichever trigger met it (a status rule's poll, an alert), each with what comes next
for that trigger (the next poll; the alert sent again). A poll's `backoff`, `budget_spent`,
`transient` and `duplicate` lines had no words at all, where an alert's or a request's said why
and when (an outside audit, 2026-12-06)."""

from __future__ import annotations

from datetime import datetime

from ..breaker import Breaker
from ..config import Rule
from ..model import ConnectorState, ConnectorStatus, Decision, Trigger
from ..policy import backoff_gap
from ..report import format_span
from ..rules import USER_ERROR_DETAIL, refused_because, refuses_restart

# What a `duplicate` says first, whoever asked (a poll, a request by name).
ALREADY_QUEUED = "a restart of it is already queued"
# What brings a skipped restart back, by the trigger that skipped it: the status trigger decides
# again at each poll; an alert only when Alertmanager sends it again (its repeat_interval).
_AGAIN = {Trigger.STATUS: "restarted then if a poll still sees it failing",
          Trigger.ALERT: "this alert restarts it if sent again then"}
# What becomes of a restart by name or by schedule an open cluster breaker holds, by trigger:
# asked for once and not decided again (Decisions._ASKED_ONCE), it is not made. "A planned
# restart waits until fewer fail there" read as queued until then, beside an HTTP 202: an
# outage-storm probe found all 20 requests of an outage `skipped` for good, never sent.
_PLANNED_HELD = {
    Trigger.MANUAL: "not made (a restart by name is never its probe): ask again once fewer fail there",
    Trigger.SCHEDULE: "not made (a scheduled one is never its probe): the schedule's next run restarts it if fewer "
                      "fail there then",
}
_PLANNED_HELD_ANY = "not made (a restart by name or by schedule is never its probe)"
# What a connector given up on must do before its restart count resets (policy.observe,
# policy.quiet_since_signal), by trigger.
_COUNT_RESETS = {Trigger.STATUS: "it has stayed healthy", Trigger.ALERT: "the alert has stayed resolved"}


def at_and_in(moment: datetime, now: datetime) -> str:
    """A moment to come as a log line says it: `2026-12-06T10:11:54+00:00 (in 8m)`."""
    return f"{moment.isoformat(timespec='seconds')} (in {format_span(max((moment - now).total_seconds(), 0))})"


def skipped_because(decision: Decision, trigger: Trigger, rule: Rule, status: ConnectorStatus | None,
                    state: ConnectorState, now: datetime) -> str:
    """Why a rule's restart of the connector is not made now, and what comes next; "" for a
    restart, and for what the gates and the queue say themselves. `trigger`: status or alert."""
    if decision is Decision.USER_ERROR:
        return USER_ERROR_DETAIL
    if decision is Decision.BUDGET_SPENT:
        # Said with no `next_allowed_at` (_record_decision): the backoff's next moment, a few
        # seconds on, read as "restarted again then".
        gap = format_span(backoff_gap(state.attempts, rule.backoff))
        # "Attempts", not "restarted": a call the API refused (a revoked key's 401, a role that may
        # list but not restart: 403) counts as one, and "restarted 3 time(s)" was said of
        # connectors no restart had reached (a probe, 2026-12-06; status says what each got).
        return (f"given up on: {state.attempts} restart attempt(s) without a fix (max_restarts); left to a person until "
                f"{_COUNT_RESETS[trigger]} for {gap} (its backoff gap), or a restart by name (watchdog restart)")
    if decision is Decision.TRANSIENT and status is not None:
        return refused_because(status) if refuses_restart(status) or trigger is not Trigger.STATUS else in_passing(status)
    if decision is Decision.BACKOFF and state.next_allowed_at is not None:
        return (f"{state.attempts} restart attempt(s) so far; its backoff lets the next go at "
                f"{at_and_in(state.next_allowed_at, now)}: {_AGAIN[trigger]}")
    if decision is Decision.DUPLICATE and trigger is Trigger.STATUS:
        # A poll's request joins no job (Decisions._decide_and_submit): the next poll decides anew.
        return f"{ALREADY_QUEUED}, to go at its turn: this poll asks for no other"
    return ""


def in_passing(status: ConnectorStatus) -> str:
    """Why a poll leaves a connector that is neither failed nor running alone (a task RESTARTING,
    a connector UNASSIGNED): what a state that refuses restarts, one awaiting a worker and one
    the watchdog does not know say is theirs (rules.refused_because, StatusIntake._judge)."""
    tasks = sorted({task.state for task in status.tasks if task.state.upper() != "RUNNING"})
    shown = f" with task(s) {', '.join(tasks[:5])}" if tasks else ""
    return f"it is {status.state}{shown}: in passing, not restarted; the next poll looks again"


def breaker_lets(breaker: Breaker, cluster: str, reason: str, now: datetime, *, failure: bool, dry_run: bool,
                 nth: int = 1, trigger: Trigger | None = None) -> str:
    """When the breaker holding a restart (its `reason`, Breaker.open_reason) lets the next go,
    said after the reason: the count alone ("30 restarts in the last 600s (limit 30)") left the
    person on call to work out when it ends. The fleet's room frees when the oldest counted
    restart leaves the window (the `nth` oldest, when those queued and waiting go first); an open
    cluster breaker lets one failure restart go per window as its probe, and a planned restart
    not before fewer fail (`trigger`: what becomes of it, _PLANNED_HELD). When it may go, not
    that it goes: another may take the room first."""
    if reason == breaker.cluster_reason(cluster):
        if not failure:
            return "; " + (_PLANNED_HELD.get(trigger, _PLANNED_HELD_ANY) if trigger is not None else _PLANNED_HELD_ANY)
        at = breaker.next_probe_at(cluster, dry_run=dry_run)
        return "" if at is None else (f"; until fewer fail, one failure restart there goes per window as the "
                                      f"breaker's probe, the next at {at_and_in(at, now)}")
    at = breaker.frees_at(nth, dry_run=dry_run)
    if at is None:
        return f"; room for the next frees a window ({breaker.settings.window:g}s) after those queued are sent"
    left = "the oldest counted restart leaves" if nth == 1 else f"the {nth} oldest counted restarts have left"
    return f"; the next may go after {at_and_in(at, now)}, when {left} the window"
