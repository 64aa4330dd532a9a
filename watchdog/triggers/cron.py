"""A schedule rule's cron as an APScheduler trigger: fire times from watchdog/cron, jitter added.

Not APScheduler's CronTrigger, which differs from crontab where a user pasting a crontab line
would not notice (watchdog/cron/fields.py, times.py): it ANDs a restricted day with a restricted
weekday where crontab ORs them, and fires twice in the hour a fall-back repeats. An OrTrigger of
two CronTriggers would fix the first but not the second, and would take its jitter from whichever
of its triggers fired (two draws, the earlier kept) unless given its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from ..cron import next_fire_time, parse_cron


class CronScheduleTrigger(BaseTrigger):
    """Fires at the cron's times in `zone`; each run up to `jitter` whole seconds later."""

    __slots__ = ("expr", "jitter", "spec", "zone")

    def __init__(self, expr: str, zone: str, jitter: int | None = None) -> None:
        self.expr = expr
        self.spec = parse_cron(expr)
        self.zone = ZoneInfo(zone)
        self.jitter = jitter

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        # As APScheduler's CronTrigger: after a previous run, the next time after it (even if
        # already past, for the scheduler to count as missed); else the first from now. A jittered
        # previous run is later than its time, so its time is not chosen again.
        start = now
        if previous_fire_time is not None:
            start = min(now.astimezone(timezone.utc), previous_fire_time.astimezone(timezone.utc) + timedelta(microseconds=1))
        fire = next_fire_time(self.spec, self.zone, start)
        if fire is None:
            return None
        # Jitter added in UTC: added to a local time it is wall-clock arithmetic, and 02:59 CEST
        # plus two minutes on the fall-back night reads as 03:01 CET, an hour and two minutes on.
        return self._apply_jitter(fire.astimezone(timezone.utc), self.jitter, now).astimezone(self.zone)

    def __str__(self) -> str:
        return f"cron[{self.expr} {self.zone.key}]"

    def __repr__(self) -> str:
        jitter = f", jitter={self.jitter}" if self.jitter else ""
        return f"<{type(self).__name__} ({self.expr!r}, timezone='{self.zone.key}'{jitter})>"
