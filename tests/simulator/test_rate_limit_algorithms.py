"""Each rate-limit algorithm of the simulator, on its own: what it admits and what its headers say.

Expected values are worked out by hand from each algorithm's definition (the table in
watchdog/simulator/ratelimit.py), not taken from the code.
"""

from __future__ import annotations

import random

import httpx
import pytest
from pydantic import ValidationError

from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.simulator.ratelimit import ALGORITHMS, KeyBudgets, budget

from ..conftest import TEST_API_KEY, TEST_API_SECRET


def admitted(algorithm: str, limit: int, window: float, times: list[float]) -> list[bool]:
    b = budget(algorithm, limit, window)
    return [b.admit(t).allowed for t in times]


def test_fixed_aligned_counts_per_clock_aligned_window() -> None:
    b = budget("fixed_aligned", 3, 10.0)
    verdicts = [b.admit(t) for t in (7.0, 8.0, 9.0, 9.5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert verdicts[0].reset_seconds == 3 and verdicts[3].retry_after == 1  # the window ends at 10
    assert b.admit(10.0).allowed  # a new window at 10, whatever happened at 7-9.5


def test_fixed_anchored_starts_its_window_at_the_first_request_after_the_last_one_ended() -> None:
    b = budget("fixed_anchored", 2, 10.0)
    assert [b.admit(t).allowed for t in (7.0, 8.0)] == [True, True]
    refused = b.admit(12.0)  # an aligned window would have reset at 10; this one ends at 17
    assert not refused.allowed and refused.retry_after == 5 and refused.reset_seconds == 5
    assert b.admit(17.0).allowed
    # The next window is anchored at 17, not at 20 or 27.
    assert b.admit(26.9).allowed and not b.admit(26.95).allowed and b.admit(27.0).allowed


def test_sliding_log_admits_at_most_limit_in_any_window() -> None:
    b = budget("sliding_log", 3, 10.0)
    assert [b.admit(t).allowed for t in (0.0, 4.0, 6.0)] == [True, True, True]
    refused = b.admit(9.0)
    assert not refused.allowed and refused.retry_after == 1  # the request of t = 0 ages out at 10
    assert b.admit(10.0).allowed
    assert not b.admit(13.0).allowed  # 4, 6 and 10 are still within (3, 13]
    last = b.admit(14.0)  # 4 aged out
    assert last.allowed and last.remaining == 0 and last.reset_seconds == 2  # 6 ages out at 16


def test_sliding_counter_weighs_the_previous_window() -> None:
    b = budget("sliding_counter", 10, 10.0)
    assert all(b.admit(5.0 + i * 0.1).allowed for i in range(10))
    # At 10 (f = 0) the previous window weighs all of its 10: refused until 10 * (1 - f) < 10.
    early = b.admit(10.0)
    assert not early.allowed and early.retry_after == 1 and early.reset_seconds == 10
    assert b.admit(10.5).allowed  # 10 * 0.95 + 0 = 9.5
    assert not b.admit(10.9).allowed  # 10 * 0.91 + 1 = 10.1
    assert b.admit(11.5).allowed  # 10 * 0.85 + 1 = 9.5
    # At 15: 10 * 0.5 + 2 = 7 < 10; after it 8, so ceil(10 - 8) = 2 more could go at once.
    mid = b.admit(15.0)
    assert mid.allowed and mid.remaining == 2 and mid.reset_seconds == 5


def test_sliding_counter_retry_after_is_exact_when_the_current_window_is_full() -> None:
    b = budget("sliding_counter", 2, 10.0)
    assert b.admit(0.0).allowed and b.admit(0.0).allowed
    refused = b.admit(1.0)
    # Not in window 0 (it holds 2); in window 1 as soon as 2 * (1 - f) < 2, just after t = 10.
    assert not refused.allowed and refused.retry_after == 9
    assert not b.admit(10.0).allowed and b.admit(10.01).allowed


def test_token_bucket_bursts_its_capacity_then_refills_steadily() -> None:
    b = budget("token_bucket", 5, 10.0)  # 0.5 tokens per second
    burst = [b.admit(0.0) for _ in range(5)]
    assert all(v.allowed for v in burst) and [v.remaining for v in burst] == [4, 3, 2, 1, 0]
    assert burst[-1].reset_seconds == 10  # empty: 10 s until full
    refused = b.admit(1.0)
    assert not refused.allowed and refused.retry_after == 1  # one token at t = 2
    assert b.admit(2.0).allowed and not b.admit(3.0).allowed and b.admit(4.0).allowed


def test_gcra_allows_a_burst_of_limit_then_one_per_emission_interval() -> None:
    b = budget("gcra", 4, 8.0)  # emission interval 2 s
    burst = [b.admit(0.0) for _ in range(4)]
    assert all(v.allowed for v in burst) and [v.remaining for v in burst] == [3, 2, 1, 0]
    assert burst[-1].reset_seconds == 8
    refused = b.admit(1.0)
    assert not refused.allowed and refused.retry_after == 1
    assert b.admit(2.0).allowed and not b.admit(3.9).allowed and b.admit(4.0).allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_admits_limit_per_window_when_paced_below_it(algorithm: str) -> None:
    """A client that sends evenly at 90 % of limit/window is never refused, whatever the algorithm."""
    limit, window = 20, 2.0
    period = window / (limit * 0.9)
    results = admitted(algorithm, limit, window, [0.05 + i * period for i in range(500)])
    assert all(results)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_algorithm_admits_much_more_than_its_sustained_rate(algorithm: str) -> None:
    """Over 100 windows of constant demand, every algorithm admits about limit per window."""
    limit, window = 10, 1.0
    results = admitted(algorithm, limit, window, [i * 0.01 for i in range(10_000)])
    assert 100 * limit - limit <= sum(results) <= 100 * limit + 2 * limit


def test_other_clients_share_the_key_budget() -> None:
    budgets = KeyBudgets("fixed_aligned", 9, 3.0, others=[("steady", 1 / 3)])
    # The other client sends 3 per window at 0.5, 1.5, 2.5: by t = 2.9 it used 3 of 9.
    verdicts = [budgets.admit("k", 2.9) for _ in range(7)]
    assert [v.allowed for v in verdicts] == [True] * 6 + [False]
    other = budgets.others["k"][0].log
    assert other.sent == 3 and other.refused == 0
    # In the next window the daemon's burst comes first and the other client is refused.
    assert all(budgets.admit("k", 3.0).allowed for _ in range(9))
    budgets.admit("k", 5.9)
    assert other.sent == 6 and other.refused == 3


def test_a_bursty_other_client_sends_its_whole_share_at_one_moment_per_window() -> None:
    budgets = KeyBudgets("fixed_aligned", 10, 5.0, others=[("bursty", 0.5)], seed=3)
    budgets.admit("k", 20.0)
    times = budgets.others["k"][0].log.admitted_at
    assert len(times) == 20
    for window in range(4):
        in_window = [t for t in times if window * 5 <= t < window * 5 + 5]
        assert len(in_window) == 5 and len(set(in_window)) == 1


def test_an_other_client_that_leaves_sends_nothing_from_then_on() -> None:
    """until_seconds: the tool stops at that time (a batch job that ends), and the whole budget is
    the daemon's again."""
    budgets = KeyBudgets("fixed_aligned", 9, 3.0, others=[("steady", 1 / 3, 4.0)])
    budgets.admit("k", 30.0)
    other = budgets.others["k"][0].log
    assert other.admitted_at == [0.5, 1.5, 2.5, 3.5]
    # With the first admission above, all 9 of the window at 30 s are ours.
    assert all(budgets.admit("k", 30.0).allowed for _ in range(8))
    assert not budgets.admit("k", 30.0).allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_runaway_other_client_takes_nearly_every_unit_of_any_algorithm(algorithm: str) -> None:
    """A loop that ignores 429s, asking for four times the limit: it is refused three times in
    four, gets all but a sliver of the limit, and a request of ours at a random moment finds the
    key spent far more often than not."""
    limit, window = 10, 10.0
    budgets = KeyBudgets(algorithm, limit, window, others=[("runaway", 4.0)])
    rng = random.Random(algorithm)
    windows = 100
    ours = [budgets.admit("k", t).allowed for t in sorted(rng.uniform(0.0, windows * window) for _ in range(200))]
    budgets.admit("k", windows * window)  # replays the runaway to the end of the last window
    log = budgets.others["k"][0].log
    assert log.sent == 4 * limit * windows
    assert len(log.admitted_at) >= 0.85 * limit * windows  # all but a sliver, beside our 200 tries
    assert log.refused >= 0.7 * log.sent
    assert sum(ours) <= 0.25 * len(ours)


def test_a_runaway_that_leaves_gives_the_whole_key_back() -> None:
    budgets = KeyBudgets("token_bucket", 10, 10.0, others=[("runaway", 4.0, 100.0)])
    assert not any(budgets.admit("k", 50.0 + i * 0.01).allowed for i in range(10))  # spent by it
    log = budgets.others["k"][0].log
    sent_by_then = log.sent
    # After it left the bucket refills: ten at once, then the key's rate.
    assert all(budgets.admit("k", 200.0).allowed for _ in range(10))
    assert log.sent == sent_by_then + 4 * 10 * 5  # nothing more after 100 s (from 50 s: 5 windows)


def test_a_scenario_takes_a_runaway_only_above_the_whole_limit() -> None:
    scenario = _scenario(other_clients=[{"pattern": "runaway", "share": 4, "until_seconds": 600}])
    assert scenario.rate_limit is not None and scenario.rate_limit.other_clients[0].pattern == "runaway"
    with pytest.raises(ValidationError, match=r"share: a runaway client asks for more than the whole limit"):
        _scenario(other_clients=[{"pattern": "runaway", "share": 1}])
    with pytest.raises(ValidationError, match=r"share: a steady client uses at most the whole limit.*runaway"):
        _scenario(other_clients=[{"pattern": "steady", "share": 2}])
    with pytest.raises(ValidationError, match="share"):
        _scenario(other_clients=[{"pattern": "runaway", "share": 11}])


def test_a_scenario_says_when_an_other_client_leaves() -> None:
    scenario = _scenario(other_clients=[{"pattern": "bursty", "share": 0.5, "until_seconds": 120}])
    assert scenario.rate_limit is not None and scenario.rate_limit.other_clients[0].until_seconds == 120
    with pytest.raises(ValidationError, match="until_seconds"):
        _scenario(other_clients=[{"share": 0.5, "until_seconds": 0}])


def _scenario(**rate_limit: object) -> Scenario:
    return Scenario.model_validate({
        "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}],
        "environments": [{"id": "env-1", "clusters": [{"id": "lkc-1", "connectors": [{"name": "a"}]}]}],
        "rate_limit": {"limit": 1, "window_seconds": 60, **rate_limit},
    })


async def _lists(simulator: Simulator, count: int) -> list[httpx.Response]:
    """`count` list calls in a row, answered by the simulator in process."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(simulator)), base_url="http://sim",
        auth=(TEST_API_KEY, TEST_API_SECRET),
    ) as client:
        path = "/connect/v1/environments/env-1/clusters/lkc-1/connectors"
        return [await client.get(path) for _ in range(count)]


async def _two_lists(scenario: Scenario) -> tuple[httpx.Response, httpx.Response]:
    first, second = await _lists(Simulator(scenario, clock=lambda: 0.0), 2)
    return first, second


@pytest.mark.parametrize(
    ("headers", "retry_after", "on_success", "on_429"),
    [
        ("always", True, {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"},
         {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"}),
        ("on_429", True, set(), {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"}),
        ("never", True, set(), {"retry-after"}),
        ("never", False, set(), set()),
    ],
)
async def test_header_modes(headers: str, retry_after: bool, on_success: set[str], on_429: set[str]) -> None:
    first, second = await _two_lists(_scenario(headers=headers, retry_after=retry_after))
    rate_headers = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"}
    assert first.status_code == 200 and rate_headers & set(first.headers) == on_success
    assert second.status_code == 429 and rate_headers & set(second.headers) == on_429
    if "retry-after" in on_429:
        assert second.headers["retry-after"] == "60"


async def test_a_unix_time_reset_is_the_periods_end_by_the_date_header_clock() -> None:
    """reset_format unix_time: X-RateLimit-Reset is the Unix time the period ends, rounded up, and
    the Date header says the simulator's time (epoch + t) it is to be read against."""
    scenario = _scenario(limit=2, headers="always", reset_format="unix_time")
    # Unix time 1,800,000,000.25 at t = 0, where the aligned window of 60 s starts.
    admitted, _, refused = await _lists(Simulator(scenario, clock=lambda: 0.0, epoch=1_800_000_000.25), 3)
    assert admitted.status_code == 200 and refused.status_code == 429
    for answer in (admitted, refused):
        assert answer.headers["x-ratelimit-reset"] == "1800000061"  # 1,800,000,060.25, rounded up
        assert answer.headers["date"] == "Fri, 15 Jan 2027 08:00:00 GMT"  # 1,800,000,000.25


async def test_header_names_ratelimit_names_them_as_the_ietf_draft_and_kong_do() -> None:
    """header_names ratelimit: RateLimit-Limit, -Remaining, -Reset, and no X-RateLimit-*."""
    scenario = _scenario(limit=2, headers="always", header_names="ratelimit")
    admitted, _, refused = await _lists(Simulator(scenario, clock=lambda: 0.0), 3)
    assert admitted.status_code == 200 and refused.status_code == 429
    for answer in (admitted, refused):
        assert answer.headers["ratelimit-limit"] == "2" and "x-ratelimit-limit" not in answer.headers
    assert admitted.headers["ratelimit-remaining"] == "1"


async def test_header_names_ratelimit_structured_sends_the_drafts_structured_fields() -> None:
    """header_names ratelimit_structured: RateLimit and RateLimit-Policy, and no other rate field."""
    scenario = _scenario(limit=2, headers="always", header_names="ratelimit_structured")
    admitted, _, refused = await _lists(Simulator(scenario, clock=lambda: 0.0), 3)
    assert admitted.status_code == 200 and refused.status_code == 429
    for answer in (admitted, refused):
        assert answer.headers["ratelimit-policy"] == '"default";q=2;w=60'
        assert "x-ratelimit-limit" not in answer.headers and "ratelimit-limit" not in answer.headers
    assert admitted.headers["ratelimit"].startswith('"default";r=1;t=')


async def test_a_quota_policy_limit_says_the_limit_then_its_window_as_envoy_does() -> None:
    """limit_format quota_policy: X-RateLimit-Limit is "N, N;w=W" on every answer that has it."""
    scenario = _scenario(limit=2, headers="always", limit_format="quota_policy")
    admitted, _, refused = await _lists(Simulator(scenario, clock=lambda: 0.0), 3)
    assert admitted.status_code == 200 and refused.status_code == 429
    for answer in (admitted, refused):
        assert answer.headers["x-ratelimit-limit"] == "2, 2;w=60"
