"""What every part of the engine shares: its collaborators, the config and what it implies,
and what the last polls listed (the latest status of every connector, by cluster and by lcc- id)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, TypeVar

from ..blocking import AlertBlocker
from ..breaker import Breaker
from ..config import CloudCluster, Config, KafkaConnectCluster
from ..logs import get_logger
from ..metrics import Metrics
from ..model import ConnectorKey, ConnectorState, ConnectorStatus, Decision, Outcome, Trigger
from ..plan import poll_intervals
from ..queue import RestartJob, RestartQueue
from ..rules import OWNER_HELD_STATES, AlertRules, RuleSelection, StatusOwners, selects
from ..stall import Unjudged
from ..state import StateStore, StateStoreError
from ..state.pruning import prune_steps
from ..windows import Windows
from .alert_holds import AlertHolds
from .flapping import FlapWatch
from .poll_pace import PollPace
from .retired_ids import RetiredIds
from .stall_rows import StallOwners, StallRows
from .trial_owners import RunOwners
from .unroutable import UnroutableNames

if TYPE_CHECKING:  # only for the annotation: decisions.py builds on this module
    from .decisions import RequestRecord


log = get_logger("watchdog.engine")

# A poll's connectors (a schedule run's, the hourly sweep's) are handled in slices of about this long, each slice its own
# transaction, the event loop let go between slices. In one go, a cluster of 2,000 connectors
# with its state in a PostgreSQL 1 ms away held the loop 12 s (two or three round trips per
# connector): /healthz went stale, webhooks waited, and the lease could not be renewed (its row
# share-locked by the poll's open transaction besides), so the leader stood down at every poll
# and nothing was ever judged.
POLL_SLICE_SECONDS = 0.05
# A poll reads its connectors' states this many at a time (StateStore.load_many), within the slice
# that judges them: one round trip for a few dozen connectors instead of one each.
READ_AHEAD = 64

_Item = TypeVar("_Item")

WallClock = Callable[[], datetime]

# Requests the API can be asked about (GET /v1/restarts/{id}), this many per trigger; the oldest
# of a trigger are forgotten first. Per trigger so that one intake's traffic (a webhook of
# thousands of alerts, a poll of thousands of connectors) never pushes out another's: a restart
# asked for through the API stays until 10,000 newer ones were asked for the same way.
REQUEST_MEMORY = 10_000
# Triggers whose restarts follow the failure backoff; schedules and manual requests are deliberate.
FAILURE_TRIGGERS = frozenset({Trigger.STATUS, Trigger.ALERT, Trigger.STALLED})
# Failures the status API cannot see: their backoff resets only after the signal clears.
SIGNAL_TRIGGERS = frozenset({Trigger.ALERT, Trigger.STALLED})


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def show_state(metrics: Metrics, store: StateStore, dry_states: dict[ConnectorKey, ConnectorState],
               key: ConnectorKey, state: ConnectorState, *, owner_held: bool = False) -> None:
    """Show a connector's state on its gauges. A dry-run view (its backoff advanced by restarts
    never sent) shows the cadence the live run would have, but its gave-up only where the live
    state gave up too: WatchdogConnectorGaveUp pages "still fails after max_restarts restarts"
    from that gauge, and a dry run's give-up is said by its `gave_up` line (dry_run: true). Its
    next restart is still "not until healthy" (+Inf): the dry run restarts it no more.
    `owner_held`: its latest listing shows it PAUSED or STOPPED (rules.OWNER_HELD_STATES). Its gave-up
    flag is kept (it was not seen well: resumed and failing, it is given up on again at once), but
    not paged: a person has taken it in hand, and the page for a connector stopped until its fix
    shipped went on for as long as it stayed stopped, resolved only by a silence or a deletion."""
    paged: bool | None = None
    if key in dry_states and not owner_held:
        live = _live_gave_up(store, key)
        if state.gave_up != live:
            # The live state's give-up is what pages, whichever view is shown: a rule on trial
            # with restarts left beside a live rule that gave up showed its own view, 0, and
            # WatchdogConnectorGaveUp stayed silent (a verification of the rules probe, 2026-12-06).
            paged = live
    elif state.gave_up and owner_held:
        paged = False
    metrics.show_connector_state(key.cluster, key.connector, state, paged_gave_up=paged)


def _live_gave_up(store: StateStore, key: ConnectorKey) -> bool:
    try:
        return store.load(key).gave_up
    except StateStoreError:  # counted by the store; a gauge is no reason to stop a decision
        return False


class EngineCore:
    def __init__(
        self,
        config: Config,
        state: StateStore,
        queue: RestartQueue,
        metrics: Metrics,
        *,
        breaker: Breaker,
        blocker: AlertBlocker | None = None,
        now: WallClock = utc_now,
    ) -> None:
        self.state = state
        self.queue = queue
        self.metrics = metrics
        self.breaker = breaker
        self.blocker = blocker
        self._now = now
        # The latest status of every connector listed in a polled cluster, watched or not: the API
        # and alerts need to know what exists, and lcc- ids are learned here.
        self.statuses: dict[ConnectorKey, ConnectorStatus] = {}
        # Indexes over `statuses`, so that a poll, an alert or a stall check touches its own
        # cluster and connector rather than every connector of every cluster.
        self._listed: dict[str, set[str]] = {}  # cluster -> the names its last poll listed
        self._by_resource_id: dict[str, ConnectorKey] = {}
        # cluster -> id -> names: ids its last listing gave more than one connector, which name
        # none of them while they repeat (repeated_ids.py); left out of `_by_resource_id`.
        self.ids_repeated: dict[str, dict[str, tuple[str, ...]]] = {}
        # The ids of connectors deleted or replaced since they were listed: what an alert of one
        # that resolves names (AlertIntake._alert_target). Memory only, bounded.
        self._retired_ids = RetiredIds()
        self.flaps = FlapWatch()  # connectors that keep failing and coming back (flapping.py)
        self.requests: OrderedDict[str, RequestRecord] = OrderedDict()
        self._remembered: dict[Trigger, deque[str]] = {}  # the ids in `requests`, per trigger, oldest first
        # Per connector (by rule): forgotten with the connector in one step, where a scan of every
        # connector's (cluster, rule) pairs for each one forgotten cost a reload that unwatched
        # 3,000 connectors 2 s (engine/forgetting.py _drop_series).
        self._last_decision: dict[ConnectorKey, dict[str, tuple[Decision, str]]] = {}  # per rule: decisions._said_as
        # Each connector a restart of which a gate holds now (a window, a breaker, blocking
        # alerts), or whose failure its rule has not confirmed yet (decisions.HELD_SHOWN), with
        # the detail: `watchdog status --daemon` and /v1/connectors say it.
        # Its log line comes once (repeats at debug) and its backoff says "now", so without this
        # nothing an operator reads an hour later said why it was not restarted.
        self.held: dict[ConnectorKey, tuple[Decision, str, datetime]] = {}  # and when it was decided
        # Those of `held` an alert's decision made, which no poll decides again: kept across a reload
        # while wanted, shown again after a poll's decision, dropped when the alert resolves.
        self.alert_holds = AlertHolds(self.held)
        # The alerts (identities) last sent firing for each connector, and when, oldest first
        # (AlertIntake): one that resolves clears the connector's signal only once no other still
        # fires for it. Memory only, bounded (alert_intake.FIRING_KEPT, FIRING_FORGOTTEN_AFTER).
        self.firing_alerts: dict[ConnectorKey, dict[str, datetime]] = {}
        self._watched: dict[str, set[str]] = {}
        # Each configured cluster's incarnation: a number drawn from one counter that only rises,
        # given when the cluster is added and again when a reload or discovery redefines it, and
        # dropped with the cluster. A poll or a schedule run that began before a removal or a
        # redefinition sees another number (0 once removed, a new one if added back), and judges
        # nothing more of it (cluster_unchanged). A count of forgettings per name instead kept an
        # entry for every cluster discovery ever dropped, for the life of the process.
        self.cluster_generation: dict[str, int] = {}
        self._incarnations = itertools.count(1)
        # Since when each listed connector has been seen RUNNING (stall checks wait for a grace
        # period first). Learned by polling; after a restart of the daemon the grace starts over.
        self.running_since: dict[ConnectorKey, datetime] = {}
        # What the listings changed of it since the store last took it, per cluster: (the latest
        # listing's time, connectors that became healthy and since when, those that stopped being
        # so or left). Written at the end of a poll, after its other writes (StatusIntake), for the
        # next leader (state/running.py); kept while a write fails.
        self.running_unsaved: dict[str, tuple[datetime, dict[str, datetime], set[str]]] = {}
        # Whether a first listing takes those times back from the store (a daemon's, a new
        # leader's); a `run --once` pass judges no stall (once_stall_unjudged says so), and does not.
        self.running_seeded = True
        # Clusters a reload or discovery removed or redefined since their last listing here: the
        # store's times are of the connectors as defined before (another Kafka cluster, perhaps),
        # so their next first listing counts from then.
        self.running_forgotten: set[str] = set()
        # Since when each watched connector has been DEGRADED with no task in error, and those
        # already reported for staying so too long. Memory only: after a restart of the daemon
        # the clock starts over (a report comes late, never early).
        self.degraded_since: dict[ConnectorKey, datetime] = {}
        self.degraded_reported: set[ConnectorKey] = set()
        # Those of them reported `transient_too_long` (engine/stuck.py), not `degraded_too_long`.
        self.unchosen_reported: set[ConnectorKey] = set()
        # Self-managed connectors with no task whose name a worker cannot forward (unroutable.py).
        self.unroutable_names = UnroutableNames()
        # The states no known API reports that each watched connector was last reported in.
        self.unknown_reported: dict[ConnectorKey, tuple[str, ...]] = {}
        # The exact names each status rule selects that its cluster's last poll did not list, as
        # last reported, by (rule, cluster).
        self.named_missing_reported: dict[tuple[str, str], tuple[str, ...]] = {}
        # How many names no connector can have each cluster's listing held, as last said at
        # warning (StatusIntake.on_listing): said again when the count changes, else at debug.
        self.unusable_names_said: dict[str, int] = {}
        # Connectors a stall rule could not judge, and why (logged when it starts or changes).
        self._unjudged: dict[ConnectorKey, dict[str, Unjudged]] = {}  # by rule
        # Those a stalled rule selects, and the stall check's last word on each, for status (stall_rows.py).
        self.stall_rows = StallRows()
        # Sources a stall restart did not get moving, said for that restart (its time): once.
        self._unresolved_said: dict[ConnectorKey, datetime] = {}
        self._prunes = 0  # prune_unwatched runs begun: each stops once a newer one has begun
        # Clusters with requests kept in the state file that recovery left for later: they may be
        # discovered clusters, and discovery had not run yet (see Recovery.recover).
        self.held_clusters: set[str] = set()
        # Connectors gone from their cluster (or their cluster gone) whose series were kept, or
        # made again, for a restart that ended after they went: removed by the next hourly
        # `forget_vanished` once no restart of theirs is pending (StatusIntake.forget_late_series).
        self.late_series: set[ConnectorKey] = set()
        # When each breaker scope's opening was last said at error (Gates.update_breaker): the
        # openings within the hour after are said at warning.
        self.breaker_error_said_at: dict[str, datetime] = {}
        # When an error opening that closed within BREAKER_FLASH was last forgotten (Gates.update_breaker).
        self.breaker_flash_forgotten_at: dict[str, datetime] = {}
        # Dry-run's own view of the connectors it would have restarted: their attempts, backoff
        # and gave-up flag as the live run would have them, in memory only. Written to the state
        # file, they spent the live budget: going live after a dry run through an incident found
        # every failing connector gave-up or deep in its backoff, though nothing had been sent.
        self.dry_states: dict[ConnectorKey, ConnectorState] = {}
        # The run's terminal outcomes, shared with the queue's recorder by the composition root:
        # the jobs a start ends (Recovery) count as the queue's do, for `run --once`'s exit code
        # and the `stopped` line.
        self.outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        # The run's finished jobs, shared with the recorder's likewise: a job a start ends is one
        # its leader knows it ended, should the database lose that end (JobRecorder.rewrite_lost).
        self.finished_jobs: list[RestartJob] = []
        # Restarts decided and refused for want of room in their lane (queue_full) this run: never
        # sent, and no outcome counts them. `run --once` exits 1 for them, and `stopped` says how many.
        self.queue_full = 0
        # How far apart each cluster's polls came (an `unconfirmed` decision's words).
        self.poll_pace = PollPace()
        self.set_config(config)

    def set_config(self, config: Config) -> None:
        self.config = config
        self._global_windows = config.windows.compile() if config.windows.configured else None
        self._rule_windows: dict[str, Windows] = {r.name: r.windows.compile() for r in config.rules if r.windows}
        self.status_owners = StatusOwners(config.rules)
        self.stall_owners = StallOwners(config.rules)
        # A poll's judges: the live owner, and a rule on trial beside it (trial_owners.py).
        self.run_owners = RunOwners(config)
        self.alert_rules = AlertRules(config.rules)
        # How often each cluster is polled (its rules' shortest interval): a slower status rule's
        # confirm_polls counts polls at its own interval (rules.polls_to_confirm).
        self.poll_every = poll_intervals(config)
        self.rule_selection = RuleSelection(config.rules)
        # A reload may open a window, close a breaker or drop the rule that was held: the next
        # decisions say again what holds what. Not an alert's, decided again only when Alertmanager
        # sends it again: AlertIntake.set_config shows again those still wanted (AlertHolds.reloaded).
        self.held.clear()
        if not config.dry_run_anywhere:
            self._drop_dry_view()
        self._cluster_ids = {c.kafka_cluster_id: name for name, c in config.clusters.items() if isinstance(c, CloudCluster)}
        for name in config.clusters:
            if name not in self.cluster_generation:
                self.cluster_generation[name] = next(self._incarnations)

    def _drop_dry_view(self) -> None:
        """Gone live (a reload): the dry run's view is dropped and the gauges show the live state.
        Kept until each connector's next live decision, `watchdog status --daemon` said "(dry
        run)" and the gauges the dry run's backoff, an alert rule's connector until its next alert."""
        for key in list(self.dry_states):
            del self.dry_states[key]
            try:
                show_state(self.metrics, self.state, self.dry_states, key, self.state.load(key),
                           owner_held=self.owner_held(key))
            except StateStoreError:  # counted by the store; the next decision shows it
                pass

    def self_managed(self, cluster: str) -> bool:
        """Whether `cluster` is a self-managed Kafka Connect cluster in the config now."""
        return isinstance(self.config.clusters.get(cluster), KafkaConnectCluster)

    def new_incarnation(self, cluster: str) -> None:
        """The cluster was forgotten (after set_config): removed, its number goes; redefined, it
        gets a new one. Either way a job begun before no longer sees its own (cluster_unchanged)."""
        if cluster in self.config.clusters:
            self.cluster_generation[cluster] = next(self._incarnations)
        else:
            self.cluster_generation.pop(cluster, None)

    def forget_memory_of(self, cluster: str) -> None:
        """Drop what memory holds of the cluster's connectors beyond its listing (forget_cluster):
        the decisions last logged, what a gate held, the reports made (DEGRADED, unknown states,
        names not listed, stall checks unjudged) and the dry run's view. Only a status rule's
        connectors lost theirs before: those of an alert, schedule or stall rule, and the names
        a rule's cluster did not list, stayed for every cluster discovery ever dropped."""
        for by_key in (self.degraded_since, self.unknown_reported, self.held, self.alert_holds, self.dry_states,
                       self.running_since, self._last_decision, self._unjudged, self._unresolved_said, self.firing_alerts):
            for key in [key for key in by_key if key.cluster == cluster]:
                del by_key[key]
        self.degraded_reported.difference_update([key for key in self.degraded_reported if key.cluster == cluster])
        self.unchosen_reported.difference_update([key for key in self.unchosen_reported if key.cluster == cluster])
        self.unroutable_names.forget_cluster(cluster)
        self._retired_ids.forget_cluster(cluster)
        for where in [where for where in self.named_missing_reported if where[1] == cluster]:
            del self.named_missing_reported[where]
        self.unusable_names_said.pop(cluster, None)
        self.stall_rows.forget(cluster)
        # Bounded by the configured clusters (and this one): one kept for every cluster discovery
        # ever dropped would grow for good.
        self.running_forgotten = {name for name in self.running_forgotten if name in self.config.clusters} | {cluster}
        self.running_unsaved.pop(cluster, None)

    def cluster_unchanged(self, cluster: str, generation: int | None = None) -> Callable[[], bool]:
        """A check, True while the cluster has not been forgotten (removed, or redefined by a
        reload or discovery) since `generation` (cluster_generation; None: now). A poll or a
        schedule run that began before ends at the next slice: judged after forget_cluster, a
        removed cluster's connectors got their series back for good, and were restarted. A
        cluster not configured has no number (0): one removed since compares unequal."""
        since = self.cluster_generation.get(cluster, 0) if generation is None else generation
        return lambda: self.cluster_generation.get(cluster, 0) == since

    async def _in_slices(self, items: Sequence[_Item], step: Callable[[_Item], object], *, writes: bool = True,
                         going_on: Callable[[], bool] = lambda: True,
                         read: Callable[[Sequence[_Item]], object] | None = None) -> bool:
        """`step` for each item, in slices of about POLL_SLICE_SECONDS. With `writes`, one
        transaction per slice where the store needs it (PostgreSQL: a commit per slice instead of
        one per write); a restart request still commits at once. No transaction is open while the
        loop is let go: other tasks' writes are their own, and the lease row is not held. False when
        `going_on` said to stop after a slice (what was done stays done). `read`: called with the
        next READ_AHEAD items before the first of them is stepped, in the same slice (what it reads
        is never from before the loop was let go: the queue may have written since)."""
        done = 0
        while True:
            started = time.monotonic()
            read_up_to = done  # nothing read in an earlier slice is used in this one
            with self.state.batch() if writes else nullcontext():
                while done < len(items):
                    if read is not None and done >= read_up_to:
                        read_up_to = done + READ_AHEAD
                        read(items[done:read_up_to])
                    step(items[done])
                    done += 1
                    if time.monotonic() - started >= POLL_SLICE_SECONDS:
                        break
                else:
                    return True
            await asyncio.sleep(0)
            if not going_on():
                return False

    async def prune_history(self, max_age: timedelta, max_entries: int) -> int:
        """The hourly prune of the restart history (state/pruning.py), its steps in slices as a
        poll's (_in_slices), each step its own short transaction: in one go, its scan of every
        record held the event loop seconds an hour once the history was large (400,000 records:
        1 s on a SQLite file, 3 s on PostgreSQL). Returns the number of records deleted."""
        removed, started = 0, time.monotonic()
        for count in prune_steps(self.state, max_age, max_entries):
            removed += count
            if time.monotonic() - started >= POLL_SLICE_SECONDS:
                await asyncio.sleep(0)
                started = time.monotonic()
        return removed

    def load_state(self, key: ConnectorKey, *, dry_run: bool, stored: ConnectorState | None = None) -> ConnectorState:
        """The connector's state as a decision in dry-run (`dry_run`) or live sees it: a live one
        reads what was really sent (the state file), a dry-run one the dry run's view where there
        is one. `stored`: the store's state, when it was just read (StateStore.load_many).
        A live decision drops the view only where no rule in dry-run selects the connector any
        more (its rules went live by a reload). Dropped at every live decision, a connector that a
        live status rule and a rule on trial both watch lost the trial's view at each healthy
        poll: the trial's backoff and budget never grew past one restart, and its alert rule
        showed a dry-run restart every poll where the live rule would have made three and given
        up (found 2026-12-06). A live restart sent rebases the view (JobRecorder.sending)."""
        if not dry_run:
            if key in self.dry_states and not self._on_trial(key):
                del self.dry_states[key]
            return stored if stored is not None else self.state.load(key)
        return self.dry_states.get(key) or (stored if stored is not None else self.state.load(key))

    def _on_trial(self, key: ConnectorKey) -> bool:
        """Whether a decision in dry-run may still be made for the connector: the config is in
        dry-run, or an enabled rule in dry-run selects it."""
        return self.config.dry_run or any(
            rule.enabled and rule.dry_run and selects(rule.select, key.cluster, key.connector) for rule in self.config.rules)

    def trial_views(self) -> dict[ConnectorKey, ConnectorState]:
        """The dry run's views that status shows instead of the live state: those of connectors no
        enabled live rule selects. Beside a live rule, a trial's view (its would-be attempts and
        give-up) was shown as the connector's row, `(dry run)`: a connector the live rule had given
        up on read `GAVE UP no`, ATTEMPTS of restarts never sent, while the page said otherwise."""
        if self.config.dry_run:
            return dict(self.dry_states)
        live = [rule for rule in self.config.rules if rule.enabled and not rule.dry_run]
        return {key: state for key, state in self.dry_states.items()
                if not any(selects(rule.select, key.cluster, key.connector) for rule in live)}

    def show_state(self, key: ConnectorKey, state: ConnectorState) -> None:
        show_state(self.metrics, self.state, self.dry_states, key, state, owner_held=self.owner_held(key))

    def owner_held(self, key: ConnectorKey) -> bool:
        """Whether the latest listing shows the connector paused or stopped by its owner."""
        listed = self.statuses.get(key)
        return listed is not None and listed.state.upper() in OWNER_HELD_STATES

    def save_state(self, key: ConnectorKey, state: ConnectorState, *, dry_run: bool,
                   seen: tuple[str, datetime] | None = None) -> None:
        """`seen`: the connector state a poll saw and when, written with the state (one write)."""
        if dry_run and key in self.dry_states:
            self.dry_states[key] = state
            if seen is not None:
                self.state.observe_status(key, *seen)
        elif seen is not None:
            self.state.observe_status(key, *seen, state=state)
        else:
            self.state.save(key, state)

    def _remember(self, record: RequestRecord) -> None:
        """A request the API can be asked about (GET /v1/restarts/{id}), REQUEST_MEMORY per trigger."""
        self.requests[record.request_id] = record
        ids = self._remembered.setdefault(record.trigger, deque())
        ids.append(record.request_id)
        while len(ids) > REQUEST_MEMORY:
            self.requests.pop(ids.popleft(), None)

    def listed(self, cluster: str) -> set[str] | None:
        """The connector names the cluster's last poll listed; None before its first poll."""
        return self._listed.get(cluster)

    def listed_status(self, key: ConnectorKey) -> ConnectorStatus | None:
        """What the cluster's latest listing (a poll's, or one made on demand) showed of the
        connector: None when it did not show it, or the cluster was never listed."""
        names = self._listed.get(key.cluster)
        return self.statuses.get(key) if names is not None and key.connector in names else None

    def watched(self, cluster: str) -> set[str]:
        """The connector names a status rule selected at the cluster's last poll (or since, as a
        reload's prune_unwatched left them)."""
        return self._watched.get(cluster, set())

    def watches(self, key: ConnectorKey) -> bool:
        """Whether a status rule or a stalled rule selected the connector at its cluster's last
        poll: what status shows as watched (a stall-only connector is watched by its checks)."""
        return key.connector in self._watched.get(key.cluster, ()) or self.stall_rows.watches(key.cluster, key.connector)

    def cluster_named(self, label: str) -> str | None:
        """A configured cluster from its name or its kafka_cluster_id."""
        if label in self.config.clusters:
            return label
        return self._cluster_ids.get(label)
