"""The safety gates: maintenance windows, the breaker and blocking alerts may hold a restart the
rules decided, when it is decided and again when its turn in the queue comes."""

from __future__ import annotations

from datetime import datetime

from ..model import ConnectorKey, Decision
from ..queue import RestartJob
from ..rules import unaddressable
from ..windows import Windows
from .core import FAILURE_TRIGGERS, EngineCore, log


class Gates(EngineCore):
    def gate(
        self, key: ConnectorKey, now: datetime, windows: Windows | None, *, failure: bool
    ) -> tuple[Decision, str] | None:
        """Why a restart must not go now, whatever the rule decided; None when it may.
        `failure`: a status- or alert-triggered restart (the fleet breaker holds only those)."""
        if unaddressable(key.connector):
            return Decision.UNADDRESSABLE, "its name has '/'-separated '.' or '..' parts: a call for it could reach another connector"
        if self._global_windows is not None and not self._global_windows.is_open(now):
            return Decision.WINDOW_CLOSED, f"global windows closed; next open {_when(self._global_windows.next_open(now))}"
        if windows is not None and not windows.is_open(now):
            return Decision.WINDOW_CLOSED, f"rule windows closed; next open {_when(windows.next_open(now))}"
        reason = self.breaker.open_reason(key.cluster, failure=failure)
        if reason is not None:
            return Decision.BREAKER_OPEN, reason
        if self.blocker is not None:
            verdict = self.blocker.verdict()
            if verdict.blocked:
                return Decision.BLOCKED, verdict.reason
        return None

    def dispatch_gate(self, job: RestartJob) -> str | None:
        """The gates again when a job's turn comes: a queued restart can wait for minutes behind
        the rate limit, and the breaker may have opened or a blocking alert started meanwhile.
        The job is held only when every request of it is, each by its own rule's windows and
        trigger: judged as a whole by its first request, a restart asked for by name that joined
        a poll's was held by the fleet breaker (which holds failure restarts only) and by the
        status rule's windows, and dropped with it."""
        now = self._now()
        self.update_breaker(now)
        first: tuple[Decision, str] | None = None
        for request in job.requests:
            # A retry of a restart the fleet breaker already counted (its first call, answered
            # 503) adds nothing to its window: held by it, the retry was held by its own count.
            failure = request.trigger in FAILURE_TRIGGERS and not job.attempt_counted
            held = self.gate(job.key, now, self._rule_windows.get(request.rule), failure=failure)
            if held is None:
                return None
            first = first or held
        return None if first is None else f"{first[0].value}: {first[1]}"

    def update_breaker(self, now: datetime) -> None:
        for change in self.breaker.evaluate(now):
            self.metrics.breaker_open.labels(change.scope).set(1 if change.opened else 0)
            if change.opened:
                log.error("breaker_opened", scope=change.scope, reason=change.reason,
                          note="restarts are held until the condition clears")
            else:
                log.warning("breaker_closed", scope=change.scope)


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else "not within the next year"
