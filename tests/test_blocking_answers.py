"""Blocking against odd or broken Alertmanager answers: each is an error that `on_error` decides,
and none stops the background refresh (tests/test_blocking.py covers the ordinary answers)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import structlog

from .test_blocking import Clock, FakeAlertmanager, blocker


async def wait_for(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


class Scripted(FakeAlertmanager):
    """Answers the scripted bodies (or raises the scripted exceptions) in turn, then the last."""

    def __init__(self, *answers: object) -> None:
        super().__init__()
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, str):
            return httpx.Response(200, text=answer, headers={"content-type": "application/json"})
        return httpx.Response(200, json=answer)


FIRING = [{"labels": {"alertname": "Incident"}, "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}}]


@pytest.mark.parametrize(
    "body",
    [[{"labels": None}], [{"labels": {"alertname": ["Incident"]}}], [{"annotations": {}}], ["Incident"], "[" * 100_000],
    ids=["labels-null", "label-value-list", "no-labels", "not-an-object", "nested-too-deep"],
)
@pytest.mark.parametrize(("on_error", "blocked", "result"), [("block", True, "error_blocked"), ("allow", False, "error_allowed")])
async def test_an_unreadable_answer_is_an_error_that_on_error_decides(body: object, on_error: str, blocked: bool, result: str) -> None:
    b, metrics = blocker(Scripted(body), on_error=on_error)
    with structlog.testing.capture_logs() as logs:
        verdict = await b.refresh()
    assert verdict.blocked is blocked and f"on_error: {on_error}" in verdict.reason
    assert metrics.registry.get_sample_value("watchdog_blocking_checks_total", {"result": result}) == 1
    # Not silent, even when it lets restarts through: an error or a warning names the problem.
    assert any(e["log_level"] in ("error", "warning") for e in logs)
    await b.close()


async def test_an_unreadable_answer_is_logged_at_error_level_once_while_it_persists() -> None:
    b, _ = blocker(Scripted([{"labels": None}]), on_error="allow")
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            assert "unreadable answer" in (await b.refresh()).reason
    errors = [e for e in logs if e["log_level"] == "error"]
    assert len(errors) == 1 and "labels" in errors[0]["problem"]
    await b.close()


@pytest.mark.parametrize("on_error", ["block", "allow"])
async def test_the_refresh_loop_outlives_an_unreadable_answer_and_then_blocks(on_error: str) -> None:
    # labels: null once, then a healthy answer with a blocking alert firing: the next refresh
    # must see it (before, the loop died on the first answer and, with on_error: allow, restarts
    # went out while the incident fired).
    fake = Scripted([{"labels": None}], FIRING)
    b, _ = blocker(fake, Clock(), cache_ttl=0.01, on_error=on_error)
    b.start()
    try:
        await wait_for(lambda: len(fake.requests) >= 3)
        verdict = b.verdict()
        assert verdict.blocked and "blocking alert firing: Incident" in verdict.reason
    finally:
        await b.close()


async def test_the_refresh_loop_outlives_an_unexpected_exception() -> None:
    fake = Scripted(RuntimeError("a bug, not an answer"), FIRING)
    b, _ = blocker(fake, Clock(), cache_ttl=0.01)
    with structlog.testing.capture_logs() as logs:
        b.start()
        try:
            await wait_for(lambda: len(fake.requests) >= 3)
            assert b.verdict().blocked and "Incident" in b.verdict().reason
        finally:
            await b.close()
    crashes = [e for e in logs if e["event"] == "blocking_refresh_crashed"]
    assert len(crashes) == 1 and crashes[0]["log_level"] == "error" and "a bug" in crashes[0]["problem"]
