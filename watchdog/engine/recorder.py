"""`JobRecorder`, the queue's observer: counts, logs and remembers every send and every terminal
outcome, and counts a failure restart as an attempt before its call goes out."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from datetime import datetime

from ..breaker import Breaker
from ..config import Backoff, Config, Rule, StateSettings
from ..metrics import Metrics
from ..model import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    Health,
    HistoryRecord,
    Outcome,
    RestartRequest,
    Trigger,
    asked_by,
)
from ..policy import record_attempt, record_manual_restart, record_resend
from ..queue import Abandoned, JobNotRecorded, RestartJob
from ..rules import classify
from ..state import Fenced, StateStore, StateStoreError, is_shared
from .core import (
    FAILURE_TRIGGERS,
    SIGNAL_TRIGGERS,
    WallClock,
    log,
    show_state,
    utc_now,
)
from .fleet_count import count_sent, take_back_unmade
from .gates import repointed_since_asked
from .rules_gone import NOTHING_RESTARTS_IT_BEFORE, rules_gone
from .store_probe import StoreProbe
from .unmade_attempts import UnmadeAttempts
from .unrecorded import UNRECORDED_KEPT, Unrecorded, UnrecordedOutcomes
from .unsent_end import ended_message, ended_note, ends_at_stop

# Outcomes of a restart that was, or may have been, made (not sent again: the next poll judges).
MAY_HAVE_RESTARTED = frozenset({Outcome.ACCEPTED, Outcome.UNCONFIRMED, Outcome.INTERRUPTED})


def _not_recorded_note(job: RestartJob) -> str:
    """What becomes of an outcome the state store refused (restart_outcome_not_recorded), as the
    next start's recovery does it (recovery.py): "the next start sends it" was said of restarts
    answered 202, which the next start reported `interrupted` and did not send (a full-disk probe).
    With replicas, a leader that stands by first leaves it to the next leadership's recovery."""
    if job.outcome in MAY_HAVE_RESTARTED:
        # Its `sending` mark was written before its call: the record the next start reads.
        then = ("the next start reports it `interrupted` (it cannot read this answer) and does not send it "
                "again")
    elif all(request.trigger is Trigger.STATUS for request in job.requests):
        then = "the next start ends it `dropped`, not sent (the next poll decides again)"
    else:
        then = "the next start sends it"
    return ("the state store still holds this restart as pending; its outcome is written with the next write "
            f"that succeeds; if none does before the daemon stops, {then} (with replicas, the next leader's "
            "recovery decides)")


def store_noun(state: StateSettings) -> str:
    """The state store in words: its database with PostgreSQL (replicas), else its file. "The
    state file cannot be written" was said of a PostgreSQL database down or read-only, which has
    no file (an HA probe: the 503 to a restart request, the restart_waiting_for_state line)."""
    return "state database" if is_shared(state) else "state file"


def may_have_restarted(job: RestartJob) -> bool:
    """Whether the job's restart was, or may have been, made: its outcome says so, or it ended
    `network_error` on a call that got no answer (a read timeout, a reset after the request
    went), which may have reached the API as an `unconfirmed` one may. Not one whose last call
    the API cannot have run (no connection made: ApiResult.not_run)."""
    return job.outcome in MAY_HAVE_RESTARTED or (
        job.outcome is Outcome.NETWORK_ERROR and job.status_code is None and not job.last_call_not_run)
# Finished jobs kept in memory, the latest first to stay (for --once, the demo's summary, tests).
# Every job was kept for the life of the process, its evidence with it: a daemon with failing
# connectors grew by each restart it made, for good. Counts of every outcome are in `outcomes`.
# Trimmed past a tenth more (twice as many were kept at the peak: 20,000 jobs, 38 MB of them).
FINISHED_KEPT = 10_000


class JobRecorder(UnrecordedOutcomes, UnmadeAttempts):
    """The queue's observer: counts, logs and remembers every send and every terminal outcome."""

    def __init__(
        self,
        config: Callable[[], Config],
        state: StateStore,
        metrics: Metrics,
        breaker: Breaker,
        *,
        now: WallClock = utc_now,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._state = state
        self._metrics = metrics
        self._breaker = breaker
        self._now = now
        self._rng = rng
        # Set by the composition root: the gates at the job's turn (job, whether it ends dry_run).
        self.gate: Callable[[RestartJob, bool], str | None] = lambda job, dry_run: None
        # Set by the composition root: what the cluster's latest listing (a poll's, or one made on
        # demand: triggers/turn_listing.py) showed of a connector, None when it did not show it
        # (EngineCore.listed_status).
        self.listed: Callable[[ConnectorKey], ConnectorStatus | None] = lambda key: None
        # Set by the composition root: a restart made (or maybe made), counted by FlapWatch.restarted.
        self.restarted: Callable[[ConnectorKey], None] = lambda key: None
        # The engine's dry-run view of connectors (EngineCore.dry_states), shared by the composition
        # root: a dry-run restart's attempt is counted there, never in the state file.
        self.dry_states: dict[ConnectorKey, ConnectorState] = {}
        self.finished_jobs: list[RestartJob] = []  # the run's latest FINISHED_KEPT jobs, for summaries
        # Outcomes the state file did not take: it still holds their requests as pending, and the
        # next start (or leader) would send a restart reported ended (`dropped` because the file
        # could not be written, say). Written again before every later write, and at the stop (record_unrecorded).
        self._unrecorded: deque[Unrecorded] = deque(maxlen=UNRECORDED_KEPT)
        self._left_behind: dict[str, Unrecorded] = {}  # those set aside at a stand-by (stand_by)
        self.outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        # Restarts ended `unsent`, kept, while the state file could not be written (kept_unwritten):
        # the `stopped` line counts them with those its drain left.
        self.kept_unwritten_count = 0
        self._charged, self._taken_back = {}, set()  # attempts an answer may take back (unmade_attempts.py)
        # The store's failure probed while restarts wait for it (store_unavailable).
        self._probe_store = StoreProbe(state, now)

    def store_unavailable(self, job: RestartJob) -> str | None:
        if not is_shared(self._config().state):
            # A state file's failure (a full disk, a lock another process holds) does not pass by
            # itself within seconds as a database failover does: its restarts end at once, `unsent`
            # and kept for the next start (kept_unwritten), or a poll's `dropped`.
            return None
        self._probe_store()
        return self._unavailable(job)

    def not_recorded(self) -> dict[str, int]:
        """Outcomes still waiting to be written (none did before the stop), for the `stopped` line:
        their requests stay pending in the state file, so the next start reports those that may
        have been made (`interrupted`: it cannot tell a 202 this run saw) and sends the others
        again. Said nowhere before, 4 restarts answered 202 came back `interrupted` at the next
        start, and 99 `dropped` ones were sent (probe_restart F1)."""
        if not self._unrecorded:
            return {}
        made = sum(1 for *_, record in self._unrecorded if record.outcome in MAY_HAVE_RESTARTED)
        return {"outcomes_not_recorded": len(self._unrecorded), "reported_interrupted_at_next_start": made}

    def kept_unwritten(self, job: RestartJob) -> bool:
        """A state file that cannot be written (a full disk, a filesystem remounted read-only):
        a restart the next start sends (by name, an alert's, a schedule's) is not sent, and ends
        `unsent`, kept, not `dropped`. Its requests stay queued in the file whatever is said here
        (the write that would end them fails too), and the next start sent the 99 such restarts
        a probe saw ended `dropped`, counted and logged twice, re-asked by hand (probe_restart F1).
        If the disk frees while this daemon runs, it still does not send them: the file keeps
        them queued for the next start, as the note says, so none goes twice; a new request for
        the connector meanwhile is decided as usual. A poll's restart keeps ending `dropped` (the
        next poll decides again; no start sends it). Only with a state file: a database the queue
        waits for (store_unavailable), and its next leader recovers what is left."""
        kept = (self._state.problem is not None and self._state.durable and not is_shared(self._config().state)
                and not job.maybe_sent and not all(r.trigger is Trigger.STATUS for r in job.requests))
        self.kept_unwritten_count += kept  # asked once per job, as it ends (dispatch.py)
        return kept

    def _unavailable(self, job: RestartJob) -> str | None:
        if self._state.problem is not None:
            # Its attempt could not be counted: sending it anyway would let a failing connector
            # escape its backoff (and the restart could not be remembered across a crash).
            return f"the {store_noun(self._config().state)} cannot be written ({self._state.problem})"
        try:
            if job.key not in self.dry_states:
                self._stored(job)
        except StateStoreError as exc:
            # The database gone between two writes, nothing failed yet: raised through the queue,
            # the job was logged as a bug (restart_job_crashed) and ended `network_error`, no call made.
            return f"the {store_noun(self._config().state)} cannot be read ({exc})"
        return None

    def drop_reason(self, job: RestartJob) -> str | None:
        unavailable = self._unavailable(job)
        if unavailable is not None:
            return unavailable  # a state file's, or a database the queue waited for (dispatch.STORE_WAIT_SECONDS)
        repointed = repointed_since_asked(job, job.key.cluster, self._config().cluster_address(job.key.cluster))
        if repointed is not None:
            # First: the state under the name is the new cluster's from its first poll, and
            # "healthy again before its turn" said so of a connector still failed where it was.
            return repointed
        latest = self.dry_states.get(job.key) or self._stored(job)  # read just now (_unavailable)
        # Not when a firing alert was answered `duplicate` because of this job: a stalled
        # connector looks healthy to a poll, and Alertmanager does not send that alert again
        # before its repeat_interval (hours), so dropped, the stall went unrestarted.
        status_only = job.polls_only
        healths = {latest.health}
        if status_only:
            # And what the latest listing shows: one made on demand after a pause held the restart
            # (triggers/turn_listing.py) is newer than the poll that judged the state. Either one
            # seeing it healthy (or transient, below) drops it: the next poll decides again. One it
            # no longer shows is the gates' (`vanished`).
            status = self.listed(job.key)
            if status is not None:
                healths.add(classify(status))
        if status_only and Health.HEALTHY in healths:
            return "connector healthy again before its turn"
        held = rules_gone(job, self._config()) or self.gate(job, job.dry_run or self.dry_run_now(job))
        if held:
            return held
        if status_only and Health.TRANSIENT in healths:
            # Not failed any more, not healthy yet (tasks awaiting a worker, restarting): what a
            # poll would not restart; on Confluent Cloud a restart stops the tasks that run.
            return "connector no longer failed before its turn (transient); the next poll decides again"
        return None

    def _stored(self, job: RestartJob) -> ConnectorState:
        """The connector's state in the store, read once per job while nothing writes it: at the
        job's turn, again after its wait for budget, before its call and at its end, each read was
        a round trip to a database some milliseconds away (four per restart sent), though only
        this daemon writes it (the store's write marks say whether it did since: a poll that saw
        the connector meanwhile, an alert, the job's own mark_sending, which it knows)."""
        marks = self._state.marks
        if job.stored is not None and marks.unchanged_since(job.key, job.stored[1]):
            return job.stored[0]
        mark = marks.now()
        state = self._state.load(job.key)
        job.stored = (state, mark)
        return state

    def dry_run_now(self, job: RestartJob) -> bool:
        """Whether the config, as it is at the job's turn, says dry run for every request of it:
        dry-run set (by a reload, or at the start that recovered it from the state file), or
        each request's rule now in dry run. The runbook's first step in an incident is dry-run;
        checked only when the job was queued, the restarts already waiting went out anyway
        (after a reload to dry-run, five of eight queued; at a start in dry-run, every one the
        state file kept). A request of no configured rule (the API, the CLI) follows the
        global setting alone."""
        if self._config().dry_run:
            return True
        rules = self._rules_by_name()
        return all((rule := rules.get(r.rule)) is not None and rule.dry_run for r in job.requests)

    def _rules_by_name(self) -> dict[str, Rule]:
        return {rule.name: rule for rule in self._config().rules}

    def depth_changed(self, credential: str, depth: int) -> None:
        self._metrics.queue_depth.labels(credential).set(depth)

    def sending(self, job: RestartJob) -> None:
        """A call of a job is about to go out (the first, or a retry after an answer). The attempt
        is counted at the first, in the same transaction that marks the requests as sending, not
        after the answer: a kill -9 between the call and its answer then cannot undo the backoff
        (no restart storm after a crash); an answer proving it ran nothing takes it back, and the
        next call counts it again (unmade_attempts.py). A retry marks the requests as sending again, and the
        attempt's backoff gap counts from it (policy.record_resend)."""
        if self._state.problem is not None:
            # Known not to take writes (a failed write, none since), as drop_reason says at a first
            # turn: a retry is not sent either. Tried, each froze the event loop for the busy
            # timeout (5 s) twice while another process held the file locked.
            raise JobNotRecorded(f"the {store_noun(self._config().state)} cannot record the attempt ({self._state.problem})")
        self.record_unrecorded()
        try:
            state = self._stored(job)
            if self._failure_requests(job) and (not job.attempt_counted or self.charge_again(job)):
                now = self._now()
                before, state = state, self._attempt(job, state, now)
                self._state.mark_sending(job.id, job.key, state)
                job.attempt_counted = True
                self.charged(job, before, state)
                # A rule on trial beside the live one (EngineCore.load_state): its view rebases
                # on what is really sent, this attempt included.
                self.dry_states.pop(job.key, None)
            else:
                if job.attempt_counted:
                    state = record_resend(state, self._now())
                self._state.mark_sending(job.id, job.key, state)
                self.settled(job)  # a call that went unanswered may have run: its attempt stays
            job.stored = (state, self._state.marks.now())  # what the store holds now: its end needs no read
            if self._failure_requests(job):  # once a job, unless its call ran nothing (fleet_count.py)
                count_sent(self._breaker, job, self._now())
        except Fenced as exc:
            # Another replica leads now: it recovers this job's requests from the shared state.
            raise Abandoned(str(exc)) from exc
        except StateStoreError as exc:
            # Sent without its attempt recorded, a failing connector would escape its backoff.
            raise JobNotRecorded(f"the {store_noun(self._config().state)} cannot record the attempt ({exc})") from exc
        self._metrics.show_connector_state(job.key.cluster, job.key.connector, state)

    def finished(self, job: RestartJob) -> None:
        assert job.outcome is not None
        primary = job.primary
        self.finished_jobs.append(job)
        if len(self.finished_jobs) > FINISHED_KEPT + FINISHED_KEPT // 10:  # in steps: a list, not a deque
            del self.finished_jobs[:-FINISHED_KEPT]
        fenced = False
        now = self._now()
        take_back_unmade(self._breaker, job)  # its last call answered 429 (retries spent): nothing made
        self.settled(job)
        if may_have_restarted(job):
            self.restarted(job.key)
        try:
            state = self._stored(job)
        except StateStoreError:
            state = ConnectorState()
        changed: ConnectorState | None = None
        if job.outcome is Outcome.DRY_RUN and self._failure_requests(job) and not job.attempt_counted:
            # Dry-run advances the backoff as a real restart would, so the log shows the cadence
            # production would have; the fleet breaker counts it for later dry-run restarts alike.
            # Both in memory only: nothing was sent, so the live budget is not spent. A job tried
            # before dry-run was set has its attempt already.
            state = self._attempt(job, self.dry_states.get(job.key) or state, now)
            if self._config().dry_run_anywhere:  # not once a reload went live: no view made again
                self.dry_states[job.key] = state
                show_state(self._metrics, self._state, self.dry_states, job.key, state)
            self._breaker.record_restart(now, dry_run=True)
        elif job.outcome is Outcome.DRY_RUN and not self._failure_requests(job):
            # A restart by schedule or by name the dry run would have made: its time, in the dry
            # run's view alone, holds the next restart by name for queue.manual_restart_gap, as
            # the live run's accepted one does (below).
            if self._config().dry_run_anywhere:
                self.dry_states[job.key] = record_manual_restart(self.dry_states.get(job.key) or state, now)
        elif may_have_restarted(job) and not self._failure_requests(job):
            # Unconfirmed or interrupted, it may have been made: the gap a restart by name waits
            # (queue.manual_restart_gap) holds after it too. Counted from accepted ones alone, a
            # script retrying on `watchdog restart`'s exit 1 sent an unconfirmed restart (Kafka
            # Connect's 500 "Request timed out", which the worker still runs) again a second later.
            changed = record_manual_restart(state, now)
            if job.key in self.dry_states:  # the dry run's view holds by the restart made, too
                self.dry_states[job.key] = record_manual_restart(self.dry_states[job.key], now)
        elif job.attempt_counted and job.outcome not in _ENDED_AT_A_TURN and self._failure_requests(job):
            # The attempt's gap counts from the end of its last call, not from its start: a worker
            # that took 95 s to answer (a broker frozen, Connect's 90 s "Request timed out" handed
            # to the next worker) had used the 20 s gap up while the call waited, and the next
            # poll restarted the connector again 5 s after the first restart was made.
            moved = record_resend(state, now)
            changed = moved if moved is not state else None
        if job.first_sent_at is None and job.outcome is not Outcome.DRY_RUN and self._failure_requests(job):
            # Never sent: were it the cluster breaker's probe, the window's probe is not spent.
            self._breaker.probe_unsent(job.key.cluster, job.key.connector, dry_run=job.dry_run)
        state = changed or state
        ends_here = ends_at_stop(job, self._state.durable)
        if ends_here:  # a poll's restart: no start sends it, so it ends here, once (unsent_end.py)
            job.message = ended_message(job, is_shared(self._config().state))
        if job.outcome is Outcome.UNSENT and not ends_here:
            # Still pending in the store: the next start of the daemon sends it (a durable store).
            pass
        elif self._state.problem is not None and not job.maybe_sent:
            # No call of it may be on its way (none went out, or its last was answered), and the
            # state file is known not to take writes (a failed write, none since): the record
            # waits for the next write that succeeds. Tried here, a file another process holds
            # locked froze the event loop for the busy timeout (5 s) twice per queued job, one
            # job after another: probes unanswered, SIGTERM's deadline ignored for minutes. (A
            # job that may have reached the API is tried at once: its record is what keeps a
            # crash from sending it again.)
            self._keep_unrecorded((job.id, job.key, changed, self._history(job, state, now)))
            log.error("restart_outcome_not_recorded", cluster=job.key.cluster, connector=job.key.connector,
                      job=job.id, outcome=job.outcome.value, error=self._state.problem,
                      note=_not_recorded_note(job))
        else:
            self.record_unrecorded()
            finish = (job.id, job.key, changed, self._history(job, state, now))
            try:
                self._state.finish(*finish)
            except Fenced:
                # Another replica leads: its recovery ended these requests (or will), and counted
                # and logged that end. Counted here too, one restart ended twice: `interrupted` by
                # the new leader, then `unconfirmed` by this one woken from a freeze (an HA probe,
                # SIGSTOP with a call on the wire), which WatchdogRestartsFailing counts as a failure.
                fenced = True
            except StateStoreError as exc:
                # The outcome is still counted and logged below; the record is written again with
                # the next write that succeeds (counted by the store, shown by /readyz).
                self._keep_unrecorded(finish)
                log.error("restart_outcome_not_recorded", cluster=job.key.cluster, connector=job.key.connector,
                          job=job.id, outcome=job.outcome.value, error=str(exc),
                          note=_not_recorded_note(job))
        if changed is not None:
            self._metrics.show_connector_state(job.key.cluster, job.key.connector, changed)
        # The history now holds them (or `_unrecorded` does, until it does): kept with the job, they
        # stayed in memory with each of the latest FINISHED_KEPT jobs and each job the API still
        # remembers (REQUEST_MEMORY per trigger): 18 KB for a connector with four failed tasks, up
        # to 45 KB, so a fleet that kept failing outgrew the pod's memory after some 10,000 restarts.
        job.evidence, job.recommendations = None, ()
        fields: dict[str, object] = {
            "cluster": job.key.cluster, "connector": job.key.connector, "job": job.id, "outcome": job.outcome.value,
            "rule": primary.rule, "trigger": primary.trigger.value, "triggers": [t.value for t in job.triggers],
            "requests": [r.id for r in job.requests], "tries": job.tries, "status_code": job.status_code,
            # The failure count it reached, as the history keeps it: a scheduled or requested
            # restart is no attempt of the failure backoff (it said `attempt: 4` for a nightly
            # restart of a connector restarted four times for failures).
            "request_id": job.request_id, "attempt": state.attempts if self._failure_requests(job) else None,
            # Why it was asked for, as its history record keeps it (model.asked_by): the line of
            # its end said who (rule, trigger) but not why, which only its restart_queued line said.
            "reason": asked_by(job.requests).reason,
        }
        if job.first_sent_at is not None:
            # How long it waited in the queue (rate limit, pauses) and how long its calls took.
            fields["queued_seconds"] = round(job.first_sent_at - job.enqueued_at, 3)
            if job.finished_at is not None:
                fields["sending_seconds"] = round(job.finished_at - job.first_sent_at, 3)
        if job.message:
            fields["message"] = job.message
        if fenced:
            log.warning("restart_end_left_to_leader", **fields,
                        note="this replica no longer leads (another took the lease over while this restart was on "
                             "its way): the leader's recovery ends it, and counts it; not counted here")
            return
        self.outcomes[job.outcome] += 1
        self._metrics.count_restart(job.key, primary.rule, primary.trigger, job.outcome)
        if job.outcome is Outcome.UNSENT:
            fields["note"] = note = self._unsent_note(job)
            job.kept_for = note if self._state.durable and not ends_here else ""
        if job.outcome is Outcome.DROPPED and NOTHING_RESTARTS_IT_BEFORE in job.message:
            # Dropped by a reload where only alert rules select the connector now (rules_gone):
            # nothing decides again before Alertmanager repeats the alert, hours away. At info, a
            # failed connector left so read as a plan that changed.
            log.warning("restart_finished", **fields)
        elif job.outcome in (Outcome.ACCEPTED, Outcome.DRY_RUN, Outcome.DROPPED, Outcome.CANCELLED):
            log.info("restart_finished", **fields)
        elif job.outcome is Outcome.UNSENT and self._state.durable:
            # Kept: the next start (or leader) sends it, or its first poll decides again. Nothing
            # for anyone to do, so no error: a rollout while a 429 held 273 restarts logged 273
            # error lines, which paged whoever alerts on the log's errors at every such rollout.
            log.warning("restart_finished", **fields)
        else:
            log.error("restart_finished", **fields)

    def _unsent_note(self, job: RestartJob) -> str:
        """Where an unsent restart went: the operator decides from this whether to send it by hand."""
        if ends_at_stop(job, self._state.durable):
            return ended_note(self._state.description)
        if self._state.durable and is_shared(self._config().state):
            # The replica taking the lease recovers it at once: "at the next start" sent operators
            # waiting for this pod to come back for a restart another replica had already sent.
            return (f"kept ({self._state.description}); sent by the replica that leads next: at once by another "
                    "one running, else at this one's next start")
        if self._state.durable:
            return f"kept ({self._state.description}); sent at the next start"
        return ("lost when the daemon stops: state.path is ':memory:', which keeps nothing for the next start; "
                "send it again by hand (watchdog restart) if it is still needed")

    def _history(self, job: RestartJob, state: ConnectorState, now: datetime) -> HistoryRecord:
        assert job.outcome is not None
        asked = asked_by(job.requests)
        return HistoryRecord(
            at=now, key=job.key, job_id=job.id, rule=job.primary.rule, trigger=job.primary.trigger,
            triggers=tuple(job.triggers), outcome=job.outcome, status_code=job.status_code,
            request_id=job.request_id, message=job.message, tries=job.tries,
            attempt=state.attempts if self._failure_requests(job) else None,
            evidence=job.evidence, recommendations=job.recommendations,
            reason=asked.reason, origin=asked.origin,
        )

    def _failure_requests(self, job: RestartJob) -> list[RestartRequest]:
        """The failure requests the job's attempt is counted for. A job that goes out for real
        counts its live ones alone: a dry-run request of a rule on trial that a live one joined
        (RestartJob.dry_run) set the connector's backoff by the trial's settings (a live alert
        rule's next restart held for the trial's hour, not its own minute)."""
        failures = [r for r in job.requests if r.trigger in FAILURE_TRIGGERS]
        return failures if job.dry_run else [r for r in failures if not r.dry_run]

    def _attempt(self, job: RestartJob, state: ConnectorState, now: datetime) -> ConnectorState:
        """A failure restart that went out (or would have, in dry-run) is an attempt whatever its
        answer: counting failed calls keeps a revoked key or a broken endpoint from becoming a
        hot loop, since the backoff grows exactly as for a connector that keeps failing."""
        failures = self._failure_requests(job)
        rule = _rule_named(self._config(), failures[0].rule)
        # A rule removed by a reload still leaves the connector a backoff, never none.
        backoff = rule.backoff if rule is not None else Backoff()
        from_signal = all(r.trigger in SIGNAL_TRIGGERS for r in failures)
        return record_attempt(state, now, backoff, self._rng(), from_signal=from_signal)


# Outcomes of a job ended at a turn, before a call (its last call, if any, ended earlier): its
# LAST RESTART stays that call's time. Moved to the end, a restart answered 429 and dropped at its
# retry (paused by its owner meanwhile) showed LAST RESTART at the drop, 40 s after the only call,
# which made no restart (a probe, 2026-12-06).
_ENDED_AT_A_TURN = frozenset({Outcome.UNSENT, Outcome.DROPPED, Outcome.CANCELLED, Outcome.DRY_RUN})


def _rule_named(config: Config, name: str) -> Rule | None:
    return next((rule for rule in config.rules if rule.name == name), None)
