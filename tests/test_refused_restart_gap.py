"""A restart call the API refused (401, 403, 500: no restart made) does not hold
`queue.manual_restart_gap`: the gap counts from the last restart accepted or possibly made.

Found by the runbook probe (2026-12-06): after 403s, the runbook's fix-up `watchdog restart --daemon
... --reason "key fixed"` was refused `recently_restarted: restarted 17 s ago` though `watchdog
status` said none of the attempts was accepted, and a schedule's run within the gap was dropped
("not made, its next run restarts it": tomorrow, for a nightly cron)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from structlog.testing import capture_logs

from .support import CLUSTER, CLUSTER_ID, daemon_config, in_process, sim_scenario
from .test_manual_gap import answer, world

REFUSALS = {"forbidden": {"status": 403}, "unauthorized": {"status": 401}, "server_error": {"status": 500}}


def _refuse(w: Any, outcome: str) -> None:
    # Every try of the status rule's restart refused (a 500 is tried again, then ends server_error).
    w.simulator.set_faults([{"match": {"endpoint": "restart", "connector": "orders-sink"}, "when": {"count": 10},
                             "action": REFUSALS[outcome]}])


@pytest.mark.parametrize("outcome", sorted(REFUSALS))
async def test_a_restart_by_name_right_after_a_refused_restart_is_made(outcome: str) -> None:
    w, http = world(queue={"manual_restart_gap": 60})
    w.daemon.queue.start()
    w.simulator.set_state(CLUSTER_ID, "orders-sink", "FAILED")
    _refuse(w, outcome)
    await w.daemon.pollers[CLUSTER].poll()  # the status rule's restart, refused
    await w.daemon.queue.join()
    assert [r.outcome.value for r in w.daemon.state.history(None, 10)] == [outcome]
    assert w.simulator.restarts(connector="orders-sink") == []
    w.simulator.set_faults([])  # the key fixed
    if outcome == "unauthorized":
        # A 401 holds the key's restarts until a call with it succeeds (connect/refusal.py): the
        # next poll, as the runbook's fix-up waits for (`poll_recovered`). Before, the restart by
        # name went at once, as a sure 401 would have while the key was still refused.
        await w.daemon.pollers[CLUSTER].poll()

    w.clock.advance(17)
    fixed = await answer(w, http, "orders-sink")

    assert (fixed["decision"], fixed["detail"]) == ("restart", ""), fixed
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"]
    assert w.daemon.state.history(None, 1)[0].outcome.value == "accepted"


async def test_a_refused_restart_after_an_accepted_one_leaves_the_accepted_ones_gap() -> None:
    # The guard: a restart made holds the gap, and a refused call after it neither lifts nor
    # lengthens it (measured from the restart made, 20 s before the request).
    w, http = world(queue={"manual_restart_gap": 60})
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    assert (await answer(w, http, "orders-sink"))["decision"] == "restart"
    w.clock.advance(10)
    w.simulator.set_state(CLUSTER_ID, "orders-sink", "FAILED")
    _refuse(w, "forbidden")
    await w.daemon.pollers[CLUSTER].poll()  # a failure restart, refused 403
    await w.daemon.queue.join()
    assert [r.outcome.value for r in w.daemon.state.history(None, 10)] == ["forbidden", "accepted"]
    w.clock.advance(10)

    again = await answer(w, http, "orders-sink")

    assert again["decision"] == "recently_restarted", again
    assert again["detail"] == "restarted 20 s ago; asked for by name, it may go again in 40 s (queue.manual_restart_gap)"
    assert len(w.simulator.restarts(connector="orders-sink")) == 1


FAILING = [{"name": "orders-sink", "id": "lcc-orders1", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]
HEAL = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
        "backoff": {"base": 600, "cap": 600, "jitter": 0}}
NIGHTLY = {"name": "nightly-orders", "trigger": {"type": "schedule", "interval": 86400},
           "select": {"connectors": ["orders-sink"]}}


@pytest.mark.parametrize("outcome", ["forbidden", "server_error"])
async def test_a_schedule_run_right_after_a_refused_restart_restarts_the_connector(outcome: str) -> None:
    w = in_process(sim_scenario(FAILING), daemon_config([HEAL, NIGHTLY]), fake_time=True)
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        _refuse(w, outcome)
        await daemon.pollers[CLUSTER].poll()  # the status rule's restart, refused
        await asyncio.wait_for(daemon.queue.join(), 10)
        w.simulator.set_faults([])
        w.clock.advance(2)
        with capture_logs() as logs:
            await asyncio.wait_for(daemon.run_schedule_rule("nightly-orders"), 10)
            await asyncio.wait_for(daemon.queue.join(), 10)
    finally:
        await daemon.stop()
    [said] = [e for e in logs if e["event"] == "decision" and e["rule"] == "nightly-orders"]
    assert said["decision"] == "restart", said
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"], "the nightly restart made, not dropped"


async def test_a_schedule_run_right_after_an_accepted_restart_is_still_refused() -> None:
    # The guard: an accepted restart 2 s before holds the schedule's run, naming it.
    w = in_process(sim_scenario(FAILING), daemon_config([HEAL, NIGHTLY]), fake_time=True)
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        await daemon.pollers[CLUSTER].poll()
        await asyncio.wait_for(daemon.queue.join(), 10)
        w.clock.advance(2)
        with capture_logs() as logs:
            await asyncio.wait_for(daemon.run_schedule_rule("nightly-orders"), 10)
            await asyncio.wait_for(daemon.queue.join(), 10)
    finally:
        await daemon.stop()
    [said] = [e for e in logs if e["event"] == "decision" and e["rule"] == "nightly-orders"]
    assert said["decision"] == "recently_restarted", said
    assert "restarted 2 s ago by rule heal (status)" in str(said["detail"]) and "accepted" in str(said["detail"])
    assert len(w.simulator.restarts()) == 1


@pytest.mark.parametrize(("message", "held"), [
    # A job that crashed (restart_queue.py): whether its call went is not known, so it holds the gap.
    ("internal error: RuntimeError: boom", True),
    # A call whose answer never came may have reached the API (dispatch.NO_ANSWER_NOTE).
    ("ReadTimeout; the last call got no answer: it may have reached the API, and the restart been made", True),
    # No connection made: nothing can have been restarted.
    ("ConnectError: [Errno 111] Connection refused", False),
])
def test_a_network_error_holds_the_gap_only_if_its_restart_may_have_been_made(message: str, held: bool) -> None:
    from datetime import datetime, timedelta, timezone

    from watchdog.engine.restart_gap import made_gap
    from watchdog.model import ConnectorKey, ConnectorState, HistoryRecord, Outcome, Trigger
    from watchdog.state import SqliteStateStore

    at = datetime(2026, 12, 6, 23, 0, tzinfo=timezone.utc)
    key = ConnectorKey(CLUSTER, "orders-sink")
    with SqliteStateStore(":memory:") as store:
        store.finish("j1", key, None, HistoryRecord(at=at, key=key, job_id="j1", rule="manual", trigger=Trigger.MANUAL,
                                                    triggers=(Trigger.MANUAL,), outcome=Outcome.NETWORK_ERROR,
                                                    message=message))
        gap = made_gap(store, key, ConnectorState(last_restart_at=at), at + timedelta(seconds=10), 60)
    assert (gap.left if gap is not None else 0.0) == (50.0 if held else 0.0)
