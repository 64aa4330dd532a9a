"""What the fleet breaker's window counts of a failure restart: the call that made it, or may
have (`max_restarts` bounds restarts made, not calls refused). Counted as its call goes out
(before the answer: one whose answer never comes, a timeout, may have run, and counted is the
safe side; a kill -9 meanwhile leaves it in the history that `recall_restarts` reads), and taken
back when the answer proves that very call ran nothing (a 429, a 409 of a self-managed cluster
between leaders, no connection made: NOTHING_RAN), or when the call never went
out. Its retry then counts again when it goes, and meets the fleet limit again at its turn as a
first turn does (Gates.dispatch_gate: not `counted`).

Counted once at the first try and never taken back, restarts answered 429 took room they never
used (the breaker said "12 restarts in the last 60s" when none had been made), and their retries
after the pause went un-gated and uncounted: 32 failure restarts made within 22 s with
`max_restarts: 20` per minute (probe_breaker F1, 2026-12-07)."""

from __future__ import annotations

from datetime import datetime

from ..breaker import Breaker
from ..queue import RestartJob

# Answers that prove the restart ran nothing: the rate limit refused it, or a self-managed
# cluster's worker answered that a rebalance is under way (no leader to run it).
NOTHING_RAN = frozenset({429, 409})


def count_sent(breaker: Breaker, job: RestartJob, now: datetime) -> None:
    """A call of a failure restart is about to go out: counted, unless an earlier call of it is
    (one that may have run: its retries add nothing)."""
    if job.fleet_counted is None:
        breaker.record_restart(now)
        job.fleet_counted = (now, job.tries)  # when, and which call (the tries answered before it)


def take_back_unmade(breaker: Breaker, job: RestartJob, *, went_out: bool = True) -> None:
    """The job's last call was answered (`job.tries` counts it), or never went out (`went_out`
    False): if that call is the one counted and it ran nothing, its entry leaves the window."""
    counted = job.fleet_counted
    if counted is None:
        return
    at, call = counted
    if went_out and (call != job.tries - 1 or not (job.last_call_not_run or job.status_code in NOTHING_RAN)):
        return  # another call is counted (one that may have run), or this one may have run
    breaker.take_back(at)
    job.fleet_counted = None
