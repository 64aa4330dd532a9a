"""The fleet limit and restarts answered 429. A restart answered 429 ran nothing, yet it was
counted in the fleet breaker's window at its first try, and its retry after the pause met no gate
and was not counted when it really went: a probe saw 32 failure restarts made in 22 s with
`max_restarts: 20` per minute, and a breaker reason of "12 restarts in the last 60s" when none had
been made (probe_breaker F1, 2026-12-07). The window counts the restarts made (or that may have
been: an unanswered call); a retry after a 429 meets the fleet limit again at its turn.

Two API keys, each with its own cluster, in the in-process simulator on virtual time
(bench/virtualtime.py), through the real queue, gates, breaker and recorder."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import virtualtime
from watchdog.breaker import Breaker
from watchdog.config import BreakerSettings
from watchdog.engine.fleet_count import count_sent, take_back_unmade
from watchdog.model import ConnectorKey
from watchdog.queue import RestartJob
from watchdog.simulator import Scenario, Simulator

from . import test_fleet_room_refused_key as refused_key
from .test_fleet_room_stuck_lanes import (
    LIMIT,
    WINDOW,
    firing,
    orgs_scenario,
    rate_limited,
    run_orgs,
)


def most_made_in_a_window(simulator: Simulator) -> int:
    """The most restarts the API accepted (made) within any `WINDOW` seconds, from the simulator's
    own call record: what the fleet limit bounds."""
    times = sorted(call.t for call in simulator.restarts())
    return max((sum(1 for t in times if start <= t < start + WINDOW) for start in times), default=0)


def test_restarts_retried_after_a_429_meet_the_fleet_limit_again() -> None:
    """Org C's first restart is answered 429 with Retry-After 200 (nothing made; its others wait
    behind the pause), and org A's polls take the window's room meanwhile; when org C's pause
    ends, its retry finds the window full and is held at its turn, in the words a first turn is
    held with. Before: the 429'd try was counted (org A's polls had room for three) and its retry
    went uncounted at t=200 with the others, so that once the phantom entry left the window at
    t=600, one more went: 5 made within 600 s, limit 4."""
    simulator, logs = virtualtime.run(run_orgs([rate_limited(200, 50)], minutes=25, concurrent=4))
    assert simulator.restarts(cluster="lkc-c001", accepted_only=False), "org C's restarts were tried"
    first_a = min((call.t for call in simulator.restarts(cluster="lkc-a001")), default=None)
    assert first_a is not None and first_a < 60, f"org A's first restart at {first_a}: held by 429'd tries"
    assert most_made_in_a_window(simulator) <= LIMIT
    held = [e for e in logs if e["event"] == "restart_finished" and e["cluster"] == "c-prod"
            and e["outcome"] == "dropped" and e["tries"] == 1]
    assert held and all(e["message"].startswith(f"breaker_open: {LIMIT} restarts in the last {WINDOW}s")
                        and e["message"].endswith("not tried again after 1 earlier try") for e in held), held[:1]



def _tried(breaker: Breaker, job: RestartJob, at: datetime, status: int | None) -> None:
    """One call of `job` at `at`, answered `status` (None: no answer came), as the recorder and the
    queue count it: counted as it goes, the try counted when answered, then taken back if unmade."""
    count_sent(breaker, job, at)
    job.status_code, job.last_call_not_run = status, False
    if status is not None:
        job.tries += 1
        take_back_unmade(breaker, job)


def test_the_fleet_window_counts_calls_that_made_a_restart_or_may_have() -> None:
    """What `max_restarts` counts, call by call: a 429 (nothing made) leaves the window and its
    retry counts at its own call; a call whose answer never came (a timeout: it may have run)
    stays counted, the safe side; a 503 (it may have run) stays counted, and a later 429 of the
    same job does not take that entry back; a call that never went out leaves it."""
    t0 = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    breaker = Breaker(BreakerSettings(max_failing_share=None, max_restarts=10, window=60))

    def job(name: str) -> RestartJob:
        return RestartJob(id=name, key=ConnectorKey("c", name), credential="k", requests=[], enqueued_at=0.0)

    refused, unanswered, flaky, never = job("refused"), job("unanswered"), job("flaky"), job("never")
    _tried(breaker, refused, t0, 429)
    assert breaker.fleet_room() == 10 and refused.fleet_counted is None
    _tried(breaker, refused, t0 + timedelta(seconds=40), 202)
    assert breaker.frees_at() == t0 + timedelta(seconds=100), "counted at the call that made it"
    _tried(breaker, unanswered, t0, None)
    assert breaker.fleet_room() == 8
    _tried(breaker, flaky, t0, 503)
    _tried(breaker, flaky, t0 + timedelta(seconds=5), 429)
    assert breaker.fleet_room() == 7 and flaky.fleet_counted == (t0, 0)
    count_sent(breaker, never, t0)
    take_back_unmade(breaker, never, went_out=False)
    assert breaker.fleet_room() == 7


def withdrawn_scenario() -> Scenario:
    """Org C's four connectors running, every restart of its key answered 429 (Retry-After 60);
    org A's four fail at t=10, each healed by one restart."""
    return orgs_scenario({
        "a-prod": [{"name": f"a-prod-{i}", "script": {"fail_at": 10, "recover_after_restarts": 1}} for i in range(LIMIT)],
        "c-prod": [{"name": f"c-prod-{i}"} for i in range(LIMIT)]}, [rate_limited(60, 3600)])


async def alerts_429d_then_withdrawn() -> tuple[Simulator, list[dict[str, Any]]]:
    """Both clusters listed at t=0; at t=1 four firing alerts for org C's connectors (their
    restarts answered 429); at t=4 the alerts resolve and the restarts are withdrawn; org A's
    poll at t=15 sees its four connectors failed."""
    def group(status: str) -> dict[str, Any]:
        return firing("c-prod", [f"c-prod-{i}" for i in range(LIMIT)], status)

    async with refused_key.listed_and_served(withdrawn_scenario()) as (simulator, d, http, logs):
        await asyncio.sleep(1)
        auth = {"Authorization": f"Bearer {refused_key.TOKEN}"}
        assert (await http.post("/v1/alertmanager", json=group("firing"), headers=auth)).status_code == 200
        await asyncio.sleep(3)
        assert (await http.post("/v1/alertmanager", json=group("resolved"), headers=auth)).status_code == 200
        await asyncio.sleep(11)
        await d.pollers["a-prod"].poll()
        await asyncio.sleep(5)
    return simulator, logs


def test_a_restart_answered_429_then_withdrawn_keeps_no_place_in_the_fleet_window() -> None:
    """Before (probe_breaker F2): the 429'd try kept its place for a whole window after
    its alert resolved and it was withdrawn, and org A's failing connectors were held
    `breaker_open` by "1 restarts in the last 600s" when none had been made."""
    simulator, logs = virtualtime.run(alerts_429d_then_withdrawn())
    assert simulator.restarts(cluster="lkc-c001", accepted_only=False), "org C's restarts were tried"
    assert not simulator.restarts(cluster="lkc-c001"), "and none made"
    assert [e["outcome"] for e in logs if e["event"] == "restart_finished" and e["cluster"] == "c-prod"] == \
        ["cancelled"] * LIMIT
    held = [e["detail"] for e in logs if e["event"] == "decision" and e["cluster"] == "a-prod"
            and e["decision"] == "breaker_open"]
    assert held == [], held[:1]
    assert len({call.connector for call in simulator.restarts(cluster="lkc-a001")}) == LIMIT
