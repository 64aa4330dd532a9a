"""Connectors that keep failing and coming back by themselves, said (`connector_flapping`).

A connector failed on one poll and healthy on the next is never restarted by a rule with
`confirm_polls` above 1 (it never fails on enough polls in a row), and the one that fails right
after each restart is restarted on its backoff: either way each failure alone says little, and
a connector FAILED and RUNNING in turn at every poll for hours was never named anywhere but in
an `unconfirmed` line every other poll (a soak probe, 2026-12-06). A connector whose failures
began FLAP_FAILURES times within FLAP_WINDOW is said at warning, once per FLAP_WINDOW while it
goes on. Memory only: a restart of the daemon starts the count afresh.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

from ..model import ConnectorKey

# Failures begun within FLAP_WINDOW_SECONDS that make a connector flapping.
FLAP_FAILURES = 4
FLAP_WINDOW_SECONDS = 3600.0


class FlapWatch:
    """When each watched connector's recent failures began, per connector."""

    def __init__(self, failures: int = FLAP_FAILURES, window_seconds: float = FLAP_WINDOW_SECONDS) -> None:
        self._failures = failures
        self._window = window_seconds
        self._began: dict[ConnectorKey, deque[datetime]] = {}
        self._said_at: dict[ConnectorKey, datetime] = {}

    def observe(self, key: ConnectorKey, was_failing: bool, failing: bool, now: datetime) -> dict[str, object] | None:
        """A poll saw the connector `failing` (or not), after `was_failing`: the fields of a
        `connector_flapping` line when it is to be said now, else None."""
        began = self._began.get(key)
        if failing and not was_failing:
            began = self._began.setdefault(key, deque(maxlen=self._failures))
            began.append(now)
        if began is None:
            return None
        while began and (now - began[0]).total_seconds() > self._window:
            began.popleft()
        if not began:
            del self._began[key]
            return None
        said = self._said_at.get(key)
        if len(began) < self._failures or (said is not None and (now - said).total_seconds() < self._window):
            return None
        self._said_at[key] = now
        return {"failures": len(began), "within_seconds": round((now - began[0]).total_seconds()),
                "first_at": began[0].isoformat()}

    def forget(self, key: ConnectorKey) -> None:
        self._began.pop(key, None)
        self._said_at.pop(key, None)
