"""Strimzi's backoff, the budget and its reset, with an explicit clock (no patching needed)."""

from datetime import datetime, timedelta, timezone

import pytest

from watchdog.config import Backoff
from watchdog.model import ConnectorState, Health
from watchdog.policy import (
    backoff_gap,
    give_up,
    observe,
    record_attempt,
    record_manual_restart,
    record_resend,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
MINUTE = 60.0
STRIMZI = Backoff(base=MINUTE, cap=60 * MINUTE, jitter=0.0)


@pytest.mark.parametrize(
    ("attempts", "minutes"),
    [(0, 0), (1, 2), (2, 6), (3, 12), (4, 20), (5, 30), (6, 42), (7, 56), (8, 60), (9, 60), (50, 60)],
)
def test_gaps_follow_strimzi(attempts: int, minutes: int) -> None:
    assert backoff_gap(attempts, STRIMZI) == minutes * MINUTE


def test_base_and_cap_are_configurable() -> None:
    fast = Backoff(base=2, cap=30, jitter=0)
    assert [backoff_gap(n, fast) for n in range(1, 6)] == [4, 12, 24, 30, 30]


def test_attempt_sets_the_next_allowed_time_from_the_gap() -> None:
    state = record_attempt(ConnectorState(), T0, STRIMZI, jitter_draw=0.5)
    assert state.attempts == 1
    assert state.last_restart_at == T0
    assert state.next_allowed_at == T0 + timedelta(minutes=2)


def test_jitter_only_lengthens_the_gap() -> None:
    jittery = Backoff(base=MINUTE, cap=60 * MINUTE, jitter=0.2)
    earliest = record_attempt(ConnectorState(), T0, jittery, jitter_draw=0.0).next_allowed_at
    latest = record_attempt(ConnectorState(), T0, jittery, jitter_draw=0.999).next_allowed_at
    assert earliest == T0 + timedelta(minutes=2)
    assert T0 + timedelta(minutes=2) < latest < T0 + timedelta(minutes=2.4)


def test_failures_count_up_and_health_resets_them() -> None:
    state = observe(ConnectorState(), Health.FAILED, T0, STRIMZI)
    state = observe(state, Health.FAILED, T0 + timedelta(seconds=30), STRIMZI)
    assert state.consecutive_failures == 2
    state = observe(state, Health.HEALTHY, T0 + timedelta(seconds=60), STRIMZI)
    assert state.consecutive_failures == 0


def test_transient_polls_neither_count_nor_reset_failures() -> None:
    state = observe(ConnectorState(), Health.FAILED, T0, STRIMZI)
    state = observe(state, Health.TRANSIENT, T0 + timedelta(seconds=30), STRIMZI)
    assert state.consecutive_failures == 1
    assert state.healthy_since is None


def _restarted(times: int) -> ConnectorState:
    state = ConnectorState()
    for _ in range(times):
        state = record_attempt(state, T0, STRIMZI, 0.0)
    return state


def test_counter_resets_after_staying_healthy_for_the_current_gap() -> None:
    state = _restarted(3)  # gap(3) = 12 minutes
    state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=1), STRIMZI)
    state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=12), STRIMZI)
    assert state.attempts == 3, "healthy for 11 minutes is not yet 12"
    state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=13), STRIMZI)
    assert state.attempts == 0
    assert state.next_allowed_at is None


def test_one_failed_poll_restarts_the_healthy_clock() -> None:
    state = _restarted(1)  # gap(1) = 2 minutes
    state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=1), STRIMZI)
    state = observe(state, Health.FAILED, T0 + timedelta(minutes=2), STRIMZI)
    state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=3), STRIMZI)
    state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=4), STRIMZI)
    assert state.attempts == 1, "a flapping connector must not reset its own backoff"
    state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=5), STRIMZI)
    assert state.attempts == 0


def test_gave_up_clears_when_the_connector_has_stayed_healthy_for_its_gap() -> None:
    # Seen healthy once, it stays given up until its count resets (healthy for gap(3) = 12
    # minutes): cleared at the first healthy poll, a flapping connector was given up on again at
    # each failed one, a `gave_up` warning per flap (probe of rules, finding 4).
    state = give_up(_restarted(3))
    assert state.gave_up
    seen = observe(state, Health.HEALTHY, T0, STRIMZI)
    assert seen.gave_up and seen.attempts == 3
    assert observe(state, Health.FAILED, T0, STRIMZI).gave_up
    assert not observe(seen, Health.HEALTHY, T0 + timedelta(minutes=12), STRIMZI).gave_up


def test_manual_restart_is_remembered_but_not_an_attempt() -> None:
    state = record_manual_restart(_restarted(2), T0 + timedelta(hours=1))
    assert state.attempts == 2
    assert state.last_restart_at == T0 + timedelta(hours=1)


def test_after_an_alert_restart_polled_health_does_not_reset_the_backoff_until_the_alert_resolves() -> None:
    from watchdog.policy import signal_cleared

    state = record_attempt(ConnectorState(), T0, STRIMZI, 0.0, from_signal=True)  # gap(1) = 2 minutes
    for minute in range(1, 10):
        state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=minute), STRIMZI)
    assert state.attempts == 1, "a stalled connector looks RUNNING; that is not recovery"
    state = signal_cleared(state, T0 + timedelta(minutes=10))
    state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=11), STRIMZI)
    assert state.attempts == 1
    state = observe(state, Health.HEALTHY, T0 + timedelta(minutes=12), STRIMZI)
    assert state.attempts == 0


def test_a_resend_moves_the_gap_to_the_call_made_and_keeps_its_length() -> None:
    t0 = T0
    sent = record_attempt(ConnectorState(), t0, Backoff(base=10, cap=600, jitter=0.0), 0.0)
    assert sent.next_allowed_at == t0 + timedelta(seconds=20)
    later = t0 + timedelta(seconds=60)  # a 429's pause outlasted the gap
    again = record_resend(sent, later)
    assert (again.attempts, again.last_restart_at, again.next_allowed_at) == (1, later, later + timedelta(seconds=20))
    assert record_resend(ConnectorState(), later) == ConnectorState(), "nothing sent before: nothing to move"
    assert record_resend(again, t0) == again, "a clock stepped back does not shorten the gap"
