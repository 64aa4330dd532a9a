"""The stalled trigger: which connectors a stall check may judge, and what its verdict leads to."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from ..config import Rule, StalledTrigger
from ..model import ConnectorKey, ConnectorStatus, Decision, Trigger
from ..rules import decide_on_signal, selects
from ..stall import Judgement, StallVerdict, Unjudged
from ..state import StateStoreError
from .core import log
from .decisions import Decisions
from .running_seed import first_judged

# A row's `unjudged` when its cluster's points could not be read (on_stall_not_read).
CHECK_FAILED = "check_failed"

_UNJUDGED_NOTES = {
    Unjudged.TYPE_UNKNOWN: "neither its type nor its connector.class says source or sink: no stall check",
    Unjudged.CUSTOM_CONNECTOR: "a custom connector: its metrics are not in the cloud dataset; no stall check",
    Unjudged.FORBIDDEN: "the Metrics API refused its id (403): the key needs MetricsViewer on it",
    Unjudged.NO_ID: "the connector list gave no lcc- id for it (the Metrics API names connectors by id only): no stall check",
    Unjudged.ID_NOT_UNIQUE: (
        "the connector list gives its lcc- id to another connector too (detail; connector_ids_repeated): the id's "
        "series may be the other's, so it is not judged on it until each is listed with its own"
    ),
    Unjudged.DATA_LATE: (
        "the Metrics API's answers show its data late, not its connector stopped (detail: several sources of a "
        "query with no point in the last window, or its cluster's other series ending before it, or a sink's "
        "received_records points missing beside its lag); no verdict until the data arrives"
    ),
    Unjudged.POINTS_VANISHED: (
        "the Metrics API's answer held no point for it, though it had answered points of its within the same minutes "
        "before: the answer left them out (stall_points_vanished); no verdict while it answers so"
    ),
    Unjudged.STOPPED_TOGETHER: (
        "most of its cluster's moving connectors stopped in the same check (detail): a shared cause, which no "
        "restart heals; not restarted while they stop together"
    ),
    Unjudged.POINTS_UNREADABLE: (
        "some of its points in the Metrics API's answer could not be read (detail): its totals would not be what "
        "the API counted, and a point left out reads as nothing moved; no verdict while they come so"
    ),
}


class StallIntake(Decisions):
    def stall_rule(self, name: str) -> Rule | None:
        """The stalled rule of that name as the config has it now, if enabled."""
        return next((r for r in self.config.rules
                     if r.name == name and r.enabled and isinstance(r.trigger, StalledTrigger)), None)

    def stall_candidates(self, rule: Rule, cluster: str, judged_from: datetime) -> list[tuple[ConnectorKey, ConnectorStatus]]:
        """Connectors a stalled rule checks: selected and seen RUNNING for the grace period
        before the time being judged (from `judged_from`) and through it: a window from before it
        ran proves nothing, and its first `grace` (a start-up burst: a snapshot, a backlog
        flushed, then a quiet upstream) is never the `before` that reads as "moving, then
        stopped". Grace counted back from now (before 2026-12-07) excluded nothing unless it was
        longer than `delay` + three windows: with the defaults a connector created, resumed or
        back from FAILED was judged on its first minutes, and restarted as stalled. Those without an lcc- id are kept too: the checker reports them as
        unjudged (`no_id`), since a connector dropped here silently would never be checked and
        nothing would say so. Nor is one restarted since `judged_from`: the windows then show the
        run before that restart (the Metrics API's data comes minutes late, and a restart often
        shows no other state between two polls), and once its backoff had run out it was restarted
        again on the evidence the first restart answered."""
        assert isinstance(rule.trigger, StalledTrigger)
        since = judged_from - timedelta(seconds=rule.trigger.grace)
        keys = [ConnectorKey(cluster, name) for name in sorted(self._listed.get(cluster, ()))]
        dry_run = self.config.dry_run or rule.dry_run
        # One whose id the listing repeats goes without it: the checker reports it unjudged (no
        # id to ask about, on_stall_unjudged saying why) rather than judging it on a series that
        # may be another connector's (repeated_ids.py). The id stays its own everywhere else.
        repeated = self.ids_repeated.get(cluster, {})
        return [
            (key, replace(self.statuses[key], resource_id=None) if self.statuses[key].resource_id in repeated
             else self.statuses[key]) for key in keys
            if selects(rule.select, cluster, key.connector)
            and key in self.running_since and self.running_since[key] <= since
            and not self._restarted_since(key, judged_from, dry_run=dry_run)
        ]

    def stall_waiting(self, rule: Rule, cluster: str, judged_from: datetime, candidates: set[ConnectorKey]) -> list[datetime]:
        """The connectors the rule selects and sees RUNNING that its check judging from
        `judged_from` leaves out (not `candidates`: not run through grace before it, or restarted
        since), as when each is first a candidate (running_seed.judged_from; after a restart, once
        the windows begin after it): what `watchdog_stall_connectors_waiting` counts and /readyz
        says, so that a rule that cannot judge yet is not read as a silent one. A store that
        cannot be read gives the times from since when each runs alone (the earliest it may be)."""
        trigger = rule.trigger
        assert isinstance(trigger, StalledTrigger)
        waiting = [ConnectorKey(cluster, name) for name in sorted(self._listed.get(cluster, ()))
                   if selects(rule.select, cluster, name) and ConnectorKey(cluster, name) in self.running_since
                   and ConnectorKey(cluster, name) not in candidates]
        if not waiting:
            return []
        dry_run = self.config.dry_run or rule.dry_run
        try:
            states = self.state.load_many(waiting)
        except StateStoreError:
            states = {}
        times = []
        for key in waiting:
            state = (self.dry_states.get(key) if dry_run else None) or states.get(key)
            restarted = state.last_restart_at if state is not None else None
            times.append(first_judged(trigger, self.running_since[key],
                                      restarted if restarted is not None and restarted >= judged_from else None))
        return times

    def _restarted_since(self, key: ConnectorKey, moment: datetime, *, dry_run: bool) -> bool:
        # A rule in dry-run sees its dry-run restarts too (the view its decisions read: the state
        # as if they had been sent). Seen by the state file alone, the source its dry-run restart
        # answered was judged again on the same windows and restarted again at every check its
        # backoff allowed: the trial promised two or three restarts where the live rule makes one.
        state = (self.dry_states.get(key) if dry_run else None) or self.state.load(key)
        restarted = state.last_restart_at
        return restarted is not None and restarted >= moment

    def on_stall_unjudged(self, rule: Rule, key: ConnectorKey, reason: Unjudged, *, detail: str = "") -> None:
        """Selected by a stall check but not judged: counted every time, logged when it starts
        (or its reason changes), so a connector that can never be judged is seen, not spammed.
        `detail`: what this check met, where the reason alone does not say (points_unreadable)."""
        shared = self._id_shared(key) if reason is Unjudged.NO_ID else None
        if shared is not None:
            reason, detail = Unjudged.ID_NOT_UNIQUE, shared
        self.metrics.stall_unjudged.labels(key.cluster, reason.value).inc()
        # Its row says it too (stall_rows.py): in log lines and counters only, nothing per connector said it was not judged.
        self.stall_rows.said(key, rule.name, self._now(), unjudged=reason.value,
                             detail=f"{detail}: {_UNJUDGED_NOTES[reason]}" if detail else _UNJUDGED_NOTES[reason])
        fields = {"cluster": key.cluster, "connector": key.connector, "rule": rule.name, "reason": reason.value,
                  **({"detail": detail} if detail else {})}
        unjudged = self._unjudged.setdefault(key, {})
        if unjudged.get(rule.name) is reason:
            log.debug("stall_unjudged", **fields)
            return
        unjudged[rule.name] = reason
        log.warning("stall_unjudged", **fields, note=_UNJUDGED_NOTES[reason])

    def on_stall_not_read(self, rule: Rule, keys: list[ConnectorKey], why: str) -> None:
        """A check that could not read its cluster's points (a query failed, or the check stopped
        before it: stall_check_failed says so once for the cluster): no verdict, and each row says
        `unjudged: check_failed` with the failure, which before read "not checked yet" as if no
        check had been tried. Not a stall.Unjudged reason: nothing of the connector's own is in
        question, and watchdog_stall_reads_total{result="failed"} already counts it per cluster."""
        now = self._now()
        for key in keys:
            self.stall_rows.said(key, rule.name, now, unjudged=CHECK_FAILED, detail=why)

    def _id_shared(self, key: ConnectorKey) -> str | None:
        """What a connector whose listed id the listing repeats shares it with; None otherwise."""
        status = self.statuses.get(key)
        if status is None or not status.resource_id:
            return None
        names = self.ids_repeated.get(key.cluster, {}).get(status.resource_id, ())
        others = [name for name in names if name != key.connector]
        if not others:
            return None
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        return f"{status.resource_id} is listed for {shown} too"

    def on_stall_check(self, rule: Rule, key: ConnectorKey, judgement: Judgement) -> None:
        unjudged = self._unjudged.get(key)
        if unjudged is not None:
            unjudged.pop(rule.name, None)
            if not unjudged:
                del self._unjudged[key]
        now = self._now()
        self.metrics.stall_checks.labels(key.cluster, judgement.verdict.value).inc()
        self.stall_rows.said(key, rule.name, now, verdict=judgement.verdict.value, detail=judgement.detail)
        if judgement.verdict is not StallVerdict.STALLED:
            if judgement.healthy:
                self._signal_cleared(key, now)
            elif judgement.verdict is StallVerdict.IDLE and not (self.config.dry_run or rule.dry_run):
                self._say_if_a_stall_restart_did_not_help(rule, key, judgement)
            log.debug("stall_check", cluster=key.cluster, connector=key.connector, rule=rule.name,
                      verdict=judgement.verdict.value, detail=judgement.detail)
            return
        state = self.quiet_since_signal(key, rule, now)
        status = self.statuses.get(key)
        decision = decide_on_signal(rule, state, status, now, pending=self._pending_for(key, dry_run=rule.dry_run))
        if decision is Decision.BUDGET_SPENT:
            state = self._give_up(rule, key, state)
        self._decide_and_submit(
            rule.name, Trigger.STALLED, key, decision, now, windows=self._rule_windows.get(rule.name),
            reason=f"stalled: {judgement.detail}", dry_run=rule.dry_run, status=status, state=state,
            detail=judgement.detail,
        )

    def _say_if_a_stall_restart_did_not_help(self, rule: Rule, key: ConnectorKey, judgement: Judgement) -> None:
        """A source restarted for a stall that has sent nothing in any window read since (the
        windows begin after the restart: stall_candidates) is judged idle: the Metrics API cannot
        tell a source its restart did not get moving from one with nothing to send, so it is not
        restarted again (an ingestion backlog longer than `delay` looks the same, and restarting
        on it is what must never happen). Before, nothing said so: the history showed the restart
        `accepted`, every later check judged the source idle at debug, and the stall read as
        fixed. Said once for that restart, at warning; its backoff still waits for data (the
        signal has not cleared: `awaiting_resolution`)."""
        state = self.state.load(key)
        if not state.awaiting_resolution or state.last_restart_at is None:
            return
        if self._unresolved_said.get(key) == state.last_restart_at:
            return
        last = next(iter(self.state.history(key, limit=1)), None)
        if last is None or Trigger.STALLED not in last.triggers:
            return  # the last restart answered an alert: what an idle source says of that is nothing
        self._unresolved_said[key] = state.last_restart_at
        log.warning(
            "stall_restart_unresolved", cluster=key.cluster, connector=key.connector, rule=rule.name,
            restarted_at=state.last_restart_at.isoformat(), restart_outcome=last.outcome.value, detail=judgement.detail,
            note="restarted for a stall, it has sent nothing since: the restart did not get its data moving, or its "
                 "source has nothing to send. Not restarted again (the Metrics API cannot tell the two apart, nor "
                 "from its own data being late): look at the connector and what it reads from",
        )
