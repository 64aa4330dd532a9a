"""Restarts that wait, queued, before their first turn: an alert's restart of a connector that was
restarted moments before (engine/alert_intake.settling decides how long).

A scheduled or requested restart makes a connector's own status, and the alerts Prometheus
derives from it, flip for a moment; an alert that fired on that flip (or one that fired before
the restart and had not caught up) restarted the connector a second time, seconds after the
first. Refused instead, the alert would be acted on again only after Alertmanager's
repeat_interval (hours), and a connector the first restart did not heal would wait that long. So
its restart waits here, off every lane and worker, until the first restart has had its time:
the alert's resolution withdraws it meanwhile (RestartQueue.withdraw, as for any queued restart),
and otherwise it takes its turn then, through the gates as every restart does.

A request by name or by a schedule joining a deferred restart ends the wait: someone asked for
it now. At a shutdown a deferred restart ends `unsent` at once, not after the shutdown deadline,
and the state store keeps it for the next start; when this replica stops leading it is left to
the leader as every job is. The wait itself is not stored: the next start (or leader) defers it
again for what is left of it, from the connector's last restart the store keeps
(engine/recovery.py, Recovery._settling_again).

`DeferredJobs` is mixed into `RestartQueue` (restart_queue.py), as `JobDispatch` is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from ..model import Trigger
from .job import RestartJob
from .lane import FairLane

# Requests that end a deferred restart's wait when they join it: asked for now, by a person or a
# plan, whatever the alert's restart waits for.
_UNDEFERRING = frozenset({Trigger.MANUAL, Trigger.SCHEDULE})


class DeferredJobs:
    # The queue's parts this uses (RestartQueue sets them).
    _lanes: dict[str, FairLane]

    def _init_deferred(self) -> None:
        # Each deferred job and the timer that gives it its turn.
        self._deferred: dict[RestartJob, asyncio.TimerHandle] = {}

    def _defer(self, job: RestartJob, seconds: float, note: str) -> None:
        """Keep a new job off its lane for `seconds`; `note` is what status says it waits for."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # Submitted from outside the loop (a test driving the engine step by step): the
            # loop the queue's workers run on, which is the current one.
            loop = asyncio.get_event_loop()
        job.message = note
        job.deferred_note = note
        self._deferred[job] = loop.call_later(seconds, self._undefer, job)

    def _undefer(self, job: RestartJob) -> None:
        """The job's wait is over (or a request that cannot wait joined it): its turn, now."""
        timer = self._deferred.pop(job, None)
        if timer is None:
            return
        timer.cancel()
        if job.message == job.deferred_note:
            job.message = ""
        job.deferred_note = ""
        if job.outcome is None:
            self._lanes[job.credential].put_nowait(job)

    def _forget_deferral(self, job: RestartJob) -> None:
        """The job ended (withdrawn by its alert's resolution, dropped...): no turn is due, and what
        it waited for is no longer said of it."""
        timer = self._deferred.pop(job, None)
        if timer is not None:
            timer.cancel()
        if job.deferred_note and job.message == job.deferred_note:
            job.message = ""

    def _joined(self, job: RestartJob, trigger: Trigger) -> None:
        """A request of `trigger` joined the job."""
        if job in self._deferred and trigger in _UNDEFERRING:
            self._undefer(job)

    def _take_deferred(self) -> Iterable[RestartJob]:
        """Stop every deferred job's wait (a shutdown, a loss of the lead): the jobs, none put in a lane."""
        for timer in self._deferred.values():
            timer.cancel()
        jobs = list(self._deferred)
        self._deferred.clear()
        return jobs
