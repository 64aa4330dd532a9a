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

Each closes by itself once its condition clears. `evaluate` reports changes so that the caller
logs each opening and closing once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import BreakerSettings

FLEET = "fleet"


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
        self._open: dict[str, str] = {}  # scope -> reason

    def observe_cluster(self, cluster: str, failing: int, watched: int) -> None:
        self._failing[cluster] = (failing, watched)

    def forget_cluster(self, cluster: str) -> None:
        self._failing.pop(cluster, None)

    def record_restart(self, at: datetime, *, dry_run: bool = False) -> None:
        (self._dry_sent if dry_run else self._sent).append(at)

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

    def open_reason(self, cluster: str, *, failure: bool, dry_run: bool = False) -> str | None:
        """Why a restart in `cluster` is held, or None. Call `evaluate` first for fresh answers.
        `dry_run`: the restart would not be sent; the fleet count then includes the dry-run
        restarts, so that a dry run holds what the live run would have held. Counted only in
        memory: nothing of a dry run goes to the history the window is recalled from."""
        fleet = self._open.get(FLEET) if failure else None
        if failure and dry_run and fleet is None:
            fleet = self._dry_fleet_reason()
        return fleet or self._open.get(cluster)

    def evaluate(self, now: datetime) -> list[BreakerChange]:
        wanted: dict[str, str] = {}
        fleet = self._fleet_reason(now)
        if fleet:
            wanted[FLEET] = fleet
        for cluster, (failing, watched) in self._failing.items():
            reason = self._cluster_reason(failing, watched)
            if reason:
                wanted[cluster] = reason
        changes = [BreakerChange(scope, True, reason) for scope, reason in wanted.items() if scope not in self._open]
        changes += [BreakerChange(scope, False, "condition cleared") for scope in self._open if scope not in wanted]
        self._open = wanted
        return changes

    def _cluster_reason(self, failing: int, watched: int) -> str | None:
        share = self.settings.max_failing_share
        if share is None or watched == 0 or failing < self.settings.min_failing:
            return None
        if failing / watched > share:
            return f"{failing} of {watched} watched connectors failing (more than {share:.0%})"
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

    def _dry_fleet_reason(self) -> str | None:
        """The fleet condition with dry-run restarts counted as sent (as pruned by `evaluate`)."""
        limit = self.settings.max_restarts
        count = len(self._sent) + len(self._dry_sent)
        if limit is not None and count >= limit:
            return (f"{count} restarts in the last {self.settings.window:g}s (limit {limit}; "
                    f"{len(self._dry_sent)} of them dry-run, counted as if sent)")
        return None
