"""Webhooks Alertmanager cut to the receiver's `max_alerts` (`truncatedAlerts`): counted at each
delivery, and said once per group, again when its count changes or after an hour."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import Counter

from ..alerts import WebhookPayload
from .core import log

# A truncated group is said again, with the same count, only after this long (as an unmatched
# alert is: alert_answers.UNMATCHED_SAID_AGAIN_AFTER); how many groups are remembered.
TRUNCATION_SAID_AGAIN_AFTER = timedelta(hours=1)
TRUNCATIONS_REMEMBERED = 10_000


class Truncations:
    def __init__(self) -> None:
        # group key -> (the count last said, when), the longest said first.
        self._said: dict[str, tuple[int, datetime]] = {}

    def note(self, payload: WebhookPayload, counter: Counter, now: datetime) -> None:
        """Alertmanager cut the group to the receiver's `max_alerts`: the alerts it left out never
        reach the daemon while the group stays unchanged, so nothing restarts their connectors.
        Said with the group key only (the left-out alerts' labels are not known anyway). The
        counter adds the count at every delivery (docs/metrics.md). The warning is said once per
        group and count, again after an hour: Alertmanager sends a group again at each
        group_interval it changes in and each repeat_interval, and each send made the same
        warning (8 in a probe for one group cut by 2)."""
        if payload.truncatedAlerts <= 0:
            return
        counter.inc(payload.truncatedAlerts)
        key = payload.groupKey[:500]
        last = self._said.get(key)
        news = (last is None or last[0] != payload.truncatedAlerts
                or not timedelta(0) <= now - last[1] < TRUNCATION_SAID_AGAIN_AFTER)
        if news:
            self._said.pop(key, None)
            self._said[key] = (payload.truncatedAlerts, now)
            while len(self._said) > TRUNCATIONS_REMEMBERED:
                del self._said[next(iter(self._said))]  # the longest said
        (log.warning if news else log.debug)(
            "webhook_alerts_truncated", group_key=key, truncated=payload.truncatedAlerts,
            delivered=len(payload.alerts),
            note="Alertmanager left these alerts out (max_alerts on this receiver): they are not acted on; "
                 "unset max_alerts or keep it above the largest group (said again for this group when its "
                 "count changes, or after an hour)")
