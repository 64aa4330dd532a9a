"""The one-shot commands: `watchdog run --once` (one pass over every rule, then a drained queue)
and `watchdog restart` without a daemon (OneShotHost, a mixin of app.Daemon), and what a pass
could not read, and so judged nothing of.

A pass that could not list a cluster (a revoked key's 401, a 403 or 404 for a cluster id that is
wrong or gone, a 5xx, an answer it could not read) decided and restarted nothing there, and a
schedule run skipped it (scheduled_restart_skipped). One whose discovery could not read the
environment list, or an environment's clusters, passed over none of the clusters there. Either
exited 0 before, read as a pass made by the CronJob or script that ran it, night after night; so
did one whose stall check could not query the Metrics API (stall_check_failed: no verdict).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import Config, ScheduleTrigger, StalledTrigger
from .discovery.fleet import Fleet, Refresh
from .discovery.inventory import EnvironmentOutcome
from .discovery.preview import Patience
from .engine import MANUAL_RULE, Engine, JobRecorder
from .leadership.elector import Elector
from .logs import get_logger
from .model import ERROR_OUTCOMES, ConnectorKey, Decision, Trigger
from .name_hints import connector_name_hint
from .plan import poll_intervals
from .queue import RestartJob, RestartQueue
from .restart_wait import wait_or_withdraw
from .start_warnings import warn_at_start
from .tasks import cancel_and_wait
from .triggers.poller import ClusterPoller, list_for_request
from .triggers.stall import StallChecker

if TYPE_CHECKING:
    from .blocking import AlertBlocker
    from .leadership.build import Leadership
    from .ratelimit import RateLimiter
    from .server import Probes

log = get_logger("watchdog.app")


@dataclass(frozen=True, slots=True)
class PassStart:
    """Taken when the pass begins: each cluster's failed listings so far, and the stall checks'
    failed Metrics API queries."""

    failed_listings: Mapping[str, int] = field(default_factory=dict)
    failed_queries: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, pollers: Mapping[str, ClusterPoller], stall: StallChecker | None) -> PassStart:
        return cls({name: poller.failed_listings for name, poller in pollers.items()},
                   {} if stall is None else dict(stall.failed_queries))


def unread_metrics(start: PassStart, stall: StallChecker | None) -> dict[str, str]:
    """The clusters a stall check of the pass could not query the Metrics API for (its points
    unread: no verdict), each with the last failure."""
    if stall is None:
        return {}
    return {cluster: stall.last_query_failure[cluster] for cluster, failed in sorted(stall.failed_queries.items())
            if failed > start.failed_queries.get(cluster, 0)}


def unread_clusters(start: PassStart, pollers: Mapping[str, ClusterPoller]) -> dict[str, str]:
    """The clusters a listing of the pass (its poll, a schedule run's) failed for and none read
    after, each with the last failure (outcome: message). A schedule run's listing asked for
    again after a 429 and read then is no failure of the pass."""
    return {name: poller.failure for name, poller in sorted(pollers.items())
            if poller.failed_listings > start.failed_listings.get(name, 0) and poller.last_listing_failed}


def unread_discovery(refresh: Refresh | None) -> dict[str, str]:
    """What discovery's refresh could not read: `environments` (the environment list), or each
    environment whose clusters could not be listed, with why. One answered 403 or 404 counts as
    read and empty, as discovery takes it (inventory.py) and `check-config --discover` shows it."""
    if refresh is None:
        return {}
    if refresh.sweep.failure is not None:
        return {"environments": refresh.sweep.failure}
    return {r.environment.id: r.detail or "not read" for r in refresh.sweep.results
            if r.outcome is EnvironmentOutcome.UNKNOWN}


def report_unread(clusters: Mapping[str, str], discovery: Mapping[str, str], metrics: Mapping[str, str]) -> bool:
    """Say what the pass could not read (once_incomplete); True when it read everything."""
    if not clusters and not discovery and not metrics:
        return True
    log.error("once_incomplete", clusters=dict(clusters), discovery=dict(discovery), metrics_api=dict(metrics),
              note="nothing was judged or restarted where the pass could not read; exit 1")
    return False


class NotLeader(Exception):
    """`watchdog restart` without a daemon could not take the lead: another replica holds the
    lease (PostgreSQL), or the database did not answer. `holder`: the lease's holder as read,
    None when not known, then `note` says why (Elector.no_leader_note). Said as `missing` before,
    read as "no such connector", and naming no leader (probe_cli F6)."""

    def __init__(self, holder: str | None, note: str) -> None:
        super().__init__(holder or note)
        self.holder, self.note = holder, note


class OneShotHost:
    """`run --once` and `watchdog restart` without a daemon: each leads once, does its one thing
    through the daemon's own parts, then stops the daemon (app.Daemon sets the parts)."""

    config: Config
    engine: Engine
    recorder: JobRecorder
    queue: RestartQueue
    pollers: dict[str, ClusterPoller]
    leadership: Leadership
    probes: Probes
    fleet: Fleet
    blocker: AlertBlocker | None
    _stall_checker: StallChecker | None
    _stopping: bool
    _once_whole: bool  # run_once's pass read every cluster and environment (unread_* above)
    # restart_now's job once queued: read by the `restart` command when Ctrl-C or SIGTERM ended
    # asyncio.run after the stop had drained it, so that an outcome known is said (cli/commands.py).
    restart_job: RestartJob | None = None

    if TYPE_CHECKING:  # the daemon's own steps (app.py and its other mixins), declared for the type checker
        async def stop(self) -> list[RestartJob]: ...
        async def _lead_once(self, keys: Collection[ConnectorKey] | None = None) -> bool: ...
        async def refresh_discovery(self, patience: Callable[[RateLimiter], Patience] | None = None) -> bool: ...
        def may_be_discovered(self, cluster: str) -> bool: ...
        def why_not_discovered(self, cluster: str) -> str: ...
        async def run_schedule_rule(self, rule_name: str) -> None: ...
        def _ensure_metrics_lane(self) -> None: ...
        async def run_stall_check(self, rule_name: str) -> None: ...

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """One pass over every rule, then drain the queue. Non-zero when a restart failed, or
        when `stop` was set before the pass ended (SIGTERM or Ctrl-C: signals.py). Then the pass
        ends where it is and the queue drains as at a daemon's stop (queue.shutdown_deadline, the
        rest `unsent` and kept). Before, SIGTERM killed the process where it stood, with no
        `stopped` line (exit 143), and Ctrl-C was left waiting until the pass ended, then exit 0."""
        stop = stop or asyncio.Event()
        one_pass = asyncio.create_task(self._one_pass(), name="once")
        signalled = asyncio.create_task(stop.wait(), name="once-stop")
        await asyncio.wait([one_pass, signalled], return_when=asyncio.FIRST_COMPLETED)
        await cancel_and_wait([signalled])
        if not one_pass.done():
            log.warning("once_interrupted", queued=self.queue.depth(),
                        note="a signal ended the pass before every rule was run: what it queued is sent until "
                             "queue.shutdown_deadline, the rest kept for the next start; exit 1")
            await cancel_and_wait([one_pass])
        stop.set()  # a signal from here on hurries the stop (signals.stop_then_hurry)
        await self.stop()
        if not one_pass.done() or one_pass.cancelled() or not one_pass.result():
            return 1
        failed = sum(self.recorder.outcomes[outcome] for outcome in ERROR_OUTCOMES) + self.engine.queue_full
        return 1 if failed or not self._once_whole else 0

    async def _one_pass(self) -> bool:
        """run_once's pass: False when this replica could not lead, else True once every rule ran
        and the queue is empty."""
        warn_at_start(self.config)
        discovered = await self.refresh_discovery()  # the clusters to pass over (a no-op without discovery)
        # A live pass is a start: the restarts a stopped daemon kept are recovered (sent, or ended
        # as a start ends them). A dry-run one (`--once --dry-run`, the preview README suggests)
        # leaves them kept, untouched, for the next live start: recovered, each asked for live
        # ended `dry_run`, unsent, with nothing left to send it (probe_cli F1).
        if not await self._lead_once(keys=() if self.config.dry_run else None):
            return False
        self.engine.running_seeded = False  # it judges no stall, whatever the store kept (once_stall_unjudged)
        self.probes.config_loaded = True
        start = PassStart.of(self.pollers, self._stall_checker)
        for cluster in poll_intervals(self.config):
            await self.pollers[cluster].poll()
        for rule in self.config.rules:
            if rule.enabled and isinstance(rule.trigger, ScheduleTrigger):
                await self.run_schedule_rule(rule.name)
            if rule.enabled and isinstance(rule.trigger, StalledTrigger):
                self._ensure_metrics_lane()
                await self.run_stall_check(rule.name)
                # A stall check judges only connectors this process has seen RUNNING through
                # `grace` and the three windows (engine.running_since, which a pass does not take
                # back from the store: a restart or a pause in between would otherwise read as a
                # stall, and a CronJob's runs are minutes apart). A one-shot pass has seen
                # each connector once, at its own poll: the check judged none, queried nothing,
                # and said nothing, so a CronJob's stalled rule never restarted a stalled source
                # while every run exited 0. Said, at warning, so the rule is not trusted in vain.
                log.warning("once_stall_unjudged", rule=rule.name,
                            note="a stalled rule judges connectors seen RUNNING by a running daemon through grace and "
                                 "three windows; a --once pass sees each connector once, so it judged none: run the "
                                 "daemon (watchdog run) for stall checks")
        await self.queue.join()
        # A cluster (or environment) the pass could not read was judged nothing of: exit 1 (once.py).
        self._once_whole = report_unread(unread_clusters(start, self.pollers),
                                         {} if discovered else unread_discovery(self.fleet.last),
                                         unread_metrics(start, self._stall_checker))
        return True

    async def restart_now(self, cluster: str, connector: str, *, reason: str) -> tuple[Decision, RestartJob | None, str]:
        """One manual restart without the scheduler or HTTP server (the `restart` command): the
        decision, the job when one was queued, and why none was (as the API's `detail` says it).
        `missing` alone hid a listing refused 401 behind "no such connector". NotLeader when
        another replica leads (or the database cannot be reached).

        It recovers the connector's own kept request alone (one restart for both, none left
        for the next start to send again), and none in dry run, where a request asked for live
        would end `dry_run`, unsent, lost. Every other restart a stopped daemon kept stays in the
        state file, untouched, as `watchdog status` says the next start will send it. Before, this ran a start's whole recovery: with
        --dry-run it ended another connector's kept restart `dry_run`, and without it, it sent
        them all and printed only this one's outcome (probe_cli F1)."""
        own = () if self.config.dry_run else (ConnectorKey(cluster, connector),)
        if not await self._lead_once(keys=own):
            # Only an elector can lose it (a SQLite file's lock is taken before, by Daemon()).
            elector = self.leadership
            holder = elector.holder if isinstance(elector, Elector) else None
            note = elector.no_leader_note() if isinstance(elector, Elector) and holder is None else ""
            await self.stop()
            raise NotLeader(holder, note)
        try:
            if self.blocker is not None:
                await self.blocker.refresh()
            if cluster not in self.pollers and self.may_be_discovered(cluster):
                # A page refused by a failure that passes (a 429) is asked for again, as
                # check-config --discover asks: one 429 refused the restart before.
                await self.refresh_discovery(lambda limiter: Patience(
                    limiter, lambda text: log.warning("restart_discovery_retried", cluster=cluster, detail=text)))
            if cluster not in self.pollers:
                return Decision.MISSING, None, self.why_not_discovered(cluster)
            # A listing refused by a failure that passes (a 429, a 5xx) is asked for again (poller.py).
            statuses, why = await list_for_request(self.pollers[cluster], connector, lambda: self._stopping)
            if statuses is None:
                return Decision.MISSING, None, why
            record = self.engine.on_request(
                ConnectorKey(cluster, connector), statuses.get(connector),
                trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason=reason,
            )
            self.restart_job = record.job
            if record.job is not None:
                await wait_or_withdraw(record.job, self.queue, self.engine.state, self.pollers[cluster].paused_for)
            detail = record.detail
            if record.decision is Decision.MISSING and not detail:
                detail = f"the listing of cluster {cluster} does not show it{connector_name_hint(connector, statuses)}"
            return record.decision, record.job, detail
        finally:
            await self.stop()
