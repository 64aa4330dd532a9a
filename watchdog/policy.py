"""Restart policy: Strimzi's backoff, the restart budget and its reset. Pure functions.

Every function takes the time (`now`) and, where randomness is needed, a number in [0, 1) from
the caller, so the same inputs always give the same state.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from .config import Backoff
from .model import ConnectorState, Health


def backoff_gap(attempts: int, backoff: Backoff) -> float:
    """Seconds to wait after the `attempts`-th restart before the next one.

    Strimzi's auto-restart: gap(n) = min(base * (n^2 + n), cap). With the defaults (1 min, 60 min)
    the gaps after restarts 1, 2, 3, ... are 2, 6, 12, 20, 30, 42, 56, 60, 60 ... minutes.
    """
    if attempts <= 0:
        return 0.0
    return min(backoff.base * (attempts * attempts + attempts), backoff.cap)


def observe(state: ConnectorState, health: Health, now: datetime, backoff: Backoff) -> ConnectorState:
    """Fold one observed health into the remembered state.

    The counter resets only after the connector has stayed healthy, without a single failed poll
    in between, for gap(attempts) since it was first seen healthy again (a transient poll, such as
    a task awaiting a worker in a rebalance, neither fails it nor starts it again). Strimzi checks a single
    healthy sample after the gap, which lets a flapping connector reset its own backoff; we poll
    continuously, so we can ask for continuous health.
    """
    if health is Health.HEALTHY:
        if state.awaiting_resolution:
            # Polling cannot see the failure an alert or a stall check reported; health counts
            # from the moment that signal cleared.
            return replace(state, health=health, consecutive_failures=0)
        healthy_since = state.healthy_since or now
        state = replace(state, health=health, consecutive_failures=0, healthy_since=healthy_since)
        if not state.attempts or now - healthy_since >= timedelta(seconds=backoff_gap(state.attempts, backoff)):
            # Gave-up clears with the count, not at the first healthy poll: cleared there, a
            # connector flapping RUNNING/FAILED each poll was given up on again at each failed
            # one (34 `gave_up` warnings in 7 minutes), and status swung between "gave up" and
            # NEXT ALLOWED "now" though its budget stayed spent (probe of rules, finding 4).
            state = replace(state, attempts=0, next_allowed_at=None, gave_up=False)
        return state
    if health in (Health.FAILED, Health.USER_ERROR):
        return replace(
            state, health=health, consecutive_failures=state.consecutive_failures + 1, healthy_since=None
        )
    # Transient (restarting, provisioning, paused, tasks awaiting a worker...): neither a failure
    # nor a recovery. The healthy time counted so far stands: taken back at each such poll, a
    # recovered connector whose tasks a rebalance moved more often than its gap (workers rolled,
    # connectors deployed) never had its count reset, with no failed poll in days.
    return replace(state, health=health)


def record_attempt(
    state: ConnectorState, now: datetime, backoff: Backoff, jitter_draw: float, *, from_signal: bool = False
) -> ConnectorState:
    """A restart was sent (or would have been, in dry-run): start the next backoff gap.

    Jitter only lengthens the gap (by up to `backoff.jitter` of it), so restarts are never closer
    together than Strimzi's gaps, and many connectors that failed together drift apart.
    """
    attempts = state.attempts + 1
    gap = backoff_gap(attempts, backoff) * (1.0 + backoff.jitter * jitter_draw)
    return replace(
        state,
        attempts=attempts,
        last_restart_at=now,
        next_allowed_at=now + timedelta(seconds=gap),
        consecutive_failures=0,
        healthy_since=None,
        awaiting_resolution=from_signal,
    )


def record_resend(state: ConnectorState, now: datetime) -> ConnectorState:
    """A failure restart's call went out again (its first was answered 429 or 5xx, or got no
    answer, and it waited for its retry): the same attempt, made now. Its gap counts from this
    call, as long as it was. Counted from the first call, a pause longer than the gap (a 429's,
    a 503's Retry-After, an outage's hold) used it up before the restart was made, and the next
    poll restarted the connector again at once: two restarts 8 ms apart. The recorder calls it
    again when the attempt's last call ends, for the same reason: a call answered 95 s after it
    was sent had used a 20 s gap up before the restart was made."""
    if state.last_restart_at is None or state.next_allowed_at is None or now <= state.last_restart_at:
        return state
    return replace(state, last_restart_at=now, next_allowed_at=now + (state.next_allowed_at - state.last_restart_at))


def signal_cleared(state: ConnectorState, now: datetime) -> ConnectorState:
    """The signal behind the last restart (an alert, a stall) cleared: from now on, health seen
    by polling counts towards resetting the backoff. A connector no status rule polls has no
    health but the signal's (`health` None): the signal clearing is its health."""
    if not state.awaiting_resolution:
        return state
    healthy = state.health is Health.HEALTHY or state.health is None
    # Gave-up lasts until the connector is seen well: the signal clearing is that, as a healthy
    # poll is (a connector still failing by its status is marked again at its next poll).
    return replace(state, awaiting_resolution=False, healthy_since=now if healthy else None,
                   gave_up=state.gave_up and not healthy)


def signal_seen(state: ConnectorState) -> ConnectorState:
    """A firing alert names the connector as failing, whatever was decided for it (a restart, or
    none: its backoff, its spent budget, a gate): health counts again only from the moment its
    signal clears. Left as a resolution had made it, a connector whose alert fired again and
    stayed firing, never restarted, counted as quiet since that resolution, and at the next re-send
    its count was reset: max_restarts and the gave-up flag no longer held."""
    if state.awaiting_resolution and state.healthy_since is None:
        return state
    return replace(state, awaiting_resolution=True, healthy_since=None)


def quiet_since_signal(state: ConnectorState, now: datetime, backoff: Backoff) -> ConnectorState:
    """Before a new signal is decided: a connector healthy, or clear of signals, for gap(attempts)
    starts a fresh count, as `observe` does for a polled one. A connector no status rule polls is
    never observed: its count grew with every incident, however far apart, and once it reached
    `max_restarts` every later alert or stall was refused `budget_spent`, for good."""
    if (
        state.attempts
        and not state.awaiting_resolution
        and state.healthy_since is not None
        and now - state.healthy_since >= timedelta(seconds=backoff_gap(state.attempts, backoff))
    ):
        return replace(state, attempts=0, next_allowed_at=None, gave_up=False)
    return state


def settling_left(state: ConnectorState, now: datetime, backoff: Backoff) -> float:
    """Seconds left before a restart made moments ago (`state.last_restart_at`, by any trigger)
    has had its time to show its effect: the rule's first backoff gap, which is how long its
    signal takes to clear after a restart it made itself (docs/alerts-and-api.md). 0 once over,
    or with no restart remembered. A signal within it may be the restart's own flip, or news
    that has not caught up with it (queue/deferral.py)."""
    if state.last_restart_at is None:
        return 0.0
    return max(0.0, backoff_gap(1, backoff) - (now - state.last_restart_at).total_seconds())


def settle_clock(state: ConnectorState, now: datetime) -> ConnectorState:
    """The state as seen from a wall clock that stepped back: a restart remembered later than
    `now` is taken as made now, its backoff gap moved with it, and health seen "later than now"
    counts from now. The time a gate holds then never exceeds its own length (a gap, the manual
    gap); left as they were, each held for the length of the step too, hours after an NTP
    correction. Errs long by at most one gap, never short. Returns `state` itself when nothing
    lies ahead of `now`."""
    last, allowed, healthy = state.last_restart_at, state.next_allowed_at, state.healthy_since
    if last is not None and last > now:
        if allowed is not None:
            allowed -= last - now
        last = now
    if healthy is not None and healthy > now:
        healthy = now
    if (last, allowed, healthy) == (state.last_restart_at, state.next_allowed_at, state.healthy_since):
        return state
    return replace(state, last_restart_at=last, next_allowed_at=allowed, healthy_since=healthy)


def record_manual_restart(state: ConnectorState, now: datetime) -> ConnectorState:
    """A scheduled or requested restart: remembered for display, but it is not a failure retry."""
    return replace(state, last_restart_at=now)


def give_up(state: ConnectorState) -> ConnectorState:
    return replace(state, gave_up=True)


# The turn of a connector never restarted: before any restarted one.
NEVER_RESTARTED = datetime.min.replace(tzinfo=timezone.utc)


def restart_turn(last_restart_at: datetime | None) -> datetime:
    """A connector's place in a turn that cannot take them all (a poll's failing connectors, a
    schedule run larger than its lane's room, the fleet limit's room, a webhook's alerts while
    that limit rations): never restarted first, then the least recently restarted."""
    return NEVER_RESTARTED if last_restart_at is None else last_restart_at


def last_restart_turn(state: ConnectorState | None) -> datetime:
    """restart_turn of a connector's state (None: nothing known of it, never restarted)."""
    return restart_turn(None if state is None else state.last_restart_at)
