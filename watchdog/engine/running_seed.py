"""Since when a connector a new leader's first listing sees healthy has been RUNNING: from the
store (state/running.py), when nothing unseen can hide between the last listing that wrote it and
this one; else from now, as before. Pure: values and the time given.

A stall check judges only connectors seen RUNNING through `grace` and its three windows
(stall_intake.stall_candidates): a pause or a restart inside them would read as a stall. Kept in
memory only, a takeover (and every start of a single daemon, a rolling update) left the new
leader's stalled rules judging nothing for `delay` + three windows (35 minutes with the defaults),
and a stall in that span, or one the old leader could not read, was never restarted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import StalledTrigger
from ..stall import granularity_for
from ..state.running import NotKnown

# Added to the bound below: a listing takes time (a slow API, a 429's pause), and the new leader's
# first poll comes moments after it took the lead.
SEED_MARGIN = timedelta(seconds=30)
# How far the last listing's stamp may be ahead of `now` and still be taken as recent. A stamp
# written and read on one clock is never ahead of it unless the clock stepped back, and then how
# long no daemon listed is unknown (the probe's F1: a stamp a day ahead vouched for times kept
# through a downtime of any length, and a stall was restarted at the first check). Allowed: the
# read's own lag (`now` is the listing's, taken before the store is read; PostgreSQL's stamp is
# brought onto this clock at the read, state/postgres_memory.py) and the small corrections NTP
# makes between two processes on one host (slews of milliseconds, a step of under a second at
# boot). The assumption, which the simulator cannot check: no real clock steps back by this
# little at the very moment that would hide a longer downtime.
AHEAD_TOLERANCE = timedelta(seconds=5)


def seed_bound(poll_every: float | None, lease_duration: float, windows: Iterable[float]) -> timedelta:
    """How old the cluster's last stored listing may be for the connectors it saw healthy to be
    taken as running since their stored time, the longer of two spans in which nothing unseen can
    make a stall of a running connector:
    - the time between two polls, plus the time a takeover takes (the lease's duration: the old
      leader's lease must run out), plus SEED_MARGIN: about one poll more than a running daemon
      misses whenever one of its polls fails (a pause and resume between two polls is not seen
      by one process either);
    - twice the shortest window of the stalled rules, less a point: a stall is judged on nothing
      sent in two whole windows, and a pause shorter than them leaves a point that moved.
    Beyond it (a daemon stopped for long, a replica that stood by for hours) a pause, or a restart
    by someone else, may have covered the windows, and the count starts from now. The assumption,
    which the simulator cannot check: a connector paused or stopped sends nothing meanwhile and is
    listed in another state than RUNNING by a poll that comes while it is (as Confluent's API and
    Kafka Connect's list it)."""
    spans = [(poll_every or 0.0) + lease_duration + SEED_MARGIN.total_seconds()]
    spans += [2 * window - granularity_for(window)[1] for window in windows]
    return timedelta(seconds=max(spans))


@dataclass(frozen=True, slots=True)
class Seeds:
    """What a cluster's first listing since leading may take from the store."""

    since: Mapping[str, datetime]  # by connector name: usable times (none when `unusable`)
    stored: frozenset[str] = frozenset()  # every name the store keeps a time for (what this listing may remove)
    unusable: str = ""  # why the stored times are not used ("" when they are, or none were kept)


def seeds(listed_at: datetime | NotKnown | None, stored: Mapping[str, datetime], now: datetime,
          bound: timedelta) -> Seeds:
    """The stored times usable now (none ahead of now: a clock stepped back). `listed_at`: the
    cluster's last stored listing; one ahead of `now` (beyond AHEAD_TOLERANCE) is not taken as
    recent: the clock stepped back since, by more than the gap; NotKnown: the store could not
    tell (an unreadable stamp, tables the role may not use), said so."""
    names = frozenset(stored)
    if isinstance(listed_at, NotKnown):
        return Seeds({}, names, listed_at.why)
    if listed_at is None:
        return Seeds({}, names, "no listing of this cluster is recorded in the state store" if not stored else
                     "the state store does not say when this cluster was last listed")
    ago = now - listed_at
    if -ago > AHEAD_TOLERANCE:
        return Seeds({}, names, f"the last listing recorded in the state store is {int(-ago.total_seconds())} s ahead of "
                         "this clock, so it does not say how long no listing was made (a clock stepped back since it "
                         "was written, or the replica that wrote it ran ahead)")
    if ago > bound:
        return Seeds({}, names, f"the last listing recorded in the state store is {int(ago.total_seconds())} s old, more than "
                         f"the {int(bound.total_seconds())} s in which nothing unseen can hide (a poll interval, the "
                         "lease and a margin, or two windows of the stalled rules)")
    return Seeds({name: min(at, now) for name, at in stored.items()}, names)


def judged_from(trigger: StalledTrigger, since: datetime) -> datetime:
    """When a connector seen running from `since` is first a candidate of the rule's checks: once
    the three windows (which end `delay` ago, on a point's boundary) begin `grace` after it
    (stall_intake.stall_candidates: its first `grace` RUNNING is never in the windows judged)."""
    return _after_windows(trigger, since) + timedelta(seconds=trigger.grace)


def first_judged(trigger: StalledTrigger, since: datetime, restarted_at: datetime | None) -> datetime:
    """When a connector running from `since` and last restarted at `restarted_at` is first a
    candidate: judged_from, or later once the windows begin after its last restart, with no grace
    after it (stall_intake.stall_candidates: a restart in the windows would show the run before it).
    What the rows' `waits` and /readyz's stall_checks_waiting both say."""
    first = judged_from(trigger, since)
    return first if restarted_at is None else max(first, _after_windows(trigger, restarted_at))


def _after_windows(trigger: StalledTrigger, moment: datetime) -> datetime:
    """The first check whose three windows (ending `delay` ago, on a point's boundary) begin after `moment`."""
    return moment + timedelta(seconds=trigger.delay + 3 * trigger.window + granularity_for(trigger.window)[1])
