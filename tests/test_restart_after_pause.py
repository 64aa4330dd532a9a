"""A restart a poll asked for, held by a pause of its API key (a 429's Retry-After), is judged on
a listing made after the pause, not on the one from before it (triggers/turn_listing.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from structlog.testing import capture_logs

from watchdog.model import Outcome

from .support import CLUSTER, CLUSTER_ID, World, daemon_config, in_process, sim_scenario, until

PAUSE = {"match": {"endpoint": "restart", "connector": "broken"}, "when": {"count": 1},
         "action": {"status": 429, "headers": {"Retry-After": "1"}}}
HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 3600, "confirm_polls": 1},
        "select": {"include": ["*"]}}


def _world() -> World:
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": "never"}},
                  {"name": "fine"}]
    return in_process(sim_scenario(connectors, faults=[PAUSE]),
                      daemon_config([HEAL], rate_limit={"max_requests_per_second": 1000}))


async def _restart_through_a_pause(w: World, meanwhile: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The status poll asks for the restart; its first call is answered 429 (1 s); `meanwhile`
    changes the connector while the key is paused; the job is followed to its end."""
    w.daemon.queue.start()
    with capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
        [job] = list(w.daemon.queue._pending.values())
        await until(lambda: job.rate_limited == 1, "the 429")
        meanwhile(w)
        await asyncio.wait_for(job.done.wait(), 30)
    await w.daemon.stop()
    return job, logs


@pytest.mark.parametrize(("meanwhile", "said"), [
    # Recovered by itself while the key was paused (Confluent often recovers connectors).
    (lambda w: w.simulator.set_state(CLUSTER_ID, "broken", "RUNNING"), "connector healthy again before its turn"),
    # Deleted while the key was paused: its restart went and was answered 404.
    (lambda w: w.simulator.delete_connector(CLUSTER_ID, "broken"), "vanished: its cluster's latest listing no longer shows it"),
    # Deleted and created again under its name, healthy (a new lcc- id): its restart went, and
    # stopped every task of the new connector.
    (lambda w: (w.simulator.delete_connector(CLUSTER_ID, "broken"),
                w.simulator.add_connector(CLUSTER_ID, {"name": "broken", "id": "lcc-new1"})),
     "connector healthy again before its turn"),
], ids=["recovered", "deleted", "re-created"])
async def test_a_restart_held_by_a_pause_is_not_sent_once_a_new_listing_says_it_is_not_needed(
    meanwhile: Any, said: str,
) -> None:
    w = _world()
    job, logs = await _restart_through_a_pause(w, meanwhile)
    assert job.outcome is Outcome.DROPPED and job.message.startswith(said), job.message
    restarts = [c for c in w.simulator.calls if c.endpoint == "restart"]
    assert [c.status_code for c in restarts] == [429], "only the refused call: nothing was restarted"
    lists = [c for c in w.simulator.calls if c.endpoint == "list"]
    assert len(lists) == 2, "the poll's listing, and one after the pause"


async def test_a_restart_held_by_a_pause_still_needed_goes_after_the_new_listing() -> None:
    w = _world()
    job, _ = await _restart_through_a_pause(w, lambda w: None)
    assert (job.outcome, job.tries) == (Outcome.ACCEPTED, 2)
    calls = [(c.endpoint, c.status_code) for c in w.simulator.calls]
    assert calls == [("list", 200), ("restart", 429), ("list", 200), ("restart", 202)], calls
