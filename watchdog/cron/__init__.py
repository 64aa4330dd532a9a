"""Schedule rules' cron: the five crontab fields read exactly, and when they fire. Pure: no clock
reads, no scheduler; triggers/cron.py hands `next_fire_time` to APScheduler.

    fields.py    the cron text -> `CronSpec` (the grammar, day-or-weekday), ValueError naming the field
    times.py     `CronSpec` + time zone -> the next fire time (DST: the windows' rule, windows/dst.py)
"""

from .fields import CronSpec, parse_cron
from .times import fires_at_all, next_fire_time

__all__ = ["CronSpec", "fires_at_all", "next_fire_time", "parse_cron"]
