"""Answers that say the service, not one call, is out: 5xx in a row. With a Retry-After, the pause
they impose holds every caller of the key, as a 429's does (Outage; state.py,
RateLimitState.on_response); without one, only the restarts of the cluster (RestartHold)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import RateLimitSettings
from .headers import Pause, RateLimitHeaders
from .refusals import equal_jitter_pause

# 5xx answers with Retry-After in a row from which the service, not a connector, is taken to be out: more than the
# four connectors' own 503s that must not hold the other connectors' restarts (tests/test_queue.py).
UNAVAILABLE_IN_A_ROW = 5
# Clusters whose calls ClusterAnswers remembers; past that it starts afresh (discovery may add and
# drop clusters all day), which at worst counts one failure towards the key's streak.
_CLUSTERS_REMEMBERED = 10_000


class ClusterAnswers:
    """When each cluster of a key was last called and last answered, to tell a failure of one
    cluster from one of the key: a call failed alone when another cluster of the key answered
    since the failing cluster's call before it. Five clusters of a region out, their polls
    answered 503 first in each round (a 503 comes sooner than a list), were five failures in a
    row: with Retry-After, every call of the key waited for it at every round, the clusters that
    answered included; without one, every cluster's restarts were held and said so
    (restarts_held "every cluster of the credential", restarts_resumed a moment later). The key
    itself out fails every cluster, and none answers. Before any cluster has answered (the first
    polls after a start), failures in a row are taken for the key's, as they were."""

    def __init__(self) -> None:
        # The order of calls ended, not their time: calls answered at the same instant (a fake
        # clock, a coarse one) still come one after another.
        self._calls = itertools.count()
        self._called: dict[str, int] = {}
        self._answered: dict[str, int] = {}

    def failed_alone(self, cluster: str | None) -> bool:
        """Whether a failed call of `cluster` (None: of no cluster) is its cluster's alone."""
        if cluster is None:
            return False
        since = self._called.get(cluster, -1)
        return any(at > since for other, at in self._answered.items() if other != cluster)

    def note(self, cluster: str | None, *, answered: bool) -> None:
        if cluster is None:
            return
        if len(self._called) >= _CLUSTERS_REMEMBERED and cluster not in self._called:
            self._called.clear()
            self._answered.clear()
        self._called[cluster] = call = next(self._calls)
        if answered:
            self._answered[cluster] = call

    def forget(self, cluster: str) -> None:
        self._called.pop(cluster, None)
        self._answered.pop(cluster, None)


class Outage:
    def __init__(self, settings: RateLimitSettings, rng: Callable[[], float]) -> None:
        self.settings = settings
        self._rng = rng
        # 5xx answers with Retry-After in a row, requests answered together counted once, and
        # when the last arrived.
        self._streak = 0
        self._last_at = -math.inf
        self._clusters = ClusterAnswers()

    def on_answer(self, sent_at: float, now: float, status: int, headers: RateLimitHeaders,
                  cluster: str | None = None) -> Pause | None:
        """The pause every caller of the key must now respect, if any.

        A 5xx with Retry-After (a 503 in maintenance) says when the server expects to be back.
        Once UNAVAILABLE_IN_A_ROW calls in a row got one, each sent after the one before was
        answered, the whole service is out, not a few connectors' restarts: every caller of the
        key waits, as at a 429, and each such answer from then on holds them again, until an
        answer that is not a 5xx: for its Retry-After, or a capped exponential backoff with equal
        jitter where that is longer, as at 429s in a row (refusals.py), so that a server saying
        "5 s" for ten minutes is asked ever more rarely. Before, only the refused restart waited,
        every other one went out at the local ceiling and was answered 503 in turn (800 calls in
        200 s to a server that had asked for a minute), and each of 200 restarts spent its
        retries and ended server_error. Fewer in a row hold nothing. `cluster`: whose call it
        answered; one that failed while another cluster of the key answers is that cluster's
        trouble, not the service's (ClusterAnswers), and neither counts nor holds the key."""
        alone = status >= 500 and self._clusters.failed_alone(cluster)
        self._clusters.note(cluster, answered=status < 500)
        if status < 500:
            self._streak = 0
        if status < 500 or headers.retry_after is None or alone:
            # Without a hint, a poll of a failing cluster goes on at its interval, and each
            # restart backs off on its own (dispatch.py): the outage is said by the calls.
            return None
        if sent_at >= self._last_at:
            self._streak += 1
        self._last_at = max(self._last_at, now)
        if self._streak < UNAVAILABLE_IN_A_ROW:
            return None
        max_pause = self.settings.max_pause
        backoff = self.settings.backoff
        asked, source = equal_jitter_pause(backoff, self._streak - UNAVAILABLE_IN_A_ROW, self._rng()), "backoff"
        if headers.retry_after >= asked:
            asked, source = headers.retry_after, "retry_after"
        return Pause(min(asked, max_pause), source, capped_from=asked if asked > max_pause else None)


# Server errors without a hint (a 5xx without Retry-After, or no answer at all) in a row on one
# cluster from which its restarts are held: as many as the hinted ones above, for the same reason.
SERVER_ERRORS_IN_A_ROW = UNAVAILABLE_IN_A_ROW
# How long the restart let through after a pause may take to be answered before another may go:
# longer than a call's default total timeout (30 s), so one probe at a time even on a hanging
# server, yet bounded, so that a probe that never reached the API (ended by a gate) frees the turn.
PROBE_WINDOW = 60.0


@dataclass
class HoldChange:
    """What an answer did to a cluster's hold: `held` (a pause began: `pause` seconds, the
    first of its streak when `first`), or `ended` (after `held_seconds`, `failures` failed calls)."""

    kind: str
    pause: float = 0.0
    first: bool = False
    failures: int = 0
    held_seconds: float = 0.0


@dataclass
class _Streak:
    began_at: float
    failures: int = 0
    pauses: int = 0  # pauses imposed so far: each doubles the next (capped)
    polls_failed: bool = False  # a call other than a restart failed in it: the API itself is out
    held_until: float = 0.0
    probe: str | None = None  # who was let through after the last pause, until an answer
    probe_until: float = 0.0
    # What counts towards SERVER_ERRORS_IN_A_ROW: each connector whose restart failed once (its
    # job's own retries are not counted again), and each failed call that is no restart's.
    counted: int = 0
    connectors: set[tuple[str, str]] = field(default_factory=set)


class RestartHold:
    """Holds the restarts of a cluster whose API answers only server errors that give no hint
    (500, 502, 503 or 504 without Retry-After, a refused or reset connection, a timeout).

    Each restart of a failing queue is tried a few times on its own backoff (dispatch.py), but
    with many queued every one of them went out in turn: 200 restarts into ten minutes of 503s
    made 800 calls in 85 s, a storm against a service that is down, and all 200 ended
    server_error. From SERVER_ERRORS_IN_A_ROW failed calls in a row, restarts wait (queued, not
    failed) for a pause that doubles at each failure (backoff.base up to backoff.cap, equal
    jitter); after each pause one restart is let through, and the others wait for its answer.
    Polls are never held: a poll is how the daemon learns the API is back. An answer below 500
    to a restart ends the streak; one to a poll ends it only when polls failed in it too (a
    restart endpoint failing behind a list that works must not be let loose at every poll).

    Counted per cluster and for the whole key (scope None): a key's failures in a row across its
    clusters (while none of them answers: ClusterAnswers) hold all of them (ten clusters each paid their own five failures and own tries
    otherwise: 229 calls where one cluster made 23), and a cluster's own hold goes on when the
    others answer (one region's outage is not ended by another region's answers)."""

    def __init__(self, settings: RateLimitSettings, clock: Callable[[], float], rng: Callable[[], float]) -> None:
        self._backoff = settings.backoff
        self._clock = clock
        self._rng = rng
        self._streaks: dict[str | None, _Streak] = {}
        self._clusters = ClusterAnswers()

    def wait(self, cluster: str, caller: str | None = None) -> float:
        """Seconds before a restart of `cluster` may go (0: now). With `caller`, a 0 claims the
        one turn after a pause for that caller, and the others wait for its answer."""
        now = self._clock()
        held = [streak for streak in (self._streaks.get(cluster), self._streaks.get(None))
                if streak is not None and streak.pauses]
        wait = max((_wait(streak, now, caller) for streak in held), default=0.0)
        if wait <= 0 and caller is not None:
            for streak in held:
                streak.probe, streak.probe_until = caller, now + PROBE_WINDOW
        return wait

    def held(self, cluster: str) -> bool:
        return any(streak is not None and streak.pauses > 0
                   for streak in (self._streaks.get(cluster), self._streaks.get(None)))

    def forget(self, cluster: str) -> None:
        """A cluster removed (by a reload or discovery) whose restarts have all ended: its streak
        goes with it (kept, each cluster that went while failing stayed here for good)."""
        self._streaks.pop(cluster, None)
        self._clusters.forget(cluster)

    def key_held(self) -> bool:
        streak = self._streaks.get(None)
        return streak is not None and streak.pauses > 0

    def on_call(self, cluster: str, *, restart: bool, failed: bool, connector: str | None = None,
                caller: str | None = None) -> list[tuple[str | None, HoldChange]]:
        """A Connect API call of `cluster` ended: `failed` when it got no answer or a 5xx
        without a hint (the caller leaves out the hinted ones: Outage holds the key for those).
        Returns what changed, per scope: the cluster, or None for the whole key. A failure while
        another cluster of the key answers is its cluster's alone (ClusterAnswers): not counted
        for the key. `connector`: the restart's (its retries count once towards the streak);
        `caller`: the job that made it (its answer frees the turn it took after a pause)."""
        alone = failed and self._clusters.failed_alone(cluster)
        self._clusters.note(cluster, answered=not failed)
        if restart:
            for streak in (self._streaks.get(cluster), self._streaks.get(None)):
                if streak is not None and streak.probe is not None and caller in (None, streak.probe):
                    # The restart let through after the pause was answered: the turn is over at
                    # once, whatever scope its answer counts for. Kept otherwise, every other
                    # restart of the key waited out PROBE_WINDOW (60 s) for an answer that had
                    # come (its failure counted for its cluster alone, or landed in no pause).
                    streak.probe = None
        changes = []
        for scope in (cluster, None):
            if scope is None and alone:
                continue
            change = self._count(scope, restart=restart, failed=failed,
                                 connector=(cluster, connector) if restart and connector is not None else None)
            if change is not None:
                changes.append((scope, change))
        return changes

    def _count(self, scope: str | None, *, restart: bool, failed: bool,
               connector: tuple[str, str] | None = None) -> HoldChange | None:
        now = self._clock()
        streak = self._streaks.get(scope)
        if not failed:
            if streak is None or not (restart or streak.polls_failed):
                return None
            del self._streaks[scope]
            if not streak.pauses:
                return None
            return HoldChange("ended", failures=streak.failures, held_seconds=now - streak.began_at)
        if streak is None:
            streak = self._streaks[scope] = _Streak(began_at=now)
        streak.failures += 1
        streak.polls_failed = streak.polls_failed or not restart
        if connector is None or connector not in streak.connectors:
            streak.counted += 1
            if connector is not None:
                streak.connectors.add(connector)
        # Counted over connectors, not calls: each job retries max_retries times back to back,
        # so two connectors whose own restarts Confluent answers 500 (while the cluster's polls
        # and other restarts are answered) made eight failures in a row, held every restart of
        # the key for up to a minute and said the API answered only server errors (a probe,
        # 2026-12-08). Assumed where the real world may differ: an API out for restarts fails
        # every connector's, so with five or more queued it is still held at the fifth connector;
        # with fewer, each backs off on its own (dispatch.py), a few calls, no storm. Once held,
        # each failure after a pause (the one let through) pauses again, whoever made it.
        if (streak.pauses == 0 and streak.counted < SERVER_ERRORS_IN_A_ROW) or now < streak.held_until:
            # A failure during a pause (a poll, a call sent before it) neither doubles nor
            # lengthens it: polls failing every 5 s would hold restarts for good.
            return None
        if streak.pauses == 0:
            streak.began_at = now
        pause = equal_jitter_pause(self._backoff, streak.pauses, self._rng())
        streak.pauses += 1
        streak.held_until = now + pause
        streak.probe = None
        return HoldChange("held", pause=pause, first=streak.pauses == 1, failures=streak.failures)


def _wait(streak: _Streak, now: float, caller: str | None) -> float:
    if now < streak.held_until:
        return streak.held_until - now
    if streak.probe is not None and streak.probe != caller and now < streak.probe_until:
        return streak.probe_until - now
    return 0.0
