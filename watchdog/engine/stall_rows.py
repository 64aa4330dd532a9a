"""The connectors `stalled` rules watch, as status and GET /v1/connectors show them: those a stalled
rule selects in each cluster's last poll (stamped with their listed state by that poll, as a
status rule's are, and shown with their health from the listing), and the stall check's last
word on each (report/stall_word.py). Memory only: after a restart of the daemon, or on a
standby, a row reads "not checked yet" until the first check here.

Before, status knew only the connectors a status rule selected: with stalled rules only, it said
"No watched connectors." while dozens were checked every minute, and why one was not judged
(data_late, points_vanished...) was said in log lines and counters only (probe s77, F5). Nothing
here decides anything: a stall-only connector FAILED is still restarted by no status rule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from ..config import Rule, StalledTrigger
from ..logs import get_logger
from ..model import ConnectorKey, ConnectorStatus
from ..report.stall_word import DETAIL_SHOWN, StallWord
from ..rules import StatusOwners
from ..state import Fenced, StateStore, StateStoreError

log = get_logger("watchdog.engine")


class StallOwners(StatusOwners):
    """The first enabled stalled rule that selects a connector, indexed as StatusOwners' are (one
    glob match per connector, remembered for the life of the config)."""

    @staticmethod
    def _indexed(rule: Rule) -> bool:
        return rule.enabled and isinstance(rule.trigger, StalledTrigger)


class StallRows:
    def __init__(self) -> None:
        self._watched: dict[str, set[str]] = {}  # cluster -> the names a stalled rule selected at its last poll
        self._said: dict[str, dict[str, StallWord]] = {}  # cluster -> name -> the last word (of those watched)

    def polled(self, cluster: str, selected: set[str]) -> None:
        """The connectors a stalled rule selects of a poll's listing (a status rule's too): what was
        said of the others goes (deleted, or no longer selected), so memory follows the fleet."""
        self._watched[cluster] = selected
        said = self._said.get(cluster)
        if said:
            self._said[cluster] = {name: word for name, word in said.items() if name in selected}

    def watches(self, cluster: str, name: str) -> bool:
        return name in self._watched.get(cluster, ())

    def said(self, key: ConnectorKey, rule: str, at: datetime, *, verdict: str | None = None,
             unjudged: str | None = None, detail: str = "") -> None:
        self._said.setdefault(key.cluster, {})[key.connector] = StallWord(
            rule=rule, verdict=verdict, unjudged=unjudged, detail=detail[:DETAIL_SHOWN] or None, at=at)

    def word(self, key: ConnectorKey, owners: StallOwners) -> StallWord | None:
        """The last word on the connector; "not checked yet" (no verdict, no time) for one a
        stalled rule selects now that no check here has spoken of; None where none selects it."""
        said = self._said.get(key.cluster, {}).get(key.connector)
        if said is not None:
            return said
        rule = owners.rule_for(key.cluster, key.connector)
        return None if rule is None else StallWord(rule=rule.name)

    def clear(self) -> None:
        """A replica that stood by: the checks to come are the new leader's (EngineCore.stand_by)."""
        self._watched.clear()
        self._said.clear()

    def forget(self, cluster: str) -> None:
        self._watched.pop(cluster, None)
        self._said.pop(cluster, None)


async def stamp_stall_only(in_slices: Callable[..., Awaitable[bool]], store: StateStore, cluster: str,
                           items: Sequence[tuple[str, ConnectorStatus]], now: datetime,
                           going_on: Callable[[], bool]) -> bool:
    """A poll's connectors only a stalled rule selects, their listed state written as a status
    rule's are (StateStore.observe_status, the state untouched): one more write per connector and
    poll, in the poll's slices and batches (PostgreSQL: a slice's in one round trip), never a
    call of its own. Kept in the store, their rows stay known on a standby and in the state file,
    and a deleted one reads `gone` and goes after state.forget_vanished_after as a status rule's
    does. A write the store refuses fails no poll (the rows only show; the decisions are the
    stall checks'): said at debug, the rows stay as last written. False: the poll was dropped
    (`going_on`, its cluster removed or redefined meanwhile)."""
    def stamp(item: tuple[str, ConnectorStatus]) -> None:
        store.observe_status(ConnectorKey(cluster, item[0]), item[1].state or "UNUSABLE", now)

    try:
        return await in_slices(items, stamp, going_on=going_on)
    except Fenced:
        raise
    except StateStoreError as exc:
        log.debug("stall_rows_not_recorded", cluster=cluster, connectors=len(items), error=str(exc))
        return True
