"""The schedule trigger: a cron or interval rule's turn, for the connectors it selects."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from ..config import Rule
from ..model import ConnectorKey, ConnectorState, ConnectorStatus, Decision, Trigger
from ..policy import last_restart_turn
from ..rules import decide_on_request, named_but_missing, refused_because, selected
from .core import log
from .decisions import Decisions
from .restart_gap import schedule_too_soon
from .rules_gone import schedule_rule_now

# Of a run's connectors the full lane refused, those named in its `scheduled_restarts_refused` line.
REFUSED_NAMES_SHOWN = 10


class ScheduleIntake(Decisions):
    async def on_schedule(self, rule: Rule, cluster: str, statuses: Mapping[str, ConnectorStatus], *,
                          generation: int | None = None) -> bool:
        """In slices, as a poll (EngineCore._in_slices): each restart is remembered (a commit)
        before it is queued, and a run of 2,000 connectors held the event loop 26 s in one go with
        the database 1 ms away; the leader lost its lease at the run's start. `generation`: the
        cluster's (cluster_generation) when the run began, as for a poll: a reload or discovery
        that removed or redefined the cluster since ends the run there, False. Before, the run
        went on restarting the connectors of a cluster the config no longer named, and made
        their series again for good. It ends there too, False, once a reload has disabled or
        removed its rule, or made it a rule of another trigger (the host says so)."""
        unchanged = self.cluster_unchanged(cluster, generation)

        def going_on() -> bool:
            # And its rule still a schedule rule: a reload between two slices that turned it into a
            # status rule of the same name (or disabled it) ends the run there, as the host's
            # check between clusters does (rules_gone.schedule_rule_now). False then too.
            return unchanged() and schedule_rule_now(self.config, rule.name) is not None

        if not going_on():
            return False
        now = self._now()
        names = selected(rule, cluster, statuses)
        if self._wider_than_its_room(cluster, names):
            ordered = await self._least_recently_restarted_first(rule, cluster, names, going_on)
            if ordered is None:
                return False
            names = ordered
        refused: list[str] = []
        stored: dict[ConnectorKey, ConnectorState] = {}
        dry_run = self.config.dry_run or rule.dry_run

        def read(items: Sequence[str]) -> None:
            stored.update(self.state.load_many([ConnectorKey(cluster, name) for name in items if name in statuses]))

        def decide(name: str) -> None:
            key = ConnectorKey(cluster, name)
            status = statuses.get(name)
            too_soon = ""
            if status is not None:
                # Another restart of it within the gap (restart_gap.py): not made again.
                state = self.load_state(key, dry_run=dry_run, stored=stored.pop(key, None))
                too_soon = schedule_too_soon(self.state, key, state, now, self.config.queue.manual_restart_gap,
                                             rule.name, dry_run=dry_run)
            decision = decide_on_request(status, pending=self._pending_for(key, dry_run=rule.dry_run),
                                         too_soon=bool(too_soon))
            record = self._decide_and_submit(
                rule.name, Trigger.SCHEDULE, key, decision, now, windows=self._rule_windows.get(rule.name),
                reason="scheduled", dry_run=rule.dry_run, status=status,
                detail=refused_because(status) if decision is Decision.TRANSIENT and status is not None
                else too_soon if decision is Decision.RECENTLY_RESTARTED else "",
            )
            if record.decision is Decision.QUEUE_FULL:
                refused.append(name)

        done = await self._in_slices(names + named_but_missing(rule, cluster, statuses), decide, going_on=going_on,
                                     read=read)
        if refused:
            # One line for the run: each refusal's own `decision` line is at info, one per
            # connector, and nothing else said that a hundred connectors had no restart.
            log.warning("scheduled_restarts_refused", rule=rule.name, cluster=cluster, count=len(refused),
                        connectors=refused[:REFUSED_NAMES_SHOWN], max_jobs_per_lane=self.queue.max_jobs_per_lane,
                        note="the lane of the cluster's API key already held queue.max_jobs_per_lane restart jobs: "
                             "these connectors were not restarted by this run (decision queue_full); they go first at "
                             "the next run (least recently restarted first); raise queue.max_jobs_per_lane to restart "
                             "them all in one run, or ask for them now (watchdog restart --daemon)")
        return done

    def _wider_than_its_room(self, cluster: str, names: Sequence[str]) -> bool:
        """Whether the run selects more connectors with no restart pending than the cluster's lane
        takes now (RestartQueue.room_for): those past the room are refused `queue_full`."""
        room = self.queue.room_for(cluster)
        if room is None or len(names) <= room:
            return False
        return sum(1 for name in names if self.queue.pending_job(ConnectorKey(cluster, name)) is None) > room

    async def _least_recently_restarted_first(self, rule: Rule, cluster: str, names: list[str],
                                              going_on: Callable[[], bool]) -> list[str] | None:
        """A run the lane cannot take whole, in the order a poll queues its failing connectors
        (last_restart_turn): never restarted first, then the least recently restarted, so that
        those the lane refuses now go first at the next run. Decided in name order, the same
        connectors (c909..c999 of 1,100 under the default cap of 1,000) were refused at every run
        and never restarted. Their states are read only then, in batches (StateStore.load_many):
        a run that fits costs no read more. None: `going_on` said to stop."""
        dry_run = self.config.dry_run or rule.dry_run
        stored: dict[ConnectorKey, ConnectorState] = {}
        turn: dict[str, datetime] = {}

        def read(items: Sequence[str]) -> None:
            stored.update(self.state.load_many([ConnectorKey(cluster, name) for name in items]))

        def load(name: str) -> None:
            key = ConnectorKey(cluster, name)
            turn[name] = last_restart_turn(self.load_state(key, dry_run=dry_run, stored=stored.pop(key, None)))

        if not await self._in_slices(names, load, writes=False, going_on=going_on, read=read):
            return None
        return sorted(names, key=turn.__getitem__)  # stable: in name order among equals
