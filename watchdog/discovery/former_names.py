"""Confluent Cloud clusters a swap removed, remembered by their ids, so that the same Kafka
cluster coming back under another name carries its connectors' state (pure but for the clock).

A rename in one reload (`prod:` to `prod-eu:`) is seen in that reload's diff (renamed_clusters).
A listed entry removed by the reload that turns discovery on is not: discovery finds the cluster
at its refresh after the swap, under its lkc- id, when the listed name is already gone. The state
is kept by cluster name, so that refresh handed every connector of the cluster a fresh backoff and
budget: a connector given up on was restarted again 1.9 s after the reload, the backlog's restarted
ones again under the new name (found by a reload probe; the migration config.example recommends).
The same when discovery first finds a cluster a reload un-listed while it was off. So each Cloud
cluster removed is remembered (its environment and lkc- id -> its name) for as long as its
connectors' state is kept (`state.forget_vanished_after`), and a cluster added later with those
same ids carries that state as a rename does. Never across different ids; and not once the old
name is given to an entry again (its rows are that entry's from then on).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from ..config import Config
from ..reload import ConfigDiff, renamed_clusters


class FormerNames:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._by_address: dict[str, tuple[str, datetime]] = {}  # "env/lkc" -> (name removed, when)

    def renames(self, old: Config, new: Config, diff: ConfigDiff) -> list[tuple[str, str]]:
        """(old name, new name) of each cluster whose state goes on under a new name after this
        swap: those renamed by it, and those added with the ids of a cluster an earlier swap
        removed. Remembers the clusters this one removes without a new name."""
        now = self._now()
        keep = timedelta(seconds=new.state.forget_vanished_after)
        self._by_address = {address: (name, when) for address, (name, when) in self._by_address.items()
                            if now - when <= keep and name not in new.clusters}
        pairs = renamed_clusters(old, new, diff)
        renamed_from, renamed_to = {a for a, _ in pairs}, {b for _, b in pairs}
        for name in diff.clusters_added:
            address = new.clusters[name].address
            if name not in renamed_to and address in self._by_address:
                pairs.append((self._by_address.pop(address)[0], name))
        for name in diff.clusters_removed:
            address = old.clusters[name].address
            if address and name not in renamed_from:
                self._by_address[address] = (name, now)
        return pairs
