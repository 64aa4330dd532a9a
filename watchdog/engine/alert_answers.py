"""What the webhook answers of each alert (`AlertResult`), and the alerts that matched nothing,
said in the log: `AlertAnswers`, a mixin of `AlertIntake` (alert_intake.py). An alert no rule
takes is said apart at most once a minute; one a rule took that names no connector it watches
once per reason an hour, its name quoted as the restart API quotes it, with the API's hint of the
names it resembles (name_hints.py); a webhook Alertmanager cut to `max_alerts` once per group
(truncation.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..alerts import WebhookPayload
from ..model import ConnectorKey
from ..name_hints import FoldedListing, connector_name_hint
from .core import log
from .truncation import Truncations

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..metrics import Metrics


@dataclass
class AlertResult:
    fingerprint: str
    status: str
    result: str  # one of metrics.WEBHOOK_RESULTS
    rule: str | None = None
    cluster: str | None = None
    connector: str | None = None
    decision: str | None = None
    request_id: str | None = None
    detail: str = ""
    # Not acted on for a reason that passes (a full queue, an unlisted cluster, shutdown): the
    # webhook then asks Alertmanager to send the group again.
    retry: bool = False

    def as_json(self) -> dict[str, Any]:
        return {name: value for name, value in vars(self).items() if name != "retry"}


@dataclass
class WebhookResult:
    alerts: list[AlertResult] = field(default_factory=list)


# How many unmatched alerts a webhook_alerts_unmatched line shows (it counts them all).
UNMATCHED_SHOWN = 5
# The detail of an alert no enabled alert rule's matchers take (its alertname follows), and how
# often a webhook_alerts_no_rule line is written at most (a route sending the receiver every
# alert, one group per alert, would otherwise make one line per alert per repeat_interval).
NO_RULE = "no enabled alert rule matches its labels"
NO_RULE_LOG_INTERVAL = timedelta(seconds=60)
# An unmatched alert (a rule took it, it names no connector that rule watches) is said again, for
# the same reason, only after this long; how many such (alert, reason) pairs are remembered.
UNMATCHED_SAID_AGAIN_AFTER = timedelta(hours=1)
UNMATCHED_REMEMBERED = 10_000
# A name the last listing lacked, as the answer says it: listed again for the alert, or not (a
# listing moments old stands). One reason either way for the warning's memory: told apart, an
# alert of a name that does not exist was said anew at every other re-send.
NOT_LISTED = " at the last listing"
LISTED_AGAIN = ", listed again just now to look for it"
# What follows a name not found: the closest listed names (name_hints), looked for over a
# listing of at most this many names, for at most this many alerts of one chunk of a webhook
# (difflib over 2,000 names: about 7 ms, on the event loop). A name that differs only in letter
# case, spaces or invisible characters is hinted whatever the listing's size (one look-up).
CLOSE_HINT_LISTED_MAX = 2000
CLOSE_HINTS_PER_CHUNK = 10
# Where a hint begins in a detail: the memory of what was said leaves it out, so an alert said
# with the closest names, and at its re-send without them (the chunk's room spent), is one reason.
HINT_MARK = "; did you mean"


def not_found(key: ConnectorKey, words: str = NOT_LISTED) -> str:
    """An alert's connector no listing showed, named as the restart API names it: quoted,
    escaped (a trailing space, a zero-width space, a control character show), the cluster apart.
    Unquoted, `prod/sink-016` and a zero-width space read as sink-016, which status shows."""
    return f"connector {key.connector!r} was not found in cluster {key.cluster!r}{words}"


@dataclass
class _Said:
    at: datetime | None = None
    held: int = 0  # alerts not said since


class AlertAnswers:
    if TYPE_CHECKING:  # the Engine's parts this uses (core.py sets them)
        metrics: Metrics
        _now: Callable[[], datetime]
        _listed: dict[str, set[str]]

    def note_truncation(self, payload: WebhookPayload) -> None:
        """Alertmanager cut the group to the receiver's `max_alerts` (truncation.py)."""
        self._truncations.note(payload, self.metrics.webhook_truncated_alerts, self._now())

    def note_unmatched(self, results: Sequence[AlertResult], group_key: str) -> None:
        """Firing alerts that a rule's matchers took but that name no connector it watches (a
        label missing or renamed, a cluster not configured, a name no listing showed): nothing
        is restarted for them, and Alertmanager does not read the answer that says so. One line
        per webhook, with the first few reasons: a group of thousands makes one line."""
        unmatched = [r for r in results if r.result == "unmatched" and r.status == "firing" and r.detail]
        no_rule = [r for r in unmatched if r.detail.startswith(NO_RULE)]
        said, now = self._no_rule_said, self._now()
        if no_rule and said.at is not None and timedelta(0) <= now - said.at < NO_RULE_LOG_INTERVAL:
            said.held += len(no_rule)
        elif no_rule:
            # Said apart, at info, at most once a minute: a route may send the receiver alerts
            # not meant for it. But a matcher that differs by one value (`severity: Critical`)
            # restarted nothing and said nothing at all but `http_request status=200`.
            log.info("webhook_alerts_no_rule", group_key=group_key[:500], count=len(no_rule),
                     first=[{"fingerprint": r.fingerprint, "detail": r.detail} for r in no_rule[:UNMATCHED_SHOWN]],
                     not_said_since_last_line=said.held,
                     note="no enabled alert rule matches these firing alerts: nothing was restarted for them; if "
                          "one should have, compare its match and match_re with their labels")
            said.at, said.held = now, 0
        unmatched = [r for r in unmatched if not r.detail.startswith(NO_RULE)]
        if not unmatched:
            return
        # Each alert is said once for its reason, again after UNMATCHED_SAID_AGAIN_AFTER: every
        # webhook said its unmatched alerts anew, and Alertmanager sends a firing group again at
        # each group_interval it changes in and each repeat_interval; 500 alerts of deleted
        # connectors, one group each (group_by: ['...']), made 500 warnings at every resend.
        told = self._unmatched_said

        def reason(r: AlertResult) -> tuple[str, str]:
            return r.fingerprint, r.detail.replace(LISTED_AGAIN, NOT_LISTED).split(HINT_MARK)[0]

        news = [r for r in unmatched
                if not timedelta(0) <= now - told.get(reason(r), now - UNMATCHED_SAID_AGAIN_AFTER)
                < UNMATCHED_SAID_AGAIN_AFTER]
        for r in news:
            told.pop(reason(r), None)
            told[reason(r)] = now
        while len(told) > UNMATCHED_REMEMBERED:
            del told[next(iter(told))]  # the longest said
        (log.warning if news else log.debug)(
            "webhook_alerts_unmatched", group_key=group_key[:500], count=len(unmatched),
            first=[{"fingerprint": r.fingerprint, "detail": r.detail} for r in (news or unmatched)[:UNMATCHED_SHOWN]],
            said_within_the_hour=len(unmatched) - len(news),
            note="these firing alerts matched an alert rule but name no connector it watches: nothing "
                 "was restarted for them; check the rule's cluster_label and connector_label (each is said "
                 "again for the same reason after an hour)")

    @cached_property
    def _unmatched_said(self) -> dict[tuple[str, str], datetime]:
        """When each unmatched (alert fingerprint, reason) was last said, the longest said first."""
        return {}

    @cached_property
    def _truncations(self) -> Truncations:
        return Truncations()

    @cached_property
    def _no_rule_said(self) -> _Said:
        """When the last webhook_alerts_no_rule line was written, and how many alerts since were not."""
        return _Said()

    def _name_hint(self, key: ConnectorKey) -> str:
        """The restart API's hint for a name no listing showed (name_hints.connector_name_hint),
        bounded for the event loop: the listing's folded index is built once per listing, the
        closest names looked for only over a small listing, a few alerts a chunk."""
        listed = self._listed.get(key.cluster)
        if not listed:
            return ""
        folded = self._folded_listings.get(key.cluster)
        if folded is None or folded.listed is not listed:  # a listing replaces its set, never changes it
            folded = self._folded_listings[key.cluster] = FoldedListing(listed)
        close = len(listed) <= CLOSE_HINT_LISTED_MAX and self._close_hints_left > 0
        hint = connector_name_hint(key.connector, listed, folded=folded, close=close)
        if close:
            self._close_hints_left -= 1
        return hint

    @cached_property
    def _folded_listings(self) -> dict[str, FoldedListing]:
        """Each cluster's last listing by folded name (one per cluster, replaced with the listing)."""
        return {}

    _close_hints_left = CLOSE_HINTS_PER_CHUNK
