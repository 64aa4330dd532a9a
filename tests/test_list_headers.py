"""Rate-limit headers in list form: a field sent twice (or joined by a proxy) reads as "v1, v2"
(RFC 9110 5.3), and Envoy's rate-limit filter sends X-RateLimit-Limit with its quota policies
after the limit ("10, 10;w=1", draft-polli-ratelimit-headers). Read as one integer, either lost
the limit, and the daemon paced such a key as one that never says its limit. The header reading
(watchdog/ratelimit/headers.py) and, on virtual time, the daemon against a simulator that sends
Envoy's form (scenario rate_limit.limit_format).
"""

from __future__ import annotations

import pytest

from bench.ratelab import Case, run_daemon
from watchdog.ratelimit import RateLimitHeaders, parse_headers


def test_envoys_limit_with_its_quota_policies_is_the_limit_that_applies_now() -> None:
    parsed = parse_headers({"x-ratelimit-limit": '10, 10;w=1;name="per-key", 1000;w=3600',
                            "x-ratelimit-remaining": "4", "x-ratelimit-reset": "1"})
    assert parsed == RateLimitHeaders(limit=10, remaining=4, reset=1.0)


def test_a_field_sent_twice_reads_as_its_tightest_value() -> None:
    parsed = parse_headers({"x-ratelimit-limit": "60, 60", "x-ratelimit-remaining": "7, 3",
                            "x-ratelimit-reset": "4, 9", "retry-after": "2, 5"})
    assert parsed == RateLimitHeaders(limit=60, remaining=3, reset=9.0, retry_after=5.0)


def test_a_list_with_a_member_that_cannot_be_read_is_no_information() -> None:
    # The unreadable member may be the one that binds: a smaller Remaining, a longer Reset.
    parsed = parse_headers({"x-ratelimit-remaining": "7, soon", "x-ratelimit-reset": "4, -1", "retry-after": "2, later"})
    assert parsed == RateLimitHeaders()


def test_a_quota_policy_alone_is_its_limit_and_an_http_date_keeps_its_comma() -> None:
    parsed = parse_headers({"x-ratelimit-limit": "20;w=2", "retry-after": "Fri, 15 Jan 2027 08:00:20 GMT",
                            "date": "Fri, 15 Jan 2027 08:00:00 GMT"})
    assert parsed == RateLimitHeaders(limit=20, retry_after=20.0)


@pytest.mark.parametrize(
    ("algorithm", "headers"),
    [("fixed_aligned", "always"), ("token_bucket", "always"), ("fixed_aligned", "on_429"), ("sliding_log", "on_429")],
)
def test_a_key_behind_envoy_is_paced_exactly_as_one_that_sends_a_plain_limit(algorithm: str, headers: str) -> None:
    """200 restarts at 20 per 2 s: the same server, the limit written two ways, the same run."""
    plain = run_daemon(Case(algorithm, headers, 20, 2.0, 200))
    envoy = run_daemon(Case(algorithm, headers, 20, 2.0, 200, limit_format="quota_policy"))
    assert envoy.lost == 0
    assert (envoy.refused, round(envoy.ratio, 6)) == (plain.refused, round(plain.ratio, 6))
