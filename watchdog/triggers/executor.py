"""The scheduler's executor: APScheduler's asyncio one, with what the daemon needs of it (its
jobs left to their owner at shutdown; a schedule rule's coalesced runs told of)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.job import Job
from apscheduler.triggers.interval import IntervalTrigger

from .cron import CronScheduleTrigger

# A schedule rule's runs that came due together while the daemon could not run jobs (stopped by
# SIGSTOP, stuck, starved of CPU): with coalesce, APScheduler runs the latest alone and drops the
# others before its grace check, without a word. Each is counted as missed and said in one line.
COALESCED_NOTE = ("not run: it came due while the daemon could not run jobs (it was stopped, stuck or starved of "
                  "CPU), and a later run of the rule came due before it could start ({runs} run(s) not made so, the "
                  "last at {last}); only the latest is run ({instead}; or said missed in a line of its own if it too is "
                  "past its grace), never each one late; "
                  "each run not made is counted as missed; if their restarts are still wanted, ask for them "
                  "(watchdog restart --daemon)")
# The most coalesced runs of one execution counted (a rule of `interval: 10s` frozen for a week
# came due 60,480 times): past it, the line says `more: true`.
COALESCED_COUNTED = 10_000


def coalesced_away(trigger: object, first: datetime, last: datetime) -> tuple[list[datetime], bool]:
    """A rule's run times from `first` (the job's next run time when it came due) up to before
    `last` (the run made): those a coalesced execution stands for and does not make; and whether
    there were more than COALESCED_COUNTED. Jitter left out (a cron's jitter is shorter than the
    time between two of its runs, so each time is its slot's)."""
    if isinstance(trigger, CronScheduleTrigger) and trigger.jitter:
        trigger = CronScheduleTrigger(trigger.expr, trigger.zone.key)
    if not isinstance(trigger, CronScheduleTrigger | IntervalTrigger):
        return [], False
    times = [first]
    due = trigger.get_next_fire_time(first, first)
    while due is not None and due <= last:
        if len(times) > COALESCED_COUNTED:
            return times[:COALESCED_COUNTED], True
        times.append(due)
        due = trigger.get_next_fire_time(due, due)
    return times[:-1], False


class JobExecutor(AsyncIOExecutor):
    """APScheduler's asyncio executor, except that its shutdown leaves running jobs to their
    owner. APScheduler cancels every job task at shutdown; a task cancelled before its first
    step dies outside the job's own code and is logged as "Error running job" at ERROR with a
    traceback, which happened whenever a stop coincided with a poll. The daemon's jobs end
    themselves instead: one that starts while the daemon stops returns at once, and the daemon
    cancels those still running, which treat that as a normal end (app.Daemon._job).

    `on_coalesced`: told of a schedule rule's runs a coalesced execution drops (coalesced_away),
    here where the job still has the first of them as its next run time. APScheduler's own
    events name only the run it makes: a 6-minute SIGSTOP of a `* * * * *` rule made one run and
    counted nothing missed, though the docs promise each run not made is counted and logged."""

    def __init__(self, on_coalesced: Callable[[str, list[datetime], datetime, bool], None] | None = None) -> None:
        super().__init__()
        self._on_coalesced = on_coalesced

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        if self._on_coalesced is not None and job.coalesce and job.id.startswith("rule:") and run_times \
                and job.next_run_time is not None and job.next_run_time < run_times[-1]:
            dropped, more = coalesced_away(job.trigger, job.next_run_time, run_times[-1])
            if dropped:
                self._on_coalesced(job.id, dropped, run_times[-1], more)
        super().submit_job(job, run_times)

    def shutdown(self, wait: bool = True) -> None:
        pass
