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

An answer of a cluster's metric that holds no point at all, for any id asked, while some of them
vanished, begins a spell (`Spell`): those ids stay vanished, past the range their last point lies
in, until any point of that cluster's metric is answered again. Without it the guard lasted three
windows (3 minutes at `window: 1m`), then every connector of a cluster whose answers stayed
`{"data": []}` (or carried ids in another case, or `errors` with a 200) was judged idle, its reads
counted as read, and nothing more was said (a probe, 2026-12-07). The ids kept are those asked
about at the last check, so the memory stays within the cluster's connectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..stall import Points, Windows

# How long a point seen is remembered: past the longest range any query reads (three windows of
# the coarsest granularity, GRANULARITIES) it can be asked about by no rule. Bounds the memory
# of connectors deleted since.
REMEMBERED_FOR = timedelta(days=8)


@dataclass(slots=True)
class Spell:
    """A cluster's metric answered no point at all for ids it had answered points of."""

    since: datetime  # the first check that met it
    ids: set[str] = field(default_factory=set)


class SeenPoints:
    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], datetime] = {}  # (metric, id) -> its latest point seen
        self._pruned_at: datetime | None = None
        self._spells: dict[tuple[str, str], Spell] = {}  # (cluster, metric) -> its empty spell
        self._said: set[str] = set()  # the clusters whose spell was warned of

    def vanished(self, metric: str, ids: Iterable[str], points: Mapping[str, Points], windows: Windows,
                 cluster: str = "", now: datetime | None = None) -> set[str]:
        """Of `ids` (those an answered query asked about), the ones with no point now although a
        point seen before lies within the windows asked about, or that vanished in a spell of the
        cluster's metric that no point has ended yet."""
        asked = list(ids)
        gone = set()
        for resource_id in asked:
            seen = self._latest.get((metric, resource_id))
            if seen is not None and windows.start <= seen < windows.end and not points.get(resource_id):
                gone.add(resource_id)
        key = (cluster, metric)
        if any(points.get(resource_id) for resource_id in asked):
            self._spells.pop(key, None)  # a point returned: the API answers the cluster again
            return gone
        spell = self._spells.get(key)
        if spell is None and gone:
            spell = self._spells[key] = Spell(since=now or windows.end)
        if spell is None:
            return gone
        spell.ids = (spell.ids | gone) & set(asked)
        return set(spell.ids)

    def spell_since(self, cluster: str) -> datetime | None:
        """When the cluster's oldest spell of empty answers began; None when it has none."""
        began = [spell.since for (name, _), spell in self._spells.items() if name == cluster and spell.ids]
        return min(began, default=None)

    def first_said(self, cluster: str) -> bool:
        """Whether the cluster's spell is to be warned of now: once a spell, again after it ended.
        A cluster without a spell (ids left out of an answer that holds others' points) is said
        at every check, as before."""
        if self.spell_since(cluster) is None:
            self._said.discard(cluster)
            return True
        if cluster in self._said:
            return False
        self._said.add(cluster)
        return True

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
