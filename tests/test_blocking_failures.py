"""Every failed blocking check is logged at error, once per kind while it persists (blocking.py).

Found by a probe (2026-12-07): Alertmanager's bearer token rotated there first, every check
answered 401, and every failure restart held (`on_error: block`) with one `blocking_changed`
warning and nothing at error: no alert looked at `watchdog_blocking_checks_total`, so a FAILED
connector stayed FAILED for hours with the watchdog healthy by every signal that pages. Only a
400 (`blocking_query_refused`) and an answer of the wrong shape were logged at error."""

from __future__ import annotations

import httpx
import pytest
import structlog
from pydantic import SecretStr

from watchdog.blocking import AlertBlocker
from watchdog.config import BlockingSettings
from watchdog.metrics import Metrics

TOKEN = "am-bearer-0123456789-SECRET"


def _blocker(handler: object, **settings: object) -> AlertBlocker:
    config = BlockingSettings(alertmanager_url="http://alertmanager:9093", **settings)  # type: ignore[arg-type]
    return AlertBlocker(config, Metrics(), transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize(("source", "named"), [
    ("variable", "the variable WATCHDOG_BLOCKING__BEARER_TOKEN"),
    ("file", "the secret file WATCHDOG_BLOCKING__BEARER_TOKEN"),
])
async def test_a_refused_bearer_token_is_logged_at_error_once_naming_where_it_comes_from(
        status: int, source: str, named: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if source == "variable":
        monkeypatch.setenv("WATCHDOG_BLOCKING__BEARER_TOKEN", TOKEN)
    else:
        monkeypatch.delenv("WATCHDOG_BLOCKING__BEARER_TOKEN", raising=False)
    blocker = _blocker(lambda request: httpx.Response(status, text=f"bad token {TOKEN}"),
                       auth="bearer", bearer_token=SecretStr(TOKEN))
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            verdict = await blocker.refresh()
    await blocker.close()
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == ["blocking_unauthorized"], "once, at error (before: nothing at error)"
    problem = errors[0]["problem"]
    assert f"Alertmanager answered {status}" in problem and "blocking.auth" in problem, problem
    assert "blocking.bearer_token" in problem and named in problem, problem
    assert verdict.blocked and "blocking.bearer_token" in verdict.reason, verdict.reason
    assert all(TOKEN not in str(e) for e in logs) and TOKEN not in verdict.reason


async def test_a_refused_basic_password_names_the_user_and_the_password_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_BLOCKING__PASSWORD", "pw-SECRET-9876")
    blocker = _blocker(lambda request: httpx.Response(401), auth="basic", username="watchdog",
                       password=SecretStr("pw-SECRET-9876"))
    with structlog.testing.capture_logs() as logs:
        await blocker.refresh()
    await blocker.close()
    (error,) = [e for e in logs if e["log_level"] == "error"]
    assert error["event"] == "blocking_unauthorized"
    assert "blocking.password" in error["problem"] and "the variable WATCHDOG_BLOCKING__PASSWORD" in error["problem"]
    assert "pw-SECRET-9876" not in str(logs)


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize(("handler", "event"), [
    (_down, "blocking_unreachable"),
    (lambda request: httpx.Response(503, text="down"), "blocking_check_failed"),
    (lambda request: httpx.Response(200, text="not json"), "blocking_answer_unreadable"),
], ids=["unreachable", "503", "not-json"])
@pytest.mark.parametrize("on_error", ["block", "allow"])
async def test_every_failed_check_is_logged_at_error_once_while_it_persists(handler: object, event: str,
                                                                            on_error: str) -> None:
    blocker = _blocker(handler, on_error=on_error)
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            await blocker.refresh()
    await blocker.close()
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == [event], [e["event"] for e in logs]
    assert errors[0]["on_error"] == on_error


async def test_a_failure_that_comes_back_after_a_readable_answer_is_logged_again() -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json=[]), httpx.Response(401)])
    blocker = _blocker(lambda request: next(answers), auth="bearer", bearer_token=SecretStr(TOKEN))
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            await blocker.refresh()
    await blocker.close()
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["blocking_unauthorized"] * 2
