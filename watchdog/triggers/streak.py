"""A failure that repeats is said when it starts, then every few minutes, and when it ends.

A cluster that stays unreachable fails every poll; each failed poll logged `api_call_failed` and
`poll_failed` as warnings, so three dead clusters polled every 5 s wrote 6 warnings every 5 s for
days, burying every other line. The metrics count each failure; the log says the streak: its
first failure as before, a failure of another outcome at once (a 503 turning into a 401 is news),
the rest at most every REPEAT_EVERY_SECONDS with how many failed since the previous line
(`repeated`) and since when (`failing_since`), and its end (`poll_recovered`). Lines not said go
to debug. Polls whose decisions the state store refuses (a full disk) are said the same way
(`poll_not_judged`, `poll_not_judged_ended`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

# How often a failure that goes on is said again.
REPEAT_EVERY_SECONDS = 300.0


class FailureStreak:
    """One cluster's failed listings in a row."""

    def __init__(self, now: Callable[[], datetime], every: float = REPEAT_EVERY_SECONDS) -> None:
        self._now = now
        self._every = every
        self._since: datetime | None = None  # the streak's first failure; None: no streak
        self._count = 0  # failures in the streak
        self._said_at: datetime | None = None
        self._said_outcome = ""
        self._unsaid = 0  # failures since the last line that said one

    def attempt(self) -> Attempt:
        """One listing's attempt: however many lines report its failure, it counts once."""
        return Attempt(self)

    @property
    def since(self) -> datetime | None:
        """When the streak's first failure came; None while there is no streak."""
        return self._since

    def _failed(self, outcome: str) -> Mapping[str, object] | None:
        now = self._now()
        self._count += 1
        if self._since is None or self._said_at is None:
            self._since, self._said_at, self._said_outcome, self._unsaid = now, now, outcome, 0
            return {}
        self._unsaid += 1
        elapsed = (now - self._said_at).total_seconds()
        # A backward step of the wall clock (elapsed < 0) says it too rather than go quiet for its length.
        if outcome == self._said_outcome and 0 <= elapsed < self._every:
            return None
        fields = {"repeated": self._unsaid, "failing_since": self._since.isoformat()}
        self._said_at, self._said_outcome, self._unsaid = now, outcome, 0
        return fields

    def _succeeded(self) -> Mapping[str, object] | None:
        if self._since is None:
            return None
        fields = {
            "failed_polls": self._count,
            "failing_since": self._since.isoformat(),
            "failed_for_seconds": round(max(0.0, (self._now() - self._since).total_seconds()), 1),
        }
        self._since, self._said_at, self._said_outcome, self._count, self._unsaid = None, None, "", 0, 0
        return fields


class Streaks:
    """One streak per listing (discovery's environment list, each environment's cluster list),
    kept across refreshes; a key no longer asked about is let go with `keep`."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._by_key: dict[str, FailureStreak] = {}

    def attempt(self, key: str) -> Attempt:
        if key not in self._by_key:
            self._by_key[key] = FailureStreak(self._now)
        return self._by_key[key].attempt()

    def keep(self, keys: set[str]) -> None:
        self._by_key = {key: streak for key, streak in self._by_key.items() if key in keys}


class Attempt:
    def __init__(self, streak: FailureStreak) -> None:
        self._streak = streak
        self._verdict: Mapping[str, object] | None = None
        self._done = False

    def failed(self, outcome: str) -> Mapping[str, object] | None:
        """The fields a line saying this failure adds; None when it is not said (log it at debug).
        The same answer however often it is asked."""
        if not self._done:
            self._done = True
            self._verdict = self._streak._failed(outcome)
        return self._verdict

    def succeeded(self) -> Mapping[str, object] | None:
        """The fields of the line saying a streak ended; None when none had begun."""
        if self._done:
            return None
        self._done = True
        return self._streak._succeeded()
