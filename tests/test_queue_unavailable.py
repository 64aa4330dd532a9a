"""A Confluent Cloud API in maintenance: every restart answered 503 with Retry-After for ten
minutes, on virtual time against the simulator, through the real queue and limiter."""

from __future__ import annotations

import asyncio
from collections import Counter

from bench import fixtures, virtualtime
from bench.ratelab import backlog_connectors
from watchdog.model import Outcome
from watchdog.simulator import Simulator


async def _backlog_through_maintenance(retry_after: str | None, status: int = 503) -> tuple[int, Counter[Outcome]]:
    fixtures.quiet_logs()
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    scenario = fixtures.scenario(
        [backlog_connectors(200)], latency_seconds=[0.05, 0.15],
        faults=[{"match": {"endpoint": "restart"}, "when": {"until": 600},
                 "action": {"status": status, "headers": headers}}])
    simulator = Simulator(scenario, clock=asyncio.get_running_loop().time)
    rule = {"name": "backlog", "trigger": {"type": "schedule", "interval": "1d"}, "select": {"include": ["*"]}}
    daemon = fixtures.virtual_daemon(fixtures.config(1, [rule], breaker=fixtures.NO_BREAKER), simulator)
    await daemon.run_once()
    unavailable = sum(1 for call in simulator.calls if call.endpoint == "restart" and call.status_code == status)
    return unavailable, Counter(job.outcome for job in daemon.recorder.finished_jobs if job.outcome is not None)


def test_a_503_with_retry_after_holds_every_restart_of_the_key_until_then() -> None:
    """Only the refused restart waited for the Retry-After: the other 199 went out at the local
    ceiling, each was answered 503 in turn, and every one spent its retries (800 calls in 200 s
    to a server that had asked for a minute) and ended server_error."""
    unavailable, outcomes = virtualtime.run(_backlog_through_maintenance("60"))
    assert unavailable <= 16  # five in a row, then about one a minute for the ten minutes
    assert outcomes == Counter({Outcome.ACCEPTED: 200})


def test_a_short_retry_after_on_every_call_is_a_floor_and_the_pause_grows_above_it() -> None:
    """Ten minutes of 503 with Retry-After: 5 on every call: held for 5 s each time, the key was
    asked 118 times and 29 restarts spent their retries and ended server_error. From the fifth in
    a row the pause grows as after 429s in a row, the hint a floor."""
    unavailable, outcomes = virtualtime.run(_backlog_through_maintenance("5"))
    assert unavailable <= 30
    assert outcomes[Outcome.ACCEPTED] >= 190
