"""`held` (`watchdog status --daemon`'s "Held (a restart wanted, not made yet)", `"held"` of
/v1/connectors) for connectors an alert rule restarts, whose next decision waits for Alertmanager
to send the alert again (its `repeat_interval`, hours), not for a poll.

An audit (fleet breaker `max_restarts: 1`) found it backwards: a reload (one that changed a
comment) took `held: breaker_open` off the row of a firing alert the open breaker had refused, and
the row said NEXT ALLOWED `now` while nothing would restart it; an alert that resolved stayed
listed as "a restart wanted"; and the refusal of an alert that fired again after resolving went to
debug as a repeat, so no line said that firing was not acted on."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.config import Config
from watchdog.report import places_from_json, render_status, status_rows_from_json
from watchdog.server import create_app
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as simulator_app

from .support import CLUSTER, Clock, World, daemon_config, sim_scenario

TOKEN = "alert-holds-token-3c9e"
BREAKER = {"max_failing_share": None, "max_restarts": 1, "window": 600}


def _rule(alertname: str = "ConnectorFailed", **extra: Any) -> dict[str, Any]:
    return {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": alertname},
                                            "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
            "select": {"include": ["*"]}, **extra}


def _config(rules: list[dict[str, Any]]) -> Config:
    return daemon_config(rules, token=TOKEN, breaker=BREAKER)


class _Setup:
    """A daemon against the simulator, on fake time, whose reload reads `self.config`."""

    def __init__(self, rules: list[dict[str, Any]], connectors: list[str], running: tuple[str, ...] = ()) -> None:
        self.config = _config(rules)
        failing = {"initial": "FAILED", "recover_after_restarts": "never"}
        listed = [{"name": n, "script": failing} for n in connectors] + [{"name": n} for n in running]
        clock = Clock()
        simulator = Simulator(Scenario.model_validate(sim_scenario(listed)), clock=clock.monotonic)
        daemon = Daemon(self.config, transport=httpx.ASGITransport(app=simulator_app(simulator)), now=clock.wall,
                        rng=lambda: 0.0, reload_config=lambda: self.config)
        self.w = World(simulator, daemon, clock)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
            daemon.metrics.registry, daemon.probes, daemon.api_context())), base_url="http://daemon")

    async def alert(self, connector: str, status: str = "firing", alertname: str = "ConnectorFailed",
                    task: str = "0") -> dict[str, Any]:
        body = {"version": "4", "status": status, "alerts": [{
            "status": status, "startsAt": "2026-03-01T12:00:00Z",
            "labels": {"alertname": alertname, "kafka_cluster_id": CLUSTER, "connector": connector, "task": task}}]}
        answer = (await self.http.post("/v1/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})).json()
        await self.w.daemon.queue.join()
        return dict(answer["alerts"][0])

    async def shown(self) -> tuple[dict[str, Any], str]:
        """The `held` of /v1/connectors by connector, and the table `watchdog status --daemon` prints."""
        document = (await self.http.get("/v1/connectors", headers={"Authorization": f"Bearer {TOKEN}"})).json()
        assert self.w.clock is not None
        table = render_status(status_rows_from_json(document), now=self.w.clock.wall(),
                              places=places_from_json(document), failing=document["polls_failing"],
                              paused=document["polls_paused"])
        return {row["connector"]: row["held"] for row in document["connectors"]}, table

    async def reload(self, rules: list[dict[str, Any]] | None = None) -> None:
        if rules is not None:
            self.config = _config(rules)
        assert await self.w.daemon.reload("test") is True

    async def close(self) -> None:
        await self.w.daemon.queue.close(1.0)
        await self.http.aclose()


def _line(table: str, connector: str) -> str:
    return next(line for line in table.splitlines() if line.strip().startswith(connector + " "))


def _held_section(table: str) -> list[str]:
    lines = table.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Held")), None)
    if start is None:
        return []
    return [line.strip() for line in lines[start + 1:] if line.startswith("  ")]


async def _breaker_opened(s: _Setup) -> None:
    """The fleet breaker (max_restarts 1) opens on a-sink's restart."""
    s.w.daemon.queue.start()
    assert (await s.alert("a-sink"))["decision"] == "restart"
    assert [c.connector for c in s.w.simulator.calls if c.endpoint == "restart"] == ["a-sink"]


async def test_a_firing_alert_the_open_breaker_refused_stays_held_across_a_reload_while_its_rule_takes_it() -> None:
    s = _Setup([_rule()], ["a-sink", "b-sink"])
    try:
        await _breaker_opened(s)
        refused = await s.alert("b-sink")
        assert (refused["result"], refused["decision"]) == ("refused", "breaker_open"), refused
        held, table = await s.shown()
        assert held["b-sink"]["decision"] == "breaker_open", held
        decided_at = held["b-sink"]["at"]

        await s.reload()  # the same file (a comment changed): config_reloaded unchanged
        held, table = await s.shown()
        assert held["b-sink"] == {"decision": "breaker_open", "detail": refused["detail"], "at": decided_at}, held
        assert "held: breaker_open" in _line(table, "b-sink"), table
        assert any(line.startswith("prod/b-sink: breaker_open") for line in _held_section(table)), table

        # A rule that takes it renamed: the alert sent again is still decided for b-sink.
        await s.reload([{**_rule(), "name": "on-alert-renamed"}])
        held, _ = await s.shown()
        assert held["b-sink"] is not None and held["b-sink"]["decision"] == "breaker_open", held

        # The rule changed so that the alert is no longer taken (it still selects b-sink): nothing
        # would act on the alert when it comes again, so no restart is wanted of the watchdog.
        await s.reload([_rule("ConnectorLagging")])
        held, table = await s.shown()
        assert held["b-sink"] is None, held
        assert "held:" not in _line(table, "b-sink"), table
        await s.reload([_rule()])
        held, _ = await s.shown()
        assert held["b-sink"] is None, "a hold dropped is not made again by a reload"
    finally:
        await s.close()


async def test_a_resolved_alert_is_no_longer_held_unless_another_alert_still_fires_for_it() -> None:
    s = _Setup([_rule()], ["a-sink", "b-sink"])
    try:
        await _breaker_opened(s)
        assert (await s.alert("b-sink", task="0"))["decision"] == "breaker_open"
        assert (await s.alert("b-sink", task="1"))["decision"] == "breaker_open"

        assert (await s.alert("b-sink", "resolved", task="0"))["result"] == "resolved"
        held, table = await s.shown()
        assert held["b-sink"] is not None and held["b-sink"]["decision"] == "breaker_open", "task 1 still fires"

        assert (await s.alert("b-sink", "resolved", task="1"))["result"] == "resolved"
        held, table = await s.shown()
        assert held["b-sink"] is None, held
        assert "held:" not in _line(table, "b-sink"), table
        assert not any("b-sink" in line for line in _held_section(table)), table
        await s.reload()
        held, _ = await s.shown()
        assert held["b-sink"] is None, "a resolved alert's hold does not come back at a reload"
    finally:
        await s.close()


async def test_a_poll_that_sees_the_connector_running_does_not_take_an_alerts_hold_away() -> None:
    # An alert rule reports what the status API cannot see (a stall, lag): a status rule that
    # watches the same connector finds it RUNNING at every poll, and its `healthy` decision took
    # the alert's `held: breaker_open` off the row while the alert still fired.
    heal = {"name": "heal", "trigger": {"type": "status", "interval": 30, "confirm_polls": 1},
            "select": {"connectors": ["b-sink"]}}
    s = _Setup([heal, _rule()], ["a-sink"], running=("b-sink",))
    try:
        await _breaker_opened(s)
        assert (await s.alert("b-sink"))["decision"] == "breaker_open"
        await s.w.daemon.pollers[CLUSTER].poll()
        held, table = await s.shown()
        assert held["b-sink"] is not None and held["b-sink"]["decision"] == "breaker_open", held
        assert "held: breaker_open" in _line(table, "b-sink"), table
        # A restart made of it by another trigger (here by name) is what the alert wanted: the hold goes.
        answer = await s.http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "b-sink"},
                                   headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 202, answer.text
        await s.w.daemon.queue.join()
        assert [c.connector for c in s.w.simulator.calls if c.endpoint == "restart"] == ["a-sink", "b-sink"]
        await s.w.daemon.pollers[CLUSTER].poll()
        held, _ = await s.shown()
        assert held["b-sink"] is None, held
    finally:
        await s.close()


async def test_an_alert_that_fires_again_after_resolving_says_its_refusal_at_info() -> None:
    s = _Setup([_rule()], ["a-sink", "b-sink"])
    try:
        await _breaker_opened(s)
        with structlog.testing.capture_logs() as logs:
            await s.alert("b-sink")  # refused: said at info
            await s.alert("b-sink")  # Alertmanager's repeat of the same firing: a repeat, at debug
            await s.alert("b-sink", "resolved")
            again = await s.alert("b-sink")  # a new firing: news again
        assert again["decision"] == "breaker_open", again
        said = [(e["log_level"], e["decision"]) for e in logs if e["event"] == "decision" and e["connector"] == "b-sink"]
        assert said == [("info", "breaker_open"), ("debug", "breaker_open"), ("info", "breaker_open")], said
        held, _ = await s.shown()
        assert held["b-sink"] is not None and held["b-sink"]["decision"] == "breaker_open", held
    finally:
        await s.close()
