"""Schedule runs a forward step of the wall clock jumped over: said as that, not as the daemon's
fault. After NTP stepped a clock that ran 400 s slow, 25 runs of two rules were counted missed
with the note "it came due while the daemon could not run jobs (it was stopped, stuck or starved
of CPU)", beside the `wall_clock_stepped` line that said what happened. They are still counted
missed (an alert on `missed` fires for them: runs were not made), and the note says why."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from apscheduler.schedulers.asyncio import AsyncIOScheduler

# A step is noticed at the heartbeat after it (a second apart): the wall time it jumped from lies
# up to this much before the reading minus the step.
_NOTICED_WITHIN = timedelta(seconds=2)

_WHY = ("not run: the wall clock stepped forward {seconds:g}s over its time (wall_clock_stepped: NTP putting right "
        "a clock that ran slow, or the machine suspended and resumed), so it was jumped over, not late because the "
        "daemon was stopped, stuck or starved of CPU")
STEPPED_COALESCED_NOTE = (_WHY + "; {runs} run(s) jumped over so, the last at {last}; only the latest is run ({instead}; "
                          "or said missed in a line of its own if it too is past its grace), never each one late; each "
                          "is counted as missed (watchdog_scheduler_job_events_total{{event=\"missed\"}}); if their "
                          "restarts are still wanted, ask for them (watchdog restart --daemon)")
STEPPED_MISSED_NOTE = (_WHY + ", and it is more than its grace past; counted as missed; the next run is at its usual time")


class ClockSteps:
    """The stretches of wall time forward steps jumped over (the last few), and `pending`: a step
    the heartbeat has not noticed yet (a job the scheduler runs first), as (seconds, wall now)."""

    def __init__(self) -> None:
        self._gaps: deque[tuple[datetime, datetime, float]] = deque(maxlen=8)
        self.pending: Callable[[], tuple[float, datetime] | None] | None = None

    def add(self, step: float, wall: datetime) -> None:
        """A step of `step` seconds noticed at `wall` (the wall clock after it); back ones ignored."""
        if step > 0:
            self._gaps.append((wall - timedelta(seconds=step) - _NOTICED_WITHIN, wall, step))

    def over(self, run_time: datetime) -> float | None:
        """The seconds of the forward step that jumped over `run_time`, or None."""
        gaps = list(self._gaps)
        pending = self.pending() if self.pending is not None else None
        if pending is not None and pending[0] > 0:
            step, wall = pending
            gaps.append((wall - timedelta(seconds=step) - _NOTICED_WITHIN, wall, step))
        for start, end, step in reversed(gaps):
            if start < run_time <= end:
                return step
        return None


_OF: WeakKeyDictionary[AsyncIOScheduler, ClockSteps] = WeakKeyDictionary()


def clock_steps_of(scheduler: AsyncIOScheduler) -> ClockSteps:
    """The forward steps known to `scheduler`'s listener (one per scheduler: each lead builds one)."""
    steps = _OF.get(scheduler)
    if steps is None:
        steps = _OF[scheduler] = ClockSteps()
    return steps
