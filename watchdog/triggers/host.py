"""The scheduler's jobs inside the daemon: which run (polls, timed rules, stall checks), kept in
step with the config, and what each one does when it fires.

`SchedulerHost` is mixed into `app.Daemon`, as leadership/host.py, reloading.py and
discovery/host.py are; it lives here so that app.py stays the wiring. The scheduler itself is
built when this replica takes the lead (leadership/host.py); each job only gathers facts and
hands them to the engine, so cancelling one at a stop or a loss of the lead loses nothing
accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ..clients import METRICS_API_LANE, metrics_api_client
from ..config import CloudCluster, Config, RateLimitSettings, Rule, StalledTrigger
from ..connect import Gateway
from ..connect.metrics_api import MetricsApiClient
from ..connect.transfer import CallLimits
from ..engine.rules_gone import schedule_rule_now, why_not_a_schedule_rule
from ..logs import get_logger
from ..model import ConnectorStatus
from ..plan import job_id, poll_intervals, rule_clusters, timed_rules
from ..ratelimit.state import UNANSWERED_TURN_SECONDS
from ..redirects import redirect_hook
from ..state import Fenced, StateStoreError
from .poller import list_retrying
from .scheduler import (
    MISSED_BEFORE_LEADING,
    PERHAPS_MISSED_ALIVE,
    PERHAPS_MISSED_JITTERED,
    SCHEDULE_MISFIRE_GRACE_SECONDS,
    ClockStepWatch,
    add_poll_job,
    add_rule_job,
    add_stall_job,
    due_before,
    follow_backward_step,
    report_job_event,
    rule_trigger,
    run_still_to_come,
)
from .stall import StallChecker
from .stepped_runs import clock_steps_of

if TYPE_CHECKING:
    from ..engine import Engine, WallClock
    from ..leadership.build import Leadership
    from ..metrics import Metrics
    from .poller import ClusterPoller

log = get_logger("watchdog.app")

# A scheduled run's listing of one cluster: the cluster, its poller (None: not in service), the
# generation it had when the listing began, and what the listing found (None: it failed).
_Listed = tuple[str, "ClusterPoller | None", int, "Mapping[str, ConnectorStatus] | None"]

# A scheduled run lists its next cluster once the listing before has ended, or has waited this
# long (the rate-limit lane passes its turn on after as long: ratelimit/state.py).
SCHEDULE_LISTING_PATIENCE = UNANSWERED_TURN_SECONDS


class SchedulerHost:
    # The daemon's parts this uses (app.Daemon sets them).
    config: Config
    metrics: Metrics
    engine: Engine
    leadership: Leadership
    pollers: dict[str, ClusterPoller]
    http: dict[str, httpx.AsyncClient]
    gateways: dict[str, Gateway]
    _scheduler: AsyncIOScheduler | None
    _stall_checker: StallChecker | None
    _stopping: bool
    _job_tasks: set[asyncio.Task[Any]]  # scheduler jobs running now
    _transport: httpx.AsyncBaseTransport | None
    _now: WallClock
    _clock: Callable[[], float]
    _clock_steps: ClockStepWatch

    if TYPE_CHECKING:  # the daemon's own steps (app.py, discovery/host.py), declared for the type checker
        def _add_lane(self, lane: str, client: httpx.AsyncClient, settings: RateLimitSettings | None = None, *,
                      may_share_budget: bool = False) -> None: ...
        def discovery_pending(self) -> bool: ...
        def discovery_missing(self, cluster: str) -> bool: ...
        async def discovered_once(self) -> None: ...

    METRICS_LANE = METRICS_API_LANE

    def scheduled_job_ids(self) -> set[str]:
        """The ids of the jobs the scheduler holds now (`poll:CLUSTER`, one per timed rule; see
        plan.job_id): what a reload added, kept or removed. Empty while this replica stands by."""
        return {job.id for job in self._scheduler.get_jobs()} if self._scheduler is not None else set()

    def _sync_jobs(self, previous: Config | None, changed_clusters: set[str]) -> None:
        """Make the scheduler's jobs match the config. Jobs whose trigger did not change keep
        their timing (an interval rule is not postponed by a reload that edits its `select`)."""
        assert self._scheduler is not None
        scheduler = self._scheduler
        old_polls = poll_intervals(previous) if previous is not None else {}
        new_polls = poll_intervals(self.config)
        for cluster in old_polls.keys() - new_polls.keys():
            _remove_job(scheduler, f"poll:{cluster}")
        for cluster, interval in new_polls.items():
            if old_polls.get(cluster) != interval or cluster in changed_clusters:
                add_poll_job(scheduler, cluster, interval, functools.partial(self._job, self._poll, cluster))
        old_rules = timed_rules(previous) if previous is not None else {}
        new_rules = timed_rules(self.config)
        # A rule renamed by the reload (removed under one name, added under another with the same
        # trigger): its pending run, drawn within the jitter, goes to the new name's job. Jobs are
        # keyed by name, and a rename dropped the night's run drawn for 03:15 without a word.
        renamed = self._renames(old_rules, new_rules)
        for name, rule in old_rules.items():
            if name not in new_rules:
                _remove_job(scheduler, job_id(rule))
        for name, rule in new_rules.items():
            old = old_rules.get(name)
            if old is None and name in renamed:
                former, pending_time = renamed[name]
                kept = run_still_to_come(former, rule, pending_time, self._now())
                if kept is not None:
                    add_rule_job(scheduler, rule, functools.partial(self._job, self.run_schedule_rule, name), kept)
                    log.info("schedule_run_carried", rule=name, renamed_from=former.name, next_run=kept.isoformat())
                    continue
            # Only a new trigger makes a new job: each run reads its rule from the config by name.
            # Replaced for any change (a connector added to `select`), an interval rule started its
            # interval over: `interval: 24h` edited each day never ran.
            if old is not None and old.trigger == rule.trigger:
                continue
            if isinstance(rule.trigger, StalledTrigger):
                self._ensure_metrics_lane()
                add_stall_job(scheduler, rule, functools.partial(self._job, self.run_stall_check, name))
            else:
                pending = scheduler.get_job(job_id(rule)) if old is not None else None
                kept = run_still_to_come(old, rule, pending.next_run_time, self._now()) if pending and old else None
                add_rule_job(scheduler, rule, functools.partial(self._job, self.run_schedule_rule, name), kept)
                if previous is None:  # a scheduler new to this replica's lead: it plans from now
                    self._report_run_missed_before_leading(rule)
        if previous is None:
            clock_steps_of(scheduler).pending = self._step_not_yet_said

    def _renames(self, old_rules: dict[str, Rule], new_rules: dict[str, Rule]) -> dict[str, tuple[Rule, datetime]]:
        """{added name: (removed rule, its job's next run)} for each rule the reload removed whose
        trigger an added rule has too, paired in name order (two renamed alike get one each). Only
        a pending run is carried, and only one still to come within the jitter (run_still_to_come)."""
        assert self._scheduler is not None
        removed = [rule for name, rule in sorted(old_rules.items()) if name not in new_rules]
        added = [rule for name, rule in sorted(new_rules.items()) if name not in old_rules]
        pairs: dict[str, tuple[Rule, datetime]] = {}
        for former in removed:
            job = self._scheduler.get_job(job_id(former))
            if job is None or job.next_run_time is None:
                continue
            match = next((rule for rule in added if rule.trigger == former.trigger and rule.name not in pairs), None)
            if match is not None:
                pairs[match.name] = (former, job.next_run_time)
        return pairs

    def _report_run_missed_before_leading(self, rule: Rule) -> None:
        """A schedule rule's run due in the grace before this replica began to lead: reported
        missed, unless the daemon before made it (its restarts are in the store). Before, a
        rollout at 03:00:40 said of the 03:00 run made at 03:00 'not run ... ask for them', and an
        operator who did restarted every connector it selects a second time."""
        due = due_before(rule_trigger(rule), self._now())
        if due is None or self.engine.made_before_start(rule.name, due):
            return
        jitter = getattr(rule.trigger, "jitter", 0)
        if not self.engine.alive_since(due):
            # No daemon was alive when it came due (gone before, or none ever: a first start),
            # so none drew a jittered time for it either. Said "the daemon before may have made
            # it" there, a first start warned of a run that no daemon could have made.
            note = MISSED_BEFORE_LEADING
        elif jitter:
            note = PERHAPS_MISSED_JITTERED.format(jitter=f"{jitter:g}")
        else:
            note = PERHAPS_MISSED_ALIVE
        report_job_event(self.metrics, job_id(rule), "missed", due, note)

    def _step_not_yet_said(self) -> tuple[float, datetime] | None:
        """A step of the wall clock the heartbeat has not said yet (a job the scheduler ran
        first after it), as (seconds, wall now), or None."""
        before = self._clock()
        wall = self._now()
        step = self._clock_steps.step(before, wall, self._clock(), keep=True)
        return (step, wall) if step else None

    def follow_clock(self) -> None:
        """Called by the heartbeat: when the wall clock stepped, say so, and keep interval jobs
        on their real-time pace (scheduler.follow_backward_step)."""
        before = self._clock()
        wall = self._now()
        step = self._clock_steps.step(before, wall, self._clock())
        if not step:
            return
        followed = follow_backward_step(self._scheduler, step, wall) if self._scheduler is not None else None
        if self._scheduler is not None:  # its runs the step jumped over say so (stepped_runs.py)
            clock_steps_of(self._scheduler).add(step, wall)
        if step > 0 and self._scheduler is not None and self._scheduler.running:  # not once stop() shut it down
            # The scheduler sleeps on the event loop's monotonic timer, armed before the step for
            # the wall time then planned: after a forward step (a clock that ran slow put right,
            # a VM or a laptop resumed, whose monotonic clock stood still meanwhile) a cron run
            # that came due waited out the whole old delay and was then dropped as missed.
            self._scheduler.wakeup()
        said: dict[str, object] = {}
        if followed is not None and followed.waiting:
            # Fixed-time cron rules keep their planned run, as Debian's cron does: nothing else
            # said why one did not run at the time the clock now reads again.
            said = {"cron_rules_waiting": sorted(followed.waiting),
                    "cron_note": "these fixed-time cron rules keep the run they planned before the step, as Debian's "
                                 "cron does: a time of theirs the clock reads again was made by the old time and is "
                                 "not made twice; their next run is at that planned time; a step back of 3 hours or more "
                                 "moves them too"}
        log.warning("wall_clock_stepped", seconds=round(step, 3), jobs_moved=sorted(followed.moved if followed else []),
                    **said, note="backoff, windows and history read the wall clock; keep it in step with NTP")
        if step < 0 and self.leadership.leading:
            try:
                self.engine.settle_clock()
            except StateStoreError as exc:  # the heartbeat must go on; the next start settles them
                log.error("restart_times_not_settled", error=str(exc),
                          note="backoff gaps hold for the length of the step too, until the next start")

    async def _poll(self, cluster: str) -> None:
        poller = self.pollers.get(cluster)
        if poller is not None:  # a reload may have removed the cluster while the job waited
            await poller.poll()

    async def _job(self, work: Callable[..., Awaitable[object]], *args: object) -> None:
        """A scheduler job. One that starts while the daemon stops (or stands by) does nothing;
        one running when it stops or loses the lead is cancelled: a poll cut short only gathered
        facts (nothing accepted is lost; the next poll decides again), so that is a normal end,
        not an error. A schedule run cut short by a stop has no next try before its next time:
        it says itself, at warning, which clusters it did not decide (say_run_cut), and so does one cut
        by the loss of the lead."""
        if self._stopping or not self.leadership.leading:
            return
        task = asyncio.current_task()
        if task is not None:
            self._job_tasks.add(task)
        try:
            await work(*args)
        except asyncio.CancelledError:
            # Cancelled by stop(), or by this replica's stepping down (leadership/host._follow):
            # a normal end. Raised on, APScheduler logged "Job raised an exception" with a
            # CancelledError traceback and counted a failed job at every loss of the lead.
            if not self._stopping and self.leadership.leading:
                raise
            log.debug("job_cancelled_at_shutdown" if self._stopping else "job_cancelled_standing_by",
                      job=getattr(work, "__qualname__", str(work)))
        except Fenced as exc:
            log.warning("job_not_leader", job=getattr(work, "__qualname__", str(work)), error=str(exc),
                        note="another replica leads now; nothing was written or restarted")
        except StateStoreError as exc:
            # Counted by the store, shown by /readyz and watchdog_state_store_writable; the next
            # run tries again.
            log.error("job_not_recorded", job=getattr(work, "__qualname__", str(work)), error=str(exc),
                      note="the state store cannot record decisions; nothing was restarted")
        finally:
            if task is not None:
                self._job_tasks.discard(task)

    def _ensure_metrics_lane(self) -> None:
        """The Metrics API's client and limiter, made when the first stalled rule needs them."""
        if self.METRICS_LANE in self.http:
            return
        name = self.config.credential_for(self.config.metrics_api)
        assert name is not None  # cross_check requires a credential for stalled rules
        client = metrics_api_client(self.config, self.config.credentials[name], self._transport,
                                    [redirect_hook(self.METRICS_LANE, self.metrics)])
        settings = self.config.rate_limit.model_copy(update={"max_requests_per_second": self.config.metrics_api.max_requests_per_second})
        self._add_lane(self.METRICS_LANE, client, settings)
        limits = CallLimits(self.config.metrics_api.timeouts.total, self.config.api.max_response_bytes,
                            total_named="metrics_api.timeouts.total")
        self._stall_checker = StallChecker(MetricsApiClient(client, limits=limits), self.gateways[self.METRICS_LANE],
                                           self.engine, self._now)

    async def run_stall_check(self, rule_name: str) -> None:
        """One stall check of a `stalled` rule, as its scheduler job runs it (and `run --once`)."""
        rule = next((r for r in self.config.rules if r.name == rule_name), None)
        if rule is None or self._stall_checker is None:
            return
        clusters = [c for c in rule_clusters(self.config, rule) if isinstance(self.config.clusters[c], CloudCluster)]
        await self._stall_checker.check(rule, clusters)

    def _stand_by_stall_checks(self) -> None:
        """This replica stopped leading: the Metrics API failures it met are not the next
        leader term's (triggers/stall.py)."""
        if self._stall_checker is not None:
            self._stall_checker.stand_by()

    async def run_schedule_rule(self, rule_name: str) -> None:
        """One firing of a `schedule` rule, as its cron or interval job runs it (and `run
        --once`): list each selected cluster, then decide and enqueue its restarts."""
        if self.discovery_pending():
            # A run due just after a start (a rollout at 02:59, `interval` on its grid) came before
            # discovery's first refresh: the discovered clusters it selects were not known yet, and
            # they had no restart that night, without a word.
            await self.discovered_once()
        rule = self._schedule_rule(rule_name)
        if rule is None:
            # The rule changed while the run waited for discovery's first refresh (or the job
            # fired as a reload removed it): nothing listed yet.
            self._schedule_run_ended(rule_name, None)
            return
        began, cut = self._now(), rule  # the rule as the run began, for say_run_cut
        # Listings that fail in a way that may pass are tried again until then (_list_for_schedule):
        # one bound for the whole run, so a run of many clusters against an API that is down
        # ends within it (`run --once` included).
        deadline = asyncio.get_running_loop().time() + SCHEDULE_MISFIRE_GRACE_SECONDS
        # Each selected cluster is listed once the listing before it has ended, or has waited
        # SCHEDULE_LISTING_PATIENCE, and each is decided as its listing comes back: one broken
        # cluster's listing (its key paused by a 429 for up to max_pause, an API that takes every
        # call and answers none, tried again until the grace has passed) holds the others' for
        # seconds, not for as long as it lasts. Before, each listing waited for the one before to
        # end: a healthy cluster listed after a broken one had its run's restarts 15 minutes
        # late. A fleet that answers is still listed one cluster after the other, as before.
        # The decisions stay in this task, one cluster at a time, as before.
        listings: list[asyncio.Task[_Listed]] = []
        undecided = rule_clusters(self.config, rule)  # what the run has not decided yet, in order
        for cluster in undecided:
            before = listings[-1] if listings else None
            listings.append(asyncio.create_task(self._schedule_listing(rule_name, cluster, deadline, before)))
        undecided = list(undecided)
        deciding: str | None = None  # the cluster whose restarts are being decided now
        try:
            for listed in asyncio.as_completed(listings):
                cluster, poller, generation, statuses = await listed
                rule = self._schedule_rule(rule_name)
                if rule is None:
                    self._schedule_run_ended(rule_name, undecided)
                    return
                undecided.remove(cluster)
                if poller is None:
                    continue
                if statuses is None and self.pollers.get(cluster) is not poller:
                    log.debug("schedule_run_dropped", rule=rule.name, cluster=cluster,
                              note="the cluster was removed or redefined while it was listed: nothing is restarted there")
                    continue
                if statuses is None and self.discovery_missing(cluster):
                    # A deletion under way (discovery_cluster_missing said so): at error, one line
                    # per run paged whoever alerts on errors for an ordinary deletion.
                    log.warning("scheduled_restart_skipped", rule=rule.name, cluster=cluster,
                                reason=f"could not list the cluster's connectors ({poller.failure}); discovery's last "
                                       "refresh did not find the cluster in its environment (discovery_cluster_missing): "
                                       "deleted, or the key lost access; dropped if the next refresh agrees")
                elif statuses is None:
                    log.error("scheduled_restart_skipped", rule=rule.name, cluster=cluster,
                              reason=f"could not list the cluster's connectors ({poller.failure}); see poll_failed")
                if statuses is None:
                    continue
                if cluster in self.pollers and rule.select.selects_cluster(cluster):
                    deciding = cluster
                    if not await self.engine.on_schedule(rule, cluster, statuses, generation=generation):
                        if self._schedule_rule(rule_name) is None:  # its rule changed while it decided
                            self._schedule_run_ended(rule_name, [cluster, *undecided])
                            return
                        log.debug("schedule_run_dropped", rule=rule.name, cluster=cluster,
                                  note="the cluster was removed or redefined meanwhile: nothing more is restarted there")
                    deciding = None
        except asyncio.CancelledError:
            not_decided = ([deciding] if deciding is not None else []) + undecided
            if self._stopping:
                say_run_cut(self.metrics, cut, began, not_decided, by_stop=True)
            elif not self.leadership.leading:
                say_run_cut(self.metrics, cut, began, not_decided, by_stop=False)
            raise
        finally:
            # The rule removed or disabled meanwhile, the run cancelled (a stop, a loss of the
            # lead) or failed: the listings still under way are not wanted.
            for task in listings:
                task.cancel()
            await asyncio.gather(*listings, return_exceptions=True)

    async def _schedule_listing(
        self, rule_name: str, cluster: str, deadline: float, before: asyncio.Task[_Listed] | None
    ) -> _Listed:
        """One cluster's part of a scheduled run's listings, begun once the listing `before` it
        has ended or has waited SCHEDULE_LISTING_PATIENCE: its poller (None: no longer in
        service), the generation it had when the listing began, and what the listing found."""
        if before is not None:
            await asyncio.wait({before}, timeout=SCHEDULE_LISTING_PATIENCE)
        # Each listing is an await (seconds behind a rate-limit pause): a reload or a discovery
        # refresh may meanwhile remove a cluster, or change or disable the rule. Before, a
        # cluster removed so raised KeyError, the job failed, and every cluster after it in the
        # run went without its scheduled restart.
        poller = self.pollers.get(cluster)
        if poller is None:
            return cluster, None, 0, None
        generation = self.engine.cluster_generation.get(cluster, 0)
        return cluster, poller, generation, await self._list_for_schedule(rule_name, poller, deadline)

    async def _list_for_schedule(
        self, rule_name: str, poller: ClusterPoller, deadline: float
    ) -> Mapping[str, ConnectorStatus] | None:
        """The cluster's listing for a scheduled run, tried again after a failure that may pass (a
        429, a 5xx, a network error, a rebalance) until `deadline` (the event loop's time: the
        run's start plus the grace a late run is still given, SCHEDULE_MISFIRE_GRACE_SECONDS): one
        429 (the key shared with the polls and the discovery that wake at the same time) skipped
        the cluster's whole run, its restarts lost for the night. Another try waits for the key's
        rate-limit pause as every call does."""
        def keep_going() -> bool:
            return (not self._stopping and self._schedule_rule(rule_name) is not None
                    and self.pollers.get(poller.cluster) is poller)  # the cluster removed or redefined meanwhile

        def said(delay: float) -> None:
            log.warning("scheduled_listing_retried", rule=rule_name, cluster=poller.cluster, delay_seconds=delay,
                        reason=poller.failure)

        return await list_retrying(poller, deadline, keep_going, said)

    def _schedule_rule(self, rule_name: str) -> Rule | None:
        """The rule as the config has it now, if it is there, enabled and still a schedule rule.
        A reload that turned `nightly` into a status (or alert) rule of the same name left its
        run under way restarting every connector of the clusters it had not listed yet, healthy
        ones included, while the status rule of that name judged each of them `healthy`."""
        return schedule_rule_now(self.config, rule_name)

    def _schedule_run_ended(self, rule_name: str, undecided: list[str] | None) -> None:
        """A run ended by a reload that disabled, removed or re-typed its rule: said at info,
        with the clusters it restarted nothing in (`undecided`; None: it had listed none yet).
        Before, it stopped without a word, or (re-typed) did not stop. The restarts it queued
        before are dropped at their turn, each saying why (engine/rules_gone.py)."""
        where: dict[str, object] = {"clusters_not_restarted": undecided} if undecided is not None else {}
        log.info("schedule_run_ended", rule=rule_name, reason=why_not_a_schedule_rule(self.config, rule_name), **where,
                 note=("this run restarts nothing in these clusters; " if undecided is not None
                       else "it ended before it listed any cluster: it restarts nothing; ")
                 + "the restarts it queued before are dropped at their turn (restart_finished, outcome dropped)")


# What comes after a schedule run cut short, as its warning says it.
AFTER_A_STOP = ("the next start does not make it up; restarts it queued for the other clusters and left unsent are in "
                "the `stopped` line")
AFTER_A_LEAD_LOSS = ("the replica that leads next does not run it again (its restarts already queued are in the shared "
                     "state and it sends them)")


def say_run_cut(metrics: Metrics, rule: Rule, began: datetime, not_decided: list[str], *, by_stop: bool) -> None:
    """A schedule run cancelled, by the stop or by this replica's loss of the lead, before it had
    listed and decided every cluster it selects: said at warning and counted `missed` by the
    daemon that knows it. Said at debug only (`job_cancelled_at_shutdown`,
    `job_cancelled_standing_by`), it was reported by the next start alone, and only if that came
    within 5 minutes (due_before's grace): a rollout whose new pod took longer lost the night's
    restarts of those clusters without a word (probe_races F2); and a takeover found the run
    "made" when the replica before had queued some of its restarts, so nothing at all said the
    clusters left. Nothing is said of a run that had decided every cluster."""
    if not not_decided:
        return
    metrics.scheduler_events.labels("missed").inc()
    fields: dict[str, object] = {"rule": rule.name, "job_id": job_id(rule), "run_began_at": began.isoformat(),
                                 "clusters_not_decided": not_decided}
    what, after = ("the daemon stopped", AFTER_A_STOP) if by_stop else ("this replica stopped leading", AFTER_A_LEAD_LOSS)
    note = (f"{what} before this run had listed and decided these clusters: their connectors were not restarted by "
            f"it, and a schedule is not run late ({after}); if their restarts are still wanted, ask for them "
            "(watchdog restart --daemon)")
    if by_stop:
        log.warning("scheduled_run_cut_by_stop", **fields, note=note)
    else:
        log.warning("scheduled_run_cut_by_lead_loss", **fields, note=note)


def _remove_job(scheduler: AsyncIOScheduler, job_id: str) -> None:
    # A running instance is not cancelled by removal: a poll in progress finishes its work.
    with contextlib.suppress(JobLookupError):
        scheduler.remove_job(job_id)
