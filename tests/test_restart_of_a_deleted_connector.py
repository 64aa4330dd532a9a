"""A restart still queued when a poll that listed its cluster no longer shows its connector ends
`dropped`, naming that poll, once (engine/gone_jobs.py). Sent, each went out after the daemon had
logged `connector_vanished`, was answered 404 and logged at error (`not_found`), and spent a call
of the key's budget (a soak probe under name churn: 36 of 17,529 restarts)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from watchdog.model import ConnectorKey
from watchdog.queue import Phase

from .support import CLUSTER, CLUSTER_ID, HeldCalls, until
from .test_api import AUTH, alert, payload, restart_calls, world

GONE = "the poll at 12:00:05 UTC no longer lists it: deleted since it was asked; not sent (a call would be answered 404)"
KEY = ConnectorKey(CLUSTER, "orders-sink")


def _ends(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "restart_finished"]


async def test_an_alerts_restart_queued_when_a_poll_shows_its_connector_deleted_ends_dropped_naming_the_poll() -> None:
    w, http = world(fake_time=True)
    assert w.clock is not None
    await w.daemon.pollers[CLUSTER].poll()  # the queue not started: the restart waits its turn
    answer = (await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)).json()
    assert answer["alerts"][0]["result"] == "restart_requested"
    w.simulator.delete_connector(CLUSTER_ID, "orders-sink")
    w.clock.advance(5)
    with structlog.testing.capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
        (ended,) = _ends(logs)
        assert not w.daemon.queue.is_pending(KEY), "ended at the poll, not at its turn"
        w.daemon.queue.start()
        w.clock.advance(5)
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
    assert (ended["outcome"], ended["message"], ended["log_level"]) == ("dropped", GONE, "info")
    assert len(_ends(logs)) == 1, "said once"
    assert restart_calls(w) == 0, "no call spent on a 404"
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders-sink", rule="on-alert",
                    trigger="alert", outcome="dropped") == 1
    assert w.total("watchdog_restarts_total", outcome="not_found") == 0
    (record,) = (await http.get("/v1/history", params={"connector": "orders-sink"}, headers=AUTH)).json()["restarts"]
    assert (record["outcome"], record["message"]) == ("dropped", GONE)
    assert w.daemon.state.pending() == [], "nothing left for the next start to send"
    await w.daemon.engine.forget_vanished()  # the hourly sweep: its series go then, not for good
    assert w.total("watchdog_restarts_total", connector="orders-sink") == 0
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders-sink", rule="on-alert",
                    trigger="alert", outcome="dropped") == 0


async def test_a_restart_asked_for_by_name_then_deleted_says_dropped_when_followed() -> None:
    w, http = world(fake_time=True)
    assert w.clock is not None
    await w.daemon.pollers[CLUSTER].poll()
    asked = (await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"}, headers=AUTH)).json()
    assert asked["decision"] == "restart"
    w.simulator.delete_connector(CLUSTER_ID, "orders-sink")
    w.clock.advance(5)
    await w.daemon.pollers[CLUSTER].poll()
    followed = (await http.get(f"/v1/restarts/{asked['id']}", headers=AUTH)).json()
    assert (followed["state"], followed["job"]["outcome"], followed["job"]["message"]) == ("finished", "dropped", GONE)
    assert restart_calls(w) == 0


async def test_a_failed_poll_ends_nothing_and_the_next_that_works_does() -> None:
    w, http = world(fake_time=True)
    assert w.clock is not None
    await w.daemon.pollers[CLUSTER].poll()
    await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    w.simulator.delete_connector(CLUSTER_ID, "orders-sink")
    w.simulator.set_faults([{"match": {"endpoint": "list"}, "action": {"status": 503}}])
    await w.daemon.pollers[CLUSTER].poll()
    assert w.daemon.queue.is_pending(KEY), "a poll that failed proves nothing"
    w.simulator.set_faults([])
    w.clock.advance(5)
    with structlog.testing.capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()
    assert [(e["outcome"], e["message"]) for e in _ends(logs)] == [("dropped", GONE)]


async def test_a_restart_asked_for_while_the_list_call_was_out_is_not_ended_by_its_answer() -> None:
    # The answer may predate the connector (an alert's listing on demand found it meanwhile): it
    # proves nothing of a restart asked for after the call went out, which goes, its 404 the answer.
    w, http = world(fake_time=True)
    assert w.clock is not None
    await w.daemon.pollers[CLUSTER].poll()
    listing = HeldCalls(w, "/connectors?")
    poll = asyncio.create_task(w.daemon.pollers[CLUSTER].poll())
    await asyncio.wait_for(listing.reached.wait(), 10)
    w.clock.advance(1)
    await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    w.simulator.delete_connector(CLUSTER_ID, "orders-sink")
    listing.release()
    await poll
    assert w.daemon.queue.is_pending(KEY)


async def test_a_restart_on_the_wire_is_left_to_its_answer() -> None:
    w, http = world()
    await w.daemon.pollers[CLUSTER].poll()
    held = HeldCalls(w, "/connectors/orders-sink/restart")
    w.daemon.queue.start()
    await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    await asyncio.wait_for(held.reached.wait(), 10)
    job = w.daemon.queue.pending_job(KEY)
    assert job is not None and job.phase is Phase.SENDING
    w.simulator.delete_connector(CLUSTER_ID, "orders-sink")
    await w.daemon.pollers[CLUSTER].poll()
    assert job.outcome is None, "not ended while its call is out"
    held.release()
    await until(lambda: job.outcome is not None, "its answer")
    assert job.outcome.value == "not_found"
    await w.daemon.queue.close(0)
