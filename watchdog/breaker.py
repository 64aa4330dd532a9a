"""The global breaker: stop restarting while too much fails at once. Pure: time is passed in.

Two conditions open it:
- a cluster: more than `max_failing_share` of its watched connectors failing (at least
  `min_failing` of them) — a systemic outage (Confluent incident, expired credentials) that no
  restart will heal; the breaker then holds restarts for that cluster only;
- the fleet: `max_restarts` failure restarts (status and alert triggers) sent within `window` —
  a restart storm, whatever its cause; the breaker then holds every further failure restart.
  Scheduled and requested restarts are planned by people, so they neither count towards it nor
  are held by it (a nightly restart of 200 connectors is not a storm); the cluster condition
  holds them too. Dry-run restarts count only towards what a dry-run restart is told: a dry run
  meets the breaker where the live run would, while a rule on trial never holds live restarts.
  It is shown open (gauge, log lines) while its room is spoken for by those sent, those queued
  to go (free to go now: not behind a 429's pause, nor parked while their key is refused or
  their cluster held) and the failing connectors waiting for room: what holds a poll's restarts
  (`evaluate`).

While the fleet condition rations restarts, every failing connector gets one before any gets
another, whichever cluster's poll comes first when room frees: a poll's failure restart the fleet
condition held is waited for (`wait_for_room`), and one restarted more recently (or held for less
long) is held while it waits (`waiting_ahead`). Ordered within one poll only, the first cluster
polled took each window's room as it came free, and the others' failing connectors had none.

Each closes by itself once its condition clears. `evaluate` reports changes so that the caller
logs each opening and closing once.

A cluster's condition may never clear by itself: Kafka Connect never restarts a failed task, so
after an outage ends its connectors stay FAILED, and the share with them. While a cluster's
breaker is open, one failure restart per `window` goes as a probe (the first a window after it
opened). Once a probe's connector has stayed healthy (`probe_healed`), the outage is taken as
over: the failures still seen then are excused (each is restarted by its own backoff, paced by
the fleet condition), and only failures beyond them count towards the share.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import BreakerSettings
from .model import FLEET
from .policy import restart_turn


@dataclass(slots=True)
class _Waiting:
    """A failing connector a poll's restart of which the fleet condition held."""

    last_restart: datetime | None  # its last restart (None: never): the least recent goes first
    since: datetime  # first held: among as recent, the longest held goes first
    asked: datetime  # last held: a connector no poll holds again (healed, not listed) stops waiting
    expires_after: timedelta


@dataclass(frozen=True, slots=True)
class BreakerChange:
    scope: str  # a cluster name, or "fleet"
    opened: bool
    reason: str


class Breaker:
    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self._failing: dict[str, tuple[int, int]] = {}  # cluster -> (failing, watched)
        self._sent: deque[datetime] = deque()
        self._dry_sent: deque[datetime] = deque()  # failure restarts a dry run would have sent
        self._open: dict[str, str] = {}  # scope -> reason (what open_reason holds by)
        # Why the fleet scope is shown open (gauge, breaker_opened): its room spoken for (evaluate).
        self._fleet_shown: str | None = None
        self._opened_at: dict[str, datetime] = {}  # cluster -> when its breaker opened
        self._probe: dict[str, tuple[str, datetime]] = {}  # cluster -> (connector, when) of its latest probe
        # The same for probes a dry run would have sent: kept apart, so that a rule on trial
        # never spends the live probe (the live restarts then waited a window more).
        self._dry_probe: dict[str, tuple[str, datetime]] = {}
        # The probe each latest grant replaced, restored when the granted one ends unsent.
        self._replaced: dict[tuple[str, bool], tuple[str, datetime] | None] = {}
        self._excused: dict[str, int] = {}  # cluster -> failures left from an outage a probe showed over
        self._waiting: dict[tuple[str, str], _Waiting] = {}  # (cluster, connector) held for the fleet's room
        # Their order (`_order`), kept while no entry comes, goes or changes its last restart: a
        # poll refreshes each of its entries, so most asks of waiting_ahead find it ready and cost
        # a bisection, not a look at each of thousands waiting.
        self._ranked: list[_Rank] | None = None
        self._pruned_at: datetime | None = None

    def stand_by(self) -> None:
        """Forget everything: this replica stopped leading, and what it saw is the new leader's to
        see. Should it lead again, its recovery recalls the restarts sent from the history (not
        twice, as on top of what it remembered) and its polls show what fails then."""
        for known in (self._failing, self._open, self._opened_at, self._probe, self._dry_probe, self._excused,
                      self._waiting):
            known.clear()
        self._ranked = None
        self._fleet_shown = None
        self._sent.clear()
        self._dry_sent.clear()
        self._replaced.clear()

    def observe_cluster(self, cluster: str, failing: int, watched: int) -> None:
        # Excused failures only ever heal away: a connector failing anew counts again.
        excused = min(self._excused.pop(cluster, 0), failing)
        if excused:
            self._excused[cluster] = excused
        self._failing[cluster] = (failing, watched)

    def forget_cluster(self, cluster: str) -> None:
        for known in (self._failing, self._opened_at, self._probe, self._dry_probe, self._excused):
            known.pop(cluster, None)
        for dry_run in (False, True):  # a probe that was sent leaves its grant's entry behind
            self._replaced.pop((cluster, dry_run), None)
        for where in [where for where in self._waiting if where[0] == cluster]:
            del self._waiting[where]
            self._ranked = None

    def probe(self, cluster: str, connector: str, now: datetime, *, queued: bool, dry_run: bool = False) -> str | None:
        """Whether a failure restart of `connector`, held by nothing but its cluster's open
        breaker, may go as the probe: `granted` (it is now the probe), `again` (it is the probe,
        looked at again at its turn in the queue: `queued`) or None (held).
        `dry_run`: it would not be sent; it meets the live probes and its own, as the fleet
        condition counts a dry run's restarts, and is never taken for a live probe."""
        answer = self.probe_due(cluster, connector, now, queued=queued, dry_run=dry_run)
        if answer == "granted":
            probes = self._dry_probe if dry_run else self._probe
            self._replaced[(cluster, dry_run)] = probes.get(cluster)
            probes[cluster] = (connector, now)
        return answer

    def probe_unsent(self, cluster: str, connector: str, *, dry_run: bool = False,
                     granted_at: datetime | None = None) -> None:
        """A failure restart of `connector` ended without a call (held at its turn, withdrawn,
        left at a stop, refused by a full queue): if it was the probe, the window's probe is not
        spent. Spent, a probe a blocking alert dropped at its turn held every restart of the
        cluster a window more. `granted_at`: only the probe granted then (not an earlier one of
        the same connector, which was sent)."""
        probes = self._dry_probe if dry_run else self._probe
        latest = probes.get(cluster)
        if latest is None or latest[0] != connector or granted_at not in (None, latest[1]):
            return
        before = self._replaced.pop((cluster, dry_run), None)
        if before is None:
            del probes[cluster]
        else:
            probes[cluster] = before

    def probe_due(self, cluster: str, connector: str, now: datetime, *, queued: bool,
                  dry_run: bool = False) -> str | None:
        """What `probe` would answer, nothing granted: asked while another gate may still hold
        the restart (a probe granted and then held is spent, and nothing goes for a window)."""
        opened = self._opened_at.get(cluster)
        if opened is None:
            return None
        window = timedelta(seconds=self.settings.window)
        probes = [p for p in (self._probe.get(cluster), self._dry_probe.get(cluster) if dry_run else None) if p]
        if queued and any(latest[0] == connector for latest in probes):
            return "again"
        if now - max((latest[1] for latest in probes), default=opened) < window:
            return None
        return "granted"

    def probe_of(self, cluster: str) -> tuple[str, datetime] | None:
        """The cluster's latest probe (connector, when granted), while its breaker is open."""
        return self._probe.get(cluster)

    def probe_healed(self, cluster: str, failing: int) -> None:
        """The probe's connector stayed healthy after its restart: the outage is over, and the
        `failing` connectors still seen are left from it."""
        self._excused[cluster] = failing
        self._probe.pop(cluster, None)

    def wait_for_room(self, cluster: str, connector: str, last_restart: datetime | None, now: datetime, *,
                      asked_every: float) -> None:
        """A poll's failure restart of `connector` that the fleet condition held: it waits for the
        fleet's room, ahead of every failing connector restarted more recently (`waiting_ahead`).
        `asked_every`: how often its cluster's polls ask again. Not asked again within twice that
        (healed, no longer listed, its cluster's polls failing), it stops waiting: room is never
        kept for a restart nobody asks for."""
        entry = self._waiting.get((cluster, connector))
        expires_after = timedelta(seconds=2 * asked_every)
        if entry is None:
            self._waiting[(cluster, connector)] = _Waiting(last_restart, now, now, expires_after)
            self._ranked = None
        else:
            if entry.last_restart != last_restart:
                self._ranked = None
            entry.last_restart, entry.asked, entry.expires_after = last_restart, now, expires_after

    def stop_waiting(self, cluster: str, connector: str) -> None:
        """The connector no longer waits for the fleet's room: its restart was queued, it is not
        failing now, or it went."""
        if self._waiting.pop((cluster, connector), None) is not None:
            self._ranked = None

    def waiting_ahead(self, cluster: str, connector: str, last_restart: datetime | None, now: datetime) -> int:
        """How many failing connectors held for the fleet's room go before a failure restart of
        `connector` (last restarted `last_restart`): those restarted less recently (never first),
        then those held longer. Asked for each failing connector a poll would restart while the
        fleet has room: a bisection of the order kept (0.007 ms with 1,000 waiting; a look at
        each, 0.22 ms, made a poll of thousands failing quadratic)."""
        self._prune_waiting(now)
        if self._ranked is None:
            self._ranked = sorted(_rank(where, entry) for where, entry in self._waiting.items())
        own = self._waiting.get((cluster, connector))
        mine = (restart_turn(last_restart), own.since if own is not None else now, cluster, connector)
        ahead = bisect.bisect_left(self._ranked, mine)
        if own is not None and _rank((cluster, connector), own) < mine:
            ahead -= 1  # itself, as ranked by an older last restart
        return ahead

    def _prune_waiting(self, now: datetime) -> None:
        """Those no poll asked again for (healed, not listed) stop waiting; once per `now` (a
        poll's decisions share one)."""
        if now == self._pruned_at:
            return
        self._pruned_at = now
        expired = [where for where, entry in self._waiting.items() if now - entry.asked > entry.expires_after]
        for where in expired:
            del self._waiting[where]
        if expired:
            self._ranked = None

    def record_restart(self, at: datetime, *, dry_run: bool = False) -> None:
        (self._dry_sent if dry_run else self._sent).append(at)

    def take_back(self, at: datetime) -> None:
        """A failure restart counted at `at` was not made (its call answered 429, or it never went
        out): it leaves the window. One already gone from it (or moved by settle_clock) is left."""
        if at in self._sent:
            self._sent.remove(at)

    def remember_restarts(self, times: Iterable[datetime]) -> None:
        """Failure restarts sent before this process (or this leader) began, from the state file's
        history: a daemon restarted in a loop (a crash loop, a rollout, a takeover) must not start
        each run with an empty window, or every start sends `max_restarts` more."""
        self._sent = deque(sorted([*self._sent, *times]))

    def settle_clock(self, now: datetime) -> None:
        """Restarts remembered later than `now` (the wall clock stepped back, or the history read
        at a start holds times from before such a step) count as sent now: the window then holds
        them for its own length, not for the length of the step too."""
        if any(at > now for at in self._sent):
            self._sent = deque(min(at, now) for at in self._sent)
        if any(at > now for at in self._dry_sent):
            self._dry_sent = deque(min(at, now) for at in self._dry_sent)

    def cluster_reason(self, cluster: str) -> str | None:
        """Why the cluster's own breaker is open, or None."""
        return self._open.get(cluster)

    def open_reason(self, cluster: str, *, failure: bool, dry_run: bool = False) -> str | None:
        """Why a restart in `cluster` is held, or None. Call `evaluate` first for fresh answers.
        `dry_run`: the restart would not be sent; the fleet count then includes the dry-run
        restarts, so that a dry run holds what the live run would have held. Counted only in
        memory: nothing of a dry run goes to the history the window is recalled from."""
        fleet = self._open.get(FLEET) if failure else None
        if failure and dry_run and fleet is None:
            fleet = self._dry_fleet_reason()
        return fleet or self._open.get(cluster)

    def evaluate(self, now: datetime, *, queued: Callable[[int], tuple[int, str]] | None = None) -> list[BreakerChange]:
        """The scopes opened and closed since the last call. `queued(up_to)`: the live failure
        restarts queued, not sent yet and free to go now (not parked, not on a paused lane:
        Gates._failures_queued), counted up to `up_to` (the caller's queue), and the words naming
        whose they are ("; those queued: 22 on API key 'orgc'", said after the limit).

        The fleet scope is shown open (the changes, hence watchdog_breaker_open{scope="fleet"} and
        breaker_opened/breaker_closed) while its room for the window is spoken for: restarts sent
        in it, queued to go, and failing connectors held waiting for room reach max_restarts.
        That is what the engine holds a poll's failure restart `breaker_open` by
        (Gates._fleet_spoken_for). Shown only when the restarts sent reach it, a backlog paced by
        the key's rate limit (sent in a window never reaching the limit, sent + queued doing so)
        held hundreds `breaker_open`, a new failure on a healthy cluster too, while the gauge said
        0 and WatchdogBreakerOpen stayed silent (a storm probe, 2026-12-06). It also stays open
        through a drain rather than closing for a moment at each window. Shown as the breaker,
        not named as another decision: the hold is the fleet limit's (it keeps what is queued
        to what the window lets go), and a new word would have left the alert silent still.
        What holds restarts at their turn (`open_reason`) is still the restarts sent alone:
        those queued go."""
        wanted: dict[str, str] = {}
        fleet = self._fleet_reason(now)
        if fleet:
            wanted[FLEET] = fleet
        for cluster, (failing, watched) in self._failing.items():
            reason = self._cluster_reason(failing, watched, self._excused.get(cluster, 0))
            if reason:
                wanted[cluster] = reason
        clusters_open = {scope: reason for scope, reason in self._open.items() if scope != FLEET}
        clusters_wanted = {scope: reason for scope, reason in wanted.items() if scope != FLEET}
        changes = [BreakerChange(scope, True, reason) for scope, reason in clusters_wanted.items()
                   if scope not in clusters_open]
        changes += [BreakerChange(scope, False, "condition cleared") for scope in clusters_open
                    if scope not in clusters_wanted]
        shown = fleet or self._fleet_spoken_for(now, queued)
        if (shown is None) != (self._fleet_shown is None):
            changes.insert(0, BreakerChange(FLEET, shown is not None, shown or "condition cleared"))
        self._fleet_shown = shown
        for change in changes:
            if change.scope == FLEET:
                continue
            if change.opened:
                self._opened_at[change.scope] = now
            else:
                self._opened_at.pop(change.scope, None)
                self._probe.pop(change.scope, None)
                self._dry_probe.pop(change.scope, None)
        self._open = wanted
        return changes

    def _cluster_reason(self, failing: int, watched: int, excused: int) -> str | None:
        share = self.settings.max_failing_share
        failing, watched = failing - excused, watched - excused
        if share is None or watched <= 0 or failing < self.settings.min_failing:
            return None
        if failing / watched > share:
            besides = f", besides {excused} left from an outage that ended" if excused else ""
            return f"{failing} of {watched} watched connectors failing (more than {share:.0%}){besides}"
        return None

    def _fleet_reason(self, now: datetime) -> str | None:
        limit = self.settings.max_restarts
        self.settle_clock(now)
        horizon = now - timedelta(seconds=self.settings.window)
        for sent in (self._sent, self._dry_sent):
            while sent and sent[0] < horizon:
                sent.popleft()
        # At most `max_restarts` go out per window: the one that would exceed it is held.
        if limit is not None and len(self._sent) >= limit:
            return f"{len(self._sent)} restarts in the last {self.settings.window:g}s (limit {limit})"
        return None

    def _fleet_spoken_for(self, now: datetime, queued: Callable[[int], tuple[int, str]] | None) -> str | None:
        """Why the fleet's room for this window is taken though the restarts sent leave some:
        by failure restarts queued to go and failing connectors waiting for it; None while not."""
        limit = self.settings.max_restarts
        if limit is None or queued is None:
            return None
        self._prune_waiting(now)
        sent, waiting = len(self._sent), len(self._waiting)
        left = limit - sent - waiting
        to_go, where = queued(left) if left > 0 else (0, "")
        if to_go < left:
            return None
        held = f" and {waiting} failing connector{'s' if waiting != 1 else ''} waiting for room" if waiting else ""
        return (f"{sent} restarts in the last {self.settings.window:g}s, {to_go} queued to go{held} (limit {limit})"
                f"{where}; the room of this window is spoken for")

    def fleet_room(self, *, dry_run: bool = False) -> int | None:
        """How many more failure restarts the fleet condition lets go in this window (None: no
        limit). Call `evaluate` first. `dry_run`: with the dry run's restarts counted as sent."""
        limit = self.settings.max_restarts
        if limit is None:
            return None
        return max(0, limit - len(self._sent) - (len(self._dry_sent) if dry_run else 0))

    def frees_at(self, nth: int = 1, *, dry_run: bool = False) -> datetime | None:
        """When the `nth` oldest failure restart counted in the window leaves it, freeing the room
        for one more (as pruned by `evaluate`); None when fewer are counted. `dry_run`: with the
        dry run's restarts counted."""
        counted = sorted([*self._sent, *self._dry_sent]) if dry_run else self._sent
        if nth < 1 or nth > len(counted):
            return None
        return counted[nth - 1] + timedelta(seconds=self.settings.window)

    def next_probe_at(self, cluster: str, *, dry_run: bool = False) -> datetime | None:
        """When the open breaker of `cluster` next lets a failure restart go as its probe (`probe_due`
        grants one a window after the latest, or after the opening); None while it is closed."""
        opened = self._opened_at.get(cluster)
        if opened is None:
            return None
        probes = [p for p in (self._probe.get(cluster), self._dry_probe.get(cluster) if dry_run else None) if p]
        return max((latest[1] for latest in probes), default=opened) + timedelta(seconds=self.settings.window)

    def _dry_fleet_reason(self) -> str | None:
        """The fleet condition with dry-run restarts counted as sent (as pruned by `evaluate`)."""
        limit = self.settings.max_restarts
        count = len(self._sent) + len(self._dry_sent)
        if limit is not None and count >= limit:
            return (f"{count} restarts in the last {self.settings.window:g}s (limit {limit}; "
                    f"{len(self._dry_sent)} of them dry-run, counted as if sent)")
        return None


_Rank = tuple[datetime, datetime, str, str]


def _rank(where: tuple[str, str], entry: _Waiting) -> _Rank:
    """Where a waiting connector goes: its restart turn (policy.restart_turn), then the longest
    held (its name last, so that no two rank alike)."""
    return (restart_turn(entry.last_restart), entry.since, *where)
