"""Keys of one daemon that the server counts in one budget (watchdog/ratelimit/shared_budget.py):
found from their answers, never from keys with budgets of their own, and, once found, paced by
one limiter state.

The pure tests drive SharedBudgets with answers from a small model of a fixed window of 100 per
10 s: one counter for both keys (an organisation-wide limit) or one per key, requests taking
turns between the keys. The daemon tests run benchmark 1f's case (two keys, 200 restarts each,
20 per 2 s) on the simulator."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter

import pytest
import structlog

from bench import organization, virtualtime
from bench.organization import KEYS, OrgCase, OrgMeasured, measure, run_case
from watchdog.config import Config, RateLimitSettings
from watchdog.ratelimit import RateLimiter, RateLimitHeaders
from watchdog.ratelimit.shared_budget import JOIN_PASSES, SharedBudgets

LIMIT, WINDOW = 100, 10.0


def drive(budget_of: dict[str, str], *, requests: int = 400, remaining_on_success: bool = True,
          foreign: dict[str, int] | None = None, spacing: float = 0.05) -> tuple[SharedBudgets, list[list[str]]]:
    """Requests taking turns between keys `a` and `b`, one at a time, `spacing` apart, each
    answered 0.03 s after it went out and counted on the way in. `budget_of`: each key's
    counter. `foreign`: a client outside the daemon taking this many of a counter before each of
    our requests on it. Returns the budgets and every join they asked for."""
    joins: list[list[str]] = []
    budgets = SharedBudgets(lambda lanes, evidence: joins.append(lanes))
    for lane in ("a", "b"):
        budgets.add(lane)
    used: Counter[tuple[str, int]] = Counter()
    for i in range(requests):
        lane = "ab"[i % 2]
        sent = i * spacing
        counted_at = sent + 0.01
        window = int(counted_at // WINDOW)
        counter = budget_of[lane]
        used[counter, window] += 1 + (foreign or {}).get(counter, 0)
        remaining = max(0, LIMIT - used[counter, window])
        reset = math.ceil((window + 1) * WINDOW - counted_at)
        budgets.on_send(lane)
        budgets.on_answer(lane, sent, sent + 0.03, status=200,
                          remaining=remaining if remaining_on_success else None,
                          reset=reset if remaining_on_success else None)
    return budgets, joins


def test_two_keys_counted_in_one_budget_are_joined_once() -> None:
    budgets, joins = drive({"a": "org", "b": "org"})
    assert joins == [["a", "b"]]
    assert budgets.joined("a", "b")


def test_keys_with_budgets_of_their_own_spent_alike_are_never_joined() -> None:
    # Spent request for request alike, the two counters read the same at the same times: what a
    # test comparing two answers alone cannot tell from one counter (the counter test needs a
    # request of the other key surely counted between them).
    budgets, joins = drive({"a": "a", "b": "b"}, requests=2000)
    assert joins == [] and not budgets.joined("a", "b")


@pytest.mark.parametrize("foreign", [{"a": 1}, {"a": 1, "b": 3}])
def test_other_clients_on_the_keys_do_not_make_them_look_joined(foreign: dict[str, int]) -> None:
    # Each key's Remaining falls by more than its own requests, as it would were the other key
    # counted in it; but the two keys' answers never read as one counter.
    budgets, joins = drive({"a": "a", "b": "b"}, requests=2000, foreign=foreign)
    assert joins == []


def test_without_remaining_on_successful_answers_nothing_is_joined() -> None:
    # Confluent documents X-RateLimit-* on 429s only: then nothing here can tell, and nothing joins.
    budgets, joins = drive({"a": "org", "b": "org"}, remaining_on_success=False)
    assert joins == []


@pytest.mark.parametrize("said", ["random", "constant"])
def test_remaining_that_says_nothing_true_joins_nothing(said: str) -> None:
    # A gateway that makes Remaining up (any number up to the limit) or always says the same.
    rng = random.Random(7)
    joins: list[list[str]] = []
    budgets = SharedBudgets(lambda lanes, evidence: joins.append(lanes))
    for lane in ("a", "b"):
        budgets.add(lane)
    for i in range(4000):
        lane, sent = "ab"[i % 2], i * 0.05
        budgets.on_send(lane)
        remaining = rng.randrange(LIMIT + 1) if said == "random" else LIMIT // 2
        budgets.on_answer(lane, sent, sent + 0.03, status=200, remaining=remaining, reset=WINDOW)
    assert joins == []


def test_a_join_needs_several_tests_passed() -> None:
    # Fewer answers than the tests a join needs: not yet.
    _, joins = drive({"a": "org", "b": "org"}, requests=JOIN_PASSES)
    assert joins == []


def test_answers_of_a_new_window_are_not_read_as_a_fall() -> None:
    # A window's end between two answers brings the whole budget back: compared across it,
    # one counter would read as none. Spaced so that each test spans a window's end, nothing
    # fails or passes, and nothing joins whatever the keys share.
    budgets, joins = drive({"a": "org", "b": "org"}, requests=200, spacing=WINDOW / 2)
    assert joins == []


def test_a_limiter_joined_to_another_answers_its_requests_still_out_to_the_state_that_sent_them() -> None:
    async def scenario() -> None:
        settings = RateLimitSettings()
        first, second = RateLimiter("a", settings), RateLimiter("b", settings)
        async with second.permit() as permit:
            old = second.state
            assert old.inflight == 1
            first.start_afresh()
            second.share_with(first)
            assert second.state is first.state and first.state.inflight == 0
            second.observe(permit, 200, RateLimitHeaders(limit=20, remaining=19, reset=2))
        assert old.inflight == 0 and first.state.inflight == 0
        assert first.state.limit is None  # the answer went to the state that counted the request
        async with second.permit() as permit:
            assert first.state.inflight == 1  # one state for both keys now
            second.observe(permit, 200, RateLimitHeaders(limit=20, remaining=18, reset=2))
        assert first.state.limit == 20

    asyncio.run(scenario())


@pytest.mark.parametrize("algorithm", ["fixed_aligned", "fixed_anchored"])
def test_two_keys_of_one_organisation_with_headers_on_every_answer_are_paced_as_one(algorithm: str) -> None:
    def logged_run(case: OrgCase) -> OrgMeasured:
        with structlog.testing.capture_logs() as captured:
            result = virtualtime.run(measure(case))
        logs.extend(captured)
        return result

    logs: list[dict[str, object]] = []
    measured = logged_run(OrgCase(algorithm, "always", "organization"))
    assert measured.joined and measured.lost == 0
    # Before the join each key left the other its share, and one key was left a trickle:
    # 1.46 and 1.56 x the ideal. Joined, one limiter state paces both: 1.06 and 1.13 x.
    assert measured.seconds <= 1.25 * measured.ideal, (measured.seconds, measured.ideal)
    assert sum(measured.refused.values()) <= 2, measured.refused
    joined = [entry for entry in logs if entry["event"] == "rate_limit_budget_shared"]
    assert len(joined) == 1 and joined[0]["credentials"] == ["a", "b"] and joined[0]["joined"] is True, joined


def test_with_join_shared_budgets_off_the_keys_are_found_and_said_but_keep_their_own_limiters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = OrgCase("fixed_aligned", "always", "organization")
    original = organization.config

    def without_joins() -> Config:
        config = original()
        return config.model_copy(update={"rate_limit": config.rate_limit.model_copy(update={"join_shared_budgets": False})})

    monkeypatch.setattr(organization, "config", without_joins)
    with structlog.testing.capture_logs() as logs:
        measured = virtualtime.run(measure(case))
    said = [entry for entry in logs if entry["event"] == "rate_limit_budget_shared"]
    assert len(said) == 1 and said[0]["joined"] is False, said
    # Left apart, as before the join existed: each key leaves the other its share, and the run is
    # slow (1.46 x), but nothing is lost.
    assert measured.lost == 0 and measured.seconds > 1.25 * measured.ideal


@pytest.mark.parametrize("algorithm", ["fixed_aligned", "sliding_log", "token_bucket"])
def test_two_keys_with_budgets_of_their_own_are_never_joined(algorithm: str) -> None:
    measured = run_case(OrgCase(algorithm, "always", "key"))
    assert not measured.joined
    for key, _ in KEYS:
        assert measured.refused[key] == 0, measured.refused
    assert measured.seconds <= 1.1 * measured.ideal, (measured.seconds, measured.ideal)
