"""A schedule rule's cron as an APScheduler trigger: cronsim computes the fire times (as Debian's
cron would run the line), jitter is added here.

Not APScheduler's CronTrigger, which reads a crontab line differently from cron where a user
pasting one would not notice: it ANDs a restricted day with a restricted weekday where cron ORs
them (`0 3 1 * mon` fired only on Mondays that are the 1st), runs a time the autumn DST change
repeats twice, matches each part of a field with re.match and runs what it read of it (`0 3 1
jan-dec/3 *` fired every month, `lastday` ran as `last`), and counts weekday 0 as Monday.
cronsim (Healthchecks' cron evaluator, written to match Debian's cron, its DST behaviour
included) is what those users expect: restricted day or weekday, either; a time the clock skips
runs when it jumps, a time it repeats once; a job with `*` in the hour runs every real hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from cronsim import CronSim

_MICROSECOND = timedelta(microseconds=1)


class CronScheduleTrigger(BaseTrigger):
    """Fires at the cron's times in `zone`; each run up to `jitter` whole seconds later."""

    __slots__ = ("expr", "jitter", "zone")

    def __init__(self, expr: str, zone: str, jitter: int | None = None) -> None:
        self.expr = expr
        self.zone = ZoneInfo(zone)
        self.jitter = jitter

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        # As APScheduler's CronTrigger: after a previous run, its next time (even if already past,
        # for the scheduler to count as missed); else the first from now on. cronsim gives the
        # times strictly after its start, in the start's zone (so the start is made the rule's).
        # A jittered previous run is later than its time, so that time is not given again.
        start = previous_fire_time if previous_fire_time is not None else now - _MICROSECOND
        times = CronSim(self.expr, start.astimezone(self.zone))
        try:
            fire = next(times)
            # cronsim finds a cron that names its minute and hour (`30 2 * * *`) on the wall clock
            # and gives each time fold 0, the first pass of an hour the autumn change repeats. From
            # a start in the second pass (02:20 CET on the fall-back night: a run jittered there, or
            # a start, a new leader or a reload then) it gave 02:30 CEST, an hour before the start:
            # the night's slot again, so a jittered run came twice or more that night, or was
            # counted missed and never ran, and a start at 02:01 CET ran `59 2` again at once. Such
            # a time has passed: as Debian's cron, the repeated hour runs it once (at most one
            # time per minute of that hour to pass over).
            while fire.astimezone(timezone.utc) <= start.astimezone(timezone.utc):
                fire = next(times)
        except StopIteration:  # no time within cronsim's horizon (50 years)
            return None
        # Jitter added in UTC: added to a local time it is wall-clock arithmetic, and 02:59 CEST
        # plus two minutes on the fall-back night reads as 03:01 CET, an hour and two minutes on.
        return self._apply_jitter(fire.astimezone(timezone.utc), self.jitter, now).astimezone(self.zone)

    def __str__(self) -> str:
        return f"cron[{self.expr} {self.zone.key}]"

    def __repr__(self) -> str:
        jitter = f", jitter={self.jitter}" if self.jitter else ""
        return f"<{type(self).__name__} ({self.expr!r}, timezone='{self.zone.key}'{jitter})>"
