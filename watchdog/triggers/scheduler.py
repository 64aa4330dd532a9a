"""APScheduler wiring: status polls per cluster and schedule rules. Jobs only gather and enqueue.

APScheduler 3.11 notes (DESIGN.md): AsyncIOScheduler in UTC; every job sets coalesce,
max_instances and misfire_grace_time explicitly. A cron rule's trigger is ours (triggers/cron.py),
not APScheduler's CronTrigger, which reads crontab lines differently from cron.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_REMOVED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from ..config import Rule, ScheduleTrigger, StalledTrigger
from ..logs import get_logger
from ..metrics import Metrics
from ..windows import Windows
from .cron import CronScheduleTrigger
from .executor import COALESCED_NOTE, JobExecutor
from .stepped_runs import STEPPED_COALESCED_NOTE, STEPPED_MISSED_NOTE, clock_steps_of
from .streak import REPEAT_EVERY_SECONDS

log = get_logger("watchdog.scheduler")

# A scheduled restart that could not start within 5 minutes of its time is skipped (and counted
# as missed) rather than fired late, when nobody expects it.
SCHEDULE_MISFIRE_GRACE_SECONDS = 300

# An interval rule runs at whole multiples of its interval from this moment (`24h`: each midnight
# UTC), not one interval after the scheduler starts: started afresh at every start of the daemon
# (a rollout, a crash, a new leader), `interval: 24h` in a daemon restarted daily never ran.
INTERVAL_ORIGIN = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Each event the listener reports: its name (the metric's label, the log's job_event) and what it
# means for whoever reads the log at 3 a.m. (docs/runbook.md, WatchdogNotPolling).
_EVENTS = {
    EVENT_JOB_MISSED: ("missed", "not run: it could not start within its grace time of when it was due "
                                 "(the daemon was stopped, stuck or starved of CPU); the next run is at its usual time"),
    EVENT_JOB_MAX_INSTANCES: ("max_instances", "not run: the job's previous run is still running (a poll, a stall "
                                               "check or a schedule run held back by a rate-limit pause, or a slow "
                                               "API); the next run is at its usual time. Said again at most every "
                                               "5 minutes for the same job while it goes on (repeated: the runs "
                                               "skipped since the line before), and for at most 5 jobs every 5 "
                                               "minutes (other_jobs_skipped: the jobs not said since)"),
    EVENT_JOB_ERROR: ("error", "the job failed; the next run is at its usual time"),
}
# A schedule rule due just before this replica began to lead (a start, a rollout, a crash, a
# takeover within the grace after its time): no scheduler was there to start it, and a fresh one
# plans from now. Reported as a missed run, as APScheduler reports one it could not start in time;
# not run late, as cron does not (a late run would also come twice where the last daemon had
# already made it before it stopped).
MISSED_BEFORE_LEADING = ("not run: it came due while no daemon led (a start, a rollout or a takeover just after its "
                         "time); a schedule is not run late, as cron does not: if its restarts are still wanted, "
                         "ask for them (watchdog restart --daemon); the next run is at its usual time")
# The same where the daemon before was still alive when it came due (its last sign of life is
# later) and yet left no restart of the rule: its run may have restarted nothing (every connector
# held by a window, missing, paused), or it was stopping then and did not start it.
PERHAPS_MISSED_ALIVE = ("perhaps not run: the daemon before this one was still alive when it came due, and left no "
                        "restart of the rule (its run may have restarted nothing: look for its decision lines; or it "
                        "was stopping then); a schedule is not run late: if its restarts are still wanted, ask for "
                        "them (watchdog restart --daemon); the next run is at its usual time")
# The same for a cron rule with jitter whose last time came less than its jitter (and the grace)
# before this replica began to lead: the daemon before drew a run for some time in that window,
# and this one cannot tell whether that time had come before it stopped.
PERHAPS_MISSED_JITTERED = ("perhaps not run: its run was jittered to a time up to {jitter}s after this one, and this daemon "
                           "began to lead within that (a start, a rollout or a takeover); the daemon before may have made "
                           "it before it stopped, or not: a schedule is not run late, so look in watchdog history for the "
                           "rule's restarts since then, and ask for them (watchdog restart --daemon) if they were not made; "
                           "the next run is at its usual time")
# A change of the wall clock's offset from the monotonic clock larger than this between two
# heartbeats (a second apart) is a step (NTP's step, `date -s`, a VM restored from a snapshot),
# not the slewing NTP does (at most 0.5 ms per second).
CLOCK_STEP_TOLERANCE_SECONDS = 1.0
# A wall reading whose two monotonic readings around it lie further apart than this tells
# nothing: the process paused between them (a full garbage collection of a large heap, a
# descheduled or CPU-throttled process), and the pause would read as a step of its length.
CLOCK_READING_MAX_SPREAD_SECONDS = 0.1

# APScheduler's own free-text warnings for a skipped or a missed run: the listener reports each as
# one structured `scheduler_job_event` and counts it, and two lines per event, one without the
# job's id as a field, only cost the reader time. Failures are left alone: APScheduler's line
# carries the traceback.
_REPORTED_BY_THE_LISTENER = ('Execution of job "%s" skipped: maximum number of running', 'Run time of job "%s" was missed by')


def _not_reported_by_the_listener(record: logging.LogRecord) -> bool:
    return not (isinstance(record.msg, str) and record.msg.startswith(_REPORTED_BY_THE_LISTENER))


# Where APScheduler 3.11 logs them: the scheduler (skipped) and the "default" executor (missed).
_APSCHEDULER_LOGGERS = ("apscheduler.scheduler", "apscheduler.executors.default")


# The most jobs whose skipped runs are said per REPEAT_EVERY_SECONDS (_SkippedRuns).
MOST_JOBS_SAID = 5


class _SkippedRuns:
    """Which skipped runs (max_instances) are said. A poll held past its interval by an API that
    does not answer (every call running to api.timeouts.total) or by a long 429 pause is skipped
    at every interval for as long as that lasts: a warning per cluster every 10 s, 62 in a
    four-minute outage of three clusters beside the 7 lines that said the outage itself (whose
    repeats are said every 5 minutes, triggers/streak.py). Each job's skips are now said at most
    every REPEAT_EVERY_SECONDS, the later line counting those not said (`repeated`); the rest go
    to debug. The metric counts every one.
    Per job, that still grew with the fleet: a thousand discovered clusters on one lane, their
    polls queued behind each other, made 394 warnings in 30 s (found 2026-12-06). At most
    MOST_JOBS_SAID jobs' lines are said per REPEAT_EVERY_SECONDS across the scheduler; the next
    line said counts the jobs whose skips went unsaid meanwhile (`other_jobs_skipped`)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._said_at: dict[str, float] = {}
        self._unsaid: dict[str, int] = {}
        self._recent: deque[float] = deque()  # when each of the latest lines was said, any job's
        self._held: set[str] = set()  # jobs whose skips went unsaid for the bound since the last line

    def said(self, job_id: str) -> dict[str, object] | None:
        """The fields the line saying this skip adds, or None: not said (debug)."""
        now = self._clock()
        said_at = self._said_at.get(job_id)
        if said_at is not None and 0 <= now - said_at < REPEAT_EVERY_SECONDS:
            self._unsaid[job_id] = self._unsaid.get(job_id, 0) + 1
            return None
        while self._recent and not 0 <= now - self._recent[0] < REPEAT_EVERY_SECONDS:
            self._recent.popleft()
        if len(self._recent) >= MOST_JOBS_SAID:
            self._unsaid[job_id] = self._unsaid.get(job_id, 0) + 1
            self._held.add(job_id)
            return None
        self._recent.append(now)
        self._said_at[job_id] = now
        fields: dict[str, object] = {}
        unsaid = self._unsaid.pop(job_id, 0)
        if unsaid:
            fields["repeated"] = unsaid
        others = self._held - {job_id}
        if others:
            fields["other_jobs_skipped"] = len(others)
        self._held.clear()
        return fields

    def forget(self, job_id: str) -> None:
        """A job removed (its cluster or rule gone, or changed by a reload)."""
        self._said_at.pop(job_id, None)
        self._unsaid.pop(job_id, None)
        self._held.discard(job_id)


def build_scheduler(metrics: Metrics, clock: Callable[[], float] = time.monotonic) -> AsyncIOScheduler:
    def on_coalesced(job_id: str, dropped: list[datetime], instead: datetime, more: bool) -> None:
        last, stepped = dropped[-1], clock_steps_of(scheduler).over(dropped[0])
        note = (STEPPED_COALESCED_NOTE if stepped else COALESCED_NOTE).format(
            runs=f"{len(dropped)}{' or more' if more else ''}", last=last.isoformat(), instead=instead.isoformat(),
            seconds=round(stepped or 0))
        said: dict[str, object] = {"runs": len(dropped), "last_scheduled_run_time": last.isoformat(),
                                   "run_instead": instead.isoformat(), **({"wall_clock_stepped": stepped} if stepped else {})}
        if more:
            said["more"] = True
        report_job_event(metrics, job_id, "missed", dropped[0], note, said=said, count=len(dropped))

    scheduler = AsyncIOScheduler(
        timezone=timezone.utc,
        executors={"default": JobExecutor(on_coalesced)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": SCHEDULE_MISFIRE_GRACE_SECONDS},
    )
    skipped = _SkippedRuns(clock)

    def on_event(event: JobEvent) -> None:
        if event.code == EVENT_JOB_REMOVED:
            skipped.forget(event.job_id)
            return
        name, note = _EVENTS[event.code]
        # Execution events carry one run time; max_instances comes as a submission event with a
        # list (one with coalesce, which every job sets): the latest is the one skipped.
        if isinstance(event, JobSubmissionEvent):
            run_time = max(event.scheduled_run_times)
            said = skipped.said(event.job_id)
        else:
            assert isinstance(event, JobExecutionEvent)
            run_time, said = event.scheduled_run_time, {}
            stepped = clock_steps_of(scheduler).over(run_time) if name == "missed" else None
            if stepped:
                note, said = STEPPED_MISSED_NOTE.format(seconds=round(stepped)), {"wall_clock_stepped": stepped}
        report_job_event(metrics, event.job_id, name, run_time, note, getattr(event, "exception", None), said=said)

    scheduler.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_REMOVED)
    for name in _APSCHEDULER_LOGGERS:
        logging.getLogger(name).addFilter(_not_reported_by_the_listener)  # once: addFilter skips a known one
    return scheduler


def report_job_event(
    metrics: Metrics, job_id: str, name: str, run_time: datetime, note: str, exception: BaseException | None = None,
    said: Mapping[str, object] | None = MappingProxyType({}), count: int = 1,
) -> None:
    """Count and log one job that was not run (or failed): `watchdog_scheduler_job_events_total`
    and one `scheduler_job_event` line (docs/runbook.md, WatchdogNotPolling); `said`: the fields
    that line adds, or None to log it at debug (a repeat, _SkippedRuns). `count`: the runs the
    line stands for (coalesced_away), each counted."""
    metrics.scheduler_events.labels(name).inc(count)
    # Not `event=`: structlog's first argument is the event name.
    fields = {"job_id": job_id, "job_event": name, "scheduled_run_time": run_time.isoformat(), "note": note}
    if exception is not None:
        log.error("scheduler_job_event", error=repr(exception), **fields)
    elif said is None:
        log.debug("scheduler_job_event", **fields)
    else:
        log.warning("scheduler_job_event", **fields, **said)


def due_before(trigger: CronScheduleTrigger | IntervalTrigger, now: datetime,
               grace: float = SCHEDULE_MISFIRE_GRACE_SECONDS) -> datetime | None:
    """The latest time `trigger` came due in the `grace` seconds up to `now`, or None: the run a
    scheduler made at `now` will not start (it plans from `now` on). None too where the next run
    comes within `grace` of that one: a rule that runs that often (`interval: 20s`) would be
    reported at every start, and its next run makes up for it. A cron with jitter: its time (not
    jittered) within `grace` and the jitter before `now`, whose run may have been drawn for a time
    after `now` (a rollout at 03:20 of `0 3 * * *` with jitter 1h lost the night's run without a
    word: no time of the cron in the 5 minutes before)."""
    if isinstance(trigger, CronScheduleTrigger) and trigger.jitter:
        grace += trigger.jitter
        trigger = CronScheduleTrigger(trigger.expr, trigger.zone.key)
    latest, due = None, trigger.get_next_fire_time(None, now - timedelta(seconds=grace))
    while due is not None and due <= now:
        latest, due = due, trigger.get_next_fire_time(due, now)
    # In UTC: two times of one zone subtract as wall-clock times, blind to the fall-back's fold
    # (02:00 CET minus 02:30 CEST read -30 min, and the 02:30 CEST run missed at a start on that
    # night went unreported; 03:00 CEST minus 01:58 CET on the spring night read 62 min, not 2).
    if latest is None or (due is not None and (due.astimezone(timezone.utc) - latest.astimezone(timezone.utc))
                          .total_seconds() <= grace):
        return None
    return latest


@dataclass(frozen=True)
class HeldRuns:
    """What a schedule rule's windows make of its runs from a time on (`check-config`)."""

    runs: int  # runs looked at: those of the next year, at most HELD_RUNS_LOOKED_AT
    held: int  # of them, those at a time its windows are closed (held, not made later)
    first_held: datetime | None
    until: datetime  # the last run looked at
    any_open: bool  # whether any run within the year falls while the windows are open (exact)


HELD_RUNS_LOOKED_AT = 1000
_YEAR = timedelta(days=366)


def held_runs(trigger: CronScheduleTrigger | IntervalTrigger, windows: Windows, start: datetime) -> HeldRuns:
    """Which of a schedule rule's runs of the year from `start` its windows hold (a run is
    decided at its time, unjittered; a jittered one may land within its jitter). A cron in UTC and a
    window in Europe/Berlin (`0 3 * * *`, `Mon-Fri 02:00-04:00 Europe/Berlin`: 04:00 CET, 05:00
    CEST) held every run, and check-config said valid."""
    if isinstance(trigger, CronScheduleTrigger) and trigger.jitter:
        trigger = CronScheduleTrigger(trigger.expr, trigger.zone.key)
    end = start + _YEAR
    runs = held = 0
    first_held: datetime | None = None
    last, previous = start, None
    while runs < HELD_RUNS_LOOKED_AT:
        due = trigger.get_next_fire_time(previous, start if previous is None else previous)
        if due is None or due > end:
            break
        runs, last, previous = runs + 1, due, due
        if not windows.is_open(due):
            held += 1
            first_held = first_held or due
    any_open = held < runs or _an_open_run(trigger, windows, last, end)
    return HeldRuns(runs, held, first_held, last, any_open)


def _an_open_run(trigger: CronScheduleTrigger | IntervalTrigger, windows: Windows, after: datetime, end: datetime) -> bool:
    """Whether a run after `after` up to `end` falls while `windows` are open: from each opening
    to the first run there, without stepping through every run (a cron of every minute)."""
    at = after
    while at <= end:
        opens = windows.next_open(at, horizon=end - at)
        if opens is None:
            return False
        due = trigger.get_next_fire_time(None, opens)
        if due is None or due > end:
            return False
        if windows.is_open(due):
            return True
        at = due
    return False


def add_poll_job(
    scheduler: AsyncIOScheduler, cluster: str, interval: float, poll: Callable[[], Awaitable[None]]
) -> None:
    scheduler.add_job(
        poll,
        IntervalTrigger(seconds=interval, timezone=timezone.utc),
        id=f"poll:{cluster}",
        name=f"status poll of {cluster}",
        next_run_time=datetime.now(timezone.utc),  # the first poll now: readiness waits for it
        misfire_grace_time=max(1, int(interval)),  # a late poll is superseded by the next one
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )


def rule_trigger(rule: Rule) -> CronScheduleTrigger | IntervalTrigger:
    trigger = rule.trigger
    assert isinstance(trigger, ScheduleTrigger)
    if trigger.cron is not None:
        # Jitter on a cron trigger stays within [slot, slot + jitter]; on an interval trigger it
        # would accumulate, so config allows it only with cron.
        return CronScheduleTrigger(trigger.cron, trigger.timezone, jitter=int(trigger.jitter) or None)
    assert trigger.interval is not None
    return IntervalTrigger(seconds=trigger.interval, start_date=INTERVAL_ORIGIN, timezone=timezone.utc)


def add_rule_job(scheduler: AsyncIOScheduler, rule: Rule, run: Callable[[], Awaitable[None]],
                 first_run: datetime | None = None) -> None:
    """`first_run`: when its first run is (run_still_to_come); else the trigger's first time from now."""
    scheduler.add_job(
        run,
        rule_trigger(rule),
        id=f"rule:{rule.name}",
        name=f"schedule rule {rule.name}",
        misfire_grace_time=SCHEDULE_MISFIRE_GRACE_SECONDS,
        coalesce=True,
        max_instances=1,
        replace_existing=True,
        **({"next_run_time": first_run} if first_run is not None else {}),
    )


def run_still_to_come(old: Rule, new: Rule, planned: datetime | None, now: datetime) -> datetime | None:
    """When the run a reload's new trigger for a schedule rule should keep, or None. A cron rule
    with jitter whose run was drawn for a time still to come (`0 3 * * *` with jitter 20m, drawn
    for 03:15) lost it to a reload at 03:05 that changed its trigger (the jitter, the zone, the
    cron to `0 3 * * 1-5` on a Monday): the new job planned from now, tomorrow, without a word. Kept
    where the new trigger also has that time (03:00), at the drawn time or, with a shorter jitter,
    at the end of the new one (or now, if that passed less than the grace ago)."""
    before, after = old.trigger, new.trigger
    if planned is None or planned <= now or not isinstance(before, ScheduleTrigger) or not isinstance(after, ScheduleTrigger):
        return None
    if before.cron is None or not before.jitter or after.cron is None:
        return None
    slot = due_before(CronScheduleTrigger(before.cron, before.timezone), now, grace=before.jitter)
    if slot is None:
        return None
    # In UTC: two times of one zone subtract as wall-clock times, blind to the fall-back's fold.
    slot, planned = slot.astimezone(timezone.utc), planned.astimezone(timezone.utc)
    if (planned - slot).total_seconds() > before.jitter:
        return None
    again = CronScheduleTrigger(after.cron, after.timezone).get_next_fire_time(None, slot)
    # Compared in UTC too: Python says a time the fall-back repeats is never equal to one of another zone.
    if again is None or again.astimezone(timezone.utc) != slot:
        return None  # the new trigger has no run at that time: the edit took it out
    latest = slot + timedelta(seconds=after.jitter)
    if (now - latest).total_seconds() > SCHEDULE_MISFIRE_GRACE_SECONDS:
        return None
    return min(planned, max(latest, now))


def add_stall_job(scheduler: AsyncIOScheduler, rule: Rule, run: Callable[[], Awaitable[None]]) -> None:
    trigger = rule.trigger
    assert isinstance(trigger, StalledTrigger)
    scheduler.add_job(
        run,
        IntervalTrigger(seconds=trigger.interval, timezone=timezone.utc),
        id=f"stalled:{rule.name}",
        name=f"stall check {rule.name}",
        # The first check after one interval: connectors must have been seen RUNNING for the
        # grace period anyway. A late check is superseded by the next one.
        misfire_grace_time=max(1, int(trigger.interval)),
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )


class ClockStepWatch:
    """Notices the wall clock stepping: the offset between the wall clock and the monotonic
    clock changes at once. Pure: the readings are passed in.

    The wall clock is read between two readings of the monotonic clock, and a reading whose
    two lie more than `max_spread` apart is passed over: read wall-then-monotonic, a pause of
    1 s between the two (a garbage collection, the process descheduled on a loaded node) was
    taken for the wall clock stepping back 1 s (`wall_clock_stepped`, a warning), every interval
    job moved 1 s earlier (follow_backward_step), and the next reading for a step forward as
    long. datetime.now() allocates its answer, which may start a full collection just after the
    wall clock was read: 0.35 s for a heap of 360,000 series, more on a loaded node."""

    def __init__(self, tolerance: float = CLOCK_STEP_TOLERANCE_SECONDS,
                 max_spread: float = CLOCK_READING_MAX_SPREAD_SECONDS) -> None:
        self._tolerance = tolerance
        self._max_spread = max_spread
        self._offset: float | None = None

    def step(self, before: float, wall: datetime, after: float, *, keep: bool = False) -> float:
        """Seconds the wall clock stepped since the last reading (negative: back), or 0: `wall`
        read between the monotonic readings `before` and `after`. `keep`: a look that leaves the
        last reading as it was (the heartbeat still says the step)."""
        if after - before > self._max_spread:
            return 0.0  # a pause between the readings: this one cannot tell (the last one kept)
        offset = wall.timestamp() - (before + after) / 2
        previous = self._offset
        if not keep:
            self._offset = offset
        if previous is None or abs(offset - previous) < self._tolerance:
            return 0.0
        return offset - previous


# A step back of the wall clock this long or longer is, to Debian's cron, a new time: every job,
# fixed-time ones too, runs by it (cron.c, "time has changed a lot"); a shorter one runs only the
# jobs with a wildcard in the minute or hour by the new time.
CRON_NEW_TIME_STEP_SECONDS = 3 * 3600


def cron_runs_by_the_clock(trigger: CronScheduleTrigger) -> bool:
    """Whether Debian's cron runs the line by the clock's new time after a short step back: its
    minute or hour field starts with `*` (cron's MIN_STAR, HR_STAR), as `* * * * *`, `*/5 * * * *`,
    `0 * * * *`; not a fixed-time one (`0 3 * * *`, `0,30 2 * * *`)."""
    minute, hour = trigger.expr.split()[:2]
    return minute.startswith("*") or hour.startswith("*")


@dataclass(frozen=True)
class FollowedStep:
    """What follow_backward_step did: the jobs brought onto the new time, and the fixed-time cron
    rules left at the time they planned (which then wait for the clock to come back to it)."""

    moved: list[str]
    waiting: list[str]


def follow_backward_step(scheduler: AsyncIOScheduler, step: float, now: datetime) -> FollowedStep:
    """Bring jobs back by a backward step of the wall clock (`now`: the wall clock after it).

    APScheduler 3 plans on the wall clock: after the clock stepped back an hour, each interval
    job's next run was an hour away, and polls (so every status-triggered restart) stopped for
    that hour without a word. Interval jobs (status polls, interval rules, stall checks) are
    moved back by the step, so that each runs when it would have in real time. A forward step
    needs nothing: the jobs are due, and run at once.

    Cron rules follow Debian's cron (cron.c, its handling of a clock that went backwards): one
    with a wildcard in its minute or hour (cron_runs_by_the_clock) runs by the new time, its next
    run the cron's first time from `now`; before, `* * * * *` did not run for 3 minutes after a
    step back of 180 s, and `*/5 * * * *` would have been silent an hour after NTP put right a
    clock an hour fast. A fixed-time one keeps the time it planned (its run by the new time was
    made by the old one: not made twice), unless the step is CRON_NEW_TIME_STEP_SECONDS or more,
    which cron takes as a new time for every job.
    """
    if step >= 0:
        return FollowedStep([], [])
    moved, waiting = [], []
    for job in scheduler.get_jobs():
        if job.next_run_time is None:
            continue
        if isinstance(job.trigger, IntervalTrigger):
            next_run = job.next_run_time + timedelta(seconds=step)
            if job.trigger.start_date == INTERVAL_ORIGIN:
                # An interval rule runs on its grid since 1970 (`24h`: each midnight UTC): the
                # first time of it from there. Moved as a poll is, a clock an hour fast put right
                # ran `24h` at 23:00 UTC every night until the daemon restarted. Never later than
                # without the step, nor sooner than a whole interval after the last run.
                next_run = job.trigger.get_next_fire_time(None, next_run) or next_run
            job.modify(next_run_time=next_run)
            moved.append(job.id)
        elif isinstance(job.trigger, CronScheduleTrigger):
            if not cron_runs_by_the_clock(job.trigger) and -step < CRON_NEW_TIME_STEP_SECONDS:
                waiting.append(job.id)
                continue
            next_run = job.trigger.get_next_fire_time(None, now)
            if next_run is not None and next_run < job.next_run_time:
                job.modify(next_run_time=next_run)
                moved.append(job.id)
    return FollowedStep(moved, waiting)
