"""An alert that comes moments after the connector was restarted (by name here; by a schedule
alike): its restart waits, queued, for the rule's first backoff gap after that restart, and is
withdrawn if the alert resolves meanwhile (queue/deferral.py, alert_intake.settling).

Before, a restart by name (or a schedule's) flipped the connector's status for a moment, the
alert Prometheus derived from it fired, and the watchdog restarted the connector again seconds
after the first restart: two restarts for one plan. The rule's backoff here is short (base 0.5 s:
a first gap of 1 s) so that the wait runs on the event loop's own clock within the test."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.config import Config
from watchdog.model import ConnectorKey
from watchdog.server import create_app
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as simulator_app

from .support import CLUSTER, Clock, World, daemon_config, sim_scenario

TOKEN = "alert-after-restart-token-51d2"
GAP = 1.0  # the rule's first backoff gap: 2 x base


def _rule() -> dict[str, Any]:
    return {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorFailed"},
                                            "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
            "select": {"include": ["*"]}, "backoff": {"base": GAP / 2, "cap": 60}}


def _config(manual_gap: float = 60.0, state: str = ":memory:") -> Config:
    return daemon_config([_rule()], token=TOKEN, queue={"manual_restart_gap": manual_gap}, state={"path": state})


class _Setup:
    def __init__(self, config: Config) -> None:
        clock = Clock()
        simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders-sink"}])), clock=clock.monotonic)
        daemon = Daemon(config, transport=httpx.ASGITransport(app=simulator_app(simulator)), now=clock.wall,
                        rng=lambda: 0.0)
        self.w = World(simulator, daemon, clock)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
            daemon.metrics.registry, daemon.probes, daemon.api_context())), base_url="http://daemon")
        daemon.queue.start()

    def restarts(self) -> int:
        return sum(1 for call in self.w.simulator.calls if call.endpoint == "restart")

    async def by_name(self) -> dict[str, Any]:
        answer = await self.http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"},
                                      headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code < 300, answer.text
        return dict(answer.json())

    async def alert(self, status: str = "firing") -> dict[str, Any]:
        body = {"version": "4", "status": status, "alerts": [{
            "status": status, "startsAt": "2026-03-01T12:00:00Z",
            "labels": {"alertname": "ConnectorFailed", "kafka_cluster_id": CLUSTER, "connector": "orders-sink"}}]}
        answer = await self.http.post("/v1/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        return dict(answer.json()["alerts"][0])

    async def restarted_by_name(self) -> None:
        """The connector restarted by name, the restart made."""
        await self.by_name()
        await self.settled()
        assert self.restarts() == 1

    async def settled(self) -> None:
        await asyncio.wait_for(self.w.daemon.queue.join(), 10)

    async def close(self) -> None:
        await self.w.daemon.queue.close(1.0)
        await self.http.aclose()


async def test_an_alert_moments_after_a_restart_by_name_waits_for_the_gap_then_restarts_once() -> None:
    s = _Setup(_config())
    try:
        await s.restarted_by_name()
        assert s.restarts() == 1
        with structlog.testing.capture_logs() as logs:
            answer = await s.alert()
            assert (answer["result"], answer["decision"]) == ("restart_requested", "restart"), answer
            assert answer["detail"].startswith("deferred 1 s, held until "), answer
            await asyncio.sleep(GAP / 2)
            assert s.restarts() == 1, "not sent within the gap after the restart by name"
            job = s.w.daemon.queue.pending_job(ConnectorKey(CLUSTER, "orders-sink"))
            assert job is not None and job.message.startswith("deferred"), "status says what it waits for"
            await s.settled()
        assert s.restarts() == 2, "the alert still firing once the gap passed: its restart goes"
        queued = next(e for e in logs if e["event"] == "restart_queued")
        assert queued["deferred_seconds"] == 1 and "withdrawn if the alert resolves before then" in queued["note"]
        finished = next(e for e in logs if e["event"] == "restart_finished")
        assert finished["outcome"] == "accepted" and not finished.get("message", "").startswith("deferred")
    finally:
        await s.close()


async def test_a_deferred_restarts_detail_promises_no_time_already_past() -> None:
    """GET /v1/restarts/{id} after the gap: the detail said "sent at <time> unless the alert
    resolves first" for a time gone by, read at 3 a.m. as a promise not kept. It says what the
    wait was, in the past, and the job's message what it waits for now (nothing)."""
    s = _Setup(_config())
    try:
        await s.restarted_by_name()
        answer = await s.alert()
        await s.settled()
        assert s.restarts() == 2
        followed = (await s.http.get(f"/v1/restarts/{answer['request_id']}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})).json()
        assert followed["state"] == "finished", followed
        assert "sent at" not in followed["detail"] and "unless the alert resolves" not in followed["detail"], followed
        assert "held until" in followed["detail"] and "withdrawn if the alert resolves before then" in followed["detail"]
        assert not followed["job"]["message"].startswith("deferred"), "the wait is over: not said of the job"
    finally:
        await s.close()


async def test_an_alert_that_resolves_within_the_gap_restarts_nothing() -> None:
    s = _Setup(_config())
    try:
        await s.restarted_by_name()
        assert (await s.alert())["result"] == "restart_requested"
        await asyncio.sleep(GAP / 2)  # Alertmanager's resolution comes some time after the firing
        resolved = await s.alert("resolved")
        assert (resolved["result"], resolved["detail"]) == ("cancelled", "withdrew 1 queued restart(s)"), resolved
        await asyncio.sleep(GAP * 1.5)
        assert s.restarts() == 1, "the alert was the restart's own flip: no second restart"
        assert s.w.daemon.queue.depth() == 0
    finally:
        await s.close()


async def test_an_alert_long_after_the_last_restart_goes_at_once() -> None:
    s = _Setup(_config())
    try:
        await s.restarted_by_name()
        assert s.w.clock is not None
        s.w.clock.t += GAP + 1  # the gap after the restart by name is over
        answer = await s.alert()
        assert (answer["result"], answer["detail"]) == ("restart_requested", ""), answer
        await s.settled()
        assert s.restarts() == 2
    finally:
        await s.close()


async def test_a_request_by_name_joining_a_deferred_restart_sends_it_now() -> None:
    s = _Setup(_config(manual_gap=0))
    try:
        await s.restarted_by_name()
        assert (await s.alert())["detail"].startswith("deferred")
        joined = await s.by_name()
        assert joined["decision"] == "duplicate", joined
        await asyncio.wait_for(s.w.daemon.queue.join(), GAP / 2)  # not after the gap: a person asked now
        assert s.restarts() == 2
    finally:
        await s.close()


async def test_a_shutdown_keeps_a_deferred_restart_for_the_next_start_without_waiting_its_deadline(tmp_path: Path) -> None:
    s = _Setup(_config(state=str(tmp_path / "state.db")))
    await s.restarted_by_name()
    assert (await s.alert())["detail"].startswith("deferred")
    loop = asyncio.get_running_loop()
    began = loop.time()
    unsent = await s.w.daemon.queue.close(20.0)
    assert loop.time() - began < 1.0, "the deferred restart did not hold the shutdown for its 20 s deadline"
    assert [job.key.connector for job in unsent] == ["orders-sink"]
    assert "still deferred when the daemon stopped" in unsent[0].message
    kept = s.w.daemon.engine.state.pending()
    assert [row.request.key.connector for row in kept] == ["orders-sink"], "kept for the next start"
    assert s.restarts() == 1
    await s.http.aclose()
    s.w.daemon.state.close()


async def test_a_request_by_name_within_the_manual_gap_does_not_hurry_a_deferred_restart() -> None:
    # A second `watchdog restart` (a double click, a script retrying) 8 s after the first joined
    # the alert's deferred restart and sent it at once: the connector restarted twice in 8 s,
    # where without the alert the same request is refused `recently_restarted`.
    s = _Setup(_config(manual_gap=60))
    try:
        await s.restarted_by_name()
        assert (await s.alert())["detail"].startswith("deferred")
        again = await s.http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"},
                                  headers={"Authorization": f"Bearer {TOKEN}"})
        body = again.json()
        assert body["decision"] == "recently_restarted", body
        assert "an alert's restart of it is queued meanwhile (deferred" in body["detail"], body
        await asyncio.sleep(GAP / 2)
        assert s.restarts() == 1, "the deferred restart still waits"
        await s.settled()
        assert s.restarts() == 2, "and goes once the gap after the restart by name has passed"
    finally:
        await s.close()


async def _kept_deferred_then_started_again(tmp_path: Path, *, after: float = 0.0) -> tuple[_Setup, Daemon, httpx.AsyncClient]:
    """The alert's restart deferred, the daemon stopped (a rollout) with it kept, and started again
    `after` seconds later on the same state file: the second daemon, started, and its API."""
    s = _Setup(_config(state=str(tmp_path / "state.db")))
    await s.restarted_by_name()
    assert (await s.alert())["detail"].startswith("deferred")
    await s.w.daemon.queue.close(5.0)
    await s.http.aclose()
    s.w.daemon.state.close()
    assert s.w.clock is not None
    s.w.clock.t += after
    again = Daemon(_config(state=str(tmp_path / "state.db")),
                   transport=httpx.ASGITransport(app=simulator_app(s.w.simulator)), now=s.w.clock.wall,
                   rng=lambda: 0.0)
    await again.start(serve_http=False)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
        again.metrics.registry, again.probes, again.api_context())), base_url="http://daemon")
    return s, again, http


async def test_a_deferred_restart_kept_at_a_stop_waits_out_what_is_left_of_its_gap_at_the_next_start(
    tmp_path: Path,
) -> None:
    """Before, the next start sent it at once (a rollout 2 s after the alert: the connector restarted
    twice in 6 s), though the webhook's answer and the stop said "sent at ... unless the alert resolves
    first". It waits out what is left of the gap after the connector's last restart, and says so."""
    with structlog.testing.capture_logs() as logs:
        s, again, http = await _kept_deferred_then_started_again(tmp_path, after=GAP / 4)
        try:
            job = again.queue.pending_job(ConnectorKey(CLUSTER, "orders-sink"))
            assert job is not None and job.message.startswith("deferred"), "status says what it waits for"
            await asyncio.sleep(GAP / 4)
            assert s.restarts() == 1, "sent at once at the start, within the gap after the restart by name"
            await asyncio.wait_for(again.queue.join(), 10)
            assert s.restarts() == 2, "the alert still firing once the gap passed: its restart goes"
        finally:
            await http.aclose()
            await again.stop()
    (said,) = [e for e in logs if e["event"] == "recovered_request_deferred"]
    assert said["connector"] == "orders-sink" and said["deferred_seconds"] == round(GAP * 3 / 4, 1), said
    assert "withdrawn if the alert resolves before then" in said["note"]
    # Whatever ended the daemon before (a kill -9 too): not "kept it ... when it stopped", read as a clean stop.
    assert said["note"].endswith("; deferred again at this start: the daemon before left it queued, unsent"), said["note"]


async def test_an_alert_that_resolves_after_a_restart_of_the_daemon_withdraws_its_kept_deferred_restart(
    tmp_path: Path,
) -> None:
    s, again, http = await _kept_deferred_then_started_again(tmp_path)
    try:
        await asyncio.sleep(GAP / 4)  # Alertmanager's resolution comes some time after the start
        body = {"version": "4", "status": "resolved", "alerts": [{
            "status": "resolved", "startsAt": "2026-03-01T12:00:00Z",
            "labels": {"alertname": "ConnectorFailed", "kafka_cluster_id": CLUSTER, "connector": "orders-sink"}}]}
        answer = await http.post("/v1/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        resolved = answer.json()["alerts"][0]
        assert (resolved["result"], resolved["detail"]) == ("cancelled", "withdrew 1 queued restart(s)"), resolved
        await asyncio.sleep(GAP * 1.5)
        assert s.restarts() == 1, "the alert was the restart's own flip: no second restart"
    finally:
        await http.aclose()
        await again.stop()
