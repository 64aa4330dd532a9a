"""Outcomes the state store did not take (a failed write, a full disk, a database away): kept in
memory, written again before every later write and at the stop, given up (and said) past a bound;
set aside when this replica stops leading, for its own recovery should it lead again; and, after a failover of the state database lost its
last commits, what this leader knows of the restarts' requests written again.

`UnrecordedOutcomes` is mixed into `JobRecorder` (recorder.py), which finishes the jobs whose
outcomes these are.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING

from ..config import Config
from ..model import ConnectorKey, ConnectorState, HistoryRecord, Outcome, PendingPhase
from ..queue import RestartJob
from ..state import Fenced, StateStore, StateStoreError, is_shared
from .core import WallClock, log

# Outcomes waiting to be written again when the state file refused them: bounded, should it stay
# unwritable for long (each is also logged; the oldest are given up first).
UNRECORDED_KEPT = 10_000
# Outcomes written late in one pipelined transaction (PostgreSQL): 1,000 take 0.15 s with the
# database 3 ms away, most of it building the statements.
UNRECORDED_PER_BATCH = 1_000


# An outcome to write: the job id, its connector, its state (None: left as stored) and its record.
Unrecorded = tuple[str, ConnectorKey, ConnectorState | None, HistoryRecord]


class UnrecordedOutcomes:
    # The recorder's parts this uses (JobRecorder sets them).
    _config: Callable[[], Config]
    _state: StateStore
    _now: WallClock
    finished_jobs: list[RestartJob]
    _unrecorded: deque[Unrecorded]
    _left_behind: dict[str, Unrecorded]

    if TYPE_CHECKING:
        def _stored(self, job: RestartJob) -> ConnectorState: ...
        def _history(self, job: RestartJob, state: ConnectorState, now: datetime) -> HistoryRecord: ...

    def _keep_unrecorded(self, finish: tuple[str, ConnectorKey, ConnectorState | None, HistoryRecord]) -> None:
        """Keep an outcome the store refused, to be written later. Past UNRECORDED_KEPT the oldest
        is given up, and said: its request stays pending in the store, so the next start (or
        leader) sends that restart again though its outcome was logged. The deque dropped it
        without a word before."""
        if len(self._unrecorded) == self._unrecorded.maxlen:
            job_id, key, _, record = self._unrecorded[0]
            log.error("restart_outcome_given_up", cluster=key.cluster, connector=key.connector, job=job_id,
                      outcome=record.outcome.value, kept=self._unrecorded.maxlen,
                      note="more outcomes than this wait to be written; this one's request stays pending "
                           "in the state store, so the next start (or leader) sends the restart again: "
                           "check `watchdog history` before it does")
        self._unrecorded.append(finish)

    def record_unrecorded(self) -> None:
        """Write the outcomes the state file did not take, oldest first, until one fails again.

        Shared (PostgreSQL), a part of them at a time in one whole batch: pipelined, a few round
        trips whatever its size, all or none. A transaction each (two round trips), the 994
        restarts a database outage of 5 s had ended held the leader's event loop 7.4 s once it was
        back, its database 3 ms away (/healthz unanswered meanwhile, the lease's renewal waiting;
        5 ms away, 15 s: the lease lost). A state file writes one at a time: its batch
        groups nothing, and a write there costs no round trip."""
        if not self._unrecorded:
            return  # the heartbeat asks every second
        whole = is_shared(self._config().state)
        while self._unrecorded:
            part = list(islice(self._unrecorded, UNRECORDED_PER_BATCH if whole else 1))
            try:
                with self._state.batch(whole=True):
                    for finish in part:
                        self._state.finish(*finish)
            except Fenced:
                self._unrecorded.clear()  # another replica leads: its recovery decides
                return
            except StateStoreError:
                return  # a whole batch that fails keeps none of it: all of the part are written again
            for _ in part:
                job_id, key = self._unrecorded.popleft()[:2]
                log.warning("restart_outcome_recorded_late", cluster=key.cluster, connector=key.connector, job=job_id)

    def rewrite_lost(self, live: Iterable[RestartJob]) -> tuple[int, int]:
        """The database lost its last commits while this replica led on (a failover to an
        asynchronous standby: Elector's `state_database_rolled_back`): what it lost of the
        restarts' requests is written again from what this leader knows. Requests of restarts it
        finished since, pending again, are finished again (their history records with them): left
        pending, the next leader (a rollout) sent each a second time. Requests of restarts still
        queued here (`live`), gone, are added again: else lost without a word if this replica stood
        by or stopped before sending them. Returns (finished again, added again)."""
        pending = self._state.pending()
        live_jobs = {job.id: job for job in live}
        finished = {job.id: job for job in self.finished_jobs}
        # A request this leader recovered went to a job of its own (Recovery moved it in the
        # store), a move the lost commits took with them: the database has it under the job of
        # the leader before (the lost commits held this replica's takeover), and matched by job
        # alone, none of the restarts it had recovered and sent was finished again.
        finished_by_request = {request.id: job for job in self.finished_jobs for request in job.requests}
        unrecorded = {entry[0] for entry in self._unrecorded}  # written with them below already
        now = self._now()
        again = 0
        ending: dict[str, RestartJob] = {}
        for kept in pending:
            job = finished.get(kept.job_id) or finished_by_request.get(kept.request.id)
            if kept.job_id in live_jobs or job is None or job.id in unrecorded or job.outcome is Outcome.UNSENT:
                continue
            if kept.job_id != job.id:
                self._state.add_pending(kept.request, job.id, phase=PendingPhase.SENDING)  # moved back to its job
            ending[job.id] = job
        for job in ending.values():
            try:
                state = self._stored(job)
            except StateStoreError:
                state = ConnectorState()
            self._keep_unrecorded((job.id, job.key, None, self._history(job, state, now)))
            again += 1
        stored = {p.request.id: p.job_id for p in pending}
        added = 0
        for job in live_jobs.values():
            phase = PendingPhase.SENDING if job.maybe_sent else PendingPhase.QUEUED
            for request in job.requests:
                if stored.get(request.id) != job.id:  # gone, or under the job it had before a lost move
                    self._state.add_pending(request, job.id, phase=phase)
                    added += 1
        self.record_unrecorded()
        return again, added

    def stand_by(self) -> int:
        """This replica stopped leading: the outcomes the store did not take are no longer written
        with the next write, their requests left pending for the next leader's recovery (this
        replica's too, under a new epoch), as the restarts left in the queue are. Written later,
        they followed that recovery, which had queued the same requests again and sent them: each
        restart twice in the history, `dropped` and `accepted`. They are kept aside instead, for
        this replica's own recovery should it lead again (`take_left_behind`): a restart whose
        call went out and whose answer it knows is recorded with that answer, where it said
        `interrupted`, "the daemon stopped", of a 202 this very process had received and logged.
        Returns how many."""
        left = len(self._unrecorded)
        for finish in self._unrecorded:
            self._left_behind[finish[0]] = finish
        while len(self._left_behind) > UNRECORDED_KEPT:  # bounded as the deque is: the oldest go first
            del self._left_behind[next(iter(self._left_behind))]
        self._unrecorded.clear()
        return left

    def take_left_behind(self) -> dict[str, Unrecorded]:
        """The outcomes this replica knew and could not write before it stood by, by job id, for
        its recovery as it leads again (Recovery.recover's `known`); forgotten here. Only those
        whose requests the shared state still holds under that job (no other leader recovered
        them meanwhile) are written there: another leader's record stands."""
        left, self._left_behind = self._left_behind, {}
        return left
