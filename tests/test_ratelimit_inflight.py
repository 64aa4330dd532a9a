"""How many requests of a lane go at once (watchdog/ratelimit/inflight.py): a server's
concurrency limit refuses while too many of ours are in progress, whatever its rate budget says,
and its 429 comes although the server's last word left room.

The numbers come from inflight.py's rule, not from the code: one fewer than the most of ours in
flight while the refused request was, and one fewer again for each more of that crowd refused;
one more tried after REGROW_FIRST answers at the cap, the count doubled
by each cut that follows a try, up to `max_concurrent_requests`.
"""

from __future__ import annotations

import math

import structlog

from watchdog.config import RateLimitSettings
from watchdog.ratelimit import RateLimitHeaders, RateLimitState
from watchdog.ratelimit.inflight import REGROW_FIRST, InFlightCap
from watchdog.ratelimit.state import UNANSWERED_TURN_SECONDS


def settings(**overrides: object) -> RateLimitSettings:
    base = {"reserve": 0, "max_requests_per_second": 1000, "max_concurrent_requests": 8}
    return RateLimitSettings(**(base | overrides))  # type: ignore[arg-type]


def test_a_429_not_the_rate_budgets_with_others_in_flight_caps_the_lane_one_under_what_was_in_flight() -> None:
    cap = InFlightCap(8)
    cap.on_crowded(1, 8)  # alone in flight all along: not our crowd that broke a limit
    assert cap.cap is None
    cap.on_crowded(5, 8)
    assert cap.most == 4
    cap.on_crowded(3, 4)  # one sent since, refused at 3 in flight: one fewer than that
    assert cap.most == 2
    cap.on_crowded(2, 2)
    cap.on_crowded(2, 1)
    assert cap.most == 1  # never below one


def test_each_more_of_one_crowd_refused_is_one_fewer_the_server_took_at_once() -> None:
    # Four sent together, three refused: the server took one at a time. Cut only to one under
    # the crowd by each, the cap came down one burst of 429s at a time (4, 3, 2, 1).
    cap = InFlightCap(4)
    for _ in range(3):
        cap.on_crowded(4, 4)
    assert cap.most == 1


def test_a_cut_cap_is_tried_one_higher_after_enough_answers_and_each_refused_try_doubles_the_wait() -> None:
    cap = InFlightCap(8)
    cap.on_crowded(2, 8)
    assert cap.most == 1
    for _ in range(REGROW_FIRST - 1):
        cap.on_admitted(1)
    assert cap.most == 1
    cap.on_admitted(1)
    assert cap.most == 2  # tried one higher
    cap.on_crowded(2, 2)  # and refused there: back to one, and the next try waits twice as long
    for _ in range(2 * REGROW_FIRST - 1):
        cap.on_admitted(1)
    assert cap.most == 1
    cap.on_admitted(1)
    assert cap.most == 2
    # Answers sent below the cap say nothing of one more: they do not count toward a try.
    for _ in range(10 * REGROW_FIRST):
        cap.on_admitted(1)
    assert cap.most == 2


def test_a_cap_given_back_step_by_step_ends_at_the_configured_number() -> None:
    cap = InFlightCap(3)
    cap.on_crowded(3, 3)
    assert cap.most == 2
    for _ in range(REGROW_FIRST):
        cap.on_admitted(2)
    assert cap.cap is None and cap.most == 3


def _word(state: RateLimitState, now: float) -> None:
    """One request answered alone with room left: the budget is known, and more may go."""
    ticket = state.on_send(now)
    state.on_response(now, now + 0.1, 200, RateLimitHeaders(limit=100, remaining=90, reset=60), ticket=ticket)


def test_after_a_cut_the_state_holds_the_next_request_until_one_in_flight_is_answered() -> None:
    state = RateLimitState(settings())
    _word(state, 0.0)
    tickets = [state.on_send(1.0) for _ in range(3)]  # the word left room: three go at once
    # The third refused although the word left room: a concurrency limit (or another client).
    state.on_response(1.0, 1.2, 429, RateLimitHeaders(limit=100, remaining=88, reset=58, retry_after=1),
                      ticket=tickets[2])
    assert state.inflight_cap.most == 2
    seconds, why = state.delay(2.5)  # the pause is over; two are still in flight
    assert why == "concurrency" and seconds > 0
    state.on_response(1.0, 2.6, 200, RateLimitHeaders(limit=100, remaining=87, reset=57), ticket=tickets[0])
    assert state.delay(2.6)[1] != "concurrency"


def test_a_request_unanswered_for_long_no_longer_holds_its_place() -> None:
    # One restart hung for its whole timeout must not hold every call of the key behind it, as
    # for the turn of one request at a time (UNANSWERED_TURN_SECONDS).
    state = RateLimitState(settings())
    _word(state, 0.0)
    tickets = [state.on_send(1.0) for _ in range(2)]
    state.on_response(1.0, 1.1, 429, RateLimitHeaders(limit=100, remaining=88, reset=58, retry_after=1),
                      ticket=tickets[1])
    assert state.inflight_cap.most == 1
    seconds, why = state.delay(2.2)
    assert why == "concurrency" and math.isclose(2.2 + seconds, 1.0 + UNANSWERED_TURN_SECONDS)
    assert state.delay(1.0 + UNANSWERED_TURN_SECONDS)[1] != "concurrency"


def _paced(state: RateLimitState) -> None:
    """Headers on 429s only, as Confluent sends them: a crossing, then a stretch at a burst and a
    second 429 that measures the rate, so that the state paces."""
    now, admitted = 0.0, 0
    for refusal_at in (5.0, 15.0):
        while now < refusal_at:
            ticket = state.on_send(now)
            state.on_response(now, now + 0.05, 200, RateLimitHeaders(), ticket=ticket)
            admitted += 1
            now += 0.1
        ticket = state.on_send(now)
        state.on_response(now, now + 0.05, 429, RateLimitHeaders(limit=50, remaining=0, reset=5, retry_after=5),
                          ticket=ticket)
        now += 5.1
    assert state.pacer.rate is not None
    while now < 30.0:  # then a stretch at the pace, admitted: a 429 at its end measures again
        ticket = state.on_send(now)
        state.on_response(now, now + 0.05, 200, RateLimitHeaders(), ticket=ticket)
        now += 0.25


def test_a_429_that_says_the_budget_had_room_with_others_in_flight_caps_them_and_leaves_the_pace() -> None:
    # A concurrency limit's 429 beside a rate limit's headers: Remaining > 0. Read as a rate
    # refusal, each cut the pace (from 6 to 2.4 per second in 70 s, python -m bench concurrency).
    state = RateLimitState(settings())
    _paced(state)
    pace, measured = state.pacer.rate, state.estimate.measured
    tickets = [state.on_send(30.1), state.on_send(30.1), state.on_send(30.1)]
    state.on_response(30.1, 30.5, 429, RateLimitHeaders(limit=50, remaining=30, reset=4, retry_after=1),
                      ticket=tickets[2])
    assert state.inflight_cap.most == 2
    assert (state.pacer.rate, state.estimate.measured) == (pace, measured)
    assert state.paused_until >= 31.5  # its Retry-After still holds every caller


def test_a_429_that_says_the_budget_had_room_alone_in_flight_is_read_as_any_other() -> None:
    # A server may send one limit's Remaining beside another limit's 429 (per second and per
    # hour): alone in flight, no crowd of ours broke anything, and only the rate's cut answers it.
    state = RateLimitState(settings())
    _paced(state)
    measured = state.estimate.measured
    assert measured is not None
    ticket = state.on_send(30.1)
    state.on_response(30.1, 30.5, 429, RateLimitHeaders(limit=50, remaining=30, reset=4, retry_after=1), ticket=ticket)
    assert state.inflight_cap.cap is None
    assert state.estimate.measured is not None and state.estimate.measured < measured


def test_the_daemon_behind_a_concurrency_limit_loses_nothing_and_keeps_to_it() -> None:
    # 200 restarts, headers on every answer, a key of 60 per 10 s that allows one request in
    # progress at a time, answers taking 0.5 to 1.5 s (python -m bench concurrency's slow row):
    # one at a time, the server takes them in about 200 s. Before, each such 429 was read as
    # another client racing us: the pace fell, the number in flight stayed, and the run took 17
    # 429s and 1.5 x that time.
    from bench import fixtures
    from bench.ratelab import Case, run_daemon

    fixtures.quiet_logs()
    case = Case("fixed_aligned", "always", 60, 10.0, 200, latency=(0.5, 1.5), max_in_flight=1)
    with structlog.testing.capture_logs() as logs:
        measured = run_daemon(case)
    one_at_a_time = measured.admitted * 1.0  # the mean latency, each request in the one place
    assert measured.lost == 0
    # The first burst of a Remaining (up to 3 of the 4 in flight refused at once), then one 429
    # per try of one more in flight: at 32 and 96 answers (inflight.py's doubling).
    assert measured.refused <= case.max_concurrent_requests - 1 + 2, measured.refused
    assert measured.seconds <= 1.1 * one_at_a_time, measured.seconds
    # And the log says why calls wait: each change of how many may be in flight at once.
    told = [(line["most_in_flight"], line["capped"]) for line in logs if line["event"] == "rate_limit_in_flight_capped"]
    assert told and told[0][1] and told[-1] == (1, True), told
