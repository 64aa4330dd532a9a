"""A restart asked for by name waits `queue.manual_restart_gap` after the connector's last restart.

Found by probing the restart API: the duplicate check holds only while a restart is queued, so a
careless loop (or a double click) restarted one connector 97 times in 20 s, each answered 202.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from watchdog.server import create_app

from .support import (
    CLOUD,
    CLUSTER,
    CLUSTER_ID,
    SELF_MANAGED,
    World,
    daemon_config,
    in_process,
    sim_scenario,
)
from .test_api import AUTH, CONNECTORS, RULES, TOKEN


def world(**config: Any) -> tuple[World, httpx.AsyncClient]:
    w = in_process(sim_scenario(CONNECTORS), daemon_config(RULES, token=TOKEN, **config), fake_time=True, rng=0.5)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    return w, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


async def answer(w: World, http: httpx.AsyncClient, connector: str = "billing-sink") -> dict[str, Any]:
    response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": connector}, headers=AUTH)
    assert response.status_code == 202, response.text
    await w.daemon.queue.join()
    return dict(response.json())


async def ask(w: World, http: httpx.AsyncClient, connector: str = "billing-sink") -> str:
    return str((await answer(w, http, connector))["decision"])


async def test_a_restart_asked_for_again_within_the_gap_is_refused_and_says_when_it_may_go() -> None:
    w, http = world(queue={"manual_restart_gap": 60})
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()

    decisions = [await ask(w, http)]
    with structlog.testing.capture_logs() as logs:
        for _ in range(20):  # a careless loop, a request a second
            w.clock.advance(1)
            decisions.append(await ask(w, http))
    w.clock.advance(40)  # 61 s after the first restart
    decisions.append(await ask(w, http))

    assert decisions == ["restart"] + ["recently_restarted"] * 20 + ["restart"]
    assert [c.connector for c in w.simulator.restarts()] == ["billing-sink", "billing-sink"]
    first_refusal = next(e for e in logs if e.get("decision") == "recently_restarted")
    assert first_refusal["detail"] == "restarted 1 s ago; asked for by name, it may go again in 59 s (queue.manual_restart_gap)"
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="manual", trigger="manual",
                    decision="recently_restarted") == 20


async def test_the_gap_counts_from_any_restart_and_holds_only_the_connector_restarted() -> None:
    w, http = world(queue={"manual_restart_gap": 60})
    w.daemon.queue.start()
    w.simulator.set_state(CLUSTER_ID, "orders-sink", "FAILED")
    await w.daemon.pollers[CLUSTER].poll()  # the status rule restarts orders-sink
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"]

    w.clock.advance(5)
    assert await ask(w, http, "orders-sink") == "recently_restarted"
    assert await ask(w, http, "billing-sink") == "restart"


async def test_a_gap_of_zero_turns_the_check_off() -> None:
    w, http = world(queue={"manual_restart_gap": 0})
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    assert [await ask(w, http) for _ in range(3)] == ["restart"] * 3
    assert len(w.simulator.restarts()) == 3


async def test_the_answer_says_why_and_when_the_connector_may_be_restarted_again() -> None:
    # The caller, not only the log, learns why nothing was queued.
    w, http = world(queue={"manual_restart_gap": 60})
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    first = await answer(w, http)
    w.clock.advance(15)
    again = await answer(w, http)
    assert first["decision"] == "restart" and first["detail"] == ""
    assert again["decision"] == "recently_restarted" and again["state"] == "skipped"
    assert again["detail"] == "restarted 15 s ago; asked for by name, it may go again in 45 s (queue.manual_restart_gap)"
    followed = (await http.get(f"/v1/restarts/{again['id']}", headers=AUTH)).json()
    assert followed["detail"] == again["detail"]


async def test_a_restart_refused_for_the_connectors_state_says_which_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # README: a restart not made "says its decision and why"; for a PAUSED or PROVISIONING
    # connector it said "not restarted (transient)" and nothing more.
    import asyncio

    import yaml

    from watchdog.cli import main
    from watchdog.simulator import Scenario, Simulator

    from .support import ENVIRONMENT, served

    simulator = Simulator(Scenario.model_validate(sim_scenario([
        {"name": "paused", "script": {"initial": "PAUSED"}}, {"name": "new", "script": {"initial": "PROVISIONING"}}])))
    async with served(simulator) as url:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump({
            "api": {"base_url": url}, "credentials": {"main": {}}, "state": {"path": str(tmp_path / "state.db")},
            "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        }))
        for connector, why in (("paused", "it is PAUSED: resume it"), ("new", "it is PROVISIONING: Confluent refuses")):
            code = await asyncio.to_thread(main, ["restart", "prod", connector, "--config", str(path), "--log-level", "ERROR"])
            assert code == 1
            assert f"prod/{connector}: not restarted (transient): {why}" in capsys.readouterr().out
    assert simulator.restarts() == []


MAY_HAVE_RUN = {
    # Kafka Connect's herder did not finish within 90 s; the worker still runs the restart.
    SELF_MANAGED: {"status": 500, "body": {"error_code": 500, "message": "Request timed out. The worker is currently "
                                                                         "ensuring membership in the cluster"}},
    # A gateway's 202 whose body says an error: the restart may or may not have been made.
    CLOUD: {"status": 202, "body": {"error": {"code": 500, "message": "Oops, something went wrong"}}},
}


@pytest.mark.parametrize("backend", [CLOUD, SELF_MANAGED])
async def test_a_restart_that_may_have_been_made_holds_the_gap_too(backend: str) -> None:
    # A restart by name ended `unconfirmed` (it may have been made; not sent again, the next poll
    # judges) and `watchdog restart --daemon` exited 1 on it: a script retrying on that exit, or a
    # person asking again at once, had it sent again a second later (the gap counted accepted
    # restarts only), a second restart of a connector the first may have restarted.
    w = in_process(sim_scenario(CONNECTORS, backend), daemon_config(RULES, token=TOKEN, backend=backend,
                   queue={"manual_restart_gap": 60}), fake_time=True, rng=0.5)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
        w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon")
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    w.simulator.set_faults([{"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": MAY_HAVE_RUN[backend]}])

    first = await answer(w, http)
    w.clock.advance(1)
    again = await answer(w, http)

    followed = (await http.get(f"/v1/restarts/{first['id']}", headers=AUTH)).json()
    assert followed["job"]["outcome"] == "unconfirmed", followed
    assert again["decision"] == "recently_restarted", again
    assert len(w.simulator.restarts(accepted_only=False)) == 1


async def test_a_dry_run_refuses_a_restart_by_name_within_the_gap_as_the_live_run_does() -> None:
    # Before: a dry run's restarts left no time of their own, so every restart by name within the
    # gap was answered `restart` (ending `dry_run`): the dry run promised restarts the live daemon
    # refuses (`recently_restarted`), after one by name as after a status rule's.
    w, http = world(queue={"manual_restart_gap": 60}, dry_run=True)
    w.daemon.queue.start()
    w.simulator.set_state(CLUSTER_ID, "orders-sink", "FAILED")
    await w.daemon.pollers[CLUSTER].poll()  # the status rule would restart orders-sink
    await w.daemon.queue.join()
    first = await answer(w, http)
    assert [r.outcome.value for r in w.daemon.state.history(None, 10)] == ["dry_run", "dry_run"]
    w.clock.advance(15)
    after_status, after_name = await answer(w, http, "orders-sink"), await answer(w, http)

    assert first["decision"] == "restart"
    assert after_status["decision"] == after_name["decision"] == "recently_restarted"
    assert after_name["detail"] == "restarted 15 s ago; asked for by name, it may go again in 45 s (queue.manual_restart_gap)"
    w.clock.advance(46)  # past the gap: the dry run would restart it again, as the live run would
    assert await ask(w, http) == "restart"
    assert w.simulator.restarts(accepted_only=False) == []


async def test_a_restart_whose_call_got_no_answer_holds_the_gap_and_says_it_may_have_been_made() -> None:
    # A restart endpoint that acts and then answers nothing (a read timeout, a connection reset
    # after the request went) ended the restart by name `network_error`, reported as a plain
    # failure, and `watchdog restart` exited 1: a script retrying on that exit (or a person asking
    # again at once) had it sent again a second later, a fifth restart of a connector the first
    # four calls may each have restarted (a probe, 2026-12-06). Its call got no answer: it ends
    # `unconfirmed`, not sent again (Confluent Cloud restarts every instance), holds the gap, and
    # says it may have been made.
    from watchdog.app import Daemon
    from watchdog.simulator import Scenario, Simulator

    from .support import served

    simulator = Simulator(Scenario.model_validate(sim_scenario(CONNECTORS, faults=[
        {"match": {"endpoint": "restart"}, "when": {"count": 2}, "action": {"reset": True}}])))
    async with served(simulator) as url:
        daemon = Daemon(daemon_config(RULES, base_url=url, token=TOKEN, queue={"manual_restart_gap": 60}, rate_limit={
            "max_retries": 1, "backoff": {"base": 0.01, "cap": 0.02}, "max_requests_per_second": 1000}))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
            daemon.metrics.registry, daemon.probes, daemon.api_context())), base_url="http://daemon")
        daemon.queue.start()
        await daemon.pollers[CLUSTER].poll()
        w = World(simulator, daemon)

        first = await answer(w, http)
        again = await answer(w, http)
        followed = (await http.get(f"/v1/restarts/{first['id']}", headers=AUTH)).json()
        await daemon.stop()

    assert followed["job"]["outcome"] == "unconfirmed", followed
    assert "may have reached the API" in followed["job"]["message"], followed
    assert again["decision"] == "recently_restarted", again
    assert len([c for c in simulator.calls if c.endpoint == "restart"]) == 1, "the one try, nothing more"
