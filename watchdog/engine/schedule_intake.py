"""The schedule trigger: a cron or interval rule's turn, for the connectors it selects."""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Rule
from ..model import ConnectorKey, ConnectorStatus, Decision, Trigger
from ..rules import decide_on_request, named_but_missing, refused_because, selected
from .decisions import Decisions


class ScheduleIntake(Decisions):
    async def on_schedule(self, rule: Rule, cluster: str, statuses: Mapping[str, ConnectorStatus], *,
                          generation: int | None = None) -> bool:
        """In slices, as a poll (EngineCore._in_slices): each restart is remembered (a commit)
        before it is queued, and a run of 2,000 connectors held the event loop 26 s in one go with
        the database 1 ms away; the leader lost its lease at the run's start. `generation`: the
        cluster's (cluster_generation) when the run began, as for a poll: a reload or discovery
        that removed or redefined the cluster since ends the run there, False. Before, the run
        went on restarting the connectors of a cluster the config no longer named, and made
        their series again for good."""
        going_on = self.cluster_unchanged(cluster, generation)
        if not going_on():
            return False
        now = self._now()

        def decide(name: str) -> None:
            key = ConnectorKey(cluster, name)
            status = statuses.get(name)
            decision = decide_on_request(status, pending=self._pending_for(key, dry_run=rule.dry_run))
            self._decide_and_submit(
                rule.name, Trigger.SCHEDULE, key, decision, now, windows=self._rule_windows.get(rule.name),
                reason="scheduled", dry_run=rule.dry_run, status=status,
                detail=refused_because(status) if decision is Decision.TRANSIENT and status is not None else "",
            )

        return await self._in_slices(selected(rule, cluster, statuses) + named_but_missing(rule, cluster, statuses), decide,
                                     going_on=going_on)
