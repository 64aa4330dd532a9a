"""A connector's throughput history: the records it moved and the lag behind it, over time.

The Metrics API answers for minutes that are long past (research note §5), and the connector's
windows (restarts, pauses, stalls) are replaced as new calls arrive, so the past cannot be
recomputed later. Instead the connector writes each stretch of time here once, when it is over,
and the metrics are read back from this ledger.

Within one segment the record rate and the lag's growth rate are constant, so the cumulative
record count and the lag are linear in time and any interval can be summed exactly.

The lag model (the simulator's, not Confluent's): the upstream side (the sink's topics, the
source's system) produces at the connector's `records_per_second` unless the connector is idle.
While the connector flows it keeps up, so the lag is 0; while it does not flow the lag grows by
what upstream produced; when it flows again it catches up at once (the catch-up is not counted
as records, so the records counter keeps its simple meaning).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Segment:
    start: float
    end: float
    records_at_start: float  # cumulative records at `start`
    records_rate: float
    lag_at_start: float
    lag_rate: float

    def records_at(self, t: float) -> float:
        return self.records_at_start + self.records_rate * (t - self.start)

    def lag_at(self, t: float) -> float:
        return self.lag_at_start + self.lag_rate * (t - self.start)


class ThroughputLedger:
    """Segments [start, end) laid end to end from the connector's creation."""

    def __init__(self, start: float) -> None:
        self._start = start
        self._segments: list[_Segment] = []
        self._starts: list[float] = []  # segment starts, for bisect

    @property
    def start(self) -> float:
        """When the connector was created."""
        return self._start

    @property
    def end(self) -> float:
        """The time up to which the history is written."""
        return self._segments[-1].end if self._segments else self._start

    def extend(self, end: float, *, flowing: bool, upstream_rate: float) -> None:
        """Write [self.end, end): flowing (RUNNING, not stalled) or not, at an upstream rate."""
        start = self.end
        if end <= start:
            return
        records = self.records_at(start)
        if flowing:
            segment = _Segment(start, end, records, upstream_rate, 0.0, 0.0)
        else:
            segment = _Segment(start, end, records, 0.0, self.lag_at(start), upstream_rate)
        last = self._segments[-1] if self._segments else None
        if (
            last is not None
            and last.records_rate == segment.records_rate
            and last.lag_rate == segment.lag_rate
            and last.lag_at(start) == segment.lag_at_start
        ):
            # Same rates and a continuous lag: one longer segment keeps the history short.
            self._segments[-1] = _Segment(
                last.start, end, last.records_at_start, last.records_rate,
                last.lag_at_start, last.lag_rate,
            )  # fmt: skip
            return
        self._segments.append(segment)
        self._starts.append(start)

    def records_at(self, t: float) -> float:
        """Cumulative records at time t (0 before creation; the last value after `end`)."""
        segment = self._segment_for(t)
        return 0.0 if segment is None else segment.records_at(min(t, segment.end))

    def records_between(self, start: float, end: float) -> int:
        """Whole records moved in [start, end), consistent with the snapshot's int counter."""
        return int(self.records_at(end)) - int(self.records_at(start))

    def lag_at(self, t: float) -> float:
        segment = self._segment_for(t)
        return 0.0 if segment is None else segment.lag_at(min(t, segment.end))

    def max_lag(self, start: float, end: float) -> int:
        """The largest lag in [start, end) (its supremum: lag only grows within a segment)."""
        highest = 0.0
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        for segment in self._segments[first:]:
            if segment.start >= end:
                break
            if segment.end > start:
                highest = max(highest, segment.lag_at(min(segment.end, end)))
        return int(highest)

    def _segment_for(self, t: float) -> _Segment | None:
        """The segment holding t (the last one after `end`); None before the history starts."""
        if not self._segments or t < self._starts[0]:
            return None
        return self._segments[bisect.bisect_right(self._starts, t) - 1]
