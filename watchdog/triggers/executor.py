"""The scheduler's executor: APScheduler's asyncio one, with what the daemon needs of it (its
jobs left to their owner at shutdown; a schedule rule's coalesced runs told of)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.job import Job
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.interval import IntervalTrigger

from ..logs import get_logger
from .cron import CronScheduleTrigger

log = get_logger("watchdog.scheduler")

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
    counted nothing missed, though the docs promise each run not made is counted and logged.

    A job replaced (a reload that redefines a cluster or a rule's trigger) while its run under
    the old definition still goes on: its first run waits for that one to end and starts then.
    APScheduler counts instances per job id, so it refused the new job's first run as the old
    one's skipped run (`max_instances`), whose note blames a rate-limit pause or a slow API, and
    the cluster went unpolled under its new settings for a whole interval. The jobs are told apart
    by identity: the memory job store keeps each Job object for the job's life, and
    `replace_existing` makes a new one."""

    def __init__(self, on_coalesced: Callable[[str, list[datetime], datetime, bool], None] | None = None) -> None:
        super().__init__()
        self._on_coalesced = on_coalesced
        self._running: dict[str, Job] = {}  # job id -> the Job whose run goes on
        self._waiting: set[str] = set()  # ids of jobs replaced whose first run waits for the old one

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        running = self._running.get(job.id)
        if running is not None and running is not job and job.id in self._instances and job.id not in self._waiting:
            # Its later runs that come due while the old run still goes on are skipped runs as
            # any other (max_instances): a poll held that long is what that line is for.
            self._waiting.add(job.id)
            log.info("scheduler_job_waits", job_id=job.id,
                     note="redefined while its run under the old definition goes on: its first run under the new "
                          "one starts as soon as that run ends")
            return
        if self._on_coalesced is not None and job.coalesce and job.id.startswith("rule:") and run_times \
                and job.next_run_time is not None and job.next_run_time < run_times[-1]:
            dropped, more = coalesced_away(job.trigger, job.next_run_time, run_times[-1])
            if dropped:
                self._on_coalesced(job.id, dropped, run_times[-1], more)
        super().submit_job(job, run_times)
        self._running[job.id] = job

    def _run_job_success(self, job_id: str, events: list[object]) -> None:
        super()._run_job_success(job_id, events)
        self._ended(job_id)

    def _run_job_error(self, job_id: str, exc: BaseException, traceback: object = None) -> None:
        super()._run_job_error(job_id, exc, traceback)
        self._ended(job_id)

    def _ended(self, job_id: str) -> None:
        if job_id in self._instances:
            return
        self._running.pop(job_id, None)
        if job_id not in self._waiting:
            return
        self._waiting.discard(job_id)
        # The job as it is now: removed meanwhile (its cluster gone), or replaced again.
        job = self._scheduler.get_job(job_id) if self._scheduler.state != STATE_STOPPED else None
        if job is not None:
            self.submit_job(job, [datetime.now(timezone.utc)])

    def shutdown(self, wait: bool = True) -> None:
        pass
