"""A cluster that stays unreachable is said when it starts failing, every few minutes while it
goes on, and when it recovers: not two warnings on every poll for days (found 2026-12-02:
three dead clusters polled every 5 s wrote 6 warnings every 5 s). The metrics count every one."""

from __future__ import annotations

from structlog.testing import capture_logs

from watchdog.triggers.streak import REPEAT_EVERY_SECONDS

from .support import CLUSTER
from .test_daemon import run_polls
from .test_hostile_answers import faulty_world, polls

HOUR = 3600


async def test_a_cluster_failing_for_an_hour_logs_a_bounded_number_of_lines() -> None:
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"until": HOUR}, "action": {"status": 503}}])

    with capture_logs() as logs:
        await run_polls(w, HOUR + 60, every=5)

    assert polls(w, "server_error") == HOUR / 5, "every failed poll is still counted"
    warned = [e for e in logs if e["log_level"] == "warning" and e["event"] in ("poll_failed", "api_call_failed")]
    repeats = HOUR / REPEAT_EVERY_SECONDS
    assert len(warned) <= 2 * (repeats + 1), f"{len(warned)} warnings for an hour of failed polls"
    failed = [e for e in warned if e["event"] == "poll_failed"]
    first, *later = failed
    assert first["outcome"] == "server_error" and "repeated" not in first, first
    assert later and all(e["failing_since"] == later[0]["failing_since"] for e in later)
    # Each line counts the failed polls since the one before; only the last minutes are left to
    # poll_recovered, which counts them all.
    said = 1 + sum(e["repeated"] for e in later)
    assert HOUR / 5 - REPEAT_EVERY_SECONDS / 5 <= said <= HOUR / 5, said
    assert [e for e in warned if e["event"] == "api_call_failed"][-1]["repeated"] == later[-1]["repeated"]
    [recovered] = [e for e in logs if e["event"] == "poll_recovered"]
    assert recovered["cluster"] == CLUSTER and recovered["failed_polls"] == HOUR / 5, recovered
    assert recovered["failing_since"] == later[0]["failing_since"]


async def test_a_failure_of_another_kind_is_said_at_once() -> None:
    w = faulty_world([
        {"match": {"endpoint": "list"}, "when": {"until": 60}, "action": {"status": 503}},
        {"match": {"endpoint": "list"}, "when": {"from": 60, "until": 120}, "action": {"status": 401}},
    ])

    with capture_logs() as logs:
        await run_polls(w, 120, every=5)

    said = [(e["outcome"], "repeated" in e) for e in logs if e["event"] == "poll_failed" and e["log_level"] == "warning"]
    assert said == [("server_error", False), ("unauthorized", True)], said


async def test_a_poll_that_crashes_every_time_logs_its_traceback_every_few_minutes_not_every_poll() -> None:
    # A reader bug that every answer meets logged poll_crashed, traceback and all, at every
    # poll: 720 error lines an hour at a 5 s interval.
    w = faulty_world([])

    async def crash() -> None:
        raise KeyError("a reader bug")

    w.daemon.pollers[CLUSTER]._backend.list_connectors = crash  # type: ignore[method-assign]
    with capture_logs() as logs:
        await run_polls(w, HOUR, every=5)

    assert polls(w, "network_error") == HOUR / 5
    crashed = [e for e in logs if e["event"] == "poll_crashed" and e["log_level"] == "error"]
    assert 1 <= len(crashed) <= HOUR / REPEAT_EVERY_SECONDS + 1, len(crashed)
    assert crashed[0]["exc_info"] and "repeated" in crashed[-1]
