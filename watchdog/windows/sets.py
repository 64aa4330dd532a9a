"""Allowed and blackout windows together: whether restarts may happen now, and when next.

`Windows` combines allowed and blackout windows: open when inside any allowed window (or when no
allowed list is given) and inside no blackout window. `Windows.intersect` applies the global
windows on top of a rule's own. `next_open` is exact: it merges the windows' intervals over the
horizon instead of stepping through time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo

from .specs import LATEST, AbsoluteWindow, Interval, WeeklyWindow, WindowSpec, as_utc

DEFAULT_HORIZON = timedelta(days=400)  # a yearly window (Christmas freeze) plus a month of slack
_FIRST_LOOK = timedelta(days=8)  # a weekly window recurs within 7 days; 1 more for DST and 24:00


class Windows:
    """When restarts may happen: inside an allowed window and outside every blackout window.

    `allowed=None` means no restriction; an empty list means never open. Immutable and hashable.
    """

    __slots__ = ("_allowed_groups", "_blackout")

    def __init__(
        self, allowed: Sequence[WindowSpec] | None = None, blackout: Sequence[WindowSpec] = ()
    ) -> None:
        self._allowed_groups: tuple[tuple[WindowSpec, ...], ...] = (
            () if allowed is None else (_specs(allowed, "allowed"),)
        )
        self._blackout: tuple[WindowSpec, ...] = _specs(blackout, "blackout")

    @property
    def allowed_groups(self) -> tuple[tuple[WindowSpec, ...], ...]:
        """Open only when inside some window of EVERY group (one group per `intersect`ed part)."""
        return self._allowed_groups

    @property
    def blackout(self) -> tuple[WindowSpec, ...]:
        return self._blackout

    def intersect(self, other: Windows) -> Windows:
        """Open exactly when both are open: the global windows applied on top of a rule's own."""
        combined = Windows(blackout=self._blackout + other._blackout)
        # Each side keeps its own "any of these" group: (A or B) and (C) is not one flat list.
        combined._allowed_groups = self._allowed_groups + other._allowed_groups
        return combined

    def is_open(self, at: datetime) -> bool:
        as_utc(at, "at")
        allowed = all(any(spec.contains(at) for spec in group) for group in self._allowed_groups)
        return allowed and not any(spec.contains(at) for spec in self._blackout)

    def next_open(self, after: datetime, horizon: timedelta = DEFAULT_HORIZON) -> datetime | None:
        """The earliest instant in [after, after + horizon] at which the windows are open.

        `after` itself when open now; None when closed for the whole horizon. The result is in
        the time zone of `after`. Exact, without stepping: it merges the windows' occurrences,
        first over the coming week (where a weekly window opens) and only if that finds nothing
        over the whole horizon (about 57 occurrences per listed weekday in 400 days, a few ms).
        """
        start = as_utc(after, "after")
        if horizon < timedelta(0):
            raise ValueError(f"horizon must not be negative, got {horizon}")
        for reach in sorted({min(horizon, _FIRST_LOOK), horizon}):
            found = self._first_open_instant(start, start + reach)
            if found is not None:
                return found.astimezone(after.tzinfo)
        return None

    def next_open_shown(self, after: datetime) -> datetime | None:
        """next_open, in the zone the windows were written in when they share one (`Mon-Sun
        19:11-19:18 Asia/Kolkata`: 19:11+05:30, not 13:41+00:00, which the reader had to convert
        back), else in the zone of `after`: for the `next open` a closed window's decision says."""
        found = self.next_open(after)
        zones = {zone for spec in (*(s for group in self._allowed_groups for s in group), *self._blackout)
                 for zone in _zones_written(spec)}
        return found.astimezone(zones.pop()) if found is not None and len(zones) == 1 else found

    def _first_open_instant(self, start: datetime, limit: datetime) -> datetime | None:
        """The earliest open instant in [start, limit], both UTC."""
        allowed = [(start, LATEST)]
        for group in self._allowed_groups:
            allowed = _intersection(allowed, _union(spec.intervals(start, limit) for spec in group))
        blocked = _union(spec.intervals(start, limit) for spec in self._blackout)
        found = _first_unblocked_instant(allowed, blocked)
        return found if found is not None and found <= limit else None

    def describe(self) -> str:
        """One line for logs, e.g. `allowed: Mon-Fri 06:30-20:30 Europe/Berlin; blackout: none`."""
        groups = [" | ".join(map(str, group)) or "never" for group in self._allowed_groups]
        if not groups:
            allowed = "always"
        elif len(groups) == 1:
            allowed = groups[0]
        else:
            allowed = " and ".join(f"({group})" for group in groups)
        blackout = " | ".join(map(str, self._blackout)) or "none"
        return f"allowed: {allowed}; blackout: {blackout}"

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"Windows({self.describe()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Windows):
            return NotImplemented
        return (self._allowed_groups, self._blackout) == (other._allowed_groups, other._blackout)

    def __hash__(self) -> int:
        return hash((self._allowed_groups, self._blackout))


def _zones_written(spec: WindowSpec) -> list[tzinfo]:
    """The zones (or fixed offsets) a window was written in; none for `always` and `never`."""
    if isinstance(spec, WeeklyWindow):
        return [spec.zone]
    if isinstance(spec, AbsoluteWindow):
        return [zone for zone in (spec.start.tzinfo, spec.end.tzinfo) if zone is not None]
    return []


def _specs(specs: Sequence[WindowSpec], name: str) -> tuple[WindowSpec, ...]:
    # A bare string is a Sequence too; without this check it would become one spec per letter.
    if isinstance(specs, str) or not all(isinstance(spec, WindowSpec) for spec in specs):
        raise TypeError(
            f"{name} must be a list of parsed windows (see parse_window), got {specs!r}"
        )
    return tuple(specs)


def _union(interval_lists: Iterable[list[Interval]]) -> list[Interval]:
    """Sorted, disjoint intervals covering the same time; touching intervals are joined."""
    merged: list[Interval] = []
    for start, end in sorted(interval for intervals in interval_lists for interval in intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersection(left: list[Interval], right: list[Interval]) -> list[Interval]:
    """Time covered by both of two sorted, disjoint interval lists."""
    both: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start, end = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if start < end:
            both.append((start, end))
        # Drop whichever interval ends first: it cannot overlap anything further on.
        if left[i][1] <= right[j][1]:
            i += 1
        else:
            j += 1
    return both


def _first_unblocked_instant(allowed: list[Interval], blocked: list[Interval]) -> datetime | None:
    """The earliest instant inside `allowed` and outside `blocked` (both sorted and disjoint)."""
    blocked_ends = [end for _, end in blocked]
    for start, end in allowed:
        candidate = start
        # The first blackout that ends after the candidate; if it has begun, wait for its end.
        # `_union` joined touching blackouts, so the next one starts strictly later.
        index = bisect.bisect_right(blocked_ends, candidate)
        if index < len(blocked) and blocked[index][0] <= candidate:
            candidate = blocked[index][1]
        if candidate < end:
            return candidate
    return None
