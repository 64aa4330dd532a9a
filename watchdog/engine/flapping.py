"""Connectors that keep failing and coming back by themselves, said (`connector_flapping`).

A connector failed on one poll and healthy on the next is never restarted by a rule with
`confirm_polls` above 1 (it never fails on enough polls in a row), and the one that fails right
after each restart is restarted on its backoff: either way each failure alone says little, and
a connector FAILED and RUNNING in turn at every poll for hours was never named anywhere but in
an `unconfirmed` line every other poll (a soak probe, 2026-12-06). A connector whose failures
began FLAP_FAILURES times within FLAP_WINDOW is said at warning, once per FLAP_WINDOW while it
goes on. Memory only: a restart of the daemon starts the count afresh.

Each line also says since when it has been flapping and how many failures began and restarts were
accepted since then (`since`, `failures_since`, `restarts_since`): a connector that failed again 10 s
after each restart was restarted 26 times in 400 s (its count reset by each healthy stretch, so
max_restarts never bound), and the hour's repeated line said only `failures: 4`, as the first
did. The stretch ends once no failure has begun for FLAP_WINDOW.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from ..model import ConnectorKey

# Failures begun within FLAP_WINDOW_SECONDS that make a connector flapping.
FLAP_FAILURES = 4
FLAP_WINDOW_SECONDS = 3600.0

# What the line tells the on-call, and what happens next: a connector that fails again after each
# restart is restarted at each failure for as long as it goes on, since its count starts again
# after each healthy stretch of the reset gap (max_restarts never binds).
FLAPPING_NOTE = ("it keeps failing and coming back. A failure too short for confirm_polls is not restarted; one "
                 "restarted that fails again after staying healthy for its backoff gap starts its restart count "
                 "again, so max_restarts never stops the restarts: they go on while this does (one that fails again "
                 "within its gap counts toward max_restarts instead, and is given up on once that is spent: a "
                 "gave_up line, and this line says gave_up true). Said again every hour "
                 "while it goes on, with the failures and restarts since it began (since, failures_since, "
                 "restarts_since): look at the connector and what it talks to")
# What it tells of a connector given up on (its gave_up flag set: the line says `gave_up: true`).
# The note above told the on-call that the restarts went on, while none went and
# WatchdogConnectorGaveUp paged (a probe, 2026-12-06).
FLAPPING_GAVE_UP_NOTE = ("it keeps failing and coming back, and it is given up on (max_restarts spent: see its gave_up "
                         "line and WatchdogConnectorGaveUp): its failures are restarted no more until it has stayed "
                         "healthy for its backoff gap, which starts its restart count again (the gave_up line names "
                         "any other rule that may still restart it). Said again every hour while it goes on, "
                         "with the failures and restarts since it began (since, failures_since, restarts_since): "
                         "look at the connector and what it talks to")


def flapping_note(gave_up: bool) -> str:
    """The note of a `connector_flapping` line, as it is for the connector now."""
    return FLAPPING_GAVE_UP_NOTE if gave_up else FLAPPING_NOTE


@dataclass
class _Stretch:
    """One stretch of flapping: from its first failure until none has begun for the window."""

    since: datetime
    failures: int = 0
    restarts: int = 0


class FlapWatch:
    """When each watched connector's recent failures began, per connector."""

    def __init__(self, failures: int = FLAP_FAILURES, window_seconds: float = FLAP_WINDOW_SECONDS) -> None:
        self._failures = failures
        self._window = window_seconds
        self._began: dict[ConnectorKey, deque[datetime]] = {}
        self._said_at: dict[ConnectorKey, datetime] = {}
        self._stretch: dict[ConnectorKey, _Stretch] = {}

    def observe(self, key: ConnectorKey, was_failing: bool, failing: bool, now: datetime) -> dict[str, object] | None:
        """A poll saw the connector `failing` (or not), after `was_failing`: the fields of a
        `connector_flapping` line when it is to be said now, else None."""
        began = self._began.get(key)
        if failing and not was_failing:
            began = self._began.setdefault(key, deque(maxlen=self._failures))
            began.append(now)
            self._stretch.setdefault(key, _Stretch(since=now)).failures += 1
        if began is None:
            return None
        while began and (now - began[0]).total_seconds() > self._window:
            began.popleft()
        if not began:
            self.forget(key)
            return None
        said = self._said_at.get(key)
        if len(began) < self._failures or (said is not None and (now - said).total_seconds() < self._window):
            return None
        self._said_at[key] = now
        stretch = self._stretch[key]
        return {"failures": len(began), "within_seconds": round((now - began[0]).total_seconds()),
                "first_at": began[0].isoformat(), "since": stretch.since.isoformat(),
                "failures_since": stretch.failures, "restarts_since": stretch.restarts}

    def restarted(self, key: ConnectorKey) -> None:
        """A restart of the connector was accepted (or may have been made): counted in its
        stretch of flapping, if one is going on."""
        stretch = self._stretch.get(key)
        if stretch is not None:
            stretch.restarts += 1

    def forget(self, key: ConnectorKey) -> None:
        self._began.pop(key, None)
        self._said_at.pop(key, None)
        self._stretch.pop(key, None)
