"""The safety gates: maintenance windows, the breaker and blocking alerts may hold a restart the
rules decided, when it is decided and again when its turn in the queue comes."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from ..config import SELF_MANAGED_LANE
from ..model import FLEET, ConnectorKey, Decision, Health, Trigger
from ..queue import RestartJob
from ..rules import RESTART_REFUSED_STATES, refused_because, refuses_restart, unaddressable
from ..windows import Windows
from .core import FAILURE_TRIGGERS, EngineCore, log
from .skip_words import breaker_lets

# A breaker scope that opens again within this of an opening said at error is said at warning.
BREAKER_SAID_AGAIN_AFTER = timedelta(hours=1)
# An opening said at error that closes within this is a flash: the next opening is said at error
# again (once an hour at most). A webhook's restarts queued onto a key whose first answer then
# was 429 opened the fleet breaker for a second (what was known then), and the storm that opened
# it seconds later was said at warning, "said at error then" (probe_breaker, 2026-12-07). Once an
# hour, so that a breaker flickering open and shut cannot page at each flicker.
BREAKER_FLASH = timedelta(seconds=10)
# What a `breaker_opened` line says its breaker holds (keyed by: is it the fleet's). One note for
# both told the on-call of a fleet limit pacing a backlog that nothing was restarted until the
# condition cleared, while failure restarts went at the limit's pace and planned ones all went.
_BREAKER_HOLDS = {
    True: "failure restarts (status, alert, stall) wait for room: the next goes when the oldest counted one leaves "
          "breaker.window; restarts by name and by schedule still go",
    False: "every restart in the cluster is held until fewer of its connectors fail, but one failure restart per "
           "breaker.window as a probe",
}


class Gates(EngineCore):
    def gate(
        self, key: ConnectorKey, now: datetime, windows: Windows | None, *, failure: bool, dry_run: bool = False,
        counted: bool = False, count_queued: bool = False, last_restart: datetime | None = None,
        trigger: Trigger | None = None,
    ) -> tuple[Decision, str] | None:
        """Why a restart must not go now, whatever the rule decided; None when it may.
        `failure`: a status- or alert-triggered restart (the fleet breaker holds only those).
        `dry_run`: it would not be sent; the fleet breaker counts the dry run's restarts for it.
        `counted`: a retry of a failure restart the fleet breaker counts (an earlier call of it
        made the restart or may have: fleet_count.py); its own count does not hold it, and as a
        cluster breaker's probe it is still the probe.
        `count_queued`: a poll deciding: the failure restarts queued and not sent yet take up the
        fleet's room too (_fleet_spoken_for), and so do the failing connectors held for that room
        that were restarted less recently than this one (`last_restart`; Breaker.waiting_ahead).
        `trigger`: who asked, for what becomes of a restart the gate holds (skip_words)."""
        if unaddressable(key.connector):
            return Decision.UNADDRESSABLE, "its name has '/'-separated '.' or '..' parts: a call for it could reach another connector"
        closed = self.window_hold(now, windows)
        if closed is not None:
            return closed
        # Evaluated here, not only by a poll or a job's turn: a daemon with alert rules and no
        # status rule polls nothing, and every restart the open breaker held was decided on the
        # answer of its last evaluation (the job that opened it), so it held every later alert
        # for good, saying "N restarts in the last 600s" an hour later.
        self.update_breaker(now)
        reason = self.breaker.open_reason(key.cluster, failure=failure and not counted, dry_run=dry_run)
        spoken_for = reason is None and failure and count_queued and not counted
        if spoken_for:
            reason = self._fleet_spoken_for(dry_run, key, last_restart, now)
        if failure and reason is not None and reason == self.breaker.cluster_reason(key.cluster):
            queued = self.queue.is_pending(key)
            if self.breaker.probe_due(key.cluster, key.connector, now, queued=queued, dry_run=dry_run) is not None:
                # The blocking alerts before the probe is granted: granted and then held by one,
                # the window's probe was spent (and logged as going) with nothing sent.
                blocked = self._blocked()
                if blocked is not None:
                    return blocked
            probe = self.breaker.probe(key.cluster, key.connector, now, queued=queued, dry_run=dry_run)
            if probe == "granted":
                log.warning("breaker_probe", cluster=key.cluster, connector=key.connector, reason=reason, dry_run=dry_run,
                            note="one failure restart per breaker.window while a cluster's breaker is open; once "
                                 "its connector stays healthy, the failures left from the outage no longer hold restarts")
            if probe is not None:
                reason = None
        if reason is not None:
            # With when it lets the next go (_fleet_spoken_for says its own).
            return Decision.BREAKER_OPEN, reason if spoken_for else reason + breaker_lets(
                self.breaker, key.cluster, reason, now, failure=failure and not counted, dry_run=dry_run,
                trigger=trigger)
        return self._blocked()

    def window_hold(self, now: datetime, windows: Windows | None) -> tuple[Decision, str] | None:
        """`window_closed` and when the global or the rule's windows open next; None while open.
        Asked before a request joins a restart queued by another rule too (Decisions)."""
        if self._global_windows is not None and not self._global_windows.is_open(now):
            return Decision.WINDOW_CLOSED, f"global windows closed; next open {_when(self._global_windows.next_open_shown(now))}"
        if windows is not None and not windows.is_open(now):
            return Decision.WINDOW_CLOSED, f"rule windows closed; next open {_when(windows.next_open_shown(now))}"
        return None

    def held_by_cluster(self, cluster: str, detail: str) -> bool:
        """Whether a `breaker_open` detail is the cluster's own breaker's (its reason, then when it
        lets the next go), not the fleet's."""
        reason = self.breaker.cluster_reason(cluster)
        return reason is not None and detail.startswith(reason)

    def _fleet_spoken_for(self, dry_run: bool, key: ConnectorKey, last_restart: datetime | None,
                          now: datetime) -> str | None:
        """Why a poll's failure restart is held because the fleet breaker's room for this window
        is taken by failure restarts sent in it and those queued to go; None while there is room.

        Asked when a poll decides (its connectors are decided again at the next poll, so nothing
        is lost): the breaker counts restarts when they are sent, so a poll of 600 failing
        connectors with room for 30 decided 600 restarts, queued them, and dropped 570 at their
        turn, each said (`decision`, `restart_queued`, `restart_finished` dropped) at every
        window: some 2,400 lines for 30 restarts, 570 of them restarts that were never made. Not
        asked for alerts: Alertmanager sends an alert again only after its repeat_interval
        (hours), and its queued restart may still go once the window moves on.
        Cost: a look at each job queued until `room` failure restarts free to go are found, at
        each of a poll's restart decisions (0.2 ms per 1,000 jobs queued; judging goes in
        slices); those that cannot go now (a stuck lane's, _failures_queued) are looked at and
        passed over, at most queue.max_jobs_per_lane per stuck lane.

        The room is also kept for the failing connectors other polls held for it (of any
        cluster) that were restarted less recently (Breaker.waiting_ahead): ordered within one
        poll only, the first cluster polled took each window's room as it came free. Not for a
        dry run's restart: a rule on trial never holds or is held by live ones this way."""
        room = self.breaker.fleet_room(dry_run=dry_run)
        if room is None:
            return None
        queued = ahead = 0
        lanes: Counter[str] = Counter()
        if room > 0:
            queued, lanes = self._failures_queued(dry_run, up_to=room)
            if queued < room and not dry_run:
                ahead = self.breaker.waiting_ahead(key.cluster, key.connector, last_restart, now)
            if queued + ahead < room:
                return None
        limit = self.breaker.settings.max_restarts
        counted_dry = "; dry-run restarts counted as if sent" if dry_run else ""
        waiting = "" if not ahead else (
            f"; {ahead} failing connector{'s' if ahead != 1 else ''} restarted less recently (or never) "
            f"wait{'s' if ahead == 1 else ''} for the room left first")
        reason = (f"{(limit or 0) - room} restarts in the last {self.breaker.settings.window:g}s and {queued} "
                  f"queued to go (limit {limit}{counted_dry}){queued_where(lanes)}{waiting}")
        # The room frees as many counted restarts leave the window as those queued and waiting
        # ahead take beyond it, and one more for this one.
        return reason + breaker_lets(self.breaker, key.cluster, reason, now, failure=True, dry_run=dry_run,
                                     nth=queued + ahead - room + 1)

    def _failures_queued(self, dry_run: bool, *, up_to: int) -> tuple[int, Counter[str]]:
        """The failure restarts queued, not sent yet and free to go now (a dry run's too, for a
        dry run), counted up to `up_to`; and how many of them each rate-limit lane holds.

        Not those that cannot go now (RestartQueue.may_go_now: parked while their cluster is held
        or their key refused, or on a lane a 429 paused): they take no room from the restarts of
        other keys and clusters. Counted, one organisation's backlog stuck behind its own key's
        Retry-After (or a revoked key, until rotated) took the whole fleet's room, and the other
        organisations' failing connectors were held `breaker_open` for as long as it stayed stuck
        (a scale probe, 2026-12-07: 25 held, 5 restarted in 200 s), though nothing of it could be
        sent: a stuck backlog is no storm. The limit still holds what goes: each job meets the
        gates again at its turn (dispatch_gate), and the window's restarts sent (open_reason)
        hold any beyond max_restarts, a stuck backlog let go later included. Nor does a stuck
        lane's own poll queue more meanwhile: a lane paused or refused lists nothing either, and
        a cluster held answers its polls with the same errors.
        A fleet-wide room, not one per credential: a storm (a shared sink down in every
        organisation) is one however many keys it spans, and a room per key let each key's
        connectors take max_restarts of their own."""
        queued = 0
        lanes: Counter[str] = Counter()
        may_go = self.queue.may_go_now()
        for job in self.queue.pending_jobs():
            if job.fleet_counted is None and any(
                    r.trigger in FAILURE_TRIGGERS and (dry_run or not r.dry_run) for r in job.requests) and may_go(job):
                queued += 1
                lanes[self.queue.lane_of(job.key.cluster) or job.credential] += 1
                if queued >= up_to:
                    break
        return queued, lanes

    def _blocked(self) -> tuple[Decision, str] | None:
        if self.blocker is not None:
            verdict = self.blocker.verdict()
            if verdict.blocked:
                return Decision.BLOCKED, verdict.reason
        return None

    def dispatch_gate(self, job: RestartJob, dry_run: bool = False) -> str | None:
        """The gates again when a job's turn comes: a queued restart can wait for minutes behind
        the rate limit, and the breaker may have opened or a blocking alert started meanwhile.
        The job is held only when every request of it is, each by its own rule's windows and
        trigger: judged as a whole by its first request, a restart asked for by name that joined
        a poll's was held by the fleet breaker (which holds failure restarts only) and by the
        status rule's windows, and dropped with it.
        `dry_run`: the job will end dry_run, not be sent (JobRecorder.dry_run_now)."""
        now = self._now()
        listed = self.statuses.get(job.key)
        if listed is not None and refuses_restart(listed):
            # Paused, stopped or provisioning by its owner since it was queued (a restart can wait
            # minutes behind the rate limit): Confluent answers 400 (`rejected`, an error, and a
            # backoff step), and Kafka Connect 202 for a restart that does nothing (`accepted`).
            # Or listed since in a state no known API reports: not sent either (rules.refuses_restart).
            if listed.state.upper() in RESTART_REFUSED_STATES:
                return f"transient: connector {listed.state} when its turn came; a restart is refused or does nothing then"
            return f"transient: when its turn came, {refused_because(listed)}"
        replaced = replaced_since_asked(job, listed.resource_id if listed is not None else None)
        if replaced is not None:
            return replaced
        names = self.listed(job.key.cluster)
        if job.polls_only and names is not None and job.key.connector not in names:
            # Deleted since a poll asked for it (its cluster's latest listing leaves it out): sent,
            # a backlog behind the rate limit spent the key's calls on 404s, up to minutes after
            # the daemon had logged `connector_vanished`, while failing connectors waited (a churn
            # probe: 233 of 352 restarts sent). Should it come back, a poll decides again; an
            # alert's or a person's restart goes, its 404 the answer.
            return "vanished: its cluster's latest listing no longer shows it (deleted?); the next poll decides again"
        first: tuple[Decision, str] | None = None
        for request in job.requests:
            # A retry of a restart the fleet breaker already counted (its first call, answered
            # 503) adds nothing to its window: held by it, the retry was held by its own count.
            # One whose call was answered 429 is counted no more (it ran nothing: fleet_count.py)
            # and meets the fleet limit as a first turn does: let through, the retries after a
            # pause went beyond max_restarts. It is still a failure restart for the cluster
            # breaker's probe: taken as a planned one, the probe's retry was held by the very
            # breaker it probes.
            held = self.gate(job.key, now, self._rule_windows.get(request.rule),
                             failure=request.trigger in FAILURE_TRIGGERS, dry_run=dry_run,
                             counted=job.fleet_counted is not None, trigger=request.trigger)
            if held is None:
                return None
            first = first or held
        return None if first is None else f"{first[0].value}: {first[1]}"

    def refresh_breaker(self) -> None:
        """Each heartbeat: a breaker whose condition cleared closes then, and says so (metric and
        log line), not at the next decision, which may be hours away where nothing is polled."""
        self.update_breaker(self._now())

    def unpolled(self, cluster: str) -> None:
        """A reload (or discovery) left the cluster no rule that polls it: its status rules
        turned off during an incident, say, with alert rules or requests by name still acting
        there. No poll renews what its last one showed: kept, its share failing held the
        cluster's breaker open for good (every restart by name and every alert there refused
        breaker_open, WatchdogBreakerOpen paging) and watchdog_connectors showed its last
        counts. The breaker forgets the cluster (closing, said at once) and it shows none."""
        self.breaker.forget_cluster(cluster)
        for health in Health:
            self.metrics.connectors.labels(cluster, health.value).set(0)
        self.metrics.degraded_too_long.labels(cluster).set(0)
        self.update_breaker(self._now())

    def update_breaker(self, now: datetime) -> None:
        # With the failure restarts queued: while they and those sent take the fleet's room, a
        # poll's restart is held `breaker_open` (_fleet_spoken_for), so the fleet shows open.
        def queued(up_to: int) -> tuple[int, str]:
            count, lanes = self._failures_queued(False, up_to=up_to)
            return count, queued_where(lanes)

        for change in self.breaker.evaluate(now, queued=queued):
            self.metrics.show_breaker(change.scope, change.opened)
            if change.opened:
                # The fleet limit rationing a storm opens and closes its breaker at every window:
                # an error each time paged whoever alerts on the log's errors every ten minutes,
                # for one storm (a probe). One opening an hour is the error; the others are said
                # at warning, with how long ago the error was.
                said = self.breaker_error_said_at.get(change.scope)
                again = {} if said is None or now - said >= BREAKER_SAID_AGAIN_AFTER else {
                    "error_said_seconds_ago": round((now - said).total_seconds())}
                if not again:
                    self.breaker_error_said_at[change.scope] = now
                (log.warning if again else log.error)(
                    "breaker_opened", scope=change.scope, reason=change.reason, **again,
                    note=_BREAKER_HOLDS[change.scope == FLEET] + (
                        "; it opened within the hour before too, said at error then" if again else ""))
            else:
                log.warning("breaker_closed", scope=change.scope, **self._flash_forgotten(change.scope, now))

    def _flash_forgotten(self, scope: str, now: datetime) -> dict[str, str]:
        """A `note` for the closing of an opening said at error within BREAKER_FLASH, which is
        forgotten (once an hour): the next opening is said at error again. Empty otherwise."""
        said, forgotten = self.breaker_error_said_at.get(scope), self.breaker_flash_forgotten_at.get(scope)
        if said is None or now - said >= BREAKER_FLASH or (
                forgotten is not None and now - forgotten < BREAKER_SAID_AGAIN_AFTER):
            return {}
        del self.breaker_error_said_at[scope]
        self.breaker_flash_forgotten_at[scope] = now
        return {"note": f"open for {(now - said).total_seconds():.1f} s, said at error: the next opening is said at "
                        "error again, not at warning (once an hour)"}


def repointed_since_asked(job: RestartJob, cluster: str, address_now: str) -> str | None:
    """Why the job must not go where its cluster's name points now (`address_now`, ""  when it
    is no longer configured or names a self-managed cluster), when a reload pointed the name at
    another Kafka cluster (other environment or lkc- ids) after every request of it was asked:
    the connector of that name there is another one, which nobody judged. Sent, a backlog of
    failure restarts queued for one cluster restarted the healthy namesakes in the other, before
    its first listing could show them (found 2026-12-06 by a reload probe). A request asked
    since (it names the new address) or with none (recovered from the state file) keeps it."""
    asked = {request.cluster_address for request in job.requests}
    if not _none_asked_for(asked, address_now):
        return None
    return (f"repointed: {cluster} named {', '.join(sorted(asked))} when it was asked and names {address_now} "
            "since a reload; not sent to another cluster's connector of that name")


def replaced_since_asked(job: RestartJob, listed_id: str | None) -> str | None:
    """Why the job must not go to the connector the latest listing shows under its name (with
    `listed_id`), when that is not the one any of its requests was asked for: each was decided on
    a failure of a connector since deleted and created again under the name (Terraform replacing
    it, while the restart waited behind a 503's Retry-After or a 429's pause). Sent, it restarted
    the new connector, which nobody had judged, and charged its budget; the old one's alert
    arriving then is `unmatched`. A request that names no id (by name, or recovered from the
    state file) or the listed one keeps the job; so does a listing that shows no id."""
    asked = {request.resource_id for request in job.requests}
    if not _none_asked_for(asked, listed_id):
        return None
    return (f"replaced: the connector it was asked for ({', '.join(sorted(asked))}) was deleted and created again "
            f"under its name as {listed_id} since; its rule decides again for the new one")


def _none_asked_for(asked: set[str], now: str | None) -> bool:
    """Whether `now` (what the job would reach: a cluster's address, a connector's lcc- id) is
    known and none of the job's requests asked for it, each having asked for something else
    ("": a request that names nothing, which keeps the job)."""
    return bool(now) and "" not in asked and now not in asked


def queued_where(lanes: Counter[str]) -> str:
    """Whose failure restarts queued to go take the fleet's room (a lane per API key, or per
    self-managed cluster: config.Config.lane_for), the largest share named: "; those queued: 22
    on API key 'orgc'". Without it an organisation's on-call read "22 queued to go" and could not
    tell that they were another organisation's (a scale probe, 2026-12-07). "" when none is."""
    if not lanes:
        return ""
    (lane, most), *others = lanes.most_common()
    where = (f"cluster '{lane.removeprefix(SELF_MANAGED_LANE)}'" if lane.startswith(SELF_MANAGED_LANE)
             else f"API key '{lane}'")
    rest = sum(count for _, count in others)
    return f"; those queued: {most} on {where}" + (f", {rest} elsewhere" if rest else "")


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else "not within the next year"
