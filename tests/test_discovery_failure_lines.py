"""Discovery that keeps failing is said when it starts, every few minutes while it goes on, and
when it recovers: not `api_call_failed` and `discovery_failed` (or
`discovery_environment_unreadable`) at every 30-second retry for as long as it lasts (found
2026-12-02: 240 warnings an hour for a 503 on the environment list). The metrics count every one."""

from __future__ import annotations

import asyncio
from typing import Any

from structlog.testing import capture_logs

from watchdog.triggers.streak import REPEAT_EVERY_SECONDS

from .test_discovery import (
    config_data,
    die_with_a_restart_of_c1_queued,
    environment,
    lkc,
    scenario,
    world,
)

HOUR = 1200  # 20 minutes: four lines said again at most
RETRY = 30


async def test_an_environment_list_failing_for_an_hour_logs_a_bounded_number_of_lines() -> None:
    w = world(scenario(environment("env-prod", "production", [lkc("lkc-a")])),
              config_data({}, rate_limit={"max_retries": 0, "max_rate_limited_retries": 0}))
    assert w.clock is not None
    w.simulator.set_faults([{"match": {"endpoint": "list_environments"}, "when": {"until": HOUR},
                             "action": {"status": 503}}])
    with capture_logs() as logs:
        for _ in range(HOUR // RETRY):
            assert await w.daemon.refresh_discovery() is False
            w.clock.advance(RETRY)
        assert await w.daemon.refresh_discovery() is True

    assert w.sample("watchdog_discovery_refreshes_total", result="failed") == HOUR / RETRY, "every failure counted"
    warned = [e for e in logs if e["log_level"] in ("warning", "error")
              and e["event"] in ("discovery_failed", "api_call_failed")]
    repeats = HOUR / REPEAT_EVERY_SECONDS
    assert len(warned) <= 2 * (repeats + 1), f"{len(warned)} warnings for 20 minutes of failed refreshes"
    first, *later = [e for e in warned if e["event"] == "discovery_failed"]
    assert "repeated" not in first and later and all("failing_since" in e for e in later)
    [recovered] = [e for e in logs if e["event"] == "discovery_recovered"]
    assert recovered["failed_polls"] == HOUR / RETRY and recovered["failing_since"] == later[0]["failing_since"]
    await w.daemon.stop()


async def test_an_environment_unreadable_for_an_hour_logs_a_bounded_number_of_lines() -> None:
    w = world(scenario(environment("env-dev", "development", [lkc("lkc-b")])),
              config_data({"environments": {"ids": ["env-dev"]}},
                          rate_limit={"max_retries": 0, "max_rate_limited_retries": 0}))
    assert w.clock is not None
    w.simulator.set_faults([{"match": {"endpoint": "list_clusters"},
                             "when": {"until": HOUR}, "action": {"status": 503}}])
    with capture_logs() as logs:
        for _ in range(HOUR // RETRY):
            await w.daemon.refresh_discovery()
            w.clock.advance(RETRY)
        assert await w.daemon.refresh_discovery() is True

    assert w.sample("watchdog_discovery_refreshes_total", result="failed") == HOUR / RETRY
    warned = [e for e in logs if e["log_level"] == "warning"
              and e["event"] in ("discovery_environment_unreadable", "api_call_failed")]
    assert len(warned) <= 2 * (HOUR / REPEAT_EVERY_SECONDS + 1), f"{len(warned)} warnings"
    first, *later = [e for e in warned if e["event"] == "discovery_environment_unreadable"]
    assert "repeated" not in first and later and all("failing_since" in e for e in later)
    [recovered] = [e for e in logs if e["event"] == "discovery_environment_recovered"]
    assert recovered["environment"] == "env-dev" and recovered["failed_polls"] == HOUR / RETRY
    await w.daemon.stop()


async def test_refreshes_that_keep_failing_say_discovery_refreshed_once_at_info() -> None:
    # Every failed refresh logged discovery_refreshed at info: 40 lines for 20 minutes of
    # retries, beside the failure's own lines.
    w = world(scenario(environment("env-prod", "production", [lkc("lkc-a")])),
              config_data({}, rate_limit={"max_retries": 0, "max_rate_limited_retries": 0}))
    assert w.clock is not None
    assert await w.daemon.refresh_discovery() is True
    w.simulator.set_faults([{"match": {"endpoint": "list_environments"}, "action": {"status": 503}}])
    with capture_logs() as logs:
        for _ in range(HOUR // RETRY):
            assert await w.daemon.refresh_discovery() is False
            w.clock.advance(RETRY)
        w.simulator.set_faults([])
        assert await w.daemon.refresh_discovery() is True

    said = [e["result"] for e in logs if e["event"] == "discovery_refreshed" and e["log_level"] == "info"]
    assert said == ["failed", "ok"], said
    assert w.sample("watchdog_discovery_refreshes_total", result="failed") == HOUR / RETRY
    await w.daemon.stop()


async def test_a_refresh_that_crashes_at_every_retry_logs_its_traceback_every_few_minutes() -> None:
    # A bug that every refresh met logged discovery_refresh_crashed, traceback and all, at every
    # 30-second retry: 40 error tracebacks in 20 minutes.
    from datetime import UTC, datetime, timedelta

    from watchdog.discovery.loop import DiscoveryLoop

    clock = [datetime(2026, 12, 2, tzinfo=UTC)]
    refreshes = 0
    done = asyncio.Event()

    async def refresh() -> bool:
        nonlocal refreshes
        refreshes += 1
        clock[0] += timedelta(seconds=RETRY)
        if refreshes > HOUR // RETRY:
            done.set()
            return True
        raise KeyError("a reader bug")

    loop = DiscoveryLoop(refresh, lambda: 0.001, lambda: clock[0])
    with capture_logs() as logs:
        loop.start()
        await asyncio.wait_for(done.wait(), 10)
        await loop.stop()

    crashed = [e for e in logs if e["event"] == "discovery_refresh_crashed" and e["log_level"] == "error"]
    assert 1 <= len(crashed) <= HOUR / REPEAT_EVERY_SECONDS + 1, len(crashed)
    assert crashed[0]["exc_info"] and "repeated" in crashed[-1]
    [ended] = [e for e in logs if e["event"] == "discovery_refresh_crash_ended"]
    assert ended["failed_polls"] == HOUR // RETRY


async def test_restarts_held_while_their_environment_stays_unreadable_are_said_every_few_minutes(tmp_path: Any) -> None:
    # The daemon restarted with a requested restart for lkc-a queued; lkc-a's environment kept
    # answering 503: recovered_requests_held was a warning at every 30-second retry.
    sim = scenario(environment("env-a", "a", [lkc("lkc-a", connectors=[{"name": "c1"}])]),
                   environment("env-b", "b", [lkc("lkc-b")]))
    data = config_data({}, state={"path": str(tmp_path / "state.db")}, rate_limit={"max_retries": 0})
    await die_with_a_restart_of_c1_queued(sim, data)
    span = 900  # 30 partial refreshes

    second = world(sim, data)
    assert second.clock is not None
    second.daemon.engine.recover(hold=second.daemon.may_be_discovered)
    with capture_logs() as logs:
        for _ in range(span // RETRY):
            # env-a is listed first: its listing answers 503, env-b's is read (a partial refresh).
            second.simulator.set_faults([{"match": {"endpoint": "list_clusters"}, "when": {"count": 1},
                                          "action": {"status": 503}}])
            assert await second.daemon.refresh_discovery() is False
            second.clock.advance(RETRY)

    held = [e for e in logs if e["event"] == "recovered_requests_held" and e["log_level"] == "warning"]
    assert 1 <= len(held) <= span / REPEAT_EVERY_SECONDS + 1, len(held)
    assert held[0]["clusters"] == ["lkc-a"] and "repeated" in held[-1]
    assert second.daemon.engine.held_clusters == {"lkc-a"}, "still held, not dropped"
    await second.daemon.stop()


async def test_a_replica_leading_again_does_not_report_the_failure_it_met_before_it_stood_by() -> None:
    # A replica's environment list failed, it stood by for two hours, then led again and read
    # it at once: discovery_recovered said it had been failing for two hours (the standby time).
    w = world(scenario(environment("env-prod", "production", [lkc("lkc-a")])),
              config_data({}, rate_limit={"max_retries": 0, "max_rate_limited_retries": 0}))
    assert w.clock is not None
    w.daemon.queue.start()
    w.simulator.set_faults([{"match": {"endpoint": "list_environments"}, "action": {"status": 503}}])
    assert await w.daemon.refresh_discovery() is False
    w.daemon.leadership.leading = False
    await w.daemon._follow("another replica took the lease over")
    w.clock.advance(2 * 3600)
    w.simulator.set_faults([])
    w.daemon.leadership.leading = True
    with capture_logs() as logs:
        assert await w.daemon.refresh_discovery() is True
    recovered = [e for e in logs if e["event"] == "discovery_recovered"]
    assert recovered == [], "the failure it met while leading before is not this leader's streak"
    await w.daemon.stop()
