"""The holds alerts made: a restart a firing alert asked for that a gate, a full queue or a user
error held, shown by `watchdog status --daemon` and /v1/connectors (EngineCore.held) until it is
made or no longer wanted.

A poll's hold is decided again at the next poll; an alert's only when Alertmanager sends the
alert again (its `repeat_interval`, hours). So what shows it must not drop it for a poll's
decision or a reload, and must drop it when the alert resolves: cleared at every reload and kept
after the resolution, the list named the alerts no longer firing and left out the one still
firing that the open breaker had refused (an audit, 2026-12-06)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..alerts import Alert
from ..model import ConnectorKey, Decision, Trigger

# What EngineCore.held keeps per connector: the decision, its detail and when it was decided.
Held = tuple[Decision, str, datetime]

# Decisions for which a restart is queued: what the alert asked for is under way (its row shows
# `held: queued` while it waits), whichever trigger asked.
_QUEUED = frozenset({Decision.RESTART, Decision.DUPLICATE})


@dataclass(frozen=True)
class AlertHold:
    alert: Alert  # the firing alert whose decision it is: its labels say which rule and connector take it
    held: Held


class AlertHolds(dict[ConnectorKey, AlertHold]):
    """Each connector's hold an alert's decision made (EngineCore.alert_holds), beside `shown`
    (EngineCore.held), which shows the latest hold of any trigger."""

    def __init__(self, shown: dict[ConnectorKey, Held]) -> None:
        super().__init__()
        self._shown = shown

    def made(self, key: ConnectorKey, alert: Alert) -> None:
        """The alert's decision held its restart (and `shown` has it)."""
        held = self._shown.get(key)
        if held is not None:
            self[key] = AlertHold(alert, held)

    def decided(self, key: ConnectorKey, trigger: Trigger, decision: Decision) -> None:
        """A decision that holds nothing was made for the connector (`shown` has dropped it). An
        alert's supersedes the alert's hold (restarted, in its backoff, given up on...), and so
        does a restart queued by any trigger. Any other (a poll that sees it RUNNING: an alert
        rule reports failures the status API cannot see; a manual restart refused) leaves the
        alert's refusal standing, shown again: nothing decides on it before Alertmanager sends
        it again."""
        hold = self.get(key)
        if hold is None:
            return
        if trigger is Trigger.ALERT or decision in _QUEUED:
            del self[key]
        else:
            self._shown[key] = hold.held

    def resolved(self, key: ConnectorKey) -> None:
        """No alert fires for the connector any more: its restart is no longer wanted. Shown still
        if another trigger's decision holds it since (a poll's, which that poll said)."""
        hold = self.pop(key, None)
        if hold is not None and self._shown.get(key) is hold.held:
            del self._shown[key]

    def reloaded(self, decided_for: Callable[[Alert], ConnectorKey | None], firing: Callable[[ConnectorKey], bool]) -> None:
        """A reload cleared `shown` (the next polls say again what holds theirs). An alert's hold
        is shown again while an alert still fires for the connector (`firing`) and the config now
        in force would decide that alert for the same connector if it came again (`decided_for`:
        an enabled alert rule matches its labels, names this connector by them and selects it);
        the hold is as it was decided, with its time. Dropped otherwise (its rule removed,
        disabled, narrowed, or matching other labels): nothing would act on the alert any more,
        so no restart is wanted of the watchdog, and kept it would name one that never comes."""
        for key, hold in list(self.items()):
            if firing(key) and decided_for(hold.alert) == key:
                self._shown[key] = hold.held
            else:
                del self[key]
