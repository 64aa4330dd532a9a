"""Property-based fuzzing of the limiter's decision core (RateLimitState) with sequences of
answers no simulator algorithm gives: rate-limit headers of every shape the parser reads (each
field there or not, zero, fractional, huge, an HTTP-date), statuses a gateway may send, answers
out of order, requests that never got one (or none within the call's timeout), and quiet spells
of up to an hour between steps.

What a user relies on: an answer never makes the limiter raise (the gateway feeds it every answer;
a raise there went past the gateway: the 429 was neither logged nor counted, and the restart it
answered ended `network_error`, "internal error", instead of waiting out the pause), and its word
stays usable: every pause is a finite number of seconds up to `max_pause`, every wait for a turn
is finite and under an hour (no wait that amounts to a hang), and a pace, when it has one, is a
positive finite rate.

Found this way (2026-12-04): a server that sends X-RateLimit-Limit on its 429s with no
X-RateLimit-Reset made the rate estimate divide by zero (the window floor, never learned) at a
later 429 whose stretch since the last resume point was under a second with our requests admitted
in it: in 94 of 300 random runs of such servers (Retry-After absent, 0, 0.2, 0.5 or 1 s). And
two ways an hour's quiet was read as the key's rate, each a pace of one request per two hours:
a 429 after the quiet with no answer admitted since, and a spell of refusals across it read as
the key's window (in tests/test_ratelimit_parts.py:
test_a_key_spent_by_another_client_after_a_quiet_spell_is_no_sample_of_its_rate and
test_a_key_held_right_after_our_own_burst_is_read_as_a_window_of_a_minute_at_most).

Bounded (derandomized, a fixed number of examples); `FUZZ_EXAMPLES=5000` looks further.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import example, given
from hypothesis import strategies as st

from watchdog.config import RateLimitSettings
from watchdog.ratelimit import RateLimitState, parse_headers

from .fuzzing import FUZZ

MAX_PAUSE = 120.0
CALL_TIMEOUT = 30.0  # the default `timeouts.total`: no request stays in flight longer
# Header values as a server may write them: the usual, the odd but legal, and the malformed the
# parser drops (its own tests: tests/test_ratelimit.py, tests/test_hostile_answers.py).
NUMBERS = ["0", "1", "2", "3", "10", "60", "100", "1000", "0.5", "0.001", "1.5", "59.9", "86400", "1e3", "-1", "",
           "x", "9" * 30, "Thu, 01 Jan 2026 00:00:10 GMT"]
STATUSES = [200, 202, 204, 404, 409, 429, 429, 429, 500, 502, 503, 504]


@dataclass(frozen=True)
class Answer:
    """One step: send (waiting our turn, as RateLimiter.permit does), then maybe answer one
    request in flight."""

    gap: float  # seconds the clock moves before the step, beyond any wait
    answer: int | None  # which request in flight is answered (index, wrapped); None: none this step
    status: int | None  # None: that request failed with no answer
    headers: dict[str, str]
    latency: float


HEADERS = st.dictionaries(
    st.sampled_from(["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"]),
    st.sampled_from(NUMBERS),
)
STEPS = st.lists(
    st.builds(
        Answer,
        gap=st.sampled_from([0.0, 0.0, 0.001, 0.05, 0.5, 1.0, 3.0, 61.0, 3600.0]),
        answer=st.none() | st.integers(0, 7),
        status=st.none() | st.sampled_from(STATUSES),
        headers=HEADERS,
        latency=st.sampled_from([0.0, 0.001, 0.05, 0.3, 2.0]),
    ),
    max_size=120,
)


def _the_limiters_word_is_usable(state: RateLimitState, now: float) -> None:
    # Under an hour: no wait that amounts to a hang. Windows of up to a minute are what the
    # limiter is built for (a spell shut is read as a window of LONGEST_DRY_READ at most).
    seconds, reason = state.delay(now)
    assert math.isfinite(seconds) and 0.0 <= seconds < 3600.0, (seconds, reason)
    rate = state.pacing_rate
    assert rate is None or (math.isfinite(rate) and rate > 0.0), rate
    remaining = state.remaining_estimate(now)
    assert remaining is None or remaining >= 0, remaining
    reset = state.seconds_to_reset(now)
    assert reset is None or (math.isfinite(reset) and reset >= 0.0), reset


# The server that found the division by zero: Limit on each 429, Retry-After 0, no Reset.
LIMIT_WITHOUT_RESET = [
    Answer(0.0, 0, status, {"x-ratelimit-limit": "10", "retry-after": "0"} if status == 429 else {}, 0.05)
    for status in [429, 200, 200, 429, 200, 429]
]

SENT = Answer(0.0, None, None, {}, 0.0)  # a request sent, no answer yet
REFUSED, ADMITTED = Answer(0.0, 0, 429, {}, 0.0), Answer(0.0, 0, 200, {}, 0.0)
# Each found by this test (quiet spells of an hour): a rate learned, an hour without a call, and
# a 429 before anything of ours is admitted; refusals from the start, none of ours admitted,
# across an hour; ours admitted, then refusals across an hour.
QUIET_THEN_REFUSED = [*[SENT] * 10, REFUSED, ADMITTED, REFUSED, ADMITTED, *[SENT] * 3, Answer(3600.0, None, None, {}, 0.0),
                      REFUSED, SENT]
HELD_ACROSS_QUIET = [*[SENT] * 5, REFUSED, Answer(3600.0, 0, 429, {}, 0.0), ADMITTED, REFUSED, SENT]
OURS_THEN_HELD_ACROSS_QUIET = [*[SENT] * 4, ADMITTED, REFUSED, Answer(3600.0, 0, 429, {}, 0.0), ADMITTED, REFUSED, SENT]


@FUZZ
@given(STEPS)
@example(LIMIT_WITHOUT_RESET)
@example(QUIET_THEN_REFUSED)
@example(HELD_ACROSS_QUIET)
@example(OURS_THEN_HELD_ACROSS_QUIET)
def test_no_sequence_of_answers_makes_the_limiter_raise_or_ask_for_an_unusable_wait(steps: list[Answer]) -> None:
    state = RateLimitState(RateLimitSettings(max_pause=MAX_PAUSE), rng=lambda: 0.5)
    now = 1000.0
    in_flight: list[tuple[int, float]] = []  # (ticket, sent at)
    for step in steps:
        for _ in range(int(step.gap // CALL_TIMEOUT)):  # time passes: calls in flight time out
            now += CALL_TIMEOUT
            for ticket, _sent_at in in_flight:
                state.on_no_response(now, ticket)
            in_flight.clear()
        now += step.gap % CALL_TIMEOUT
        now += state.delay(now)[0]
        for ticket, sent_at in in_flight:  # ... and while we waited our turn
            if now - sent_at >= CALL_TIMEOUT:
                state.on_no_response(now, ticket)
        in_flight = [(ticket, sent_at) for ticket, sent_at in in_flight if now - sent_at < CALL_TIMEOUT]
        in_flight.append((state.on_send(now, queued_at=now), now))
        if step.answer is not None and in_flight:
            ticket, sent_at = in_flight.pop(step.answer % len(in_flight))
            now += step.latency
            if step.status is None:
                state.on_no_response(now, ticket)
            else:
                pause = state.on_response(sent_at, now, step.status, parse_headers(step.headers), ticket=ticket)
                assert pause is None or (math.isfinite(pause.seconds) and 0.0 <= pause.seconds <= MAX_PAUSE), pause
        _the_limiters_word_is_usable(state, now)
