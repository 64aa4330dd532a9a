"""The IETF draft's later rate-limit fields, `RateLimit` and `RateLimit-Policy` as RFC 9651
structured fields (draft-07's Dictionary, draft-08 on a List of policies), read where neither
X-RateLimit-* nor the older RateLimit-Limit/-Remaining/-Reset are there
(watchdog/ratelimit/structured.py). Before, a key behind a gateway that speaks only these was
paced as one that never says its budget (left alone in session 71, issue 10)."""

from __future__ import annotations

import httpx
import pytest

from bench.ratelab import Case, run_daemon
from watchdog.ratelimit import parse_headers


def _read(headers: dict[str, str]) -> tuple[int | None, int | None, float | None]:
    read = parse_headers(httpx.Headers(headers))
    return read.limit, read.remaining, read.reset


def test_the_drafts_structured_field_is_read_with_its_policys_quota() -> None:
    assert _read({"RateLimit": '"default";r=7;t=2', "RateLimit-Policy": '"default";q=20;w=2'}) == (20, 7, 2.0)
    # Without a policy field the limit is not said; what remains and when it resets still are.
    assert _read({"RateLimit": '"default";r=7;t=2'}) == (None, 7, 2.0)


def test_draft_07s_dictionary_form_is_read() -> None:
    assert _read({"RateLimit": "limit=100, remaining=50, reset=5"}) == (100, 50, 5.0)
    # Each member on its own, as X-RateLimit-* fields are: a limit that is no number loses the limit only.
    assert _read({"RateLimit": "limit=ten, remaining=5"}) == (None, 5, None)


def test_of_several_policies_the_one_with_the_least_left_binds() -> None:
    headers = {"RateLimit": '"day";r=900;t=3600, "burst";r=3;t=2',
               "RateLimit-Policy": '"burst";q=20;w=2, "day";q=1000;w=86400'}
    assert _read(headers) == (20, 3, 2.0)


def test_a_policy_counted_in_bytes_says_nothing_of_how_many_calls_may_go() -> None:
    headers = {"RateLimit": '"calls";r=3;t=2, "bytes";r=0;t=9',
               "RateLimit-Policy": '"calls";q=20;w=2, "bytes";q=10000;qu="content-bytes";w=1'}
    assert _read(headers) == (20, 3, 2.0)


@pytest.mark.parametrize("field", ['garbage ;;; "', '"a";r=?1;t=2', '"a";t=2', '"a";r=-4;t=2', '"a";r="5";t=2',
                                   '"a";r=5;t=2, "b";t=1'])
def test_a_field_that_cannot_be_read_whole_is_no_reading(field: str) -> None:
    limit, remaining, _ = _read({"RateLimit": field})
    assert remaining is None and limit is None


def test_older_names_win_over_the_structured_field() -> None:
    assert _read({"RateLimit": '"a";r=5;t=2', "RateLimit-Remaining": "7"}) == (None, 7, None)
    assert _read({"RateLimit": '"a";r=5;t=2', "X-RateLimit-Remaining": "9"}) == (None, 9, None)


@pytest.mark.parametrize(
    ("algorithm", "headers"),
    [("fixed_aligned", "always"), ("token_bucket", "always"), ("fixed_aligned", "on_429"), ("sliding_log", "on_429")],
)
def test_a_key_behind_a_gateway_that_speaks_the_structured_field_is_paced_as_one_that_sends_confluents(
    algorithm: str, headers: str,
) -> None:
    """200 restarts at 20 per 2 s: the same server, its fields said two ways, the same run."""
    confluent = run_daemon(Case(algorithm, headers, 20, 2.0, 200))
    gateway = run_daemon(Case(algorithm, headers, 20, 2.0, 200, header_names="ratelimit_structured"))
    assert gateway.lost == 0
    assert (gateway.refused, round(gateway.ratio, 6)) == (confluent.refused, round(confluent.ratio, 6))
