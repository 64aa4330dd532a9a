"""Upgrading over state an older release wrote: what protected connectors carries over, and
nothing that release kept by mistake holds them back (samples in tests/state_samples.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.model import Outcome
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state import SqliteStateStore

from .state_samples import (
    OLDER_DRY_RUN_AT,
    OLDER_DRY_RUN_RECORDS,
    OLDER_DRY_RUN_STATE,
    ORDERS,
    record,
)
from .support import CLUSTER, Clock, daemon_config, sim_scenario

HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 30, "confirm_polls": 1},
        "select": {"connectors": [ORDERS.connector]}, "backoff": {"base": 600, "cap": 3600, "jitter": 0}, "max_restarts": 2}


async def test_going_live_after_an_older_release_ran_in_dry_run_restarts_what_it_only_pretended_to(
    tmp_path: Path,
) -> None:
    """A release before dry-run attempts were kept in memory ran in dry-run (the runbook's first
    step in an incident) and wrote its two would-be restarts into the state file as attempts:
    gave-up. Upgraded and made live, this release took them for real and never restarted the
    failing connector (budget_spent, for good). Those attempts are now forgotten at the start."""
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as older:
        for sample in OLDER_DRY_RUN_RECORDS:
            older.finish(sample.job_id, ORDERS, OLDER_DRY_RUN_STATE, sample)
    clock = Clock()
    clock.advance((OLDER_DRY_RUN_AT - clock.wall()).total_seconds() + 60)
    simulator = Simulator(Scenario.model_validate(sim_scenario(
        [{"name": ORDERS.connector, "script": {"initial": "FAILED", "recover_after_restarts": "never"}}])), clock=clock.monotonic)
    config = daemon_config([HEAL], state={"path": str(path)}, rate_limit={"max_requests_per_second": 10000})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall, rng=lambda: 0.5)
    with structlog.testing.capture_logs() as logs:
        await daemon.start(serve_http=False)
        statuses = await daemon.pollers[CLUSTER].list()
        assert statuses is not None
        await daemon.engine.on_poll(CLUSTER, statuses)
        await daemon.queue.join()
        await daemon.stop()
    assert [c.status_code for c in simulator.calls if c.endpoint == "restart"] == [202]
    (forgotten,) = [e for e in logs if e["event"] == "dry_run_attempts_forgotten"]
    assert forgotten["connectors"] == 1
    with SqliteStateStore(path) as store:
        assert store.load(ORDERS).attempts == 1, "the live restart counts, the dry run's do not"
        assert [r.outcome for r in store.history(ORDERS)][0] is Outcome.ACCEPTED


async def test_a_restart_that_went_out_before_the_dry_run_still_counts(tmp_path: Path) -> None:
    """Live once, then two dry-run restarts by the older release: one attempt is left, with the
    backoff the store had (longer, never shorter), and gave-up is decided again by the count."""
    path = tmp_path / "state.db"
    live_at = OLDER_DRY_RUN_RECORDS[0].at - timedelta(minutes=5)
    state = replace(OLDER_DRY_RUN_STATE, attempts=3)
    with SqliteStateStore(path) as older:
        older.finish("live-1", ORDERS, replace(state, attempts=1), record("live-1", at=live_at, attempt=1))
        for sample in OLDER_DRY_RUN_RECORDS:
            older.finish(sample.job_id, ORDERS, state, replace(sample, attempt=(sample.attempt or 0) + 1))
    clock = Clock()
    clock.advance((OLDER_DRY_RUN_AT - clock.wall()).total_seconds() + 1)
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": ORDERS.connector}])), clock=clock.monotonic)
    config = daemon_config([HEAL], state={"path": str(path)})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)), now=clock.wall, rng=lambda: 0.5)
    await daemon.start(serve_http=False)
    await daemon.stop()
    with SqliteStateStore(path) as store:
        assert store.load(ORDERS) == replace(state, attempts=1, gave_up=False, last_restart_at=live_at)
