"""The schedule trigger: a cron or interval rule's turn, for the connectors it selects."""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Rule
from ..model import ConnectorKey, ConnectorStatus, Trigger
from ..rules import decide_on_request, named_but_missing, selected
from .decisions import Decisions


class ScheduleIntake(Decisions):
    async def on_schedule(self, rule: Rule, cluster: str, statuses: Mapping[str, ConnectorStatus]) -> None:
        """In slices, as a poll (EngineCore._in_slices): each restart is remembered (a commit)
        before it is queued, and a run of 2,000 connectors held the event loop 26 s in one go with
        the database 1 ms away; the leader lost its lease at the run's start."""
        now = self._now()

        def decide(name: str) -> None:
            key = ConnectorKey(cluster, name)
            status = statuses.get(name)
            decision = decide_on_request(status, pending=self._pending_for(key, dry_run=rule.dry_run))
            self._decide_and_submit(
                rule.name, Trigger.SCHEDULE, key, decision, now, windows=self._rule_windows.get(rule.name),
                reason="scheduled", dry_run=rule.dry_run, status=status,
            )

        await self._in_slices(selected(rule, cluster, statuses) + named_but_missing(rule, cluster, statuses), decide)
