"""Daylight saving time: the instant at which a zone's wall clock first reads a given time.

Each weekly occurrence is ONE stretch of real time, [start, end): from the first instant at which
the local wall clock reads the start time (or later) to the first instant at which it reads the end
time (or later). Concretely:

- a wall time that occurs twice (fall-back) resolves to its first occurrence;
- a wall time that does not exist (spring-forward gap) resolves to the instant the clocks jump
  over it, that is, the end of the gap.

So in Europe/Berlin, `Mon-Sun 02:00-03:00` is empty on the spring-forward day (the clock never
reads 02:xx) and lasts two real hours on the fall-back day (03:00 comes only after both passes
through 02:xx). `01:00-02:30` on the spring-forward day closes when the clock jumps from 02:00 to
03:00; on the fall-back day it closes at the first 02:30 and does not reopen on the second pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_MICROSECOND = timedelta(microseconds=1)


def first_instant_reading(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in `zone` reads `wall` or later.

    For a wall time that occurs twice this is its first occurrence (fold=0). For one that does
    not occur it is the instant the clock jumps over it.
    """
    first_pass = wall.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    if first_pass.astimezone(zone).replace(tzinfo=None) == wall:
        return first_pass
    return _jump_over_gap(wall, first_pass, zone)


def _jump_over_gap(wall: datetime, after_jump: datetime, zone: ZoneInfo) -> datetime:
    """The instant of the spring-forward jump that skips the non-existent `wall` time.

    fold=0 reads a gap time with the offset from before the jump, which lands `after_jump`
    past the jump; `wall` minus the offset from after the jump lands before it. zoneinfo does
    not expose its transition table, so bisect between the two on whole microseconds: at most
    about 32 conversions for a one-hour gap, and only for times that fall into a gap.
    """
    after_offset = _utc_offset(after_jump, zone)
    before_jump = (wall - after_offset).replace(tzinfo=timezone.utc)
    while after_jump - before_jump > _MICROSECOND:
        middle = before_jump + (after_jump - before_jump) // 2
        if _utc_offset(middle, zone) == after_offset:
            after_jump = middle
        else:
            before_jump = middle
    return after_jump


def _utc_offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset; this narrows the type
    return offset
