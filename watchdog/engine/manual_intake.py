"""Restarts asked for by name (the API and the CLI), which no rule decided."""

from __future__ import annotations

from ..config import Rule
from ..model import ConnectorKey, ConnectorStatus, Decision, Trigger
from ..rules import decide_on_request, refused_because, selects
from .decisions import Decisions, RequestRecord
from .restart_gap import made_gap, restarted_ago
from .skip_words import ALREADY_QUEUED


class ManualIntake(Decisions):
    def on_request(
        self,
        key: ConnectorKey,
        status: ConnectorStatus | None,
        *,
        trigger: Trigger,
        rule: str,
        reason: str,
        dry_run: bool = False,
        known_missing: bool = True,
    ) -> RequestRecord:
        """A restart asked for by name (CLI, API): the same guards as a schedule.

        `known_missing=False` when no fresh listing says whether the connector exists: the
        request then goes ahead and the API's own answer (404) settles it.
        """
        now = self._now()
        # A dry-run request sees the dry run's restarts (EngineCore.dry_states), which the state
        # file never holds: read from the file alone, a dry run answered `restart` within the gap
        # of its own restarts, promising what the live daemon refuses (`recently_restarted`).
        in_dry_run = self.config.dry_run or dry_run
        seen = self.dry_states.get(key) if in_dry_run else None
        # From the last restart made or maybe made (restart_gap.made_gap), not a call the API refused.
        held = made_gap(self.state, key, seen or self.state.load(key), now, self.config.queue.manual_restart_gap,
                        dry_run=in_dry_run)
        wait = held.left if held is not None else 0.0
        detail = f"{restarted_ago(held, self.config.queue.manual_restart_gap)}; asked for by name, " \
                 f"it may go again in {wait:.0f} s (queue.manual_restart_gap)" if held is not None and wait else ""
        # A deferred restart (an alert's, waiting out the gap after the last restart: queue/
        # deferral.py) that a request by name joined went at once: joined within the gap, a
        # second `watchdog restart` restarted the connector 8 s after the first, where without
        # the alert it is refused `recently_restarted` (a verification run, 2026-12-06). Within
        # the gap it is not joined, so it does not hurry the deferred restart.
        deferred = self._deferred(key)
        pending = self._pending_for(key, dry_run=dry_run) and not (wait and deferred)
        if status is None and not known_missing:
            decision = Decision.DUPLICATE if pending else Decision.RECENTLY_RESTARTED if wait else Decision.RESTART
        else:
            decision = decide_on_request(status, pending=pending, too_soon=wait > 0)
        if decision is Decision.RECENTLY_RESTARTED and deferred:
            detail += f"; an alert's restart of it is queued meanwhile ({deferred})"
        if decision is Decision.TRANSIENT and status is not None:
            detail = refused_because(status)
        elif decision is Decision.DUPLICATE:
            detail = f"{ALREADY_QUEUED}: its outcome is this request's"
        elif decision is not Decision.RECENTLY_RESTARTED:
            detail = ""
        return self._decide_and_submit(
            rule, trigger, key, decision, now, windows=None, reason=reason, dry_run=dry_run, status=status,
            detail=detail,
        )

    def _deferred(self, key: ConnectorKey) -> str:
        """What the restart of `key` queued and deferred waits for ("" if none is)."""
        job = self.queue.pending_job(key)
        return job.deferred_note if job is not None else ""

    def watched_rules(self, key: ConnectorKey) -> list[Rule]:
        """The enabled rules that select a connector: the API restarts only watched connectors."""
        return [r for r in self.config.rules if r.enabled and selects(r.select, key.cluster, key.connector)]
