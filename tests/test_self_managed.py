"""What differs on self-managed Kafka Connect: only failed instances are restarted when the status
showed the failure, 409 during a rebalance is retried, worker URLs fail over, and config can mix
both kinds of cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import yaml

from bench import virtualtime
from watchdog.app import Daemon
from watchdog.config import ConfigError, load_config
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, KAFKA_CONNECT_NAME, SELF_MANAGED, daemon_config, sim_scenario

HEAL = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}
FAST = {"max_requests_per_second": 10000, "backoff": {"base": 0.2, "cap": 0.5}, "max_retries": 8}


def daemon(simulator: Simulator) -> Daemon:
    config = daemon_config([HEAL], backend=SELF_MANAGED, rate_limit=FAST)
    d = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)))
    d.queue.start()
    return d


async def test_a_status_restart_restarts_only_the_failed_task() -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario(
        [{"name": "partly", "tasks": 3, "script": {"initial": "DEGRADED", "recover_after_restarts": 1}}],
        SELF_MANAGED, restart={"delay_seconds": 5})))
    d = daemon(simulator)
    await d.pollers[CLUSTER].poll()
    await d.queue.join()
    (job,) = d.recorder.finished_jobs
    assert job.outcome is Outcome.ACCEPTED and job.status_code == 202
    status = (await d.backends[CLUSTER].connector_status("partly")).value
    assert [t.state for t in status.tasks] == ["RUNNING", "RUNNING", "RESTARTING"], "includeTasks=true&onlyFailed=true"
    await d.stop()


async def test_a_manual_restart_restarts_every_instance() -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "fine", "tasks": 2}], SELF_MANAGED,
                                                                restart={"delay_seconds": 5})))
    d = daemon(simulator)
    await d.pollers[CLUSTER].poll()
    record = d.engine.on_request(ConnectorKey(CLUSTER, "fine"), d.engine.statuses[ConnectorKey(CLUSTER, "fine")],
                                 trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="test")
    await d.queue.join()
    assert record.job.outcome is Outcome.ACCEPTED
    status = (await d.backends[CLUSTER].connector_status("fine")).value
    assert status.state == "RESTARTING" and [t.state for t in status.tasks] == ["RESTARTING", "RESTARTING"]
    await d.stop()


async def test_409_during_a_rebalance_is_retried_after_a_short_wait() -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario(
        [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1}}], SELF_MANAGED)))
    d = daemon(simulator)
    simulator.start_rebalance(KAFKA_CONNECT_NAME, 0.6)
    await d.pollers[CLUSTER].poll()
    await asyncio.wait_for(d.queue.join(), 10)
    (job,) = d.recorder.finished_jobs
    codes = [c.status_code for c in simulator.calls if c.endpoint == "restart"]
    assert codes[0] == 409 and codes[-1] == 202 and set(codes[:-1]) == {409}
    assert job.outcome is Outcome.ACCEPTED and job.tries == len(codes)
    await d.stop()


async def test_a_dead_worker_fails_over_to_the_next() -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "fine"}], SELF_MANAGED)))
    config = daemon_config([HEAL], backend=SELF_MANAGED, rate_limit=FAST)
    cluster = config.clusters[CLUSTER].model_copy(update={"urls": ["http://127.0.0.1:9", f"http://sim/kafka-connect/{KAFKA_CONNECT_NAME}"]})
    config = config.model_copy(update={"clusters": {CLUSTER: cluster}})
    app_transport = httpx.ASGITransport(app=create_app(simulator))

    asked: list[str] = []

    class DeadFirstWorker(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            asked.append(f"{request.url.host}:{request.url.port}")
            if request.url.port == 9:
                raise httpx.ConnectError("connection refused", request=request)
            return await app_transport.handle_async_request(request)

    d = Daemon(config, transport=DeadFirstWorker())
    await d.pollers[CLUSTER].poll()
    assert ConnectorKey(CLUSTER, "fine") in d.engine.statuses
    assert asked[0] == "127.0.0.1:9", "the first worker listed is asked first"
    assert asked[1:] == ["sim:None"], "then the next one, once, which answers the poll"
    assert [c.endpoint for c in simulator.calls] == ["list"]
    assert w_polls_ok(d) == 1
    await d.stop()


def w_polls_ok(d: Daemon) -> float:
    return d.metrics.registry.get_sample_value("watchdog_polls_total", {"cluster": CLUSTER, "result": "ok"}) or 0.0


def test_a_config_can_mix_cloud_and_self_managed_clusters(tmp_path: Path, credentials_env: None) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "credentials": {"main": {}},
        "clusters": {
            "cloud": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"},
            "onprem": {"backend": "kafka_connect", "urls": ["http://connect-1:8083", "http://connect-2:8083"]},
        },
        "rules": [HEAL],
    }))
    config = load_config(path)
    assert config.lane_for("cloud") == "main" and config.lane_for("onprem") == "kafka-connect/onprem"
    assert config.credential_for(config.clusters["onprem"]) is None, "no auth unless the cluster names a credential"


@pytest.mark.parametrize(
    ("cluster", "error"),
    [
        ({"backend": "kafka_connect", "urls": []}, "clusters.onprem.urls: List should have at least 1 item"),
        ({"backend": "kafka_connect", "urls": ["connect-1:8083"]}, "clusters.onprem.urls[0]: 'connect-1:8083' is not valid"),
        ({"backend": "kafka_connect", "urls": ["http://c:8083"], "tls": {"cert_file": "/nope.pem", "key_file": "/nope.key"}},
         "clusters.onprem.tls.cert_file: file /nope.pem does not exist or is not a file"),
        ({"backend": "kafka_connect", "urls": ["http://c:8083"], "credential": "nobody"}, "clusters.onprem.credential: unknown credential 'nobody'"),
        ({"backend": "mystery", "urls": ["http://c:8083"]}, "clusters.onprem"),
    ],
)
def test_self_managed_cluster_config_errors(tmp_path: Path, credentials_env: None, cluster: dict, error: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"credentials": {"main": {}}, "clusters": {"onprem": cluster}}))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert error in str(caught.value)


def virtual_daemon(scenario: dict[str, object]) -> tuple[Simulator, Daemon]:
    """daemon() on virtual time (bench/virtualtime.py): the daemon's timers and the simulator's
    clock, a slow worker's delay included, are the loop's. What a test then measures is the
    daemon's waiting alone, not a loaded machine's late wake-ups; code takes no time at all."""
    from bench import fixtures

    simulator = Simulator(Scenario.model_validate(scenario), clock=asyncio.get_running_loop().time)
    d = fixtures.virtual_daemon(daemon_config([HEAL], backend=SELF_MANAGED, rate_limit=FAST), simulator)
    d.queue.start()
    return simulator, d


def test_a_restart_waiting_for_a_slow_worker_holds_up_neither_polls_nor_other_restarts() -> None:
    """Real workers (4.3.1) answer a restart only after 30 s ("Error writing restart request")
    to 90 s ("Request timed out") while the broker or the leader is stuck, and answer the list at
    once from their cache. Kafka Connect has no rate limit to discover, yet its lane sent one call
    at a time, as for an unknown Confluent limit: a second failed connector's restart waited
    120 s for the first one's answer, and the next poll 297 s. On virtual time (virtual_daemon)."""
    slow = 1.5

    async def run() -> None:
        _, d = virtual_daemon(sim_scenario(
            [{"name": f"broken-{i}", "script": {"initial": "FAILED"}} for i in range(2)], SELF_MANAGED,
            faults=[{"match": {"endpoint": "restart"}, "action": {"delay_seconds": slow}}]))
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await d.pollers[CLUSTER].poll()
            await asyncio.sleep(0.2)  # both restarts are on the wire, waiting for the worker
            assert len(d.queue.pending_keys()) == 2
            polled = loop.time()
            await asyncio.wait_for(d.pollers[CLUSTER].poll(), slow / 2)
            assert loop.time() - polled < slow / 2, "the poll did not wait for a restart's answer"
            await asyncio.wait_for(d.queue.join(), 10)
            assert loop.time() - started < 2 * slow, "the two restarts waited for the worker together, not in turn"
            assert [job.outcome for job in d.recorder.finished_jobs] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
            assert w_polls_ok(d) == 2
        finally:
            await d.stop()

    virtualtime.run(run())


def test_a_poll_is_not_held_up_when_every_slot_could_hold_a_slow_restart() -> None:
    """A broker outage fails many connectors at once, and a restart then waits 30 to 90 s for
    each worker's answer: with as many restarts waiting as the lane has slots
    (`max_concurrent_requests`), the poll waited for one of them, and alerts and API requests
    were told the cluster could not be listed. Restarts take at most all slots but one. On
    virtual time (virtual_daemon)."""
    slow = 1.5

    async def run() -> None:
        _, d = virtual_daemon(sim_scenario(
            [{"name": f"broken-{i}", "script": {"initial": "FAILED"}} for i in range(6)]
            + [{"name": f"fine-{i}"} for i in range(20)], SELF_MANAGED,
            faults=[{"match": {"endpoint": "restart"}, "action": {"delay_seconds": slow}}]))
        try:
            loop = asyncio.get_running_loop()
            await d.pollers[CLUSTER].poll()
            await asyncio.sleep(0.2)  # the restarts are on the wire, waiting for the worker
            polled = loop.time()
            await asyncio.wait_for(d.pollers[CLUSTER].poll(), slow / 2)
            assert loop.time() - polled < slow / 2, "the poll did not wait for a restart's answer"
            await asyncio.wait_for(d.queue.join(), 20)
            assert [job.outcome for job in d.recorder.finished_jobs] == [Outcome.ACCEPTED] * 6
        finally:
            await d.stop()

    virtualtime.run(run())


def test_a_relative_tls_file_that_is_not_found_says_where_it_was_looked_for(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `ca_file: ca.pem` beside the config file was refused as "file ca.pem does not exist": it is
    # read from the working directory, and nothing said so.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "ca.pem").write_text("not read")
    path = tmp_path / "etc" / "config.yaml"
    path.write_text(yaml.safe_dump({"credentials": {"main": {}}, "clusters": {"onprem": {
        "backend": "kafka_connect", "urls": ["https://c:8083"], "tls": {"ca_file": "ca.pem"}}}}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [("clusters.onprem.tls.ca_file", (
        f"file ca.pem does not exist or is not a file (looked for as {tmp_path / 'ca.pem'}: a relative path is read "
        "from the working directory, not the config file's)"))]
