"""The `rules` section: which connectors a rule selects, its trigger (schedule, status, alert,
stalled), its backoff and budget."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from functools import lru_cache
from itertools import islice
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.interval import IntervalTrigger
from cronsim import CronSim, CronSimError
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from ..model import connector_name_problem
from ..stall import GRANULARITIES, WINDOWS_READ, granularity_for
from ..windows.zones import zone_named
from .cron_ranges import backwards_range, with_sunday_last
from .gates import WindowSettings
from .regexes import label_regex
from .sections import MAX_COUNT
from .types import (
    NUMBER,
    Name,
    PositiveDuration,
    Strict,
    TimeZoneName,
    at_least,
    matching,
    parse_duration,
)


def _exact_name(name: str) -> str:
    """`connectors: ["orders-*"]` selected only a connector named `orders-*` (none): the rule
    watched nothing, and check-config called it valid. A name that does hold a glob character
    can still be selected, through `include` with the character in brackets. A name no connector
    can have (a line break a YAML block scalar left at its end, more than 255 characters) never
    matched either: refused too, without quoting it."""
    problem = connector_name_problem(name)
    if problem is not None:
        raise ValueError(f"no connector can be named so: the name {problem}")
    if any(char in name for char in "*?["):
        escaped = "".join(f"[{char}]" if char in "*?[" else char for char in name)
        raise ValueError(f"{name!r} holds a glob character (*, ? or [), and `connectors` takes exact names: put it "
                         f"in `include` (for a connector named so, include: [{escaped!r}])")
    return name


class Selector(Strict):
    """Which connectors a rule acts on. Exact names and glob patterns may be combined."""

    # Cluster names or globs on them (`lkc-*`, `prod-*`); None: every cluster, configured or
    # discovered. Names have no glob characters, so an exact name matches only itself.
    clusters: list[Annotated[str, Field(min_length=1)]] | None = None
    connectors: list[Annotated[str, Field(min_length=1), AfterValidator(_exact_name)]] = []
    include: list[Annotated[str, Field(min_length=1)]] = []
    exclude: list[Annotated[str, Field(min_length=1)]] = []

    @model_validator(mode="after")
    def _selects_something(self) -> Selector:
        if not self.connectors and not self.include:
            raise ValueError("select needs `connectors` (exact names) or `include` (globs)")
        if self.clusters is not None and not self.clusters:
            raise ValueError("select.clusters must not be empty (leave it out for every cluster)")
        return self

    def selects_cluster(self, cluster: str) -> bool:
        return self.clusters is None or any(fnmatchcase(cluster, pattern) for pattern in self.clusters)


class Backoff(Strict):
    """Strimzi's restart backoff: gap(n) = min(base * (n^2 + n), cap), lengthened by jitter."""

    base: PositiveDuration = 60.0
    cap: PositiveDuration = 3600.0
    jitter: Annotated[float, NUMBER, Field(ge=0, le=1)] = 0.1

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Backoff:
        if self.cap < self.base:
            raise ValueError(f"cap ({self.cap}s) must not be below base ({self.base}s)")
        return self


# Cron's @-macros are not read (not every cron has them, and @reboot means nothing here); the
# refusal says the five fields each stands for.
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}

# What a cron's five fields are, said with every refusal.
CRON_FIELDS = "five fields, minute hour day-of-month month day-of-week, as Debian's cron reads them"


def _pasted_from_elsewhere(fields: list[str]) -> str | None:
    """What to write instead of a form another scheduler reads and cron does not, or None. A
    Kubernetes CronJob's or cronie's `TZ=Europe/Berlin 0 3 * * *` was answered only "got 6
    field(s)", and Quartz's `0 0 ? * *` (Kubernetes takes it too) "Bad day-of-month (... such as
    30 February)"."""
    if fields and fields[0].upper().startswith(("TZ=", "CRON_TZ=")):
        zone = fields[0].split("=", 1)[1] or "Europe/Berlin"
        return (f"a {fields[0].split('=', 1)[0]}= prefix is not read: give the zone as the rule's "
                f"`timezone: {zone}` and the cron as its five fields")
    quartz = [name for name, field in zip(_FIELD_NAMES, fields[-5:], strict=False) if "?" in field]
    if quartz:  # named as cronsim names a bad field: `Bad day-of-month`
        return f"Bad {quartz[0]}: `?` is Quartz's \"no specific value\", which cron does not have: write `*`"
    return None


_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")


def _check_cron(expr: str) -> str:
    """Read by cronsim, as the scheduler's trigger reads it (triggers/cron.py), so that what
    passes check-config runs as checked. Not by APScheduler, whose parse ran what it had read of
    a field and ignored the rest (`jan-dec/3` every month, `lastday` as `last`)."""
    read = with_sunday_last(expr)  # what the trigger is given; the errors quote what was written
    fields = read.split()
    pasted = _pasted_from_elsewhere(fields)
    if len(fields) != 5:
        macro = _MACROS.get(expr.strip().lower())
        instead = f": write {macro!r}" if macro else f"; {pasted}" if pasted else ""
        raise ValueError(f"cron needs {CRON_FIELDS}; got {len(fields)} field(s) in {expr!r}{instead}")
    if pasted:
        raise ValueError(f"bad cron expression {expr!r}: {pasted}; {CRON_FIELDS}")
    try:
        next(CronSim(read, _EPOCH))
    except CronSimError as exc:
        # cronsim refuses a day none of the months named has (30 February) as a bad day: such a
        # cron would be accepted and silently never run.
        also = " (not a day cron reads, or one that none of its months has, such as 30 February)" if "day-of-month" in str(exc) else ""
        backwards = backwards_range(fields)  # the why, when it is the field cronsim named
        said = backwards if backwards and backwards.startswith(f"{exc}:") else f"{exc}{also}"
        raise ValueError(f"bad cron expression {expr!r}: {said}; {CRON_FIELDS}") from None
    except StopIteration:
        raise ValueError(f"cron {expr!r} never fires (not within 50 years)") from None
    return read


# The years whose offset changes the jitter check reads: this one and the next two. The rules of
# year 2000 were read before, when Europe/Vilnius, Riga, Tallinn, America/Indiana/* or
# Africa/Casablanca had no DST (or another): `0 2,4 * * *` in Europe/Vilnius with `jitter: 90m` was
# accepted, and on the spring night (02:00 EET, 04:00 EEST: an hour apart) the first run jittered
# past the second made the cron skip it, without a word. Assumption: the tzdata in use knows the
# rules of the coming years (a change decided later needs a tzdata update, and a reload then).
CHECKED_YEARS = 3


def _this_year() -> int:
    """The clock the jitter check reads (the year whose DST changes, and the next ones', count)."""
    return datetime.now(timezone.utc).year


@lru_cache(maxsize=4096)
def _jitter_gap_too_short(expr: str, zone: str, jitter: float, year: int) -> float | None:
    """None when every two consecutive runs of the cron (from `year`, those around the zone's
    offset changes included) are more than `jitter` apart; else the shortest time between two, in
    seconds. Quick where it is asked most, a jitter shorter than the clock's gap: the full count
    of the gaps (_shortest_gap: 200 cronsim runs and a day's around each change, ~14 ms in pure
    Python) made 1,000 jittered rules take 8-11 s to check and ~9 s to reload."""
    if jitter < _clock_gap(expr):
        # Away from an offset change the runs are as far apart in real time as on the clock, so
        # at least the clock's gap: only two runs around a change can be closer.
        if _gap_near_changes(expr, zone, year, jitter) > jitter:
            return None
    # The full count, and the runs around the changes again: two closer than its shortest are
    # at most that far from a change.
    gap = _shortest_gap(expr, zone, year)
    gap = min(gap, _gap_near_changes(expr, zone, year, min(jitter, gap)))
    return gap if gap <= jitter else None


@lru_cache(maxsize=4096)
def _clock_gap(expr: str) -> float:
    """The shortest time, in seconds, between two consecutive runs of the cron on a clock that
    does not change its offset, or a lower bound of it: between two times of a day the cron's
    minute and hour fields name, or the last of a day and the first of the next. Its days (day,
    month, weekday) only ever make runs further apart."""
    cron = CronSim(expr, _EPOCH)
    times = sorted(hour * 60 + minute for hour in cron.hours for minute in cron.minutes)
    within = [later - earlier for earlier, later in zip(times, times[1:])]
    return 60.0 * min([*within, times[0] + 24 * 60 - times[-1]])


def _gap_near_changes(expr: str, zone: str, year: int, jitter: float) -> float:
    """The shortest time, in seconds, between two consecutive runs of the cron of which one is
    at most `jitter` from an offset change of the zone (`year` and the next years), and any two
    the change brings closer (times the spring change skips run at its instant): inf if none."""
    where = zone_named(zone)
    shortest = float("inf")
    for change in _offset_changes(zone, year):
        # The change is within the hour from `change`. A margin of its size (an hour; 30 minutes
        # on Lord Howe; 2 hours on Troll), over which the runs of the skipped or repeated hour
        # move, and a minute.
        size = abs(_offset(change + timedelta(hours=1), where) - _offset(change, where))
        span = timedelta(seconds=jitter + 60) + size
        runs = _runs_until(expr, change - span, change + timedelta(hours=1) + span, where, 5000)
        times = [run.astimezone(timezone.utc) for run in runs]
        shortest = min([shortest, *((later - earlier).total_seconds() for earlier, later in zip(times, times[1:]))])
    return shortest


def _offset(moment: datetime, zone: ZoneInfo) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta(0)


@lru_cache(maxsize=4096)
def _shortest_gap(expr: str, zone: str, year: int) -> float:
    """The shortest time, in seconds, between two consecutive runs among the cron's first 200
    from `year`'s start, and those around each offset change of `year` and the next years:
    measured in UTC, where jitter is added. Remembered by cron, zone and year: at a few
    milliseconds each, 6,000 jittered rules of one cron took 14.7 s to load, at each reload."""
    where = zone_named(zone)
    start = datetime(year, 1, 1, tzinfo=timezone.utc)
    runs = [list(islice(CronSim(expr, start.astimezone(where)), 200))]
    # And the runs around each change of the zone's offset: 200 runs of a cron of several a day
    # end before the spring change, where `0 1,3,13,15 * * *` in Europe/Berlin runs at 01:00 CET
    # and 03:00 CEST, an hour apart, not two: jitter: 80m was accepted, and on that night the
    # 01:00 run jittered past 03:00 CEST made the cron skip it, without a word.
    for change in _offset_changes(zone, year):
        # From a day before (a daily cron's run before it) to a few hours after, or, for a cron of
        # many runs, whose first 200 from there end before it, from two hours before.
        runs.append(_runs_until(expr, change - timedelta(hours=26), change + timedelta(hours=3), where))
        if runs[-1][-1:] and runs[-1][-1] < change:
            runs.append(_runs_until(expr, change - timedelta(hours=2), change + timedelta(hours=3), where))
    gaps: list[float] = []
    for some in runs:
        times = [t.astimezone(timezone.utc) for t in some]
        gaps += [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:])]
    return min(gaps, default=float("inf"))


def _runs_until(expr: str, start: datetime, end: datetime, zone: ZoneInfo, most: int = 200) -> list[datetime]:
    """The cron's runs from `start` up to the first after `end`, at most `most`."""
    runs = []
    for run in islice(CronSim(expr, start.astimezone(zone)), most):
        runs.append(run)
        if run > end:
            break
    return runs


@lru_cache(maxsize=1024)
def _offset_changes(zone_name: str, year: int) -> list[datetime]:
    """The hours (UTC) from `year`'s start to CHECKED_YEARS later at which the zone's offset
    changes (DST, or a change of its standard time)."""
    zone = zone_named(zone_name)
    start = datetime(year, 1, 1, tzinfo=timezone.utc)
    end = datetime(year + CHECKED_YEARS, 1, 1, tzinfo=timezone.utc)
    hours = [start + timedelta(hours=hour) for hour in range(0, int((end - start).total_seconds()) // 3600 + 1, 24)]
    changes = []
    for day, next_day in zip(hours, hours[1:]):
        if day.astimezone(zone).utcoffset() != next_day.astimezone(zone).utcoffset():
            changes += [hour for hour in (day + timedelta(hours=h) for h in range(24))
                        if hour.astimezone(zone).utcoffset() != (hour + timedelta(hours=1)).astimezone(zone).utcoffset()]
    return changes


def _schedulable(seconds: float) -> float:
    """The interval job the scheduler will make, made once now: what passes check-config must
    not fail when `run` schedules it (an interval so long the date arithmetic overflows)."""
    try:
        IntervalTrigger(seconds=seconds, timezone=timezone.utc).get_next_fire_time(None, _EPOCH)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"interval {seconds:g}s cannot be scheduled ({exc})") from None
    return seconds


_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _utc_all_year(zone: str) -> bool:
    """Whether `zone` reads as UTC in winter and summer alike (UTC, Etc/UTC, GMT, Zulu)."""
    where = zone_named(zone)
    return all(datetime(2026, month, 1, tzinfo=timezone.utc).astimezone(where).utcoffset() == timedelta(0) for month in (1, 7))


def _whole_seconds(seconds: float) -> float:
    # The scheduler gives APScheduler whole seconds of jitter (watchdog/triggers/scheduler.py), so
    # 0.5 silently became no jitter at all and 1.5 one second.
    if seconds != int(seconds):
        raise ValueError(f"{seconds:g}s is not a whole number of seconds: jitter counts whole seconds (e.g. 30s or 1m)")
    return seconds

# The shortest schedule interval. A schedule rule restarts its connectors unconditionally, and on
# Confluent Cloud a restart stops every task; a connector restarted again before it is back
# (PROVISIONING, tasks UNASSIGNED) is only held down, and intervals of milliseconds flooded the
# queue (1 ms: thousands of skipped-run warnings a minute, restarts beyond the interval's share).
# 10 s, as discovery's floor, leaves the demo's and the compose playground's 20 s.
MIN_SCHEDULE_INTERVAL = 10.0

ScheduleInterval = Annotated[
    float, BeforeValidator(parse_duration), Field(gt=0), AfterValidator(_schedulable),
    at_least(MIN_SCHEDULE_INTERVAL, "a schedule restarts its connectors unconditionally, and restarted that often "
             "a connector has not come back from the last restart"),
]


class ScheduleTrigger(Strict):
    type: Literal["schedule"]
    cron: Annotated[str, AfterValidator(_check_cron)] | None = None
    interval: ScheduleInterval | None = None
    timezone: TimeZoneName = "UTC"
    jitter: Annotated[float, BeforeValidator(parse_duration), Field(ge=0), AfterValidator(_whole_seconds)] = 0.0

    @model_validator(mode="after")
    def _cron_xor_interval(self) -> ScheduleTrigger:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("a schedule trigger needs exactly one of `cron` or `interval`")
        if self.jitter and self.cron is None:
            # APScheduler adds interval jitter to the previous (already jittered) run, so the
            # schedule would drift later and later.
            raise ValueError("jitter is only supported with `cron`")
        if self.interval is not None and not _utc_all_year(self.timezone):
            # An interval runs on the UTC grid since 1970 (triggers/scheduler.py INTERVAL_ORIGIN);
            # a zone beside it was accepted and ignored: `interval: 24h` in Europe/Berlin ran at
            # 02:00 there in summer, 01:00 in winter, never at the midnight it seemed to ask for.
            raise ValueError(
                f"timezone ({self.timezone}) is only read with `cron`: an interval runs at whole multiples of itself "
                f"since 1970-01-01 00:00 UTC (24h: each midnight UTC); for a time of day in {self.timezone}, write "
                "a cron (`0 0 * * *` for each midnight) with that timezone"
            )
        if self.jitter and self.cron is not None:
            gap = _jitter_gap_too_short(self.cron, self.timezone, self.jitter, _this_year())
            if gap is not None:
                # The next run is the cron's first time after the previous (jittered) one: `*/5`
                # with 30 minutes of jitter ran 17 times in 6 hours, not 72, and nothing said so.
                raise ValueError(
                    f"jitter ({self.jitter:g}s) must be shorter than the shortest time between two of the cron's runs "
                    f"({gap:g}s): a run jittered past the next one's time makes it skip that run"
                )
        return self


class StatusTrigger(Strict):
    type: Literal["status"]
    interval: Annotated[float, BeforeValidator(parse_duration), Field(ge=5), AfterValidator(_schedulable)] = 60.0
    confirm_polls: Annotated[int, NUMBER, Field(ge=1, le=20)] = 2
    # A connector DEGRADED with no task in error (tasks awaiting a worker) is left to Confluent;
    # once it has stayed so this long it is reported (log and metric), still not restarted.
    degraded_report_after: PositiveDuration = 1800.0


def _check_regexes(patterns: dict[str, str]) -> dict[str, str]:
    for label, pattern in patterns.items():
        try:
            label_regex(pattern)
        except ValueError as exc:
            raise ValueError(f"bad regular expression for label {label!r}: {pattern!r} ({exc}; RE2 syntax, "
                             "as Alertmanager's)") from None
    return patterns


LabelName = Annotated[
    str, matching(r"^[a-zA-Z_][a-zA-Z0-9_]*$", "Prometheus label names are letters, digits and '_', not starting with a digit")
]


class AlertTrigger(Strict):
    """Restart on a firing Alertmanager alert (POST /v1/alertmanager)."""

    type: Literal["alert"]
    match: dict[LabelName, str] = {}  # label == value
    match_re: Annotated[dict[LabelName, str], AfterValidator(_check_regexes)] = {}  # label =~ regex (anchored)
    # The label naming the cluster (a configured cluster's name or its kafka_cluster_id) and the
    # label naming the connector (its name, or its lcc- id as Confluent's metrics label it).
    cluster_label: LabelName = "kafka_cluster_id"
    connector_label: LabelName = "connector"

    @model_validator(mode="after")
    def _matches_something(self) -> AlertTrigger:
        if not self.match and not self.match_re:
            raise ValueError("an alert trigger needs `match` or `match_re`, or it would act on every alert")
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        # A missing label is the empty string, as in Alertmanager (and in match_re below): `match:
        # {maintenance: ""}` is "no maintenance label", where before it matched no alert at all.
        if any(labels.get(name, "") != value for name, value in self.match.items()):
            return False
        return all(label_regex(pattern).fullmatch(labels.get(name, "")) for name, pattern in self.match_re.items())


# The Metrics API's own word on its latency (spec, "Data Latency"): "data points are typically
# available for query in the API within 5 minutes of their origination at the source". Windows
# ending sooner than that ago read a busy connector's newest minutes as missing, and a missing
# minute reads as "sent nothing": every busy source would look stalled at once.
MIN_STALL_DELAY = 300.0


def _delay_covers_latency(seconds: float) -> float:
    if seconds < MIN_STALL_DELAY:
        raise ValueError(
            f"delay must be at least 5m, got {seconds:g}s: the Metrics API's data is typically "
            "available only within 5 minutes, and newer minutes would read as no data (a stall)"
        )
    return seconds


# The longest window: three are read in one query, and at 5-minute points (a day per query)
# windows up to 8h would fit; a stall that takes longer than a day to confirm helps no one.
MAX_STALL_WINDOW = 6 * 3600.0


def _window_fits(seconds: float) -> float:
    if seconds > MAX_STALL_WINDOW:
        raise ValueError(
            f"window must be at most 6h, got {seconds:g}s: three windows are read, so a stall "
            "takes three windows and the delay to confirm"
        )
    return seconds


class StalledTrigger(Strict):
    """Restart connectors that are RUNNING but move no data, judged from Confluent's Metrics API.

    Every `interval` the last three windows of `window` each (`before`, `earlier`, `later`),
    ending `delay` ago (at least 5 minutes: the Metrics API's data points are typically available
    within 5 minutes), are read for the connectors seen RUNNING for `grace` before the three and
    through them (a connector's first `grace`, a start-up burst, is never judged): a source that
    sent records in `before` and none in `earlier` and `later`, or a sink that received nothing
    while its lag is above zero in `earlier` and `later`, is stalled. A source that sent nothing
    in all three is idle (or its data is not in the API), and so is a sink with no lag and no
    records: neither is restarted."""

    type: Literal["stalled"]
    interval: Annotated[float, BeforeValidator(parse_duration), Field(ge=60), AfterValidator(_schedulable)] = 300.0
    grace: Annotated[float, BeforeValidator(parse_duration), Field(ge=0)] = 600.0
    window: Annotated[float, BeforeValidator(parse_duration), Field(ge=60), AfterValidator(_window_fits)] = 600.0
    delay: Annotated[float, BeforeValidator(parse_duration), AfterValidator(_delay_covers_latency)] = MIN_STALL_DELAY

    @model_validator(mode="after")
    def _whole_points(self) -> StalledTrigger:
        if self.window % 60:
            raise ValueError("window must be a whole number of minutes (the Metrics API counts per minute)")
        if self.interval > self.window:
            # A stall shows (moved in `before`, nothing in `earlier` and `later`) in the checks of
            # one window's length only: checks further apart can step over it, and every later
            # check reads the stopped source as idle, never restarted.
            raise ValueError(
                f"interval ({self.interval:g}s) must not be longer than window ({self.window:g}s): a stall shows "
                "in the checks made during one window only, and checks further apart can miss it for good"
            )
        granularity, step = granularity_for(self.window)
        if self.window % step:
            # The longest window the finest granularity holds, three to a query.
            finest = GRANULARITIES[0][2] / WINDOWS_READ
            raise ValueError(
                f"a window over {finest / 3600:g}h is read in {step // 60}-minute points ({granularity}: the "
                f"Metrics API gives one-minute points for at most {GRANULARITIES[0][2] / 3600:g}h per query, and "
                f"three windows are read): make it a multiple of {step // 60} minutes"
            )
        return self


TriggerSettings = Annotated[
    ScheduleTrigger | StatusTrigger | AlertTrigger | StalledTrigger, Field(discriminator="type")
]
TRIGGER_TYPES = ("schedule", "status", "alert", "stalled")


DEFAULT_MAX_RESTARTS = 10


class Rule(Strict):
    name: Name
    trigger: TriggerSettings
    select: Selector
    backoff: Backoff = Backoff()
    # Then the connector is marked gave-up until it is seen healthy. Finite by default: a failure
    # no restart can fix must not be restarted forever (on Confluent Cloud each restart stops
    # every task). 10 restarts span about 5 hours with the default backoff. null: no limit.
    max_restarts: Annotated[int, NUMBER, Field(ge=1, le=MAX_COUNT)] | None = DEFAULT_MAX_RESTARTS
    restart_user_errors: bool = False
    # Ask Confluent's error-recommendations endpoint before a failure restart and keep the
    # advice in the history (one extra, rate-limited call per restart).
    fetch_recommendations: bool = False
    windows: WindowSettings | None = None
    dry_run: bool = False
    enabled: bool = True
