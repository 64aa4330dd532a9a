"""X-RateLimit-Reset sent as a Unix time instead of relative seconds.

Confluent documents relative seconds; other APIs (GitHub's x-ratelimit-reset) send the Unix time
the period ends. Read as seconds, such a value was capped at `max_pause` (900 s) and held every
call that long: 200 restarts took 40 to 460 times what the limit allows. The header reading
(watchdog/ratelimit/headers.py) and, on virtual time, the daemon against a simulator that sends
Unix times (scenario rate_limit.reset_format).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bench.ratelab import Case, run_daemon
from watchdog.ratelimit.headers import parse_headers

SERVER_TIME = datetime(2027, 1, 15, 8, 0, 0, tzinfo=timezone.utc)  # Unix time 1,800,000,000
DATE = "Fri, 15 Jan 2027 08:00:00 GMT"


@pytest.mark.parametrize("reset", ["1800000007", "1800000007000"], ids=["seconds", "milliseconds"])
def test_a_unix_time_reset_is_read_against_the_answers_date(reset: str) -> None:
    # Our clock is an hour off the server's: the Date header, not our clock, is what Reset counts from.
    ours = SERVER_TIME + timedelta(hours=1)
    parsed = parse_headers({"x-ratelimit-reset": reset, "date": DATE}, ours)
    assert parsed.reset == 7.0


def test_without_a_date_header_a_unix_time_reset_is_read_against_our_clock() -> None:
    parsed = parse_headers({"x-ratelimit-reset": "1800000030"}, SERVER_TIME)
    assert parsed.reset == 30.0


def test_a_unix_time_reset_already_past_means_now() -> None:
    parsed = parse_headers({"x-ratelimit-reset": "1799999990", "date": DATE})
    assert parsed.reset == 0.0


def test_a_large_but_possible_relative_reset_stays_relative() -> None:
    # Three years (the reliability catalogue's ratelimit-reset-huge): long, capped later, not a time.
    parsed = parse_headers({"x-ratelimit-reset": "100000000", "date": DATE})
    assert parsed.reset == 100_000_000.0


def test_an_http_date_retry_after_is_read_against_the_answers_date_too() -> None:
    ours = SERVER_TIME - timedelta(minutes=5)
    parsed = parse_headers({"retry-after": "Fri, 15 Jan 2027 08:00:20 GMT", "date": DATE}, ours)
    assert parsed.retry_after == 20.0


def test_an_unreadable_date_header_falls_back_to_our_clock() -> None:
    parsed = parse_headers({"x-ratelimit-reset": "1800000030", "date": "yesterday"}, SERVER_TIME)
    assert parsed.reset == 30.0


@pytest.mark.parametrize(
    ("algorithm", "headers", "most_429s"),
    [("fixed_aligned", "always", 0), ("token_bucket", "always", 0), ("fixed_aligned", "on_429", 2), ("sliding_log", "on_429", 2)],
)
def test_a_server_sending_unix_times_is_paced_by_its_windows_not_by_max_pause(
    algorithm: str, headers: str, most_429s: int
) -> None:
    """200 restarts at 60 per 10 s. A Unix time has whole-second resolution and so does the Date
    it is read against: up to 2 s late per Reset where relative seconds are up to 1 s late, so
    the bound is looser than the benchmark's 1.1 (measured: 1.03 to 1.21; before: 40 to 100 x)."""
    case = Case(algorithm, headers, 60, 10.0, 200, reset_format="unix_time")
    measured = run_daemon(case)
    assert measured.lost == 0
    assert measured.refused <= most_429s, f"{measured.refused} answers were 429"
    assert measured.ratio <= 1.3, f"took {measured.ratio:.2f} x what the limit allows"
