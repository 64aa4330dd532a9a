"""Stall verdicts from Metrics API points, two windows at a time. Pure: points in, verdict out."""

from datetime import datetime, timedelta, timezone

import pytest

from watchdog.stall import StallVerdict, Windows, connector_kind, judge_sink, judge_source

NOW = datetime(2026, 3, 1, 12, 30, 42, tzinfo=timezone.utc)
WINDOWS = Windows.ending(NOW, window=600, delay=180)


def minutes(start: datetime, values: list[float]) -> list[tuple[datetime, float]]:
    return [(start + timedelta(minutes=i), v) for i, v in enumerate(values)]


def test_windows_end_at_least_the_delay_ago_on_a_whole_minute() -> None:
    assert WINDOWS.end == datetime(2026, 3, 1, 12, 27, tzinfo=timezone.utc)
    assert WINDOWS.middle == WINDOWS.end - timedelta(minutes=10)
    assert WINDOWS.start == WINDOWS.end - timedelta(minutes=20)


@pytest.mark.parametrize(
    ("earlier", "later", "verdict"),
    [
        pytest.param([5.0] * 10, [3.0] * 10, StallVerdict.MOVING, id="moving"),
        pytest.param([0.0] * 10, [0.0] * 10, StallVerdict.STALLED, id="nothing-in-both-windows"),
        pytest.param([4.0] + [0.0] * 9, [0.0] * 10, StallVerdict.STALLING, id="only-the-later-window"),
        pytest.param([0.0] * 10, [0.0] * 9 + [1.0], StallVerdict.MOVING, id="one-record-is-movement"),
        pytest.param([], [], StallVerdict.STALLED, id="no-data-at-all"),
    ],
)
def test_sources(earlier: list[float], later: list[float], verdict: StallVerdict) -> None:
    points = minutes(WINDOWS.start, earlier) + minutes(WINDOWS.middle, later)
    assert judge_source(WINDOWS, points).verdict is verdict


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
    judgement = judge_sink(WINDOWS, minutes(WINDOWS.start, received), minutes(WINDOWS.start, lag))
    assert judgement.verdict is verdict


def test_the_verdict_says_why() -> None:
    stalled = judge_sink(WINDOWS, minutes(WINDOWS.start, [0.0] * 20), minutes(WINDOWS.start, [70.0] * 20))
    assert stalled.detail == "sink received 0 records in 12:07-12:17 and 12:17-12:27 UTC while its lag stayed up to 70 records"


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
    [(600, "PT1M", 60), (3 * 3600, "PT1M", 60), (3 * 3600 + 300, "PT5M", 300), (6 * 3600, "PT5M", 300)],
)
def test_the_granularity_is_the_finest_whose_interval_holds_both_windows(window: int, granularity: str, step: int) -> None:
    windows = Windows.ending(NOW, window=window, delay=180)
    assert (windows.granularity, windows.step) == (granularity, step)
    # The Metrics API's longest interval for the granularity (PT1M: 6 h, PT5M: 1 d) holds both.
    assert windows.end - windows.start <= timedelta(hours=6 if step == 60 else 24)
    assert windows.end.timestamp() % step == 0 and windows.end <= NOW - timedelta(seconds=180)
