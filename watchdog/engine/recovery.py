"""Recovery after a restart of the daemon: the requests the state file kept, queued again or ended,
and the fleet breaker's count of the failure restarts sent just before; and the remembered times
settled after the wall clock stepped back (at a start, or while running)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from ..model import (
    ERROR_OUTCOMES,
    ConnectorKey,
    Decision,
    HistoryRecord,
    Outcome,
    PendingPhase,
    RestartRequest,
    Trigger,
    asked_by,
)
from ..policy import settle_clock
from ..queue import Phase, RestartJob
from ..report import format_span
from ..state import StateStore, StateStoreError, is_shared
from .alert_intake import settling
from .core import FAILURE_TRIGGERS, EngineCore, log
from .decisions import RequestRecord
from .dry_takeover import say_live_requests_ended_dry
from .fleet_count import NOTHING_RAN
from .unknown_rules import say_requests_of_rules_not_here
from .unrecorded import Unrecorded

# History records read at once when looking for the restarts of the breaker's window (more are
# read, ten times as many each time, while the oldest read is still inside the window).
HISTORY_PAGE = 1000


@dataclass(frozen=True)
class Absence:
    """How long no daemon ran before this start, as far as the store tells."""

    seconds: float  # from the previous daemon's last sign of life to now (negative: the clock stepped back)
    grace: float  # how late a schedule's run is still made (the scheduler's misfire grace)
    sign: str  # what that last sign of life was, for the message
    # Seconds since this start that the restart waited, held for discovery's first refresh to
    # find its cluster: it is that much later still when it goes.
    held: float = 0.0

    def missed(self) -> str | None:
        """Why a schedule's kept restart is not sent now, or None when the gap is within the grace."""
        if self.held > 0 and self.seconds >= 0 and self.seconds + self.held > self.grace:
            return (f"missed: {format_span(self.seconds + self.held)} late, {format_span(self.seconds)} from the "
                    f"previous daemon's {self.sign} to this start, then {format_span(self.held)} waiting for discovery "
                    f"to find its cluster; a schedule's run more than {self.grace:g}s late is not made, as cron skips "
                    "a missed run")
        if abs(self.seconds) <= self.grace:
            return None
        if self.seconds < 0:
            return (f"missed: the previous daemon's {self.sign} lies {format_span(-self.seconds)} ahead of this start's "
                    f"clock (the wall clock moved back), so when it stopped is unknown; a schedule's run more than "
                    f"{self.grace:g}s late is not made")
        return (f"missed while no daemon ran: {format_span(self.seconds)} from the previous daemon's {self.sign} to this "
                f"start; a schedule's run more than {self.grace:g}s late is not made, as cron skips a missed run")


class Recovery(EngineCore):
    absence_at_start: Absence | None = None
    recovered_at: datetime | None = None  # when the start's recovery ran (absence_at_start's end)
    # The latest time each rule asked for a restart among the requests the start found kept (sent
    # since, ended, or still to send): with the history, whether the daemon before made a run.
    kept_requested_at: Mapping[str, datetime] = MappingProxyType({})

    def recover(
        self, *, only: Collection[str] | None = None, hold: Callable[[str], bool] | None = None,
        absence: Absence | None = None, known: Mapping[str, Unrecorded] | None = None,
        keys: Collection[ConnectorKey] | None = None,
    ) -> tuple[int, int]:
        """Requests accepted but not finished before the daemon stopped (or was killed).

        - Never sent, or answered and waiting for another try (`queued`: an answer, even a 429,
          proves the call is off the wire): queued again, so nothing accepted is lost, except
          status-triggered ones: the first poll decides again with the backoff and failure counts
          the store kept (a connector that recovered meanwhile is then left alone). One tried
          before counts one more attempt when it goes out (the backoff errs long, never short),
          unless its answer proved the call ran nothing (a 429): that answer took the attempt
          back (unmade_attempts.py), so it is counted once, when it goes out.
        - Perhaps sent (`sending`: the process died with a call on the wire, or after a call
          that got no answer, or between the `sending` mark and the call, with no lease left to
          put it back `queued`): ended as
          `interrupted` and reported, not sent again, so one request never restarts a connector
          twice. The attempt was counted before the call, so the backoff holds either way.
        - Schedule-triggered and not sent, when `absence` says no daemon ran for longer than the
          scheduler's grace: ended `dropped` as a missed run (a 03:00 restart is not sent at 09:00,
          as cron skips a run that late); within the grace (a rollout), sent as above. Unknown
          (`absence` None): sent.
        - For a cluster no longer configured: ended as `dropped`, unless `hold` says the cluster
          may yet be found (discovery has not run yet): then left in the state file, untouched,
          and its name kept in `held_clusters` for a later `recover(only=...)`.
        - The fleet breaker's window is filled again from the history (recall_restarts), unless
          `only` is given (a later call for held clusters).
        `only`: recover the requests of these clusters alone (those held before), with the
        `absence` of the start that held them.
        `keys`: recover the requests of these connectors alone and leave every other one in the
        state file, untouched, for the next start of the daemon (`watchdog restart` without a
        daemon: once.py). The rest of a start's recovery (the breaker's window, the clock) is made.
        `known`: outcomes this replica knew and could not write before it stood by (a database
        outage past renew_deadline while a call was on the wire), by job id
        (JobRecorder.take_left_behind). A `sending` job among them, still under that job id (no
        other leader recovered it meanwhile), is written with that outcome, not ended
        `interrupted`: the answer came, this process logged and counted it, and the record said
        "the daemon stopped ... may or may not have reached the API" (an HA probe: a 202 logged
        `accepted`, then `interrupted` in the log, the metrics and the history).
        Returns (requeued, ended).
        """
        requeued = ended = 0
        now = self._now()
        # Requests held for discovery are recovered later (`only`): the gap is the start's.
        if only is None:
            self.absence_at_start, self.recovered_at = absence, now
        elif absence is None and self.absence_at_start is not None and self.recovered_at is not None:
            # Judged by the gap before the start alone, a 03:00 run held while discovery could
            # not read its environment for two hours went out at 05:00.
            absence = replace(self.absence_at_start, held=max(0.0, (now - self.recovered_at).total_seconds()))
        # The requests that end here, by job: a job's requests (one asked for by name that joined
        # a poll's restart) end together, as one restart: one history record, one count and one
        # `restart_finished` line per job, as the queue makes them. Ended one by one, a restart on
        # the wire at a crash was counted `interrupted` twice, shown twice in the history with the
        # same job id, and logged only as `recovered_request_ended`, which a search of the
        # `restart_finished` lines (the runbook's) never found.
        ending: dict[str, list[tuple[RestartRequest, Outcome, str]]] = {}
        known = known or {}
        # With replicas, the one that led may have lost the lease with the call on the wire, no
        # pod restarting: "the daemon stopped" sent operators looking for a restart that nobody
        # made (a database outage past renew_deadline; a leader frozen past its lease).
        who = ("the replica that led lost the lead (it stopped, or could not keep its lease)"
               if is_shared(self.config.state) else
               "the daemon stopped (or, with replicas, the one that led lost the lead)")
        shared = is_shared(self.config.state)
        gone_by = "the replica that led lost the lead" if shared else "the daemon restarted"
        not_named = ("its cluster is not in this replica's config (every replica should run the same config: one "
                     "rolled out half way, or a cluster renamed?)" if shared else "its cluster is no longer configured")
        written: dict[str, Unrecorded] = {}
        taken: list[RestartRequest] = []  # queued again: in dry run, this config ends those asked live so
        unmeasured: list[RestartRequest] = []  # a schedule's, queued again with no gap known (below)
        # One transaction where the store groups writes (contract.py, batch(whole=True)): the
        # requests are kept already, and a commit each held a leader's start 7 s per 1,000 of
        # them with its database 1 ms away. Nothing is sent before it commits: no other task runs meanwhile.
        with self.state.batch(whole=True):
            kept = self.state.pending()
            if only is None:
                latest: dict[str, datetime] = {}
                for pending in sorted(kept, key=lambda pending: pending.request.requested_at):
                    latest[pending.request.rule] = pending.request.requested_at
                self.kept_requested_at = latest
            for pending in kept:
                request = pending.request
                if only is not None and request.key.cluster not in only:
                    continue
                if keys is not None and request.key not in keys:
                    continue
                why = ""
                outcome = Outcome.DROPPED
                if request.key.cluster not in self.config.clusters and hold is not None and hold(request.key.cluster):
                    self.held_clusters.add(request.key.cluster)
                    continue
                # Whether its call went out comes first, configured or not: a restart on the wire
                # at a failover to a replica whose config named the cluster otherwise (a rollout
                # half done) was recorded `dropped`, tries 0, "the daemon restarted", though the
                # API had it (an HA probe, 2026-12-06): an operator reading that sent it again.
                unconfigured = request.key.cluster not in self.config.clusters
                if pending.phase is PendingPhase.SENDING and pending.job_id in known:
                    written[pending.job_id] = known[pending.job_id]
                    continue
                elif pending.phase is PendingPhase.SENDING:
                    outcome = Outcome.INTERRUPTED
                    # Said as what the store knows: the `sending` mark (and the attempt) is written
                    # before the call, and the call is refused if the lead was lost meanwhile (then
                    # the replica puts it back `queued` if its lease still holds, not_sent in
                    # unmade_attempts.py). "While this restart was being sent" was said of restarts
                    # whose call never went out (an HA probe, 2026-12-07).
                    # "Unknown" here: a process before that saw its answer and could not write it
                    # (a full disk) logged it (restart_outcome_not_recorded), and said how many
                    # the next start reports so (`stopped`'s reported_interrupted_at_next_start).
                    why = (f"{who} after this restart was marked as being sent (its attempt counted) and before "
                           "its end was recorded; whether its call went out is unknown here: it may or may not "
                           "have reached the API (if the daemon before logged restart_outcome_not_recorded for it, "
                           "its log has the answer)")
                    if unconfigured:
                        why += f"; {not_named}"
                elif unconfigured:
                    why = f"{gone_by} and {not_named}: not sent"
                elif request.trigger is Trigger.STATUS:
                    # A stop ends a poll's restart itself (unsent_end.py): one found here was left
                    # by a crash, or joined by a request that goes out, and may have been tried
                    # (a 429 puts it back `queued`): "before sending it" was said of ones answered 429.
                    why = (f"{who} before it went out, or between its tries (answered without being accepted); "
                           "not sent now: the next poll decides again")
                elif request.trigger is Trigger.SCHEDULE and absence is not None and (missed := absence.missed()):
                    why = missed
                if why:
                    ending.setdefault(pending.job_id, []).append((request, outcome, why))
                    ended += 1
                    continue
                # Queued again under a new job id (the store moves the request to it), so ending the
                # rest of its old job below leaves it pending.
                defer = self._settling_again(request, now)
                job, _ = self.queue.submit(request, recovered=True, defer=defer[0] if defer else 0.0,
                                           defer_note=defer[1] if defer else "")
                if defer is not None and job.deferred_note == defer[1]:
                    log.info("recovered_request_deferred", cluster=request.key.cluster,
                             connector=request.key.connector, job=job.id, rule=request.rule,
                             deferred_seconds=round(defer[0], 1), note=defer[1])
                self.state.add_pending(request, job.id)
                self._remembered_as(request, job)
                taken.append(request)
                if request.trigger is Trigger.SCHEDULE and absence is None:
                    unmeasured.append(request)
                requeued += 1
            for job_id, requests in ending.items():
                self._end(job_id, requests, now)
            for job_id, (_, key, _, record) in written.items():
                # Its state left as stored: another leader may have written it since (its polls).
                self.state.finish(job_id, key, None, record)
                log.warning("restart_outcome_recorded_late", cluster=key.cluster, connector=key.connector, job=job_id,
                            outcome=record.outcome.value,
                            note="this replica ended it before it stood by, and the state store could not record it "
                                 "then; leading again, it records that outcome (counted and logged then), not "
                                 "`interrupted`")
        if requeued or ended or written:
            log.warning("recovered_requests", requeued=requeued, ended=ended, recorded_late=len(written))
        _say_sent_with_no_gap_known(unmeasured)
        say_live_requests_ended_dry(self.config, taken)
        say_requests_of_rules_not_here(self.config, taken)
        if only is None:
            self.forget_dry_run_attempts()
            self.recall_restarts(now)
            self.settle_clock()
        return requeued, ended

    def _settling_again(self, request: RestartRequest, now: datetime) -> tuple[float, str] | None:
        """An alert's kept restart deferred again for what is left of the gap after the connector's
        last restart (alert_intake.settling: the rule's first backoff gap after it, both as the
        store keeps them, so no schema holds the wait itself). Sent at once, a restart deferred
        "held until 16:15:30" went at 16:14:56 after a rollout or a
        failover, seconds after the restart the alert may be an effect of, and its resolution
        could no longer withdraw it. None: not an alert's, its rule gone, or the gap over."""
        if request.trigger is not Trigger.ALERT:
            return None
        rule = next((rule for rule in self.config.rules if rule.name == request.rule), None)
        if rule is None:
            return None
        # A restart remembered ahead of now (the clock stepped back) waits one gap, not the step too.
        settling_now = settling(rule, settle_clock(self.state.load(request.key), now), now)
        if settling_now is None:
            return None
        left, note = settling_now
        # Said as what this replica knows: the request was left queued, unsent. Not "kept when it
        # stopped": read after a kill -9, a frozen leader or a lost lease as a clean stop (an HA probe).
        if is_shared(self.config.state):
            return left, f"{note}; deferred again by this replica, which took the lead: the replica that led left it queued, unsent"
        return left, f"{note}; deferred again at this start: the daemon before left it queued, unsent"

    def _remembered_as(self, request: RestartRequest, job: RestartJob) -> None:
        """A request kept in the state store follows its job of now in GET /v1/restarts/{id}.

        One this process still remembers had its job in the queue this replica left when it lost
        the lead: once it leads again, it follows its job of now (before, it said `pending` for
        good, though the restart went out). One it does not (a daemon restarted, as a rollout
        does, or another replica taking the lead) is remembered from the store: the caller holds
        only its id, and before, its outcome could not be read back (404 "unknown or expired
        request id"; the history names the job, whose id changes when it is queued again)."""
        record = self.requests.get(request.id)
        if record is None:
            self._remember(RequestRecord(
                request_id=request.id, key=request.key, rule=request.rule, trigger=request.trigger,
                reason=request.reason, requested_at=request.requested_at, decision=Decision.RESTART, job=job))
        else:
            record.job = job

    def _end(self, job_id: str, ending: list[tuple[RestartRequest, Outcome, str]], now: datetime) -> None:
        """A kept job that ends at this start (interrupted, or dropped: a missed schedule run, a
        status restart left to the next poll, a cluster no longer configured): one terminal
        outcome, counted, in the history and in a restart_finished line, like any job's end."""
        first, outcome, _ = ending[0]
        message = "; ".join(dict.fromkeys(why for _, _, why in ending))
        triggers = tuple(dict.fromkeys(request.trigger for request, _, _ in ending))
        asked = asked_by([request for request, _, _ in ending])
        # An interrupted one's call went out (its requests were marked `sending` before it): one
        # try at least; the store does not keep how many before it. It said 0, and a reader
        # counting the calls from the log undercounted them.
        tries = 1 if outcome is Outcome.INTERRUPTED else 0
        self.state.finish(job_id, first.key, None, HistoryRecord(
            at=now, key=first.key, job_id=job_id, rule=first.rule, trigger=first.trigger, triggers=triggers,
            outcome=outcome, message=message, reason=asked.reason, origin=asked.origin, tries=tries,
        ))
        self.metrics.count_restart(first.key, first.rule, first.trigger, outcome)
        self.outcomes[outcome] += 1
        if first.key.cluster not in self.config.clusters:
            self.late_series.add(first.key)  # no poll of its cluster will remove it
        level = log.error if outcome in ERROR_OUTCOMES else log.warning
        level("restart_finished", cluster=first.key.cluster, connector=first.key.connector, job=job_id,
              outcome=outcome.value, rule=first.rule, trigger=first.trigger.value,
              triggers=[trigger.value for trigger in triggers], requests=[request.id for request, _, _ in ending],
              tries=tries, message=message, requested_at=first.requested_at.isoformat(), reason=asked.reason)
        # One finished job for all of them, as the history has it: GET /v1/restarts/{id} of each
        # names every request it ended with, its outcome and its message.
        ended = _ended_job(job_id, [request for request, _, _ in ending], outcome, message)
        ended.tries = tries
        for request, _, _ in ending:
            self._remembered_as(request, ended)
        # Known as ended, should a failover lose this end: a restart interrupted at a takeover
        # stayed pending in the promoted database, to be ended again by the next leader.
        self.finished_jobs.append(ended)

    def settle_clock(self) -> int:
        """After the wall clock stepped back (while running, or while the daemon was stopped): no
        remembered restart lies ahead of now (policy.settle_clock), in the state file and in the
        breaker's window, nor any "running since" or "DEGRADED since". Returns the connectors
        whose times moved in the state file."""
        now = self._now()
        self.breaker.settle_clock(now)
        # Since when connectors run (stall checks wait a grace period) or stay DEGRADED (reported
        # after a while): kept in memory only, and as wrong after the step as the state file.
        for since in (self.running_since, self.degraded_since):
            for key, at in since.items():
                if at > now:
                    since[key] = now
        moved = 0
        with self.state.batch():
            for key, state in list(self.state.items()):
                settled = settle_clock(state, now)
                if settled is not state:
                    self.state.save(key, settled)
                    moved += 1
        if moved:
            log.warning("restart_times_settled", connectors=moved, now=now.isoformat(),
                        note="restarts remembered later than the wall clock's now count as made now; "
                             "their backoff gaps start again from now")
        return moved

    def forget_dry_run_attempts(self) -> int:
        """Undo the dry-run restarts an older release counted in the store. Before dry-run
        attempts were kept in memory, a release run in dry-run (the runbook's first step in an
        incident) wrote each would-be restart as an attempt: made live after an upgrade, this
        release took them for real, and a failing connector the dry run had given up on was never
        restarted (budget_spent), another held for a backoff no restart had started. The dry-run
        attempts since the last restart that went out are taken off; the backoff of those left
        stays as the store has it (longer, never shorter); gave-up is decided again by the count.
        Returns the connectors changed."""
        changed = []
        with self.state.batch():
            for key in self.state.dry_run_last_restarts():
                state = self.state.load(key)
                dry, last_sent = 0, None
                for record in self.state.history(key, limit=HISTORY_PAGE):  # newest first
                    # Older releases gave a schedule's restart an `attempt` too: failure ones alone count.
                    failure = record.attempt is not None and any(t in FAILURE_TRIGGERS for t in record.triggers)
                    if record.outcome is Outcome.DRY_RUN:
                        dry += failure
                    elif record.tries > 0 or record.outcome is Outcome.INTERRUPTED:
                        last_sent = last_sent or record
                        if failure:
                            break  # the last failure restart that went out: the count before it was live
                if not dry:
                    continue
                attempts = max(0, state.attempts - dry)
                self.state.save(key, replace(
                    state, attempts=attempts, gave_up=False, last_restart_at=last_sent.at if last_sent else None,
                    next_allowed_at=state.next_allowed_at if attempts else None,
                ))
                changed.append(f"{key.cluster}/{key.connector}")
        if changed:
            log.warning("dry_run_attempts_forgotten", connectors=len(changed), names=changed[:20],
                        note="an older release counted its dry-run restarts as attempts in the state file; "
                             "only restarts that went out count now")
        return len(changed)

    def made_before_start(self, rule: str, due: datetime) -> bool:
        """Whether the daemon before this start asked for a restart for `rule` at or after `due`:
        one of its requests kept for this start, or a restart it finished (the history, before this
        start's recovery ended any). A start just after a schedule's time (a rollout at 03:00:40)
        said the run was not made, and to ask for its restarts, when the daemon before had made
        it at 03:00: a second restart of every connector it selects."""
        kept = self.kept_requested_at.get(rule)
        if kept is not None and kept >= due:
            return True
        before = self.recovered_at or self._now()
        try:
            records = _history_since(self.state, due)
        except StateStoreError:  # the store just refused a read: said as it always was, not run
            return False
        return any(record.rule == rule and record.at < before for record in records)

    def alive_since(self, due: datetime) -> bool:
        """Whether the daemon before this start was still alive at `due`, as its last sign of life
        says (a state file's last write, or the lease's last renewal)."""
        absence, at = self.absence_at_start, self.recovered_at
        return absence is not None and at is not None and at - timedelta(seconds=absence.seconds) >= due

    def recall_restarts(self, now: datetime) -> int:
        """Give the fleet breaker the failure restarts the history shows within its window: those
        whose call went out (`tries`), and those `interrupted` with a call perhaps on the wire.
        Kept only in memory, the count started from zero at every start, and a daemon restarted
        every minute sent `max_restarts` failure restarts a minute, however short the window.
        Not those whose one call was answered with proof that nothing ran (_ran_nothing), as the
        live count takes them back (fleet_count.py): counted, a daemon restarted after a 429 storm
        held its failure restarts `breaker_open` for a window though none had been made."""
        since = now - timedelta(seconds=self.config.breaker.window)
        times = [record.at for record in _history_since(self.state, since)
                 if (record.tries > 0 or record.outcome is Outcome.INTERRUPTED) and not _ran_nothing(record)
                 and any(trigger in FAILURE_TRIGGERS for trigger in record.triggers)]
        self.breaker.remember_restarts(times)
        if times:
            log.info("breaker_recalled", restarts=len(times), window_seconds=self.config.breaker.window,
                     note="failure restarts sent before this start count towards breaker.max_restarts")
        return len(times)


def _say_sent_with_no_gap_known(requests: list[RestartRequest]) -> None:
    """A schedule's kept restarts sent though how long no daemon ran is not known: the store holds
    no sign of life of the daemon before (a state file last written by a release that records
    none, rolled back to; a PostgreSQL lease never renewed). Sent, not dropped: a start right after
    a stop (a rollout, the daemon's own lock or lease held until then) is the common case, where a
    drop loses the run; the other world, a daemon gone for hours, gets a late restart of what the
    operator scheduled, said here so it can be told apart. Dropped, they were said "missed while no
    daemon ran: 5m" after a rollout 3 s after a 5.5-minute 429 pause, which that release spent
    writing nothing."""
    if not requests:
        return
    asked = min(request.requested_at for request in requests)
    log.warning("kept_schedule_restarts_gap_unknown", requests=len(requests),
                rules=sorted({request.rule for request in requests}),
                connectors=sorted({f"{request.key.cluster}/{request.key.connector}" for request in requests})[:20],
                requested_at=asked.isoformat(),
                note="how long no daemon ran before this start is not known: the store holds no sign of life of "
                     "the daemon before (a release from before daemon_alive records none, and its records stop "
                     "during a 429 pause); sent as after a rollout, the common case. If no daemon ran for long "
                     "since they were asked, they went out that much later than their schedule")


def _ended_job(job_id: str, requests: list[RestartRequest], outcome: Outcome, why: str) -> RestartJob:
    """What the requests of a job ended at recovery became, as a finished job (for the API)."""
    job = RestartJob(id=job_id, key=requests[0].key, credential="", requests=requests, enqueued_at=0.0,
                     phase=Phase.DONE, outcome=outcome, message=why)
    job.done.set()
    return job


def _ran_nothing(record: HistoryRecord) -> bool:
    """Whether the record proves its job's restart ran nothing: its one call was answered 429 (or a
    self-managed 409), as fleet_count.NOTHING_RAN. The history keeps the last call's answer alone:
    a job of more tries whose last was a 429 may have had an earlier call time out (which may have
    run), so it stays counted, the safe side; the live count, which saw each answer, may have
    taken it back. A call that made no connection is not told apart in the record (its outcome
    `network_error` is also a timeout's): counted too."""
    return record.tries == 1 and record.status_code in NOTHING_RAN and record.outcome is not Outcome.INTERRUPTED


def _history_since(store: StateStore, since: datetime) -> list[HistoryRecord]:
    """Every history record at or after `since`, newest first."""
    limit = HISTORY_PAGE
    while True:
        records = store.history(limit=limit)
        if len(records) < limit or records[-1].at < since:
            return [record for record in records if record.at >= since]
        limit *= 10
