"""The simulator's concurrency limit per API key (scenario `concurrency_limit`): Confluent says
it enforces "request-rate and concurrency limits" (research note §3.1), so a server may refuse a
request for the requests already in progress, whatever its rate budget says.

Requests go through `Simulator.handle` one at a time on a fake clock, each answered 1 s after it
was counted (the scenario's latency): a request counted at t is in progress until t + 1.
"""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from watchdog.simulator import Scenario, Simulator
from watchdog.simulator.doors import ApiRequest

from .support import AUTH, NARROW_AUTH, FakeClock, path, scenario

BASIC = "Basic " + base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
NARROW = "Basic " + base64.b64encode(f"{NARROW_AUTH[0]}:{NARROW_AUTH[1]}".encode()).decode()


def _simulator(concurrency: dict[str, object], **settings: object) -> tuple[Simulator, FakeClock]:
    clock = FakeClock(0.0)
    data = scenario(latency_seconds=1.0, concurrency_limit=concurrency, **settings)
    return Simulator(Scenario.model_validate(data), clock=clock, epoch=0.0), clock


def _get(simulator: Simulator, authorization: str = BASIC) -> tuple[int, dict[str, str]]:
    reply = simulator.handle(ApiRequest("GET", path(), authorization=authorization))
    return reply.status, {name.lower(): value for name, value in reply.headers.items()}


def test_a_request_beyond_the_limit_in_progress_is_refused_until_one_is_answered() -> None:
    simulator, clock = _simulator({"max_in_flight": 2})
    assert _get(simulator)[0] == 200  # in progress until 1.0
    clock.advance(0.5)
    assert _get(simulator)[0] == 200  # until 1.5
    clock.advance(0.2)
    status, headers = _get(simulator)  # two in progress at 0.7
    assert status == 429 and headers["retry-after"] == "1"
    clock.advance(0.3)  # the first is answered at 1.0: its place is free
    assert _get(simulator)[0] == 200
    assert [c.rate_limited for c in simulator.calls] == [False, False, True, False]


def test_each_key_has_its_own_places() -> None:
    simulator, _ = _simulator({"max_in_flight": 1})
    assert _get(simulator)[0] == 200
    assert _get(simulator)[0] == 429
    assert _get(simulator, NARROW)[0] == 200  # another key: not held by the first key's request


def test_its_429_says_the_rate_budget_as_the_last_admitted_request_left_it_and_spends_none_of_it() -> None:
    # Remaining > 0 beside a 429: odd, but what a server that checks its concurrency limit apart
    # from its rate budget may well send (the limiter must not read it as a spent budget).
    simulator, clock = _simulator({"max_in_flight": 1}, rate_limit={"limit": 5, "window_seconds": 10, "headers": "always"})
    status, first = _get(simulator)
    assert status == 200 and first["x-ratelimit-remaining"] == "4" and first["x-ratelimit-reset"] == "10"
    clock.advance(0.5)
    status, refused = _get(simulator)
    assert status == 429 and refused["retry-after"] == "1"
    assert refused["x-ratelimit-limit"] == "5" and refused["x-ratelimit-remaining"] == "4"
    assert refused["x-ratelimit-reset"] == "10"  # 9.5 s to the window's end, rounded up
    clock.advance(0.5)
    assert _get(simulator)[1]["x-ratelimit-remaining"] == "3"  # the refused one was not counted


def test_its_429_can_carry_no_hint_at_all() -> None:
    simulator, _ = _simulator({"max_in_flight": 1, "retry_after": None, "rate_headers": False},
                              rate_limit={"limit": 5, "window_seconds": 10, "headers": "always"})
    _get(simulator)
    status, headers = _get(simulator)
    assert status == 429
    assert not {"retry-after", "x-ratelimit-remaining", "x-ratelimit-limit", "x-ratelimit-reset"} & set(headers)


def test_a_request_refused_by_the_rate_limit_holds_no_place() -> None:
    simulator, clock = _simulator({"max_in_flight": 1}, rate_limit={"limit": 1, "window_seconds": 10})
    assert _get(simulator)[0] == 200  # in progress until 1.0
    clock.advance(1.0)
    assert _get(simulator)[0] == 429  # the rate limit's: nothing in progress, but the window is spent
    clock.advance(9.0)  # the window ends at 10; the refusal at 1.0 would hold its place until 2.0
    assert _get(simulator)[0] == 200


@pytest.mark.parametrize("bad", [{"max_in_flight": 0}, {"max_in_flight": 2, "retry_after": 0}, {}])
def test_a_concurrency_limit_that_cannot_be_played_is_refused_naming_the_field(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as refused:
        Scenario.model_validate(scenario(concurrency_limit=bad))
    assert "concurrency_limit" in str(refused.value)
