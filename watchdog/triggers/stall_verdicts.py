"""What a stall check makes of one cluster's answers: the verdict of each source and sink it
read (stall.judge_source / judge_sink), or why it has none (late or vanished data, a refusal,
points that could not be read, connectors that stopped together), handed to the engine.

`StallVerdicts` is mixed into `StallChecker` (stall.py), which makes the queries of a check and
keeps what it learns between checks; `Answer` and `ClusterRead` are what its queries answered.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..config import Rule
from ..engine import Engine
from ..logs import get_logger
from ..model import ConnectorKey, ConnectorStatus
from ..stall import (
    LAG,
    RECEIVED,
    SENT,
    Judgement,
    Points,
    StallVerdict,
    Unjudged,
    Windows,
    answered_later,
    connector_kind,
    data_late,
    data_late_alone,
    judge_sink,
    judge_source,
    minutes_in,
    received_missing,
    stopped_together,
)
from .seen_points import SeenPoints

log = get_logger("watchdog.stall")

Candidates = list[tuple[ConnectorKey, ConnectorStatus]]

_VANISHED_NOTE = ("the Metrics API answered no point for these connectors over {window}, though it had answered points "
                  "of theirs within those minutes before: its answer left them out (an empty or cut answer, a pipeline "
                  "or gateway fault), and no point would read as nothing moved; no verdict for them while it answers so")


_SPELL_NOTE = ("; its answers for this cluster have held no point at all since then: said once, and these connectors stay "
               "unjudged (counted as failed reads in watchdog_stall_check_reads_total) until a point of the cluster returns")
_RECEIVED_MISSING_NOTE = ("its lag stayed up, but the Metrics API answered no received_records point for it in {window} "
                          "(one or both), nor any for a sink of its cluster in the last one: late or left-out data, not known "
                          "as 'received nothing'; not restarted")
_ALONE_NOTE = ("it moved before, and the Metrics API answered no data point in {window} for it, and the other series of "
               "its cluster (sent, received, lag; with none, the other clusters') end before the last one: its data is late, "
               "not known stopped; not restarted")


@dataclass(frozen=True, slots=True)
class Answer:
    """One metric's answers for a cluster's connectors in one check."""

    points: dict[str, Points]  # by connector id
    denied: set[str]  # the ids the API refused (403)
    batches: list[list[str]]  # the ids each answered query asked about
    unreadable: dict[str, str]  # the ids some of whose points could not be read, and what they lacked
    vanished: set[str]  # the ids with no point, though points of theirs in these windows were answered before
    # When the cluster's spell of answers with no point at all for ids that had points began
    # (seen_points.Spell); None: no such spell
    empty_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClusterRead:
    """What one cluster's queries of a check answered (None: a query failed, no verdicts)."""

    cluster: str
    sources: Candidates
    sinks: Candidates
    sent: Answer | None
    received: Answer | None
    lag: Answer | None
    # The windows its queries read: the check's, or with `before` stretched back over the span
    # its failed or skipped checks missed (stall.catch_up).
    windows: Windows



class StallVerdicts:
    # The checker's parts this uses (StallChecker sets them).
    _engine: Engine
    _seen: SeenPoints

    def _judge(self, rule: Rule, windows: Windows, read: ClusterRead, *, late_everywhere: bool, fleet: list[ClusterRead] | None = None) -> bool:
        """Hands each connector's verdict, or why it has none, to the engine. True when some of
        them went unjudged because the Metrics API's data was late or left out (`data_late`,
        `points_vanished`): the check did not judge the span for them, and the checker does not
        count the cluster's windows as judged (a later check reads them again, stall.catch_up)."""
        # Only what is still a candidate now: selected by the rule (an `exclude` may have been
        # added meanwhile), RUNNING, and not restarted since the windows began. The queries are
        # awaits (minutes behind the Metrics API's limiter, every cluster's before any verdict):
        # a connector restarted meanwhile (for a failure, an alert, by name) was judged on windows
        # showing the run that restart ended, and restarted again at once.
        still = {key for key, _ in self._engine.stall_candidates(rule, read.cluster, windows.start)}
        # Caught up (read.windows begin earlier): a source judged on the stretched `before` must
        # have run, unrestarted, through all of it; one restarted in the gap is judged on the
        # check's own windows.
        through = still if read.windows == windows else {
            key for key, _ in self._engine.stall_candidates(rule, read.cluster, read.windows.start)}
        sources = [(k, s) for k, s in read.sources if k in still]
        sinks = [(k, s) for k, s in read.sinks if k in still]
        sent, received, lag = read.sent, read.received, read.lag
        judgements: list[tuple[ConnectorKey, Judgement]] = []
        refused: set[ConnectorKey] = set()
        late: set[ConnectorKey] = set()
        alone: set[str] = set()  # ids of sources late by their cluster's answers (data_late_alone)
        missing: set[ConnectorKey] = set()  # sinks without the received points a stall needs
        gone: set[ConnectorKey] = set()  # no point now, though points of theirs here were answered before
        # A connector some of whose points could not be read has sums that are not the API's: a
        # point dropped unread read as nothing sent (metrics_api.Readings). No verdict, said why.
        unread: dict[ConnectorKey, str] = {}
        elsewhere = [points for each in fleet or [] if each is not read for points in cluster_series(each)]
        if sent is not None:
            points, denied = sent.points, sent.denied
            # Per answered query (its batch of sources): an answer with late data gives no verdict.
            late_ids = {i for batch in sent.batches
                        if late_everywhere or data_late(read.windows, [points.get(i, []) for i in batch]) for i in batch}
            # One source alone: late when its cluster's other series end before `later` too.
            alone = {connector_id(s) for _, s in sources if connector_id(s) not in late_ids and data_late_alone(
                read.windows, points.get(connector_id(s), []),
                functools.partial(_minutes_in_but, windows, read, connector_id(s), elsewhere))}
            late_ids |= alone
            refused |= {k for k, s in sources if connector_id(s) in denied}
            late |= {k for k, s in sources if connector_id(s) in late_ids}
            gone |= {k for k, s in sources if connector_id(s) in sent.vanished and connector_id(s) not in denied | late_ids}
            unread |= {k: f"{SENT}: {sent.unreadable[connector_id(s)]}" for k, s in sources
                       if connector_id(s) in sent.unreadable and connector_id(s) not in denied and connector_id(s) not in late_ids}
            judgements += [
                (k, judge_source(read.windows if k in through else windows, points.get(connector_id(s), [])))
                for k, s in sources if connector_id(s) not in denied and connector_id(s) not in late_ids and k not in unread and k not in gone
            ]
        if received is not None and lag is not None:
            # Missing lag points never make a sink stalled; missing received points did: a late or
            # empty `received_records` beside a current lag read as "received 0 records".
            denied = received.denied | lag.denied
            received_later = answered_later(windows, received.points.values())
            missing = {k for k, s in sinks if connector_id(s) not in denied and received_missing(
                windows, received.points.get(connector_id(s), []), lag.points.get(connector_id(s), []), received_later)}
            refused |= {k for k, s in sinks if connector_id(s) in denied}
            gone |= {k for k, s in sinks if connector_id(s) in received.vanished | lag.vanished and connector_id(s) not in denied}
            for k, s in sinks:
                lacking = [f"{metric}: {answer.unreadable[connector_id(s)]}" for metric, answer in ((RECEIVED, received), (LAG, lag))
                           if connector_id(s) in answer.unreadable]
                if lacking and connector_id(s) not in denied:
                    unread[k] = "; ".join(lacking)
            judgements += [
                (k, judge_sink(windows, received.points.get(connector_id(s), []), lag.points.get(connector_id(s), [])))
                for k, s in sinks if connector_id(s) not in denied and k not in unread and k not in gone and k not in missing
            ]
        for key in sorted(refused, key=str):
            self._engine.on_stall_unjudged(rule, key, Unjudged.FORBIDDEN)
        by_key = {k: connector_id(s) for k, s in sources}
        for key in sorted(late, key=str):
            self._engine.on_stall_unjudged(rule, key, Unjudged.DATA_LATE,
                                           detail=_ALONE_NOTE.format(window=windows.describe()) if by_key[key] in alone else "")
        gone -= unread.keys()
        missing -= gone | unread.keys()
        for key in sorted(missing, key=str):
            self._engine.on_stall_unjudged(rule, key, Unjudged.DATA_LATE, detail=_RECEIVED_MISSING_NOTE.format(window=windows.describe()))
        if gone:
            since = min((answer.empty_since for answer in (sent, received, lag) if answer is not None and answer.empty_since),
                        default=None)
            # A spell of empty answers is said once (with when it began), the other checks at debug.
            report = log.warning if self._seen.first_said(read.cluster) else log.debug
            spell = {} if since is None else {"since": f"{since:%Y-%m-%d %H:%M} UTC"}
            report("stall_points_vanished", cluster=read.cluster, rule=rule.name, connectors=len(gone),
                   first=sorted(key.connector for key in gone)[:5], **spell,
                   note=_VANISHED_NOTE.format(window=windows.describe_all()) + (_SPELL_NOTE if spell else ""))
        for key in sorted(gone, key=str):
            self._engine.on_stall_unjudged(rule, key, Unjudged.POINTS_VANISHED)
        for key in sorted(unread, key=str):
            self._engine.on_stall_unjudged(rule, key, Unjudged.POINTS_UNREADABLE, detail=unread[key])
        breaker = self._engine.config.breaker
        if stopped_together([j for _, j in judgements], breaker.max_failing_share, breaker.min_failing):
            stalled = [key for key, j in judgements if j.verdict is StallVerdict.STALLED]
            moved = sum(1 for _, j in judgements if j.verdict is not StallVerdict.IDLE)
            said = (f"{len(stalled)} of the {moved} connectors of {read.cluster} that moved stopped in the same check "
                    f"(more than breaker.max_failing_share, {breaker.max_failing_share:g}): a shared cause (the Kafka "
                    "cluster, a source system, the Metrics API answering zeros) that no restart heals; none is restarted")
            log.warning("stalls_held_together", cluster=read.cluster, rule=rule.name, stalled=len(stalled), moved=moved,
                        note=said)
            for key in stalled:
                self._engine.on_stall_unjudged(rule, key, Unjudged.STOPPED_TOGETHER, detail=said)
            judgements = [(key, j) for key, j in judgements if j.verdict is not StallVerdict.STALLED]
        for key, judgement in judgements:
            self._engine.on_stall_check(rule, key, judgement)
        return bool(late or missing or gone)

    def _sorted(self, rule: Rule, candidates: Candidates) -> tuple[Candidates, Candidates]:
        """(sources, sinks); the others are reported as unjudged."""
        sources: Candidates = []
        sinks: Candidates = []
        for key, status in candidates:
            kind = connector_kind(status.type, status.connector_class)
            if not status.resource_id:
                # The Metrics API names connectors by their lcc- id only (the list answer lacked
                # the id expansion for it): it cannot be asked about, and must not go unnoticed.
                self._engine.on_stall_unjudged(rule, key, Unjudged.NO_ID)
            elif status.custom:
                self._engine.on_stall_unjudged(rule, key, Unjudged.CUSTOM_CONNECTOR)
            elif kind is None:
                self._engine.on_stall_unjudged(rule, key, Unjudged.TYPE_UNKNOWN)
            else:
                (sources if kind == "source" else sinks).append((key, status))
        return sources, sinks


def _minutes_in_but(windows: Windows, read: ClusterRead, source: str, elsewhere: Sequence[Points]) -> bool:
    """stall.minutes_in for `source`, from its cluster's other series, then the other clusters'."""
    return minutes_in(windows, cluster_series(read, but=source), elsewhere)


def cluster_series(read: ClusterRead, but: str = "") -> list[Points]:
    """Every series one cluster's check answered (the sources' sent, the sinks' received and
    lag), but the sent of source `but`."""
    return [points for answer in (read.sent, read.received, read.lag) if answer is not None
            for resource_id, points in answer.points.items() if answer is not read.sent or resource_id != but]


def connector_id(status: ConnectorStatus) -> str:
    assert status.resource_id is not None  # _sorted reports connectors without an id as unjudged
    return status.resource_id
