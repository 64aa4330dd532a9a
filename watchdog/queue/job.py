"""A restart job and its vocabulary: the phases it moves through, the observer the queue reports
to, and the exceptions that stop it. The queue (restart_queue.py) moves jobs; the engine and the
recorder read and end them."""

from __future__ import annotations

import asyncio
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Protocol

from ..model import ConnectorKey, ConnectorState, ConnectorStatus, Outcome, RestartRequest, Trigger
from .election import Leaderless


class QueueClosed(Exception):
    """The daemon is shutting down and takes no new restarts."""


class QueueFull(Exception):
    """The lane already holds as many jobs as it may (queue.max_jobs_per_lane)."""


class JobNotRecorded(Exception):
    """The observer could not record that the job is about to be sent (its attempt, in the state
    file): the job must not be sent, or the backoff would not hold."""


class Abandoned(Exception):
    """This replica may no longer send (it is not, or no longer surely, the leader): the job is
    left as the shared state holds it, for the leader to recover, and ends nowhere here."""


def pause_note(paused: float, *, budget: bool = False) -> str:
    """Why a queued restart waits while every call of its API key is paused (`paused` seconds
    more): GET /v1/restarts/{id}'s job message and `watchdog status --daemon`'s row say it.
    `budget`: the wait is for the key's budget, which an answer said was spent for long."""
    if budget:
        return (f"waiting: every call of its API key waits {math.ceil(paused)} s more for the key's budget (an answer "
                "said Remaining 0 until its Reset: see the rate_limit_budget_spent line); it goes after then")
    return (f"waiting: every call of its API key is paused for {math.ceil(paused)} s more (the API answered "
            "429, or 5xx with Retry-After: see the rate_limited and api_call_failed lines); it goes after the pause")


def new_job_id() -> str:
    return secrets.token_hex(8)


class Phase(Enum):
    QUEUED = "queued"
    WAITING = "waiting"  # taken by a worker and waiting for rate-limit budget, or waiting for its retry
    SENDING = "sending"  # the HTTP call is on the wire
    DONE = "done"


# Slotted: a finished job stays in memory for summaries (JobRecorder.finished_jobs, up to 2 x
# FINISHED_KEPT) and for GET /v1/restarts/{id} (REQUEST_MEMORY per trigger). With a __dict__ each
# took 2.8 KB before its request's strings, and name churn filled those stores (a soak probe: RSS
# still rising after 5,000 restarts, towards some 65 MB at 20,000 jobs).
@dataclass(eq=False, slots=True)
class RestartJob:
    """One restart of one connector, possibly asked for by several requests (deduplicated)."""

    id: str
    key: ConnectorKey
    credential: str
    requests: list[RestartRequest]
    enqueued_at: float
    phase: Phase = Phase.QUEUED
    outcome: Outcome | None = None
    status_code: int | None = None
    # Its last call got no answer, and the API cannot have run it (ApiResult.not_run).
    last_call_not_run: bool = False
    request_id: str | None = None
    message: str = ""
    tries: int = 0
    rate_limited: int = 0  # tries answered 429
    failures: int = 0  # tries answered 5xx or 409, or unanswered (retried after a backoff)
    # Its self-managed cluster answered that it was between leaders (election.py): since when, and
    # the tries that did not count among `failures`. None until such an answer.
    leaderless: Leaderless | None = None
    first_sent_at: float | None = None
    # When its current wait for the key's budget began (the queue's clock): a pause of the key that
    # ends after it held the job through it, and what the job was decided on may be out of date.
    asked_at: float = 0.0
    finished_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    # Set by the engine: the failure evidence captured before the restart erases it, and whether
    # the rule wants Confluent's error recommendations fetched first.
    evidence: dict[str, Any] | None = None
    wants_recommendations: bool = False
    recommendations: tuple[str, ...] = ()
    attempt_counted: bool = False  # set once the attempt is in the state store
    # The fleet breaker's entry for it (when, and which call: the tries answered before it), while
    # its window counts one: a call that made the restart or may have; None before its first call
    # and once an answer proved the counted call ran nothing (a 429: engine/fleet_count.py).
    fleet_counted: tuple[datetime, int] | None = None
    # The connector's state as the store held it, and the store's write mark then (state/marks.py):
    # the observer's reads at the job's turn, before its call and at its end use it again while
    # nothing has written that state since, instead of a round trip each (JobRecorder._stored).
    stored: tuple[ConnectorState, int] | None = None
    # True while the state store holds the job as `sending`: a call went out and no answer has
    # proved it off the wire since (none came yet, or it was lost: a network error). A job ended
    # by a shutdown then ends `interrupted` (it may have reached the API), otherwise `unsent`
    # (kept as `queued`, sent at the next start).
    maybe_sent: bool = False
    # What the API answered an accepted restart with, where it says (Kafka Connect's 202 body:
    # which instances it is restarting). Summarised into `message`, so history and logs keep it.
    answer: ConnectorStatus | None = None
    # The firing alerts (identities) that wait on this job: the ones that asked for it, joined it,
    # or found it queued (`duplicate`, which adds no request). A resolved alert leaves the set,
    # and the job is withdrawn only once it is empty: an alert answered `duplicate` is not sent
    # again by Alertmanager until its repeat_interval (hours), so it relies on this job.
    alerts: set[str] = field(default_factory=set)
    # An `unsent` job the state store keeps for the next daemon (or the next leader) to send:
    # where it is kept and who sends it (JobRecorder). Its requests are not finished: the API
    # says them pending.
    kept_for: str = ""
    # A failure of its connector was seen (a poll, a stall check; answered `duplicate`, which adds
    # no request) while only a schedule had asked for it: it goes with the restarts a failure
    # asked for, not at its planned turn (lane.planned).
    failing: bool = False
    # Since when (the queue's clock) its turn has found the state store unable to read or record
    # it (a database failover in progress): it waits, queued, for up to STORE_WAIT_SECONDS
    # (dispatch.py) rather than end `dropped`. None while the store answers.
    store_waiting_since: float | None = None
    # When (the queue's clock) its next try is due, while it waits for one after a 5xx, a 409 or
    # a network error (RestartQueue._retry_later); None otherwise.
    retry_due: float | None = None
    # What it waits for while deferred before its first turn (deferral.py); "" when not deferred.
    deferred_note: str = ""
    # When (wall clock) its current call went out, while phase is SENDING: the row and the
    # request say since when it is on the wire (on_the_wire).
    sending_since: datetime | None = None

    def waiting(self, paused: float, *, budget: bool = False) -> str:
        """What `watchdog status --daemon` says of a restart queued and not sent yet (`paused`:
        seconds for which its key's calls are paused): a 429's pause held it up to
        rate_limit.max_pause while its row said LAST RESTART "13s ago" and NEXT ALLOWED "now"."""
        said = "its restart is queued, not sent yet"
        if self.tries:
            answered = [f"{count} answered {what}" for count, what in
                        ((self.rate_limited, "429"), (self.failures, "5xx, 409 or nothing")) if count]
            said += f": tried {'once' if self.tries == 1 else f'{self.tries} times'}"
            said += f" ({', '.join(answered)})" if answered else ""
        parts = [said, self.message, pause_note(paused, budget=budget) if paused > 0 else ""]
        return "; ".join(part for part in parts if part)

    @property
    def tries_so_far(self) -> int:
        """Its tries, the one on the wire counted (`tries` grows at each answer): `tries: 0` beside
        a call already sent read as nothing sent."""
        return self.tries + (1 if self.phase is Phase.SENDING else 0)

    def on_the_wire(self) -> str:
        """What `watchdog status --daemon` and GET /v1/restarts/{id} say of a restart whose call is
        out and unanswered (phase SENDING). Said "queued, not sent yet", an operator restarted it
        by hand or killed the daemon thinking nothing went out (the next start then reports it
        `interrupted`). Withdrawing it (a resolved alert, a reload) cannot stop a call sent."""
        since = "" if self.sending_since is None else (
            f" since {self.sending_since.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}")
        return (f"its restart call is on the wire{since} (try {self.tries_so_far}), not answered yet; it cannot be "
                "withdrawn now: the API may have received it")

    @property
    def primary(self) -> RestartRequest:
        return self.requests[0]

    @property
    def dry_run(self) -> bool:
        # A live request merged into a dry-run job makes the job live: dry-run never hides a
        # restart someone else really asked for.
        return all(r.dry_run for r in self.requests)

    @property
    def only_failed(self) -> bool:
        """Where the API can (self-managed Kafka Connect), restart only the failed instances of a
        connector whose failure the status showed; a stall, an alert or a person asks for all."""
        return all(r.trigger is Trigger.STATUS for r in self.requests)

    @property
    def polls_only(self) -> bool:
        """Asked for by status polls alone, no firing alert waiting on it: the next poll decides
        again whatever becomes of it here, so a later listing may drop it."""
        return all(r.trigger is Trigger.STATUS for r in self.requests) and not self.alerts

    @property
    def schedules_only(self) -> bool:
        """Asked for by schedule rules alone: a planned backlog, not a failure nor a person."""
        return all(r.trigger is Trigger.SCHEDULE for r in self.requests)

    @property
    def triggers(self) -> list[Trigger]:
        return sorted({r.trigger for r in self.requests})


class JobObserver(Protocol):
    def store_unavailable(self, job: RestartJob) -> str | None:
        """Why a shared state database cannot read or record the job now (a failed write and none
        since, or its connector's state unreadable: a failover in progress), or None. Asked before
        drop_reason: such a job waits for the database for a while, where drop_reason would end it
        `dropped` (as it does at once for a state file's failure)."""

    def drop_reason(self, job: RestartJob) -> str | None:
        """Why the job is no longer wanted at its turn (the connector recovered, the breaker
        opened...), or None to send it."""

    def kept_unwritten(self, job: RestartJob) -> bool:
        """Whether the job, not sent because the state file cannot be written (a full disk), ends
        `unsent`, kept: its requests stay queued in the file and the next start sends them, so
        ended `dropped` here they had two final outcomes (probe_restart F1)."""

    def dry_run_now(self, job: RestartJob) -> bool:
        """Whether the config at the job's turn says dry run for it (whatever it said when the
        job was queued): then it ends dry_run, unsent."""

    def sending(self, job: RestartJob) -> None:
        """A call of the job is about to go out, the first or a retry: the store must hold it as
        possibly sent first (raises JobNotRecorded to stop it, Abandoned when fenced)."""

    def not_sent(self, job: RestartJob) -> bool:
        """The job was marked as possibly sent (`sending`) and then refused its call (this replica
        may no longer send): the store holds it `queued` again, its attempt taken back, so that
        the next leader knows the call never went out. Returns whether that was recorded (never
        raises: a refusal leaves it as it was)."""

    def answered(self, job: RestartJob) -> bool:
        """A call of the job was answered (any HTTP status) and the job is kept for another try:
        the call is no longer on the wire, so the store holds it as `queued` again. Returns
        whether that was recorded (raises Abandoned when fenced)."""

    def finished(self, job: RestartJob) -> None:
        """Count, log and remember the job's terminal outcome."""

    def depth_changed(self, credential: str, depth: int) -> None: ...
