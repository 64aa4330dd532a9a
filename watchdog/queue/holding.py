"""Restarts that wait, queued and off every worker, for their cluster to be let through again:
parked while the cluster's Connect API answers only server errors (ratelimit/outage.py's hold),
while a call of it has gone unanswered for SLOW_CALL_SECONDS, or while its key is refused
(connect/refusal.py); and put back in their lane, longest held first, as the hold allows.

`JobHolding` is the part of `JobDispatch` (dispatch.py) that parks and releases; `RestartQueue`
(restart_queue.py) keeps the lanes and sets the attributes it reads.
"""

from __future__ import annotations

import asyncio

from ..connect import ConnectBackend, Gateway
from ..connect.gateway import SLOW_CALL_SECONDS
from ..connect.refusal import RECHECK_SECONDS, refused_note
from ..ratelimit.outage import PROBE_WINDOW
from .job import RestartJob
from .lane import FairLane

# What a held restart says while it waits (cleared when it goes again).
HELD_MESSAGE = ("held: the cluster's Connect API answers only server errors (restarts_held); it stays queued "
                "and goes once the API answers again")
# What a restart says while it waits for a call to its cluster that went unanswered (cleared as
# HELD_MESSAGE is).
SLOW_MESSAGE = ("waiting: a call to the cluster's Connect API has had no answer for 5 s or more; it stays queued and "
                "goes once that call ends, so that a cluster whose API hangs does not take every call of the key")
WAITING_MESSAGES = frozenset({HELD_MESSAGE, SLOW_MESSAGE})


class JobHolding:
    # The queue's parts this uses (RestartQueue sets them).
    _gateways: dict[str, Gateway]
    _backends: dict[str, ConnectBackend]
    _credentials: dict[str, str]
    _stopping: bool
    _lanes: dict[str, FairLane]
    # Restarts waiting for their cluster's hold (ratelimit/outage.py), longest held first, and
    # the timer that looks at the hold again.
    _held_jobs: dict[str, dict[RestartJob, None]]
    _release_timers: dict[str, asyncio.TimerHandle]

    def _parked(self, job: RestartJob) -> bool:
        """Whether the job waits, queued, for its cluster's restarts to be let through again
        (parked here until then): its API has answered only server errors (ratelimit/outage.py)."""
        if self._slow(job.key.cluster):
            self._park(job, SLOW_MESSAGE)
            return True
        if (refused := self._gateways[self._credentials[job.key.cluster]].refused_note(job.key.cluster)) is not None:
            # Its key refused (401), or refused on its cluster alone: waits, unsent, until it works (connect/refusal.py).
            self._park(job, refused)
            return True
        hold = self._gateways[self._credentials[job.key.cluster]].limiter.restart_hold
        if hold.wait(job.key.cluster, caller=job.id) <= 0:
            return False
        self._park(job)
        return True

    def _slow(self, cluster: str) -> bool:
        """Whether a call of `cluster` has been on the wire unanswered for SLOW_CALL_SECONDS while
        its lane serves other clusters too: its other restarts then wait, parked, until that call
        ends. A cluster whose API takes calls and answers none (or only after the timeout) took
        every one of the key's max_concurrent_requests workers and slots otherwise (the lane
        passes the turn on after 5 s, so four restarts of it were on the wire within 15 s, each
        for api.timeouts.total): every poll and restart of the key's other clusters waited ~30 s,
        polls skipped as still running, again at each round of retries until the hold below
        began. A lane of one cluster (a self-managed one, whose restarts take up to 100 s) is
        left as it was: there is no other cluster to keep a slot for."""
        lane = self._credentials[cluster]
        if self._gateways[lane].unanswered_for(cluster) < SLOW_CALL_SECONDS:
            return False
        return any(other != cluster and routed == lane for other, routed in self._credentials.items())

    def _park(self, job: RestartJob, message: str = HELD_MESSAGE) -> None:
        """Off every worker, behind the cluster's other held restarts: the one let through after a
        pause is the longest held, and one that failed goes to the back, so that a long outage
        spreads its few tries over the jobs instead of spending one job's retries on them."""
        self._held_jobs.setdefault(job.key.cluster, {})[job] = None
        # Said where a person waiting on it looks (GET /v1/restarts/{id}, `watchdog restart
        # --daemon`): a bare "pending" for the whole outage read as a daemon that was stuck.
        job.message = message
        if job.key.cluster not in self._release_timers:
            self._release_held(job.key.cluster)

    def _release_held(self, cluster: str | None) -> None:
        """Put the cluster's held restarts back in their lane as its hold allows: all of them
        once it ended, one after a pause (the others wait for its answer, or PROBE_WINDOW), none
        before. Called when a job is parked, when the hold changes (Gateway.on_hold_change; None:
        the whole key's, so every cluster's) and when the timer this sets is due."""
        if cluster is None:
            for each in list(self._held_jobs):
                self._release_held(each)
            return
        timer = self._release_timers.pop(cluster, None)
        if timer is not None:
            timer.cancel()
        lane = self._credentials.get(cluster)
        if lane and cluster in self._held_jobs and not self._stopping and self._gateways[lane].refused_note(cluster):
            # Its key refused: looked at again in a while, no call (a reload may rotate it or move the cluster).
            self._release_timers[cluster] = asyncio.get_running_loop().call_later(RECHECK_SECONDS, self._release_held, cluster)
            return
        held = self._held_jobs.get(cluster)
        if held is None or self._stopping:
            return  # past the shutdown deadline nothing goes: they end unsent, and say they were held
        for job in [job for job in held if job.outcome is not None]:
            del held[job]  # ended meanwhile (withdrawn, cancelled)
        if not held:
            # Before the route is read: the cluster may have been removed since, its route let go
            # with its last restart (RestartQueue.remove_cluster).
            del self._held_jobs[cluster]
            return
        if self._slow(cluster):
            return  # until the unanswered call ends: the gateway calls this then (on_hold_change)
        hold = self._gateways[self._credentials[cluster]].limiter.restart_hold
        free: list[RestartJob] = []
        wait = 0.0
        if not hold.held(cluster):
            free = list(held)
        elif held:
            wait = hold.wait(cluster)
            if wait <= 0:
                free, wait = [next(iter(held))], PROBE_WINDOW
        for job in free:
            del held[job]
            if job.message in WAITING_MESSAGES or refused_note(job.message):
                job.message = ""
            self._lanes[job.credential].put_nowait(job)
        if not held:
            del self._held_jobs[cluster]
            return
        self._release_timers[cluster] = asyncio.get_running_loop().call_later(wait, self._release_held, cluster)
