"""The per-key fixed-window rate limit and its headers (RateLimitError, research note §3)."""

from __future__ import annotations

from typing import Any

import pytest

from .support import NARROW_AUTH, Build, Harness, client, path, scenario

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def _limited(build: Build, **rate_limit: object) -> Harness:
    return build(scenario(rate_limit={"limit": 3, "window_seconds": 10, **rate_limit}))


async def test_exactly_limit_requests_pass_per_window(build: Build) -> None:
    harness = _limited(build)
    calls = [
        harness.client.get(path()),
        harness.client.get(path(connector="orders-source", operation="status")),
        harness.client.post(path(connector="orders-source", operation="restart")),
        harness.client.get(path()),
        harness.client.post(path(connector="billing-sink", operation="restart")),
    ]

    codes = [(await call).status_code for call in calls]

    assert codes == [200, 200, 202, 429, 429]
    assert [c.rate_limited for c in harness.simulator.calls] == [False, False, False, True, True]
    assert len(harness.simulator.restarts()) == 1


async def test_429_has_an_empty_body_and_all_five_headers(build: Build) -> None:
    harness = _limited(build)
    harness.clock.advance(2.5)
    for _ in range(3):
        await harness.client.get(path())

    response = await harness.client.get(path())

    assert response.status_code == 429
    assert response.content == b""
    assert response.headers["x-ratelimit-limit"] == "3"
    assert response.headers["x-ratelimit-remaining"] == "0"
    # Relative seconds to the window's end at t=10, rounded up: 7.5 -> 8.
    assert response.headers["x-ratelimit-reset"] == "8"
    assert response.headers["retry-after"] == "8"
    assert response.headers["x-request-id"]


async def test_waiting_the_advertised_reset_is_always_enough(build: Build) -> None:
    harness = _limited(build)
    harness.clock.advance(9.2)
    for _ in range(3):
        await harness.client.get(path())

    refused = await harness.client.get(path())
    harness.clock.advance(int(refused.headers["retry-after"]))
    admitted = await harness.client.get(path())

    assert refused.headers["retry-after"] == "1"
    assert admitted.status_code == 200


async def test_windows_are_aligned_to_the_simulator_start(build: Build) -> None:
    harness = _limited(build)
    harness.clock.advance(9.9)
    for _ in range(3):
        assert (await harness.client.get(path())).status_code == 200
    assert (await harness.client.get(path())).status_code == 429

    harness.clock.advance(0.1)  # t = 10: a new window

    assert [(await harness.client.get(path())).status_code for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]


async def test_each_key_has_its_own_budget_and_401s_spend_none(build: Build) -> None:
    harness = _limited(build)
    async with (
        client(harness.simulator, NARROW_AUTH) as narrow,
        client(harness.simulator, ("test-key", "wrong")) as intruder,
    ):
        for _ in range(5):
            assert (await intruder.get(path())).status_code == 401
        for _ in range(3):
            assert (await harness.client.get(path())).status_code == 200
        assert (await narrow.get(path())).status_code == 200
        assert (await harness.client.get(path())).status_code == 429


async def test_an_organisation_wide_limit_counts_every_key_in_one_budget(build: Build) -> None:
    # Confluent limits "both per user and organization-wide" (research §3.1): with scope
    # organization, one key's requests spend the other's budget too.
    harness = _limited(build, scope="organization")
    async with client(harness.simulator, NARROW_AUTH) as narrow:
        for _ in range(2):
            assert (await harness.client.get(path())).status_code == 200
        answer = await narrow.get(path())
        assert answer.status_code == 200 and answer.headers.get("x-ratelimit-remaining") is None
        refused = await narrow.get(path())
        assert refused.status_code == 429 and refused.headers["x-ratelimit-remaining"] == "0"
        assert (await harness.client.get(path())).status_code == 429


async def test_rate_headers_only_on_429_by_default(build: Build) -> None:
    harness = _limited(build)

    response = await harness.client.get(path())

    assert not any(h in response.headers for h in (*RATE_HEADERS, "retry-after"))


async def test_rate_headers_on_every_answer_when_always(build: Build) -> None:
    harness = _limited(build, headers="always")
    harness.clock.advance(4)

    first = await harness.client.get(path())
    second = await harness.client.get(path(connector="ghost", operation="status"))
    third = await harness.client.post(path(connector="orders-source", operation="restart"))

    assert [r.headers["x-ratelimit-remaining"] for r in (first, second, third)] == ["2", "1", "0"]
    assert {r.headers["x-ratelimit-limit"] for r in (first, second, third)} == {"3"}
    assert {r.headers["x-ratelimit-reset"] for r in (first, second, third)} == {"6"}
    assert second.status_code == 404
    assert "retry-after" not in first.headers  # "Only sent when the rate limit is reached"


@pytest.mark.parametrize(
    ("shape", "body"),
    [
        ("nested", {"error": {"code": 429, "message": "Too Many Requests"}}),
        ("flat", {"error_code": 429, "message": "Too Many Requests"}),
    ],
)
async def test_429_can_carry_an_error_body(build: Build, shape: str, body: dict[str, Any]) -> None:
    harness = build(
        scenario(error_shape=shape, rate_limit={"limit": 1, "window_seconds": 5, "body": "error"})
    )
    await harness.client.get(path())

    response = await harness.client.get(path())

    assert response.status_code == 429
    assert response.json() == body
    assert response.headers["retry-after"] == "5"


async def test_no_rate_limit_without_the_setting(build: Build) -> None:
    harness = build()

    codes = {(await harness.client.get(path())).status_code for _ in range(50)}

    assert codes == {200}
