"""The lcc- ids that named a connector until it was deleted (or deleted and created again under
its name, with a new id): an alert of such an id that resolves is the end of a signal its name
awaits (policy.signal_cleared), though the id names nothing any more."""

from __future__ import annotations

from collections import OrderedDict

from ..model import ConnectorKey

# Ids kept, the oldest dropped first: a team tearing down an environment of thousands of
# connectors adds one each, and none is needed for longer than its alert takes to resolve. About
# 1.5 MB at the cap.
RETIRED_IDS_KEPT = 10_000


class RetiredIds:
    def __init__(self, kept: int = RETIRED_IDS_KEPT) -> None:
        self._kept = kept
        self._names: OrderedDict[str, ConnectorKey] = OrderedDict()
        self._last: dict[ConnectorKey, str] = {}  # each name's id retired last, while it is kept

    def retire(self, resource_id: str, key: ConnectorKey) -> None:
        """`resource_id` no longer names `key`'s connector: it was deleted, or replaced."""
        self._names.pop(resource_id, None)
        self._names[resource_id] = key
        self._last[key] = resource_id
        while len(self._names) > self._kept:
            self._drop(*self._names.popitem(last=False))

    def revive(self, resource_id: str) -> None:
        """Listed again (a short answer had left it out): a live id, no longer a retired one."""
        key = self._names.pop(resource_id, None)
        if key is not None:
            self._drop(resource_id, key)

    def last_of(self, key: ConnectorKey) -> str | None:
        """The id that named `key`'s connector until it was retired last, if it is kept: a
        connector listed again under its name with another id was deleted and created again."""
        return self._last.get(key)

    def _drop(self, resource_id: str, key: ConnectorKey) -> None:
        if self._last.get(key) == resource_id:
            del self._last[key]

    def named(self, resource_id: str) -> ConnectorKey | None:
        """The connector `resource_id` named before it was retired, if it is kept."""
        return self._names.get(resource_id)

    def forget_cluster(self, cluster: str) -> None:
        for resource_id in [rid for rid, key in self._names.items() if key.cluster == cluster]:
            self._drop(resource_id, self._names.pop(resource_id))

    def clear(self) -> None:
        self._names.clear()
        self._last.clear()

    def __len__(self) -> int:
        return len(self._names)
