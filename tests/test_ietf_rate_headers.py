"""Rate-limit fields named as the IETF draft names them (`RateLimit-Limit`, `-Remaining`,
`-Reset`, without the `X-`), as a gateway such as Kong's rate-limiting plugin sends them: read
where Confluent's `X-RateLimit-*` are not there, as a family (watchdog/ratelimit/headers.py).
Before, a key behind such a gateway was paced as one that never says its budget: with the
headers on every answer, 200 restarts at 20 per 2 s took 2 429s and 1.212 x the ideal where
Confluent's names take none and 1.021 x."""

from __future__ import annotations

import httpx
import pytest

from bench.ratelab import Case, run_daemon
from watchdog.ratelimit import parse_headers


def test_the_ietf_drafts_names_are_read_where_confluents_are_not_there() -> None:
    read = parse_headers(httpx.Headers({"RateLimit-Limit": "20", "RateLimit-Remaining": "7", "RateLimit-Reset": "2"}))
    assert (read.limit, read.remaining, read.reset) == (20, 7, 2.0)


def test_confluents_names_win_and_the_two_families_are_never_mixed() -> None:
    both = parse_headers(httpx.Headers({
        "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "50", "X-RateLimit-Reset": "10",
        "RateLimit-Limit": "20", "RateLimit-Remaining": "7", "RateLimit-Reset": "2",
    }))
    assert (both.limit, both.remaining, both.reset) == (60, 50, 10.0)
    # One X- field says the server speaks Confluent's names: a gateway's count beside it is
    # another budget, not the missing fields of this one.
    mixed = parse_headers(httpx.Headers({"X-RateLimit-Limit": "60", "RateLimit-Remaining": "7", "RateLimit-Reset": "2"}))
    assert (mixed.limit, mixed.remaining, mixed.reset) == (60, None, None)


def test_the_metrics_apis_own_family_is_read_as_before() -> None:
    read = parse_headers({"ratelimit-limit": "300", "ratelimit-remaining": "299", "ratelimit-reset": "60"},
                         prefix="ratelimit-")
    assert (read.limit, read.remaining, read.reset) == (300, 299, 60.0)


@pytest.mark.parametrize(
    ("algorithm", "headers"),
    [("fixed_aligned", "always"), ("token_bucket", "always"), ("fixed_aligned", "on_429"), ("sliding_log", "on_429")],
)
def test_a_key_behind_a_gateway_that_names_them_so_is_paced_as_one_that_sends_confluents(algorithm: str, headers: str) -> None:
    """200 restarts at 20 per 2 s: the same server, its fields named two ways, the same run."""
    confluent = run_daemon(Case(algorithm, headers, 20, 2.0, 200))
    gateway = run_daemon(Case(algorithm, headers, 20, 2.0, 200, header_names="ratelimit"))
    assert gateway.lost == 0
    assert (gateway.refused, round(gateway.ratio, 6)) == (confluent.refused, round(confluent.ratio, 6))
