"""The restart requests a state store keeps (`pending()`: accepted, not finished), as the `held`
of their connectors' rows in `watchdog status` read from the store: which trigger and rule, since
when, and what the next start does with each (engine/recovery.py decides the same way). Read from
a stopped daemon's file, the table showed none of them: a manual restart that goes out at the next
start read NEXT ALLOWED `now`, and a person about to restart it by hand could not see it coming."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import datetime

from ..model import ConnectorKey, ConnectorState, PendingPhase, PendingRequest, Trigger
from .formatting import format_ago, format_span
from .status import QUEUED_DECISIONS, StatusRow

# The `held` decisions of a kept request: its call not sent (or answered, to be tried again), or
# perhaps on the wire when the daemon stopped.
KEPT_QUEUED = "queued"
KEPT_SENDING = "sending"
KEPT_DECISIONS = QUEUED_DECISIONS
# A daemon marks its state file alive every 30 s (app.py's ALIVE_BEATS): none for longer than
# this, and none runs on it.
RUNNING_WITHIN_SECONDS = 90


def kept_holds(
    pending: Iterable[PendingRequest], *, now: datetime, last_alive: datetime | None, grace: float,
    clusters: Collection[str] | None = None, discovery: bool = False,
) -> dict[ConnectorKey, tuple[str, str, datetime]]:
    """Each connector's kept requests as its row's `held`: (decision, detail, since when).
    `last_alive`: the last sign of life of a daemon on the store (None: not recorded, as with
    PostgreSQL), which says whether one may still run (it has them queued then) and decides
    whether a schedule's kept restart is still sent; `grace`: how late one may go. `clusters`:
    the configured clusters, when the config could be read (a request of another cluster is
    dropped at the start, or waits for discovery to find it)."""
    by_key: dict[ConnectorKey, list[PendingRequest]] = {}
    for kept in pending:
        by_key.setdefault(kept.request.key, []).append(kept)
    where = "kept in the state store" + _alive_note(now, last_alive)
    holds = {}
    for key, requests in by_key.items():
        sending = any(kept.phase is PendingPhase.SENDING for kept in requests)
        said = "; ".join(f"{_asked(kept, now)}, {_at_next_start(kept, now, last_alive, grace, clusters, discovery)}"
                         for kept in requests)
        holds[key] = (KEPT_SENDING if sending else KEPT_QUEUED, f"{where}: {said}",
                      min(kept.request.requested_at for kept in requests))
    return holds


def _alive_note(now: datetime, last_alive: datetime | None) -> str:
    """Whether a daemon may still run on the store: one marks it alive every 30 s."""
    if last_alive is None:
        return " (if a daemon runs on it, it has it queued: `status --daemon` says what it waits for)"
    if (now - last_alive).total_seconds() <= RUNNING_WITHIN_SECONDS:
        # A one-shot command (`watchdog restart`, `run --once`) marks the store alive too while it
        # runs: "a daemon was alive on it 3s ago" was false after a direct restart beside a kept
        # restart it leaves to the next start (verification of probe_cli F1, 2026-12-08).
        return (f" (a daemon, or a one-shot command such as `watchdog restart`, was alive on it "
                f"{format_ago(last_alive, now)}: if a daemon still runs, it has it queued, "
                "and `status --daemon` says what it waits for)")
    return f" at its daemon's stop (its last sign of life {format_ago(last_alive, now)})"


def _asked(kept: PendingRequest, now: datetime) -> str:
    request = kept.request
    dry = " (a dry run's: nothing is sent)" if request.dry_run else ""
    article = "an" if request.trigger.value[0] in "aeiou" else "a"  # "a alert restart" before
    return (f"{article} {request.trigger.value} restart{dry} (rule {request.rule}: {request.reason!r}) asked "
            f"{format_ago(request.requested_at, now)}")


def _at_next_start(kept: PendingRequest, now: datetime, last_alive: datetime | None, grace: float,
                   clusters: Collection[str] | None, discovery: bool) -> str:
    """What a start does with it (Recovery.recover), in its order."""
    request = kept.request
    if clusters is not None and request.key.cluster not in clusters:
        if discovery:
            return "its cluster is not in the config: a start keeps it until discovery finds that cluster"
        return "its cluster is not in the config: the next start drops it"
    if kept.phase is PendingPhase.SENDING:
        return ("its call was perhaps on the wire at the stop: the next start ends it interrupted "
                "(it may or may not have reached the API), never sent again")
    if request.trigger is Trigger.STATUS:
        return "not sent: the next start drops it, and its first poll decides again (the backoff and budget kept)"
    if request.trigger is Trigger.SCHEDULE:
        window = f"a schedule's run more than {format_span(grace)} late is not made"
        if last_alive is None:
            # No sign of life here (PostgreSQL: the start measures the lease's last renewal; a
            # file an older release wrote last: the start cannot tell the gap, and sends it).
            return (f"not sent: the next start sends it, unless it finds the daemon before gone for more than "
                    f"{format_span(grace)} ({window})")
        late = (now - last_alive).total_seconds()
        if late > grace:
            return (f"not sent: the next start drops it as a missed run (the daemon's last sign of life was "
                    f"{format_ago(last_alive, now)}; {window})")
        return (f"not sent: the next start sends it if it comes within {format_span(grace - late)} "
                f"(else drops it as a missed run: {window})")
    return "not sent: the next start queues it again and sends it"


def with_kept(rows: Iterable[StatusRow], holds: dict[ConnectorKey, tuple[str, str, datetime]]) -> list[StatusRow]:
    """The rows with their kept requests as `held` (the store knows no gate's hold: nothing is
    replaced), and a row for a connector a request is kept for and no state is (one asked for by
    name, never polled): those after the store's rows (the table groups them by cluster)."""
    rows = [replace(row, held=holds[row.key]) if row.key in holds else row for row in rows]
    known = {row.key for row in rows}
    return rows + [StatusRow(key=key, state=ConnectorState(), held=holds[key])
                   for key in sorted(holds, key=str) if key not in known]
