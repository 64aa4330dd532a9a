"""`WriteMarks`: which connectors' states a store has written since a moment, so that a state read
from it can be used again without another read while nothing has written it since.

The daemon is the only writer of its store while it holds it (SQLite: the file's lock; PostgreSQL:
every write fenced by the leader's epoch, a takeover refusing the old leader's writes), so a state
it read is what the store still holds until its own next write of that connector, which goes
through here. The queue's send path read each connector's state four times per restart sent, a
round trip each to a database some milliseconds away (the recorder: at the job's turn, after its
wait for budget, before its call, at its end). Only this process's writes are seen: a store that
another writer may change (a reader beside a daemon) must not use them to skip a read.
"""

from __future__ import annotations

from collections import OrderedDict

from ..model import ConnectorKey

# Connectors whose last write is remembered; one written longer ago counts as written at the
# moment it was forgotten (the safe side: read again). Bounds memory in a fleet of any size.
KEPT = 10_000


class WriteMarks:
    def __init__(self, kept: int = KEPT) -> None:
        self._count = 0
        self._kept = kept
        self._last: OrderedDict[ConnectorKey, int] = OrderedDict()  # key -> the mark of its last write
        self._floor = 0  # every write no longer in `_last` came at or before this mark

    def now(self) -> int:
        """The mark to keep with a state read now (taken right before the read, or right after a
        write of it that succeeded)."""
        return self._count

    def wrote(self, key: ConnectorKey) -> None:
        """A write of `key`'s state is being made (whether or not it then succeeds)."""
        self._count += 1
        self._last[key] = self._count
        self._last.move_to_end(key)
        if len(self._last) > self._kept:
            self._floor = self._last.popitem(last=False)[1]

    def wrote_all(self) -> None:
        """Any connector's state may have changed: a batch rolled back or failed, a new epoch
        (another replica may have written meanwhile), a new connection."""
        self._count += 1
        self._floor = self._count
        self._last.clear()

    def unchanged_since(self, key: ConnectorKey, mark: int) -> bool:
        """Whether nothing has written `key`'s state since `mark` (from `now`)."""
        return self._last.get(key, self._floor) <= mark
