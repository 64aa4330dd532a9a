"""The stalled trigger: reads Confluent's Metrics API for RUNNING connectors, hands the verdicts
to the engine. One query per metric per batch of connectors (grouped by connector id), paced by
the Metrics API's own limiter.

What it makes of one cluster's answers (each connector's verdict, or why it has none) is
stall_verdicts.py's `StallVerdicts`, mixed in here. Connectors it cannot judge are handed over
as such, with the reason (`Unjudged`), and never called stalled:
- a type that is neither source nor sink, even from its connector class (Confluent's recorded
  answers show `"type": "unknown"`): which metric would show it moving?
- a custom connector: its metrics live in the `cloud-custom` dataset (the current Metrics spec),
  whose metric and label names the spec does not list. Reading it under the `cloud` names would
  give no data, and no data reads as "sent nothing": a healthy custom source would be restarted.
- a connector without an lcc- id (the connector list gave none): the Metrics API knows only ids.
- sources whose query's answer, or the check's answers together, show the Metrics API's data
  late (`data_late`: several sources moved in `before`, and not one point for any of them in
  `later`): an ingestion backlog must not read as every busy source stopping at once.
- connectors the answer holds no point for though an earlier answer held points of theirs within
  the minutes asked about (`points_vanished`, triggers/seen_points.py): the API's answer left them
  out; one `stall_points_vanished` warning per cluster and check says how many.
- connectors of a cluster most of whose moving ones stalled in the same check (`stopped_together`,
  by the cluster breaker's share): the same picture with 0-valued points, a shared cause.
- an id the Metrics API answers 403 for (a connector deleted since the last poll, or one the key
  may not read). The API refuses a whole query for one such id, so a refused batch is split in
  halves until the refused ids are found; the others are judged as usual. Ids refused once are
  asked about apart from the others, together in one query, for the next hour, so they do not
  spoil a batch at every check, nor cost a query each.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..config import Rule, StalledTrigger
from ..connect import Gateway
from ..connect.metrics_api import MetricsApiClient
from ..engine import Engine
from ..logs import get_logger
from ..model import ConnectorKey, Outcome
from ..stall import (
    LAG,
    RECEIVED,
    SENT,
    Points,
    Windows,
    catch_up,
    caught_up_partly,
    data_late_across,
)
from ..state import StateStoreError
from .seen_points import SeenPoints
from .stall_verdicts import (
    Answer,
    Candidates,
    ClusterRead,
    StallVerdicts,
    connector_id,
)
from .streak import Attempt, Streaks

log = get_logger("watchdog.stall")

# Ids per query: the Metrics API allows `limit` up to 1000 points; 100 connectors of one metric
# stay well inside it for windows up to several hours at one point a minute when grouped.
BATCH = 100
# How long an id the API refused is asked about apart from the others (with the other refused
# ids) rather than in a batch.
REFUSED_MEMORY = timedelta(hours=1)
# Clusters in a row whose query got no answer that stop a check (_Stop). Not the first: one
# cluster's query may time out alone (its answer too big or too slow); the Metrics API is one
# endpoint for every cluster, so two in a row say it does not answer, and the rest would wait too.
UNANSWERED_CLUSTERS = 2


# What a stopped check says of why it stopped, and what it did not do instead (_Stop).
_STOPPED_AT = {
    Outcome.RATE_LIMITED.value: "at a 429 of the Metrics API",
    Outcome.NETWORK_ERROR.value: f"as the Metrics API's queries of {UNANSWERED_CLUSTERS} clusters in a row got no answer",
}
_STOPPED_RATHER = {
    Outcome.RATE_LIMITED.value: "wait out each pause",
    Outcome.NETWORK_ERROR.value: "wait metrics_api.timeouts.total for each query",
}

# What a failed query's `stall_check_failed` says of what follows (_Stop.failed).
_FAILED_NOTE = ("no verdict for the cluster's connectors this check (unjudged: check_failed); its queries not made yet "
                "this check are not asked, and the next check that reads it reads the minutes missed")


@dataclass(slots=True)
class _Stop:
    """A check's queries stop at a 429 (`rate_limited`): the Metrics API lane is paused, and every
    further query would wait the pause out and most likely meet another 429; one check read three
    metrics of one cluster one pause at a time for minutes, the scheduler skipped the checks due
    meanwhile, and the clusters after it were not asked and counted nothing (a storm probe,
    2026-12-07). They stop too once UNANSWERED_CLUSTERS clusters in a row got no answer
    (`network_error`: a timeout, a refused or reset connection), and a cluster whose query got no
    answer is not asked its other metrics: each such query waits metrics_api.timeouts.total
    (30 s), and a check that asked every metric of 10 clusters of an API that did not answer took
    ~15 minutes. The clusters not reached are counted as failed reads; the next check catches up
    the span missed (stall.catch_up)."""

    outcome: str | None = None
    unreached: list[str] = field(default_factory=list)
    # The cluster being read got no answer to a query: its other metrics are not asked.
    unanswered: bool = False
    # A query of the cluster being read failed otherwise (a 5xx, an answer that could not be read,
    # a 401): the cluster is unjudged this check (`check_failed`) whatever its other metrics
    # answer, so they are not asked. Asked, each cost up to its ids + 1 requests of the API's
    # per-IP limit (a query's pages) for nothing: a check met a 503 on a cluster's sent_records
    # and still asked its received_records and records_lag_max. Only the cluster's: one query's
    # failure (an answer too big, a bad gateway once) says little of the next cluster's.
    failed: bool = False
    # Clusters in a row whose query got no answer; at UNANSWERED_CLUSTERS the check stops.
    unanswered_in_row: int = 0


class StallChecker(StallVerdicts):
    def __init__(self, client: MetricsApiClient, gateway: Gateway, engine: Engine, now: Callable[[], datetime]) -> None:
        self._client = client
        self._gateway = gateway
        self._engine = engine
        self._now = now
        self._refused: dict[str, datetime] = {}  # id -> when the API first refused it (within the hour)
        # A Metrics API that keeps failing failed every check (every minute): said when it
        # starts, then every few minutes, and when a check reads again (triggers/streak.py).
        self._streaks = Streaks(now)
        # A key without MetricsViewer on a cluster is refused (403) at every check: its
        # api_call_failed said the same way (the connectors' stall_unjudged is said once).
        self._refusals = Streaks(now)
        # Queries that failed (not a 403: those connectors are unjudged) per cluster since the
        # start, and each cluster's last failure (`outcome: message`): `run --once` says a check
        # that read nothing (once.py). Counted, not listed: a list kept every failure of a daemon
        # whose Metrics API kept failing, for as long as it ran.
        self.failed_queries: Counter[str] = Counter()
        self.last_query_failure: dict[str, str] = {}
        self._seen = SeenPoints()
        # Each (rule, cluster)'s last windows read and judged: a check after failed or skipped
        # ones reads the span they missed (stall.catch_up). Kept in the store too (state/running.py)
        # and read back at a rule's first check since this replica leads: the replica that led
        # before may have failed to read the span (a 429 spell, an outage) and then died.
        self._judged: dict[tuple[str, str], Windows] = {}
        self._judged_read: set[str] = set()  # the rules whose kept windows were read since leading
        # Whether the clusters a stopped check did not reach were said (once a spell of stopped
        # checks; a check that reaches every cluster ends it).
        self._unreached_said = False
        # (rule, cluster) -> how many connectors its last check could not judge yet, and when the
        # first of them is judged (_show_waiting; /readyz: waiting()).
        self._waiting: dict[tuple[str, str], tuple[int, datetime]] = {}

    def waiting(self) -> list[dict[str, object]]:
        """Each stalled rule and cluster whose last check had connectors it could not judge yet
        (not run, unrestarted, through grace and three windows): how many, and when the first of
        them is judged. For /readyz: a new daemon's rules judge nothing for 46 minutes with the
        defaults, which nothing but a log line said. Rules and clusters the config no longer has
        are left out."""
        return [{"rule": rule, "cluster": cluster, "connectors": count, "judged_from": first.isoformat()}
                for (rule, cluster), (count, first) in sorted(self._waiting.items())
                if cluster in self._engine.config.clusters and self._engine.stall_rule(rule) is not None]

    def _show_waiting(self, rule: Rule, cluster: str, judged_from: datetime, candidates: set[ConnectorKey]) -> None:
        """The connectors of the cluster the check cannot judge yet, counted (a gauge) and kept
        for /readyz. Whatever the Metrics API answers: waiting is the daemon's own state."""
        times = self._engine.stall_waiting(rule, cluster, judged_from, candidates)
        self._engine.metrics.stall_waiting.labels(cluster, rule.name).set(len(times))
        if times:
            self._waiting[rule.name, cluster] = (len(times), min(times))
        else:
            self._waiting.pop((rule.name, cluster), None)

    def stand_by(self) -> None:
        """Forget the failures met: a streak kept through hours of standby was reported, once
        leading again, as hours of failing."""
        self._streaks = Streaks(self._now)
        self._refusals = Streaks(self._now)
        # And the windows judged: leading again, the first check reads those the store keeps,
        # the last leader's (which judged the gap, or failed to and left it to the next leader).
        self._judged = {}
        self._judged_read = set()
        self._unreached_said = False
        self._waiting = {}  # the next leader's checks say what waits (its gauge is set at 0: Metrics.stand_by)

    async def check(self, rule: Rule, clusters: list[str]) -> None:
        trigger = rule.trigger
        assert isinstance(trigger, StalledTrigger)
        windows = Windows.ending(self._now(), trigger.window, trigger.delay)
        read: list[ClusterRead] = []
        said: set[tuple[str, str]] = set()  # the failure lines this check has said (_once)
        self._streaks.keep(set(self._engine.config.clusters))
        self._refusals.keep(set(self._engine.config.clusters))
        self._judged = {k: v for k, v in self._judged.items() if k[1] in self._engine.config.clusters}
        self._waiting = {k: v for k, v in self._waiting.items() if k[0] != rule.name or k[1] in clusters}
        self._read_judged(rule.name)
        judged_now: dict[str, Windows] = {}
        stop = _Stop()
        caught: dict[str, Windows] = {}  # the clusters read over a missed span, and the windows last judged
        for cluster in clusters:
            # RUNNING through all three windows: a source's movement in `before` must be movement
            # of the run that then stopped, not of one before a pause or a restart.
            candidates = self._engine.stall_candidates(rule, cluster, windows.start)
            self._show_waiting(rule, cluster, windows.start, {key for key, _ in candidates})
            sources, sinks = self._sorted(rule, candidates)
            if stop.outcome is not None:
                if sources or sinks:  # not asked: counted as failed for WatchdogStallChecksFailing
                    stop.unreached.append(cluster)
                    self._engine.metrics.stall_reads.labels(cluster, "failed").inc()
                    self.failed_queries[cluster] += 1  # `run --once` says it read nothing there too
                    self.last_query_failure[cluster] = f"{stop.outcome}: not asked, the check stopped {_STOPPED_AT[stop.outcome]}"
                    self._engine.on_stall_not_read(rule, [key for key, _ in (*sources, *sinks)],
                                                   self.last_query_failure[cluster])
                continue
            last = self._judged.get((rule.name, cluster))
            span = catch_up(windows, last, trigger.interval)
            attempts = (self._streaks.attempt(cluster), self._refusals.attempt(cluster))
            stop.unanswered = stop.failed = False
            sent = await self._points(cluster, SENT, sources, span, attempts, said, stop)
            received = await self._points(cluster, RECEIVED, sinks, span, attempts, said, stop)
            lag = await self._points(cluster, LAG, sinks, span, attempts, said, stop)
            answers = [answer for answer in (sent, received, lag) if answer is not None]
            if stop.unanswered:
                stop.unanswered_in_row += 1
                if stop.unanswered_in_row >= UNANSWERED_CLUSTERS and stop.outcome is None:
                    stop.outcome = Outcome.NETWORK_ERROR.value
            elif sources or sinks:  # answered, if only with a 5xx (_Stop.failed): the API answers
                stop.unanswered_in_row = 0
            if sources or sinks:  # queries were made: WatchdogStallChecksFailing counts what they met
                self._engine.metrics.stall_reads.labels(cluster, _read_result(answers)).inc()
            if len(answers) < 3 and (sources or sinks):
                # A query of the cluster failed: no verdict this check, and its rows say why
                # (else they read "not checked yet", as if nothing had been tried).
                self._engine.on_stall_not_read(rule, [key for key, _ in (*sources, *sinks)],
                                               self.last_query_failure.get(cluster, "a query failed"))
            if len(answers) == 3:
                # Judged, unless its verdicts find the data late or left out (_judge, below).
                judged_now[cluster] = windows
                if last is not None and span != windows:
                    caught[cluster] = last
            if len(answers) == 3 and any(answer.batches for answer in answers):
                recovered = attempts[0].succeeded()
                if recovered is not None:
                    log.info("stall_check_recovered", cluster=cluster, **recovered)
                if not any(answer.denied for answer in answers):
                    attempts[1].succeeded()  # the refusals ended: a later one is said at once
            read.append(ClusterRead(cluster, sources, sinks, sent, received, lag, span))
        self._say_stop(rule, stop)
        # The Metrics API's data is late for every connector at once, not per query: a fleet of
        # clusters with one source each (one source per query) showed a backlog as each of them
        # stopping at the same minute, and every one was restarted. Late across the check, or
        # within one query's answer: no verdict for those sources.
        everywhere = data_late_across([
            (one.windows, one.sent.points.get(connector_id(s), [])) for one in read if one.sent is not None for _, s in one.sources
        ])
        # The queries are awaits (minutes behind the Metrics API's rate limit): the verdicts are
        # decided under the rule as the config has it now, as a schedule run's are. Decided under
        # the rule read at the start, a reload meanwhile was ignored: a rule turned from dry-run
        # to live ended the stalled connector's restart `dry_run` (its backoff advanced, so the
        # real one came a gap later), and a rule disabled or narrowed still decided restarts.
        current = self._engine.stall_rule(rule.name)
        if current is None:
            log.info("stall_check_dropped", rule=rule.name,
                     note="the rule was disabled or removed by a reload while the check read the Metrics API")
            self._keep_judged(rule.name, judged_now)
            return
        # A cluster some of whose connectors were unjudged because the data was late or left out
        # (data_late, points_vanished) keeps its last windows judged with data: the next check
        # whose data is in reads back over this one's (stall.catch_up, up to CATCH_UP_LIMIT), as
        # after a failed check. Recorded as judged, the span was never read again, and a source
        # whose stall showed only then read `idle` for good (a soak probe, session 78). Per
        # cluster, as the memory and the store's `stall_judged` are: the cluster's other
        # connectors are then judged on a longer `before` too, which finds only the stalls a check
        # in the span would have found (one restarted meanwhile is judged on the check's own
        # windows, StallVerdicts._judge; sinks always are) and costs longer queries, no more.
        # Assumption: minutes once answered stay in the API's data (seen_points.py), so the span
        # re-read holds the points the last judged check saw, and a backlog still reads as late.
        held = {one.cluster for one in read if one.cluster in self._engine.config.clusters
                and self._judge(current, windows, one, late_everywhere=everywhere, fleet=read)}
        self._keep_judged(rule.name, {cluster: w for cluster, w in judged_now.items() if cluster not in held})
        caught = {cluster: last for cluster, last in caught.items() if cluster not in held}
        if caught:
            first = min(caught.values(), key=lambda last: last.earlier)
            partial = any(caught_up_partly(one.windows, caught[one.cluster]) for one in read if one.cluster in caught)
            log.info("stall_check_caught_up", rule=rule.name, clusters=sorted(caught)[:10], count=len(caught),
                     since=f"{first.earlier:%H:%M} UTC", partial=partial,
                     note="checks of these clusters failed, were skipped or found the Metrics API's data late: this one "
                          "reads the minutes they missed, so a source that moved then and sent nothing since is found stalled")

    def _read_judged(self, rule: str) -> None:
        """The windows the store keeps of the rule's checks (the last leader's, or this process's
        before a restart), at its first check since leading: what this replica judged itself
        since is newer, and kept. A store that cannot be read gives none: each cluster's first
        check reads its own windows, as before (never a verdict on data not read)."""
        if rule in self._judged_read:
            return
        self._judged_read.add(rule)
        try:
            kept = self._engine.state.judged(rule)
        except StateStoreError as exc:
            log.debug("stall_judged_not_read", rule=rule, error=str(exc))
            return
        for cluster, windows in kept.items():
            if cluster in self._engine.config.clusters:
                self._judged.setdefault((rule, cluster), Windows(*windows))

    def _keep_judged(self, rule: str, judged: dict[str, Windows]) -> None:
        """This check's windows, per cluster it judged, for its next check and the next leader; a
        failure is the store's (reported by it, quiet while it reports another), and the next
        check writes them again."""
        for cluster, windows in judged.items():
            self._judged[(rule, cluster)] = windows
        if not judged:
            return
        try:
            self._engine.state.record_judged(rule, {
                cluster: (w.start, w.earlier, w.later, w.end, w.granularity, w.step) for cluster, w in judged.items()})
        except StateStoreError as exc:
            log.debug("stall_judged_not_recorded", rule=rule, error=str(exc))

    def _say_stop(self, rule: Rule, stop: _Stop) -> None:
        """The clusters a check stopped at a 429 did not reach: said once a spell (a warning), the
        rest at debug; a check that reaches every cluster ends the spell."""
        if stop.outcome is None:
            self._unreached_said = False
            return
        if not stop.unreached:
            return
        report = log.debug if self._unreached_said else log.warning
        self._unreached_said = True
        report("stall_clusters_not_checked", rule=rule.name, outcome=stop.outcome, count=len(stop.unreached),
               clusters=stop.unreached[:10],
               note=f"the check stopped {_STOPPED_AT[stop.outcome]}, rather than {_STOPPED_RATHER[stop.outcome]}, and these "
                    "clusters' connectors were not judged (counted as failed reads in watchdog_stall_check_reads_total); "
                    "none is restarted as stalled on no evidence, and the first check that reads them again reads "
                    "the minutes missed")

    async def _points(
        self, cluster: str, metric: str, connectors: Candidates, windows: Windows, attempts: tuple[Attempt, Attempt],
        said: set[tuple[str, str]], stop: _Stop,
    ) -> Answer | None:
        """Every connector's points of one metric, the ids the API refused (403) and the batches
        of ids each answered query asked about; or None when a query failed otherwise (no
        verdicts then: missing data must not look like a stall)."""
        now = self._now()
        self._refused = {i: at for i, at in self._refused.items() if now - at < REFUSED_MEMORY}
        ids = [connector_id(status) for _, status in connectors]
        # Ids refused within the hour are asked about together, and a refusal of that query is
        # not split again: asked about one by one, a key without MetricsViewer on a cluster made
        # one query per connector at every check (a thousand connectors: past the API's 300 a
        # minute). Their time is not renewed: after the hour they go back into the batches.
        known = [i for i in ids if i in self._refused]
        together = [i for i in ids if i not in self._refused]
        pending = [(batch, True) for batch in _chunks(known)] + [(batch, False) for batch in _chunks(together)]
        points: dict[str, Points] = {}
        denied: set[str] = set()
        answered: list[list[str]] = []
        unreadable: dict[str, str] = {}
        while pending:
            if stop.outcome is not None or stop.unanswered or stop.failed:
                return None  # the check stopped, or a query of this cluster failed (_Stop)
            batch, refused_before = pending.pop()
            query = functools.partial(
                self._client.query, metric, batch, windows.start, windows.end, windows.granularity
            )
            result, _ = await self._gateway.call(cluster, query, functools.partial(_said, *attempts, said, cluster), metric=metric)
            # A 403 that is a proxy's HTML page (`foreign`) refused the call, not the API the ids:
            # a failed check, not connectors to split out and report `forbidden`.
            refused = result.outcome is Outcome.FORBIDDEN and not result.foreign
            if result.ok and result.value is not None:
                points.update(result.value.points)
                unreadable |= {i: result.value.why_unreadable(i) for i in result.value.unjudgeable()}
                answered.append(batch)
                for resource_id in batch:
                    self._refused.pop(resource_id, None)
            elif refused and len(batch) > 1 and not refused_before:
                half = len(batch) // 2
                pending += [(batch[:half], False), (batch[half:], False)]
            elif refused:
                denied.update(batch)
                for resource_id in batch:
                    self._refused.setdefault(resource_id, now)
            else:
                fields = _once(said, "stall_check_failed", result.outcome.value, attempts[0].failed(result.outcome.value))
                report = log.debug if fields is None else log.warning
                report("stall_check_failed", cluster=cluster, metric=metric, outcome=result.outcome.value,
                       message=result.message, connectors=len(batch), **(fields or {}), note=_FAILED_NOTE)
                self.failed_queries[cluster] += 1
                self.last_query_failure[cluster] = f"{result.outcome.value}: {result.message}"[:300]
                if result.outcome is Outcome.RATE_LIMITED:
                    stop.outcome = result.outcome.value
                elif result.outcome is Outcome.NETWORK_ERROR:
                    stop.unanswered = True
                stop.failed = True
                return None
        asked = [i for batch in answered for i in batch if i not in unreadable]
        vanished = self._seen.vanished(metric, asked, points, windows, cluster, now)
        self._seen.remember(metric, points, now)
        return Answer(points, denied, answered, unreadable, vanished, self._seen.spell_since(cluster) if vanished else None)


def _said(
    attempt: Attempt, refusal: Attempt, said: set[tuple[str, str]], cluster: str, outcome: str
) -> Mapping[str, object] | None:
    """How a failed query's `api_call_failed` is said, once a check (_once): a 403 as the
    cluster's refusals go on (it is no failed check: those connectors are unjudged), once for the
    cluster, since a key's role is granted per cluster; the rest as its failed checks. A refused
    batch is halved until its refused ids are found, each half a query: every one of them said
    its 403 (a cluster of 20 sources and 20 sinks refused: 117 warnings at the first check and
    again each hour, when the refused ids go back into the batches)."""
    if outcome == Outcome.FORBIDDEN.value:
        return _once(said, f"api_call_failed {cluster}", outcome, refusal.failed(outcome))
    return _once(said, "api_call_failed", outcome, attempt.failed(outcome))


def _once(said: set[tuple[str, str]], event: str, outcome: str, fields: Mapping[str, object] | None) -> Mapping[str, object] | None:
    """`fields` for a check's first `event` line of that outcome; None (a line at debug) for the
    rest of the check. The Metrics API is one service: when it fails, each metric's query of each
    cluster fails alike, and each cluster's streak said every one of them, at the start and every
    5 minutes (20 clusters: 120 warnings each time, 1,440 an hour). An outcome not said yet in the
    check (a 401 beside 503s) is still said."""
    if fields is None or (event, outcome) in said:
        return None
    said.add((event, outcome))
    return fields


def _read_result(answers: list[Answer]) -> str:
    """A cluster's read for WatchdogStallChecksFailing: `read` when its three queries were
    answered, `failed` when one failed, or when an answer is in a spell of no point at all for
    connectors it had answered points of (seen_points.Spell). Such a check judges nothing of
    theirs; counted `read`, a cluster whose answers stayed `{"data": []}` never paged. `failed`
    rather than a new label: the alert and dashboards already count it, and the read was no
    more use than a failed one."""
    if len(answers) < 3 or any(answer.empty_since is not None for answer in answers):
        return "failed"
    return "read"


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[start:start + BATCH] for start in range(0, len(ids), BATCH)]
