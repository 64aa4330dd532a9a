"""Stalled connectors: RUNNING by their status, moving no data by Confluent's Metrics API. Pure.

A connector is judged on consecutive windows read in one query: `before`, `earlier` and `later`,
oldest first. The only memory between checks is where a cluster's last judged windows lay
(`catch_up`): after checks that failed or were skipped, `before` stretches back over the span
they missed, so a stall that showed only while the Metrics API could not be read is still seen.

- a source stalled if it sent records in `before` and none in `earlier` and `later`: it was
  moving, then stopped (the issue's "over the window and again over the next window");
- a source that sent nothing in all three windows is idle: never restarted. The Metrics API
  returns no points at all for a connector with no activity, and none for minutes it has not
  ingested yet, so "nothing" from a source cannot tell idle, stalled and late data apart; only a
  source seen moving before can be said to have stopped;
- a sink that received no record while its lag stayed above zero, in `earlier` and in `later`,
  stalled; a sink with no records and no lag is idle; a sink without lag data cannot be told
  apart from an idle one, so it is not called stalled (nor healthy). "Received no record" needs
  evidence: its own `received_records` points (0s) there, or a point of that metric in `later`
  for another sink of its cluster (`received_missing`: else unjudged `data_late`); lag points are none, the two metrics
  are not known to be ingested together;
- "sent nothing" of a source that moved needs evidence too: a point of its own in `later` (a 0),
  or one of any series of its cluster's check (`answered_later`); else its data is late.

Stalled: restart (through the same guards as every failure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

SENT = "io.confluent.kafka.connect/sent_records"
RECEIVED = "io.confluent.kafka.connect/received_records"
LAG = "io.confluent.kafka.connect/records_lag_max"

Points = Sequence[tuple[datetime, float]]


class Unjudged(StrEnum):
    """Why a stall check selected a connector but could not judge it (a metric label)."""

    TYPE_UNKNOWN = "type_unknown"  # neither its type nor its connector class says source or sink
    CUSTOM_CONNECTOR = "custom_connector"  # its metrics are not in the `cloud` dataset
    FORBIDDEN = "forbidden"  # the Metrics API answered 403 for its id
    NO_ID = "no_id"  # the connector list gave no lcc- id for it, and the Metrics API knows only ids
    # The listing gives its lcc- id to another connector too: the id's series is not known to be its
    # own (engine/repeated_ids.py)
    ID_NOT_UNIQUE = "id_not_unique"
    # Its query's answer shows the Metrics API's data late (`data_late`), or nothing in its
    # cluster's answers shows the minutes in: a source alone (`data_late_alone`), a sink's
    # received_records (`received_missing`); the detail says which
    DATA_LATE = "data_late"
    # Some of its points could not be read (a string or null value, NaN, a negative count, a
    # timestamp that is no ISO 8601 string): its sums are not the API's (connect/metrics_api.Readings)
    POINTS_UNREADABLE = "points_unreadable"
    # The answer held no point for it, though points of its within those windows were answered
    # before (triggers/seen_points.py): the API left them out
    POINTS_VANISHED = "points_vanished"
    # Most of its cluster's moving connectors stopped in the same check (`stopped_together`)
    STOPPED_TOGETHER = "stopped_together"


def connector_kind(type_shown: str, connector_class: str) -> str | None:
    """source or sink: the type the API showed, else the one its connector class names
    (`DatagenSourceInternal`, `S3_SINK`, `io.confluent.connect.jdbc.JdbcSourceConnector`), else
    None. Confluent's recorded answers show `"type": "unknown"`; a connector of unknown type
    cannot be judged (which metric would show it moving?)."""
    if type_shown.lower() in ("source", "sink"):
        return type_shown.lower()
    name = connector_class.rsplit(".", 1)[-1].lower()
    named = [kind for kind in ("source", "sink") if kind in name]
    return named[0] if len(named) == 1 else None


class StallVerdict(StrEnum):
    MOVING = "moving"
    IDLE = "idle"  # a sink with nothing to consume, or a source that sent nothing in any window
    STALLED = "stalled"  # in `earlier` and `later` (a source: after moving in `before`)
    STALLING = "stalling"  # in the later window only: wait for the next check to confirm


# The Metrics API's granularities with the longest interval each allows per query (spec,
# QueryRequest.granularity): (name, seconds per point, longest interval in seconds).
GRANULARITIES = (
    ("PT1M", 60, 6 * 3600),
    ("PT5M", 300, 86400),
    ("PT15M", 900, 4 * 86400),
    ("PT30M", 1800, 7 * 86400),
)


# How many windows one query reads: `before`, `earlier`, `later`.
WINDOWS_READ = 3


def granularity_for(window: float) -> tuple[str, int]:
    """The finest granularity whose longest interval holds the three windows (one query reads
    them): one-minute points up to 2-hour windows, five-minute points up to 8 hours, and so on."""
    for name, seconds, longest in GRANULARITIES:
        if WINDOWS_READ * window <= longest:
            return name, seconds
    raise ValueError(f"a window of {window:g}s is longer than any granularity allows")


@dataclass(frozen=True, slots=True)
class Windows:
    """[start, earlier), [earlier, later) and [later, end): the `before`, `earlier` and `later`
    windows, read at `granularity` (points of `step` seconds)."""

    start: datetime
    earlier: datetime
    later: datetime
    end: datetime
    granularity: str = "PT1M"
    step: int = 60

    @classmethod
    def ending(cls, now: datetime, window: float, delay: float) -> Windows:
        # On the granularity's boundaries (the Metrics API answers per point), ending `delay`
        # ago at least; config checks that the window is a whole number of points.
        granularity, step = granularity_for(window)
        latest = (now - timedelta(seconds=delay)).timestamp()
        end = datetime.fromtimestamp(latest - latest % step, UTC)
        span = timedelta(seconds=window)
        return cls(end - 3 * span, end - 2 * span, end - span, end, granularity, step)

    def split(self, points: Points) -> tuple[list[float], list[float], list[float]]:
        """The values in `before`, `earlier` and `later`."""
        before = [v for t, v in points if self.start <= t < self.earlier]
        earlier = [v for t, v in points if self.earlier <= t < self.later]
        later = [v for t, v in points if self.later <= t < self.end]
        return before, earlier, later

    def describe_all(self) -> str:
        """The three windows one query reads."""
        return f"{self.start:%H:%M}-{self.end:%H:%M} UTC"

    def describe(self) -> str:
        """The two windows a stall must show in."""
        return f"{self.earlier:%H:%M}-{self.later:%H:%M} and {self.later:%H:%M}-{self.end:%H:%M} UTC"

    def describe_last(self) -> str:
        """The last window alone, where a stall starts to show (`stalling`)."""
        return f"{self.later:%H:%M}-{self.end:%H:%M} UTC"


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: StallVerdict
    detail: str
    # Whether the verdict shows the connector healthy, which ends a stall restart's backoff (the
    # status API cannot see a stall). An idle source is not known healthy: its data may just not
    # be in the Metrics API, or a restart may not have helped.
    healthy: bool = False


# How many sources of one query must have moved in `before` for an answer with no point at all in
# `later` to mean late data rather than stalls: one source stopping is a stall; several stopping
# at the same minute, with not one point for any, is the API not having the minutes yet.
LATE_MOVERS = 2


# How far back a check reads the span its cluster's failed or skipped checks missed (catch_up).
# Assumption: the Metrics API still serves the points of the last few hours once it answers
# again (its spec lets one query at 1-minute points span 6 hours, and documents no shorter
# retention), so a span missed during a 429 storm or an outage can be read afterwards. Should a
# server serve less, the span reads as no data: never a restart on missing data. A
# gap longer than this is caught up for its last CATCH_UP_LIMIT only (and never past what one
# query's granularity allows): a stall that began and showed earlier than that is not found,
# which the `stall_check_caught_up` line says (`partial`).
CATCH_UP_LIMIT = timedelta(hours=3)


def catch_up(windows: Windows, last: Windows | None, interval: float) -> Windows:
    """The windows a check reads for a cluster whose last judged windows were `last`: `windows`
    when no check was missed (this one's `before` starts at most one interval, rounded up to a
    point, after the last one's), else `windows` with `before` stretched back to `last.earlier`
    (bounded by CATCH_UP_LIMIT): the span from the last judged window (`earlier` and `later` of
    `last`) to now. A source that moved in it and sent nothing in `earlier` and `later` stalled:
    a check run in the gap would have seen it moving, then nothing for two windows. One that sent
    nothing in the whole span stays idle; the rule never restarts on missing data."""
    if last is None or last.step != windows.step or last.end - last.earlier != windows.end - windows.earlier:
        return windows  # the first check, or the rule's window changed: nothing to compare
    steps = -(-interval // windows.step)  # the interval rounded up to whole points
    if (windows.start - last.start).total_seconds() <= steps * windows.step:
        return windows
    longest = next(seconds for name, _, seconds in GRANULARITIES if name == windows.granularity)
    earliest = max(windows.end - timedelta(seconds=longest), windows.earlier - CATCH_UP_LIMIT)
    start = max(last.earlier, earliest)
    aligned = start.timestamp() + (-start.timestamp()) % windows.step  # on a point's boundary
    start = datetime.fromtimestamp(aligned, UTC)
    return replace(windows, start=start) if start < windows.start else windows


def caught_up_partly(windows: Windows, last: Windows) -> bool:
    """Whether `windows` (from catch_up) begin after the last judged ones' `earlier`: the gap was
    longer than CATCH_UP_LIMIT, its oldest part is not read."""
    return windows.start > last.earlier


def data_late(windows: Windows, batch: Sequence[Points]) -> bool:
    """Whether one query's answer for a batch of sources shows the Metrics API's data late: at
    least LATE_MOVERS of them sent records in `before`, and none has any point (not even a 0) in
    `later`. Its data is "typically available within 5 minutes" (spec) and this can vary: an
    ingestion backlog longer than `delay` would show every busy source as having stopped at once,
    and restarting them all is the worst thing the daemon could do. No verdict for the batch then."""
    return data_late_across([(windows, sent) for sent in batch])


def data_late_across(batch: Sequence[tuple[Windows, Points]]) -> bool:
    """data_late for sources read on different windows (each cluster's own, catch_up); their
    `later` windows are the same."""
    splits = [windows.split(sent) for windows, sent in batch]
    moved = sum(1 for before, _, _ in splits if sum(before) > 0)
    return moved >= LATE_MOVERS and not any(later for _, _, later in splits)


def answered_later(windows: Windows, series: Iterable[Points]) -> bool:
    """Whether any of `series` (one cluster's answers of a check: every source's sent, every
    sink's received and lag) has a point, even a 0, in `later`: the Metrics API has those minutes
    of the cluster in. Assumption: it ingests a cluster's minutes together, so a point of one
    connector in `later` shows the minutes in for the others; should a real pipeline lag per
    connector, a lone source's missing minutes would read as "sent nothing" (as they did for every
    source before this guard)."""
    return any(windows.later <= t < windows.end for points in series for t, _ in points)


def minutes_in(windows: Windows, others: Sequence[Points], elsewhere: Sequence[Points]) -> bool:
    """Whether nothing shows `later`'s minutes missing, for a source whose own series has no point
    there. Evidence is looked for in its cluster's other series (`others`: the other sources'
    sent, the sinks' received and lag), then, when they have no point at all in the windows read,
    in the other clusters' (`elsewhere`): a point in `later` shows the minutes in; points that
    all end before it show the data late. With no other series at all there is nothing to tell
    by, and one source stopping is a stall, as before."""
    for series in (others, elsewhere):
        if answered_later(windows, series):
            return True
        if any(windows.split(points) != ([], [], []) for points in series):
            return False
    return True


def data_late_alone(windows: Windows, sent: Points, cluster_later: Callable[[], bool]) -> bool:
    """Whether a source that moved in `before` has no point in `later` while no series of its
    cluster's check has one either (`cluster_later()` False, minutes_in): its cluster's data is
    late, not known stopped. LATE_MOVERS sources were needed before: a cluster's only busy source
    was restarted on a backlog, "then 0" read from minutes the API did not have (a probe,
    2026-12-07)."""
    before, _, later = windows.split(sent)
    # The cluster's evidence is asked last, for a source that moved and then went silent only:
    # it scans every series of the check, and asked of each source it cost a check of a cluster
    # of N sources N times all its points.
    return sum(before) > 0 and not later and not cluster_later()


def received_missing(windows: Windows, received: Points, lag: Points, received_later: bool) -> bool:
    """Whether a sink whose lag stayed up in `earlier` and `later` lacks the `received_records`
    points that would show it received nothing: none of its own in one of those windows, and no
    point of that metric in `later` for any sink of its cluster (`received_later` False). A late
    or empty `received_records` answer beside a current `records_lag_max` read as "received 0
    records" and busy sinks were restarted (a probe, 2026-12-07)."""
    _, *received_windows = windows.split(received)
    _, *lag_windows = windows.split(lag)
    lagged = all(max(values, default=0) > 0 for values in lag_windows)
    return lagged and not received_later and any(not values for values in received_windows)


def stopped_together(judgements: Sequence[Judgement], max_share: float | None, min_stalled: int) -> bool:
    """Whether one cluster's verdicts of one check show a systemic stop rather than stalls: at
    least `min_stalled` connectors stalled, and more than `max_share` of those that moved in any
    window (the cluster breaker's `max_failing_share` and `min_failing`, which hold restarts when a
    cluster's connectors fail together). `data_late` sees an answer with no point at all; an API
    that answers zeros (a Kafka cluster or a shared source system unreachable, tasks still
    reporting; or the Metrics API's pipeline writing zeros) read as 100 sources stalled at once,
    and each was restarted, as fast as the fleet breaker let them (a storm probe, 2026-12-06).
    No restart heals a shared cause."""
    if max_share is None:
        return False
    stalled = sum(1 for j in judgements if j.verdict is StallVerdict.STALLED)
    active = sum(1 for j in judgements if j.verdict is not StallVerdict.IDLE)
    return stalled >= min_stalled and stalled > max_share * active


def _last_sent(windows: Windows, sent: Points) -> str:
    """Where a `before` stretched over a missed span (catch_up) last had records: read as one
    span, "sent 200 records in 17:10-17:14" was read as moving until 17:14 of a source silent
    from 17:12. Nothing for a `before` of one window, as a check with no gap reads it."""
    if windows.earlier - windows.start <= windows.later - windows.earlier:
        return ""
    moving = [t for t, v in sent if windows.start <= t < windows.earlier and v > 0]
    if not moving:
        return ""
    last = max(moving)
    return f" (the last of them in {last:%H:%M}-{last + timedelta(seconds=windows.step):%H:%M})"


def judge_source(windows: Windows, sent: Points) -> Judgement:
    before, earlier, later = (sum(values) for values in windows.split(sent))
    if later > 0:
        return Judgement(StallVerdict.MOVING, f"source sent {later:g} records in the last window", healthy=True)
    if earlier > 0:
        # The last window alone: both named, "sent 0 records" was said of one it sent records in.
        later_said = "0" if windows.split(sent)[2] else "no data point"
        return Judgement(StallVerdict.STALLING, f"source sent {earlier:g} records in {windows.earlier:%H:%M}-{windows.later:%H:%M}, "
                         f"then {later_said} in the last window ({windows.describe_last()}); confirming")
    if before > 0:
        return Judgement(
            StallVerdict.STALLED,
            f"source sent {before:g} records in {windows.start:%H:%M}-{windows.earlier:%H:%M}{_last_sent(windows, sent)}, "
            f"then {_none_or_zero(windows, sent)} in {windows.describe()}",
        )
    # No points reads as nothing sent; but the API gives no points for a connector with no
    # activity, nor for minutes it has not ingested: an idle source looks like this too.
    return Judgement(
        StallVerdict.IDLE,
        f"source sent nothing in the last {WINDOWS_READ} windows ({windows.start:%H:%M}-{windows.end:%H:%M} UTC): "
        "idle, or its data is not in the Metrics API; not restarted",
    )


def _none_or_zero(windows: Windows, points: Points) -> str:
    """"0" where the API answered 0s for both windows of a stall, else what it answered: the
    Metrics API leaves minutes without data out, so "0 records" was said of minutes it gave no
    point for."""
    _, earlier, later = windows.split(points)
    return "0" if earlier and later else "no data point"


def judge_sink(windows: Windows, received: Points, lag: Points) -> Judgement:
    # Sinks have their own evidence (lag above zero while nothing is received): `earlier` and
    # `later` only, as before the third window was read.
    received_windows = windows.split(received)[1:]
    lag_windows = windows.split(lag)[1:]
    stalled = [sum(r) == 0 and max(lagged, default=0) > 0 for r, lagged in zip(received_windows, lag_windows, strict=True)]
    last_received, last_lag = received_windows[1], lag_windows[1]
    if all(stalled):
        said = "0 records" if all(received_windows) else "no data point (other sinks of its cluster had points then)"
        return Judgement(
            StallVerdict.STALLED,
            f"sink received {said} in {windows.describe()} while its lag stayed up to {max(last_lag):g} records",
        )
    if stalled[1]:
        said = "0 records" if last_received else "no data point"
        return Judgement(StallVerdict.STALLING, f"sink received {said} with lag {max(last_lag):g} in the last window "
                         f"({windows.describe_last()}); confirming")
    if sum(last_received) == 0:
        # Healthy only on lag data (0s): no lag point at all is no evidence, and an idle sink
        # judged healthy ends a stalled one's backoff (an empty answer read so, a probe 2026-12-07).
        if not last_lag:
            return Judgement(StallVerdict.IDLE, "sink received nothing and the Metrics API answered no lag point: "
                             "idle, or its data is not in the Metrics API; not restarted")
        return Judgement(StallVerdict.IDLE, "sink received nothing and has no lag: idle, not stalled", healthy=True)
    return Judgement(StallVerdict.MOVING, f"sink received {sum(last_received):g} records in the last window", healthy=True)
