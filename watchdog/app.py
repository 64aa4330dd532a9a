"""The composition root: builds the real objects from a Config, starts them, stops them in order.

Six parts of the daemon live in mixins of their own, each with one job: taking and losing the
lead (leadership/host.py), swapping in a reloaded config (reloading.py), discovery's refreshes
(discovery/host.py), the scheduler's jobs and what each runs (triggers/host.py), the clusters
and rate-limit lanes in service (cluster_host.py), and the one-shot commands, `run --once` and
`watchdog restart` without a daemon (once.py). The process's signals are wired by signals.py."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry

from . import release
from .api import ApiContext
from .asgi_server import EmbeddedServer, start_server, stop_server
from .assembly import Retired
from .blocking import AlertBlocker
from .breaker import Breaker
from .clients import cloud_client, environment_proxy, sent_secrets
from .cluster_host import ClusterHost
from .config import (
    Config,
)
from .connect import ConnectBackend, Gateway
from .connect.transfer import CallLimits
from .connector_rows import ConnectorRowsHost
from .discovery.host import DiscoveryHost
from .engine import MANUAL_RULE, Engine, JobRecorder, WallClock, utc_now
from .leadership.build import build_leadership
from .leadership.elector import Elector
from .leadership.host import LeadershipHost
from .listening import CannotListen
from .logs import get_logger, keep_out_of_logs
from .metrics import Metrics
from .model import Trigger
from .once import OneShotHost
from .plan import poll_intervals, trigger_of
from .queue import RestartJob, RestartQueue
from .ratelimit.shared_budget import SharedBudgets
from .redirects import redirect_hook
from .reload import ConfigWatcher, file_fingerprint, tls_digests
from .reloading import ReloadHost
from .report import history_json
from .server import Probes, create_app
from .start_warnings import warn_at_start
from .state import Fenced, StateStore, StateStoreError, open_store
from .tasks import cancel_and_wait
from .triggers.host import SchedulerHost
from .triggers.poller import ClusterPoller, ensure_listed, list_again, stale_clusters
from .triggers.scheduler import ClockStepWatch
from .triggers.stall import StallChecker
from .triggers.turn_listing import list_after_pause

log = get_logger("watchdog.app")

HISTORY_PRUNE_BEATS = 3600  # the heartbeat ticks every second: prune once an hour
# Record that the daemon is alive every 30 beats (one row rewritten): recovery at the next start
# tells a rollout from a night with no daemon within this, well inside the scheduler's 5 minutes.
ALIVE_BEATS = 30


class Daemon(LeadershipHost, ReloadHost, DiscoveryHost, SchedulerHost, ClusterHost, OneShotHost, ConnectorRowsHost):
    def __init__(
        self,
        config: Config,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        blocking_transport: httpx.AsyncBaseTransport | None = None,
        registry: CollectorRegistry | None = None,
        state: StateStore | None = None,
        reload_config: Callable[[], Config] | None = None,
        config_path: Path | None = None,
        config_seen: str | None = None,
        secrets_dir: Path | None = None,  # watched with the config file: a Secret's files changed reload too
        now: WallClock = utc_now,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] | None = None,
    ) -> None:
        # The config file as `config` was read from it (the caller's fingerprint, taken before it
        # read the file; else now): the watcher reloads an edit made while the daemon starts.
        self._config_seen = config_seen if config_seen is not None or config_path is None else file_fingerprint(config_path, secrets_dir)
        self.config = config
        keep_out_of_logs(*sent_secrets(config))
        self.metrics = Metrics(registry)
        self.metrics.show_config(config.dry_run, config.digest())
        # Opened first: a state file that cannot be used stops the daemon before anything starts
        # (StateStoreError names the file and how to recover).
        self.state = state if state is not None else open_store(config.state, now=now)
        # With a shared (PostgreSQL) store, replicas elect a leader; only it runs the triggers and
        # the queue. With a SQLite file this daemon is the only one and leads from the start.
        self.leadership = build_leadership(config.state, self.metrics.registry)
        self._reload_config = reload_config
        self._reload_turn = asyncio.Lock()
        self._reload_waiting: asyncio.Future[bool] | None = None
        self._reload_tasks: set[asyncio.Task[bool]] = set()  # SIGHUP's reloads under way (reloading.py)
        self._config_path, self._secrets_dir = config_path, secrets_dir
        self._gone_rule_series_left = False  # restart series of a rule a reload removed, kept while pending
        self._rotated_out: tuple[set[str], set[str]] = (set(), set())  # secrets a reload rotated out: masked for good
        self._now, self._clock = now, clock
        self._blocking_transport = blocking_transport
        self._transport = transport
        # The daemon draws its jitters from a generator of its own, seeded from the OS, never from
        # the `random` module's shared one: a library or test harness that seeds or watches that
        # one (hypothesis does both) would otherwise make replicas jitter alike, or see its draws
        # shift under a daemon running beside it.
        self._rng = rng = rng if rng is not None else random.Random().random
        self.http: dict[str, httpx.AsyncClient] = {}
        self.gateways: dict[str, Gateway] = {}
        self._retired = Retired()  # clients a reload replaced, closed once their calls end
        self.breaker = Breaker(config.breaker)
        self.blocker = self._build_blocker(config)
        self.recorder = JobRecorder(lambda: self.config, self.state, self.metrics, self.breaker, now=now, rng=rng)
        self.queue = RestartQueue({}, {}, {}, config.rate_limit, self.recorder, clock=clock, wall=now, rng=rng,
                                  max_jobs_per_lane=config.queue.max_jobs_per_lane)
        self.queue.may_send = self.leadership.may_send
        # A state file that stops taking writes (a full disk) is counted, shown by
        # watchdog_state_store_writable and /readyz, and alerted on (deploy/prometheus).
        self.state.on_failure = self.metrics.state_store_errors.inc
        # A standby writes nothing, so a write that failed while it led would show 0 for ever.
        self.metrics.state_store_writable.set_function(
            lambda: 0.0 if self.state.problem and self.leadership.leading else 1.0)
        # The server may count several of these keys in one budget (an organisation's): found
        # from their answers, and those keys' limiters then pace them together.
        self.shared_budgets = SharedBudgets(self._share_budget)
        # Credentials cannot be added or removed without a restart (reload.credentials_shape; a
        # reload rotates their values in these clients), so every complete one gets its client
        # and limiter now, ready for clusters a reload may add.
        for name, credential in sorted(config.credentials.items()):
            if credential.api_key is None or credential.api_secret is None:
                continue
            if config.lane_of(name) != name:
                # The same key under another name: its calls go through that name's lane.
                log.warning("credentials_share_a_key", credentials=config.same_key(name), lane=config.lane_of(name),
                            note="these credentials hold the same API key, and Confluent limits per key: "
                                 "their clusters share one rate-limit lane")
                continue
            self._add_lane(name, cloud_client(config, credential, transport, [redirect_hook(name, self.metrics)]),
                           may_share_budget=True)
        self.engine = Engine(
            config, self.state, self.queue, self.metrics, breaker=self.breaker, blocker=self.blocker, now=now
        )
        self.recorder.gate = self.engine.dispatch_gate
        self.recorder.listed = self.engine.listed_status
        self.recorder.restarted = self.engine.flaps.restarted  # the restarts a flapping line counts
        self.queue.recheck_listing = lambda key, ended_ago: list_after_pause(self.pollers, key, ended_ago)
        self.recorder.dry_states = self.engine.dry_states
        self.engine.outcomes = self.recorder.outcomes  # a job a start ends is one of the run's
        self.engine.finished_jobs = self.recorder.finished_jobs
        self._init_discovery(config, now)  # until its first refresh, the config's clusters are all
        self.backends: dict[str, ConnectBackend] = {}
        self.pollers: dict[str, ClusterPoller] = {}
        for name in config.clusters:
            self._install_cluster(self._build_cluster(config, name))
        self.probes = Probes(clock)
        self.probes.config_digest = lambda: self.config.digest()
        self.probes.pending_clusters = lambda: [
            c for c in poll_intervals(self.config)
            if c not in self.pollers or (self.pollers[c].first_poll_awaited and self.pollers[c].paused() is None)
        ]
        # A first poll that waits out its key's pause (a 429's Retry-After) is tried, as one
        # answered 429 is: waited for, a start (or a takeover) during a pause kept the only
        # leader out of its Service for the whole pause, up to rate_limit.max_pause, and stalled
        # a rolling update (a Kubernetes probe, 2026-12-07). Named in /readyz instead.
        self.probes.paused_clusters = lambda: [
            paused for _, poller in sorted(self.pollers.items())
            if poller.first_poll_awaited and (paused := poller.paused()) is not None
        ]
        self.probes.discovery_pending = self.discovery_pending
        self.probes.state_problem = lambda: self.state.problem
        self.probes.not_leader = self.may_act
        self.probes.leader, self.probes.leader_note = (lambda: self.leadership.holder), self.leadership.no_leader_note
        self.probes.lease_problem = lambda: self.leadership.unreachable
        self.probes.stopping = lambda: self.config.queue.shutdown_deadline if self._stopping else None
        self.probes.stall_waiting = lambda: self._stall_checker.waiting() if self._stall_checker is not None else []
        self._server: tuple[EmbeddedServer, asyncio.Task[None]] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._clock_steps = ClockStepWatch()
        self._watcher: ConfigWatcher | None = None
        self._stall_checker: StallChecker | None = None
        self._stopping = False
        # True inside start() until this daemon leads (a SQLite file) or campaigns (PostgreSQL):
        # the HTTP server listens first, so that a port already taken stops the start before
        # anything is recovered or sent; meanwhile the API acts on nothing (may_act).
        self._starting = False
        self._job_tasks: set[asyncio.Task[Any]] = set()  # scheduler jobs running now
        self._forgetting: asyncio.Task[None] | None = None  # the hourly forget_vanished, while it runs
        self._pruning: asyncio.Task[None] | None = None  # the hourly prune of the history, while it runs
        self._once_whole = True  # run_once's pass read every cluster and environment (once.py)
        self._preinitialise_metrics()

    # -- construction helpers --------------------------------------------------------------------

    def _call_limits(self) -> CallLimits:
        """Every Connect API call, as a whole: its total time and the size of its answer."""
        return CallLimits(self.config.api.timeouts.total, self.config.api.max_response_bytes)

    def _build_blocker(self, config: Config) -> AlertBlocker | None:
        if config.blocking is None:
            return None
        return AlertBlocker(config.blocking, self.metrics, transport=self._blocking_transport, clock=self._clock,
                            max_response_bytes=config.api.max_response_bytes)

    def _preinitialise_metrics(self) -> None:
        self._preinitialise_clusters(self.config.clusters)

    def _forget_gone_rules(self) -> None:
        """Decision and restart series only for the (cluster, rule, trigger) the config has now;
        after a reload, and hourly while restarts still pending at it kept some (reading every
        restart series is not free at 10,000 connectors: not done hourly for nothing)."""
        keep = {(cluster, MANUAL_RULE, Trigger.MANUAL.value) for cluster in self.config.clusters}
        keep |= {(cluster, rule.name, trigger_of(rule).value)
                 for cluster in self.config.clusters for rule in self.config.rules_for_cluster(cluster)}
        busy = {(key.cluster, key.connector) for key in self.queue.pending_keys()}
        self._gone_rule_series_left = self.metrics.forget_rules(keep, busy)

    def _preinitialise_clusters(self, clusters: Iterable[str]) -> None:
        for cluster in clusters:
            rules = self.config.rules_for_cluster(cluster)
            self.metrics.init_cluster(cluster, [(r.name, trigger_of(r)) for r in rules] + [(MANUAL_RULE, Trigger.MANUAL)])
            for rule in rules:
                for connector in rule.select.connectors:
                    self.metrics.init_connector(cluster, connector, rule.name, trigger_of(rule))

    # -- running ---------------------------------------------------------------------------------

    async def start(self, *, serve_http: bool = True) -> None:
        warn_at_start(self.config)
        self._starting = True
        if self.blocker is not None:
            self.blocker.start()  # a no-op if a reload before start() started it
            await self.blocker.first_check()  # know before the first decision, not one TTL later
        if serve_http:
            # Before leading: a port already taken stopped the start only after the kept restarts
            # were sent and the first polls ran, so a daemon that could not start sent restarts.
            app = create_app(self.metrics.registry, self.probes, self.api_context())
            server = self.config.server
            try:
                self._server = await start_server(
                    app, server.host, server.port, max_connections=server.max_connections,
                    request_timeout=server.request_timeout,
                    count_answer=self.metrics.count_unrouted_answer)
            except CannotListen:
                # A taken port: nothing has acted yet (the server binds before recovery and
                # leading), so stop as at SIGTERM, closing the state file, and say why.
                await self.stop()
                raise
        try:
            if isinstance(self.leadership, Elector):
                self.leadership.start(self._lead, self._follow)  # a standby until elected
            else:
                await self._lead(None)
        except BaseException:
            if self._server is not None:  # the start failed (the state file takes no writes): stop listening
                await stop_server(*self._server)
                self._server = None
            raise
        self._starting = False
        if self._config_path is not None and self._reload_config is not None and self.config.reload.watch:
            self._watcher = ConfigWatcher(self._config_path, self.reload, self.config.reload.interval, self._config_seen,
                                          self._secrets_dir, tls=lambda: tls_digests(self.config))
            self._watcher.start()
        self._heartbeat = asyncio.create_task(self.heartbeat(), name="heartbeat")
        self.probes.config_loaded = True
        build = release.build()
        log.info(
            "started", version=build.version, revision=build.revision, dry_run=self.config.dry_run,
            config_digest=self.config.digest(), clusters=sorted(self.config.clusters),
            rules=[r.name for r in self.config.rules if r.enabled], polled=poll_intervals(self.config),
            listen=f"{self.config.server.host}:{self.bound_port}" if self._server else None,
            state=self.state.description, proxy=environment_proxy(str(self.config.api.base_url)),
            # Said here: without a token the API answers 403 to all, the runbook's `status --daemon`
            # in the pod included, and nothing said so until someone needed it.
            api="on" if self.config.server.auth_token else "off: no server.auth_token (WATCHDOG_SERVER__AUTH_TOKEN); the "
                "webhook, the restart API and status|history|restart --daemon are refused (403)",
        )
        if not self.state.durable:
            # Said once at start, where whoever set `:memory:` by mistake sees it before it matters.
            log.warning("state_not_kept", note="state.path is ':memory:': backoff, budgets, history and restarts "
                        "left unsent at a stop are lost when the daemon stops")

    @property
    def stopping(self) -> bool:
        """True from the first moment of stop(): triggers start nothing more and the API refuses
        new restarts (503, `shutting_down`) while the queue drains."""
        return self._stopping

    def may_act(self) -> str | None:
        """None when this daemon may act on a request (it leads and has recovered); else why not.
        Not `may_send`: that is the queue's, and its refusal makes a leader step down (elector.py);
        a leader whose renewal is late still leads (its reads are served, /readyz says leader),
        and the API refuses what would be sent meanwhile on its own (`renewal_late`)."""
        if self._starting:
            return "the daemon is starting: it recovers the restarts its state kept first"
        return None if self.leadership.leading else "this replica is not the leader"

    def api_context(self) -> ApiContext:
        """What the HTTP API needs of the daemon: start() serves `create_app(..., api_context())`;
        tests and embedders serve the same app over their own transport."""
        return ApiContext(
            engine=self.engine,
            metrics=self.metrics,
            config=lambda: self.config,
            ensure_listed=self.ensure_listed,
            list_again=lambda clusters: list_again(self.pollers, clusters),
            needs_listing=lambda clusters: bool(stale_clusters(self.pollers, poll_intervals(self.config), clusters)),
            paused_for=self._paused_for,
            accepting=lambda: not self._stopping,
            connectors=self.connector_reading,
            polls_failing=lambda: [failing for _, poller in sorted(self.pollers.items())
                                   if (failing := poller.failing()) is not None],
            polls_paused=lambda: [paused for _, poller in sorted(self.pollers.items())
                                  if (paused := poller.paused()) is not None],
            state_problem=lambda: self.state.problem, config_reload=self.reload_outcome,
            cluster_places=self.cluster_places,
            history=lambda cluster, connector, limit: history_json(
                self.state.history(None, limit, cluster=cluster, connector=connector))["restarts"],
            not_leading=self.may_act,
            renewal_late=self.leadership.renewal_late,
            standby_retry_after=self.leadership.retry_after,
            leader=self._other_leader, leader_note=self.leadership.no_leader_note,
        )

    def _paused_for(self, cluster: str) -> float:
        """Seconds for which every call of the cluster's API key is paused: read from the lane its
        restarts go through. Read through its poller, a restart by name kept when a reload removed
        its cluster (still sent after the pause) lost its `waiting: ... paused for N s` and read a
        bare `pending` for up to rate_limit.max_pause (probe_races F4)."""
        poller = self.pollers.get(cluster)
        if poller is not None:
            return poller.paused_for()
        lane = self.queue.lane_of(cluster)
        gateway = self.gateways.get(lane) if lane is not None else None
        return gateway.limiter.paused_for() if gateway is not None else 0.0

    def _other_leader(self) -> str | None:
        """The leader a standby's 503 names. While this replica believes it leads, the holder it
        knows is itself, and a 503 then comes from a write the store fenced (the lease moved on
        since the last renewal): naming itself, it sent `watchdog restart --daemon` users to
        `kubectl exec` into the very pod that had refused them. Not known yet, then."""
        return None if self.leadership.leading else self.leadership.holder

    async def ensure_listed(self, clusters: Iterable[str]) -> dict[str, str]:
        """List the named clusters whose last listing is stale; returns those that could not be
        (waiting a few seconds at most: triggers/poller.py)."""
        return await ensure_listed(self.pollers, poll_intervals(self.config), clusters)

    @property
    def bound_port(self) -> int | None:
        return self._server[0].bound_port if self._server else None

    def hurry(self) -> None:
        """A second SIGTERM or Ctrl-C: the drain of stop() ends now (or at once, if it has not
        begun): what is queued ends `unsent`, kept for the next start; a call on the wire
        `interrupted`."""
        log.warning("stop_hurried", queued=self.queue.depth(),
                    note="a second signal: queued restarts end unsent now (kept for the next start), a call on the "
                         "wire ends interrupted")
        self.queue.hurry()

    async def stop(self) -> list[RestartJob]:
        """Stop triggers, drain the queue within the deadline, then close everything."""
        self._stopping = True
        self.leadership.retire()
        log.info("stopping", queued=self.queue.depth(), deadline_seconds=self.config.queue.shutdown_deadline)
        await self._stop_discovery()
        if self._watcher is not None:
            await self._watcher.stop()
        if self._scheduler is not None:
            # Forgotten once shut down: a step-down during the drain (leadership/host.py's
            # _follow) shut it down again, failed (SchedulerNotRunningError, logged as
            # leader_stop_failed with a traceback) and left the rest of standing by undone.
            scheduler, self._scheduler = self._scheduler, None
            scheduler.shutdown(wait=False)
            # Running jobs only poll and enqueue: cutting them short loses nothing accepted.
            await cancel_and_wait(list(self._job_tasks))
        for poller in self.pollers.values():
            await poller.close()
        unsent = await self.queue.close(self.config.queue.shutdown_deadline, self.config.queue.in_flight_grace)
        # A SIGHUP's reload still reading its file (thousands of rules to check) has not applied it
        # and will not: said now (config_reload_abandoned), before `stopped`, not left to asyncio.run.
        await self.abandon_reloads()
        # Outcomes the state file refused earlier, once more while this replica still leads: left
        # pending there, the next start would send restarts reported ended.
        self.recorder.record_unrecorded()
        # After the drain (still the leader while it sends): give the lease back, so that a
        # standby takes over at its next try rather than a lease later.
        await self.leadership.stop(release=True)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._server is not None:
            await stop_server(*self._server)
        await self._retired.close()
        for client in self.http.values():
            await client.aclose()
        # The config's blocker, and the one still judging if a reload's has not answered yet.
        for blocker in dict.fromkeys(b for b in (self.blocker, self.engine.blocker) if b is not None):
            await blocker.close()
        if self.leadership.leading:
            self.mark_alive()  # a clean stop: the next start measures its gap from here
        self.state.close()
        # `unsent`: every restart kept for the next start, those a full disk kept while running too.
        log.info("stopped", unsent=len(unsent) + self.recorder.kept_unwritten_count, outcomes={o.value: n for o, n in self.recorder.outcomes.items() if n},
                 **({"queue_full": self.engine.queue_full} if self.engine.queue_full else {}),
                 # Outcomes a full disk kept from the state file: what the next start does with them.
                 **self.recorder.not_recorded(),
                 # The drain ended before its deadline: every restart left waited for a pause past it.
                 **({"drain_ended_early": self.queue.drain_ended_early} if self.queue.drain_ended_early else {}))
        return unsent

    async def run(self, stop: asyncio.Event, *, on_started: Callable[[], object] | None = None) -> int:
        await self.start()
        if on_started is not None:
            on_started()
        await stop.wait()
        await self.stop()
        return 0

    async def heartbeat(self) -> None:
        """The liveness heartbeat (/healthz fails when it stops ticking), and the hourly pruning
        of the restart history. Runs until cancelled: start() runs it as a task, and a harness
        that drives polls itself (the virtual-time fault matrix) runs it the same way."""
        beats = 0
        while True:
            self.probes.tick()
            self.follow_clock()
            if self.leadership.leading:
                self.engine.refresh_breaker()
                if self.state.problem is None:
                    # Outcomes an outage left in memory, once the store takes writes again (a
                    # poll's, a request's): left for the next restart's send, a leader killed
                    # meanwhile left them pending, and the next start sent restarts said `dropped`.
                    # Not while a failure stands: a state file locked by another process would
                    # hold the loop for the busy timeout at every beat.
                    self.recorder.record_unrecorded()
            beats += 1
            if beats % ALIVE_BEATS == 0 and self.leadership.leading:
                self.mark_alive()
            if beats % HISTORY_PRUNE_BEATS == 0 and self.leadership.leading:
                self._prune_history()
            await asyncio.sleep(1.0)

    def _prune_history(self) -> None:
        """Hourly (and on taking the lead): old history, and the state of connectors gone from
        their cluster for longer than `state.forget_vanished_after`. Each a task of its own, as a
        poll is, that goes in slices: the heartbeat must go on ticking meanwhile."""
        if self._pruning is None or self._pruning.done():
            self._pruning = asyncio.create_task(self._job(self._prune_history_records), name="prune-history")
        if self._forgetting is None or self._forgetting.done():
            # A task of its own, as a poll is: it may take a while (thousands of connectors gone
            # with a cluster), and the heartbeat must go on ticking meanwhile.
            self._forgetting = asyncio.create_task(self._job(self.engine.forget_vanished, self.not_discovered_yet),
                                                   name="forget-vanished")
        if self._gone_rule_series_left:
            self._forget_gone_rules()

    async def _prune_history_records(self) -> None:
        history = self.config.state.history
        try:
            removed = await self.engine.prune_history(timedelta(seconds=history.max_age), history.max_entries)
        except Fenced:
            raise  # another replica leads: _job says so
        except StateStoreError as exc:  # counted by the store; the next hour tries again
            log.error("history_not_pruned", error=str(exc))
            return
        if removed:
            log.info("history_pruned", removed=removed, max_age_seconds=history.max_age, max_entries=history.max_entries)
