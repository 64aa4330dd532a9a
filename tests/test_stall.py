"""Stall verdicts from Metrics API points, three windows at a time (`before`, `earlier`, `later`).
Pure: points in, verdict out."""

from datetime import datetime, timedelta, timezone

import pytest

from watchdog.stall import (
    StallVerdict,
    Windows,
    connector_kind,
    data_late,
    data_late_alone,
    judge_sink,
    judge_source,
    minutes_in,
    received_missing,
)

NOW = datetime(2026, 3, 1, 12, 30, 42, tzinfo=timezone.utc)
WINDOWS = Windows.ending(NOW, window=600, delay=300)


def minutes(start: datetime, values: list[float]) -> list[tuple[datetime, float]]:
    return [(start + timedelta(minutes=i), v) for i, v in enumerate(values)]


def test_windows_end_at_least_the_delay_ago_on_a_whole_minute() -> None:
    assert WINDOWS.end == datetime(2026, 3, 1, 12, 25, tzinfo=timezone.utc)
    assert WINDOWS.later == WINDOWS.end - timedelta(minutes=10)
    assert WINDOWS.earlier == WINDOWS.end - timedelta(minutes=20)
    assert WINDOWS.start == WINDOWS.end - timedelta(minutes=30)


@pytest.mark.parametrize(
    ("before", "earlier", "later", "verdict"),
    [
        pytest.param([5.0] * 10, [5.0] * 10, [3.0] * 10, StallVerdict.MOVING, id="moving"),
        pytest.param([5.0] * 10, [0.0] * 10, [0.0] * 10, StallVerdict.STALLED, id="moved-then-nothing-in-two-windows"),
        pytest.param([5.0] * 10, [], [], StallVerdict.STALLED, id="moved-then-no-points-in-two-windows"),
        pytest.param([5.0] * 10, [4.0] + [0.0] * 9, [0.0] * 10, StallVerdict.STALLING, id="only-the-later-window"),
        pytest.param([5.0] * 10, [0.0] * 10, [0.0] * 9 + [1.0], StallVerdict.MOVING, id="one-record-is-movement"),
        pytest.param([0.0] * 10, [0.0] * 10, [0.0] * 10, StallVerdict.IDLE, id="nothing-in-three-windows-is-idle"),
        pytest.param([], [], [], StallVerdict.IDLE, id="no-data-at-all-is-idle"),
    ],
)
def test_sources(before: list[float], earlier: list[float], later: list[float], verdict: StallVerdict) -> None:
    points = minutes(WINDOWS.start, before) + minutes(WINDOWS.earlier, earlier) + minutes(WINDOWS.later, later)
    assert judge_source(WINDOWS, points).verdict is verdict


def test_a_source_that_sent_nothing_at_all_is_not_called_stalled_and_the_verdict_says_why() -> None:
    # The Metrics API returns no points for a connector with no activity: an idle source.
    idle = judge_source(WINDOWS, [])
    assert idle.verdict is StallVerdict.IDLE
    assert idle.detail == (
        "source sent nothing in the last 3 windows (11:55-12:25 UTC): idle, or its data is not in the Metrics API; not restarted"
    )
    stalled = judge_source(WINDOWS, minutes(WINDOWS.start, [5.0] * 10))
    # The API answered no point for those minutes: "then 0" said what it never said.
    assert stalled.detail == "source sent 50 records in 11:55-12:05, then no data point in 12:05-12:15 and 12:15-12:25 UTC"


MOVED_THEN_NOTHING = minutes(WINDOWS.start, [5.0] * 10)
BUSY = minutes(WINDOWS.start, [5.0] * 30)


@pytest.mark.parametrize(
    ("batch", "late"),
    [
        pytest.param([MOVED_THEN_NOTHING, MOVED_THEN_NOTHING], True, id="two-moved-and-no-point-for-any-in-later"),
        pytest.param([MOVED_THEN_NOTHING, MOVED_THEN_NOTHING, []], True, id="an-idle-one-changes-nothing"),
        pytest.param([MOVED_THEN_NOTHING], False, id="one-source-stopping-is-a-stall"),
        pytest.param([MOVED_THEN_NOTHING, MOVED_THEN_NOTHING, BUSY], False, id="another-has-points-in-later"),
        pytest.param([MOVED_THEN_NOTHING, MOVED_THEN_NOTHING + minutes(WINDOWS.later, [0.0])], False, id="a-point-of-0-is-a-point"),
    ],
)
def test_an_answer_is_late_when_several_sources_moved_and_none_has_a_point_in_the_later_window(
    batch: list[list[tuple[datetime, float]]], late: bool
) -> None:
    assert data_late(WINDOWS, batch) is late


@pytest.mark.parametrize(
    ("received", "lag", "verdict"),
    [
        pytest.param([10.0] * 20, [5.0] * 20, StallVerdict.MOVING, id="consuming"),
        pytest.param([0.0] * 20, [100.0 + i for i in range(20)], StallVerdict.STALLED, id="lag-growing-nothing-received"),
        pytest.param([0.0] * 20, [0.0] * 20, StallVerdict.IDLE, id="idle-sink"),
        pytest.param([], [], StallVerdict.IDLE, id="no-data-is-not-a-stall-for-a-sink"),
        pytest.param([3.0] * 10 + [0.0] * 10, [0.0] * 10 + [50.0] * 10, StallVerdict.STALLING, id="only-the-later-window"),
    ],
)
def test_sinks(received: list[float], lag: list[float], verdict: StallVerdict) -> None:
    # Sinks are judged on `earlier` and `later` only.
    judgement = judge_sink(WINDOWS, minutes(WINDOWS.earlier, received), minutes(WINDOWS.earlier, lag))
    assert judgement.verdict is verdict


@pytest.mark.parametrize(("later", "said"), [([0.0] * 10, "0"), ([], "no data point")])
def test_a_stalling_verdict_names_only_the_window_where_nothing_moved(later: list[float], said: str) -> None:
    # A probe (2026-12-07) read "source sent 0 records in the last window (22:32-22:33 and
    # 22:33-22:34 UTC)" of a source that sent 500 records in 22:32-22:33.
    source = judge_source(WINDOWS, minutes(WINDOWS.start, [5.0] * 10) + minutes(WINDOWS.earlier, [4.0] + [0.0] * 9)
                          + minutes(WINDOWS.later, later))
    assert source.verdict is StallVerdict.STALLING
    assert source.detail == f"source sent 4 records in 12:05-12:15, then {said} in the last window (12:15-12:25 UTC); confirming"
    sink = judge_sink(WINDOWS, minutes(WINDOWS.earlier, [3.0] * 10 + later), minutes(WINDOWS.earlier, [0.0] * 10 + [50.0] * 10))
    assert sink.verdict is StallVerdict.STALLING
    records = "0 records" if later else "no data point"
    assert sink.detail == f"sink received {records} with lag 50 in the last window (12:15-12:25 UTC); confirming"


def test_the_verdict_says_why() -> None:
    stalled = judge_sink(WINDOWS, minutes(WINDOWS.earlier, [0.0] * 20), minutes(WINDOWS.earlier, [70.0] * 20))
    assert stalled.detail == "sink received 0 records in 12:05-12:15 and 12:15-12:25 UTC while its lag stayed up to 70 records"


@pytest.mark.parametrize(
    ("shown", "connector_class", "kind"),
    [
        ("source", "", "source"),
        ("SINK", "DatagenSource", "sink"),  # the type shown wins
        ("unknown", "DatagenSourceInternal", "source"),  # Confluent's recorded answer
        ("unknown", "S3_SINK", "sink"),
        ("unknown", "io.confluent.connect.jdbc.JdbcSourceConnector", "source"),
        ("unknown", "io.debezium.connector.mysql.MySqlConnector", None),
        ("unknown", "SourceToSinkBridge", None),  # both: no guess
        ("", "", None),
    ],
)
def test_connector_kind_from_the_type_shown_or_the_connector_class(shown: str, connector_class: str, kind: str | None) -> None:
    assert connector_kind(shown, connector_class) == kind


@pytest.mark.parametrize(
    ("window", "granularity", "step"),
    [(600, "PT1M", 60), (2 * 3600, "PT1M", 60), (2 * 3600 + 300, "PT5M", 300), (6 * 3600, "PT5M", 300)],
)
def test_the_granularity_is_the_finest_whose_interval_holds_all_three_windows(window: int, granularity: str, step: int) -> None:
    windows = Windows.ending(NOW, window=window, delay=300)
    assert (windows.granularity, windows.step) == (granularity, step)
    # The Metrics API's longest interval for the granularity (PT1M: 6 h, PT5M: 1 d) holds all three.
    assert windows.end - windows.start == timedelta(seconds=3 * window)
    assert windows.end - windows.start <= timedelta(hours=6 if step == 60 else 24)
    assert windows.end.timestamp() % step == 0 and windows.end <= NOW - timedelta(seconds=300)


# -- missing points are no evidence (a probe, 2026-12-07) ------------------------------------------

LAGGING = minutes(WINDOWS.earlier, [5.0] * 20)


@pytest.mark.parametrize(
    ("received", "others_later", "missing"),
    [
        pytest.param([], False, True, id="no-received-point-and-none-for-the-cluster-in-later"),
        pytest.param(minutes(WINDOWS.start, [50.0] * 10), False, True, id="received-points-only-before"),
        pytest.param(minutes(WINDOWS.earlier, [0.0] * 20), False, False, id="explicit-zeros-are-evidence"),
        pytest.param([], True, False, id="another-sinks-received-point-in-later-is-evidence"),
    ],
)
def test_a_sink_without_received_points_is_not_known_to_receive_nothing(
    received: list[tuple[datetime, float]], others_later: bool, missing: bool
) -> None:
    assert received_missing(WINDOWS, received, LAGGING, others_later) is missing


def test_a_sink_judged_on_other_sinks_evidence_says_no_data_point_not_0_records() -> None:
    stalled = judge_sink(WINDOWS, [], LAGGING)
    assert stalled.verdict is StallVerdict.STALLED
    assert stalled.detail.startswith("sink received no data point (other sinks of its cluster had points then) in 12:05-12:15")


def test_a_sink_with_no_lag_point_is_idle_but_not_healthy() -> None:
    # No lag data is no evidence: an idle sink judged healthy ends a stalled one's backoff.
    assert judge_sink(WINDOWS, [], []).healthy is False
    assert judge_sink(WINDOWS, [], minutes(WINDOWS.earlier, [0.0] * 20)).healthy is True


OTHERS_BEHIND = [minutes(WINDOWS.start, [5.0] * 15)]  # a sink's lag ending in `earlier`
OTHERS_CURRENT = [minutes(WINDOWS.start, [5.0] * 30)]


@pytest.mark.parametrize(
    ("others", "elsewhere", "late"),
    [
        pytest.param(OTHERS_BEHIND, OTHERS_CURRENT, True, id="the-clusters-other-series-end-before-later"),
        pytest.param(OTHERS_CURRENT, [], False, id="the-clusters-other-series-are-current"),
        pytest.param([], OTHERS_BEHIND, True, id="alone-in-its-cluster-and-the-others-late"),
        pytest.param([], OTHERS_CURRENT, False, id="alone-in-its-cluster-and-the-others-current"),
        pytest.param([], [], False, id="alone-in-the-check-nothing-to-tell-by"),
    ],
)
def test_a_lone_source_is_late_when_its_clusters_other_series_end_before_the_later_window(
    others: list[list[tuple[datetime, float]]], elsewhere: list[list[tuple[datetime, float]]], late: bool
) -> None:
    assert data_late_alone(WINDOWS, MOVED_THEN_NOTHING, lambda: minutes_in(WINDOWS, others, elsewhere)) is late
    assert data_late_alone(WINDOWS, BUSY, lambda: minutes_in(WINDOWS, others, elsewhere)) is False


def test_a_source_stall_says_no_data_point_where_the_api_gave_none() -> None:
    zeros = MOVED_THEN_NOTHING + minutes(WINDOWS.earlier, [0.0] * 20)
    assert ", then 0 in " in judge_source(WINDOWS, zeros).detail
    assert ", then no data point in " in judge_source(WINDOWS, MOVED_THEN_NOTHING).detail
