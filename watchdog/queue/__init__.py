"""The restart queue, split along its seams (each file has one job):

    job.py            a restart job, its phases, the observer the queue reports to, and the
                      exceptions that stop a job
    lane.py           the jobs waiting in one lane, taken in turn per cluster
    restart_queue.py  the queue: a lane of jobs per rate-limit lane, deduplicated per connector,
                      sent through the lane's rate limiter and retried within bounds, ended
                      exactly once
    dispatch.py       sending one job: the gates before each call, the calls through the lane's
                      rate limiter, the retry it is due (its delay) or the outcome it ends with
    holding.py        restarts parked, off every worker, while their cluster is held (server
                      errors only, a call unanswered, its key refused), and let back in turn
    deferral.py       restarts that wait, queued, before their first turn (an alert's restart
                      of a connector restarted moments before)
    stopping.py       stopping the queue: at a shutdown (what is queued is tried until a
                      deadline, then ends unsent or interrupted), and when this replica stops
                      leading (every job left to the leader)
    election.py       a restart a self-managed cluster did not run because it was between
                      leaders, tried again within bounds of its own without spending max_retries

Every name the rest of the package imports is re-exported here.
"""

from .job import (
    Abandoned,
    JobNotRecorded,
    JobObserver,
    Phase,
    QueueClosed,
    QueueFull,
    RestartJob,
    new_job_id,
    pause_note,
)
from .restart_queue import RestartQueue

__all__ = [
    "Abandoned",
    "JobNotRecorded",
    "JobObserver",
    "Phase",
    "QueueClosed",
    "QueueFull",
    "RestartJob",
    "RestartQueue",
    "new_job_id",
    "pause_note",
]
