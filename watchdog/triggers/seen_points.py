"""The points the Metrics API answered before, per metric and connector id: what an answer that
leaves them out says of the API, not of the connector.

A point once answered stays in the API's data: the Metrics API fills minutes in late, it does not
take them back. So an id whose last point seen lies inside the range a query asks about again, and
whose answer holds no point at all for it now, tells of the API's answer (a dataset or a pipeline
answering empty, a gateway serving `{"data": []}`, a cut page), not of the connector: no point
reads as "sent nothing", and before, every source and sink of such an answer was judged idle (an
idle sink as healthy, which ended the backoff of one that was stalled), and the check was said to
have recovered. Compared per id, by any point in the range, so that rules of other windows and
granularities read the same connector alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from ..stall import Points, Windows

# How long a point seen is remembered: past the longest range any query reads (three windows of
# the coarsest granularity, GRANULARITIES) it can be asked about by no rule. Bounds the memory
# of connectors deleted since.
REMEMBERED_FOR = timedelta(days=8)


class SeenPoints:
    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], datetime] = {}  # (metric, id) -> its latest point seen
        self._pruned_at: datetime | None = None

    def vanished(self, metric: str, ids: Iterable[str], points: Mapping[str, Points], windows: Windows) -> set[str]:
        """Of `ids` (those an answered query asked about), the ones with no point now although a
        point seen before lies within the windows asked about."""
        gone = set()
        for resource_id in ids:
            seen = self._latest.get((metric, resource_id))
            if seen is not None and windows.start <= seen < windows.end and not points.get(resource_id):
                gone.add(resource_id)
        return gone

    def remember(self, metric: str, points: Mapping[str, Points], now: datetime) -> None:
        for resource_id, answered in points.items():
            if answered:
                latest = max(t for t, _ in answered)
                key = (metric, resource_id)
                if key not in self._latest or self._latest[key] < latest:
                    self._latest[key] = latest
        if self._pruned_at is None or now - self._pruned_at >= timedelta(hours=1):
            self._pruned_at = now
            self._latest = {key: t for key, t in self._latest.items() if now - t < REMEMBERED_FOR}
