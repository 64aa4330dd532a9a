"""What a daemon that runs for months must give back: reloads, again and again, leave nothing
open behind them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from watchdog.app import Daemon
from watchdog.config import load_config
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.queue import Phase
from watchdog.simulator import Scenario, Simulator, create_app

from .support import CLUSTER, KAFKA_CONNECT_NAME, SELF_MANAGED, sim_scenario, until
from .test_reload import HEAL, write

FAILING = {"name": "orders", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}


async def test_a_reload_that_redefines_a_self_managed_cluster_closes_the_client_it_replaced(
    tmp_path: Path, credentials_env: None
) -> None:
    # Each reload that changed a worker URL (or TLS, or auth) kept the replaced client, and its
    # pool of connections, open until the daemon stopped: one socket and about 0.3 MB more per
    # such reload (measured: 15 open files at start, 115 after 100 reloads, RSS 74 -> 159 MB).
    path = tmp_path / "config.yaml"
    url = f"http://sim/kafka-connect/{KAFKA_CONNECT_NAME}"
    one = {CLUSTER: {"backend": SELF_MANAGED, "urls": [url]}}
    two = {CLUSTER: {"backend": SELF_MANAGED, "urls": [url, f"http://sim-2/kafka-connect/{KAFKA_CONNECT_NAME}"]}}
    write(path, [HEAL], clusters=one)
    # Answers take 0.5 s, so that the restart below is on the wire while the reloads happen.
    simulator = Simulator(Scenario.model_validate(sim_scenario([FAILING], SELF_MANAGED, latency_seconds=0.5)))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    lane = daemon.config.lane_for(CLUSTER)
    daemon.queue.start()
    record = daemon.engine.on_request(ConnectorKey(CLUSTER, "orders"), None, trigger=Trigger.MANUAL,
                                      rule=MANUAL_RULE, reason="test", known_missing=False)
    assert record.job is not None
    await until(lambda: record.job is not None and record.job.phase is Phase.SENDING, "the restart on the wire")

    replaced = []
    for i in range(10):
        replaced.append(daemon.http[lane])
        write(path, [HEAL], clusters=two if i % 2 == 0 else one)
        assert await daemon.reload("test") is True

    await record.job.done.wait()
    assert record.job.outcome is Outcome.ACCEPTED, "a reload cut off the restart that was on the wire"
    await until(lambda: all(client.is_closed for client in replaced), "every replaced client closed", timeout=5)
    assert not daemon.http[lane].is_closed
    await daemon.pollers[CLUSTER].poll()
    assert daemon.pollers[CLUSTER].listed_at is not None, "the cluster could no longer be listed"
    await daemon.stop()



async def test_a_reload_that_removes_a_self_managed_cluster_closes_its_client_once_its_restarts_are_sent(
    tmp_path: Path, credentials_env: None
) -> None:
    # A self-managed cluster removed from the config kept its HTTP client, and its pooled
    # sockets, in the daemon for the rest of the process. A restart queued for it before the
    # reload must still go out: here one on the wire at the reload, answered 503 (Retry-After:
    # 1), and tried again after it; the client is closed once that restart has ended.
    path = tmp_path / "config.yaml"
    url = f"http://sim/kafka-connect/{KAFKA_CONNECT_NAME}"
    fast = {"backoff": {"base": 0.05, "cap": 0.1}}
    write(path, [HEAL], clusters={CLUSTER: {"backend": SELF_MANAGED, "urls": [url]}}, rate_limit=fast)
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1},
               "action": {"status": 503, "headers": {"Retry-After": "1"}}}]
    simulator = Simulator(Scenario.model_validate(
        sim_scenario([FAILING], SELF_MANAGED, latency_seconds=0.3, faults=faults)))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    client = daemon.http[daemon.config.lane_for(CLUSTER)]
    daemon.queue.start()
    record = daemon.engine.on_request(ConnectorKey(CLUSTER, "orders"), None, trigger=Trigger.MANUAL,
                                      rule=MANUAL_RULE, reason="test", known_missing=False)
    job = record.job
    assert job is not None
    await until(lambda: job.phase is Phase.SENDING, "the restart on the wire")

    write(path, [HEAL], clusters={"other": {"backend": SELF_MANAGED, "urls": [url]}}, rate_limit=fast)
    assert await daemon.reload("test") is True
    await job.done.wait()
    assert (job.outcome, job.tries) == (Outcome.ACCEPTED, 2), f"the removal kept the retry from going out: {job.message}"
    await until(lambda: client.is_closed, "the removed cluster's client closed", timeout=5)
    await daemon.stop()


async def test_a_reload_that_moves_a_self_managed_cluster_to_confluent_cloud_closes_its_client(
    tmp_path: Path, credentials_env: None
) -> None:
    # A cluster migrated to Confluent Cloud (its entry now an environment_id and
    # kafka_cluster_id): the workers' client, and its pooled sockets, stayed open for good.
    path = tmp_path / "config.yaml"
    url = f"http://sim/kafka-connect/{KAFKA_CONNECT_NAME}"
    write(path, [HEAL], clusters={CLUSTER: {"backend": SELF_MANAGED, "urls": [url]}})
    simulator = Simulator(Scenario.model_validate(sim_scenario([FAILING], SELF_MANAGED)))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    client = daemon.http[daemon.config.lane_for(CLUSTER)]
    write(path, [HEAL])  # the Cloud cluster of the same name
    assert await daemon.reload("test") is True
    await until(lambda: client.is_closed, "the self-managed cluster's client closed", timeout=5)
    assert not daemon.http[daemon.config.lane_for(CLUSTER)].is_closed
    await daemon.stop()


async def test_reloads_that_remove_self_managed_clusters_leave_no_lane_workers_or_series_behind(
    tmp_path: Path, credentials_env: None
) -> None:
    # Each reload that removed a self-managed cluster (here: renamed it) kept its lane for the
    # rest of the process: its rate limiter and gateway, 3 idle restart workers (tasks), and
    # about a hundred watchdog_api_requests / _ratelimit_* / _queue_depth series.
    path = tmp_path / "config.yaml"
    url = f"http://sim/kafka-connect/{KAFKA_CONNECT_NAME}"

    def only(name: str) -> None:
        write(path, [HEAL], clusters={name: {"backend": SELF_MANAGED, "urls": [url]}})

    def lane_series() -> set[str]:
        return {str(s.labels["credential"]) for m in daemon.metrics.registry.collect() for s in m.samples
                if str(s.labels.get("credential", "")).startswith("kafka-connect/")}

    only("workers-0")
    simulator = Simulator(Scenario.model_validate(sim_scenario([FAILING], SELF_MANAGED)))
    daemon = Daemon(load_config(path), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path), config_path=path)
    daemon.queue.start()
    tasks = len(asyncio.all_tasks())
    for i in range(1, 11):
        only(f"workers-{i}")
        assert await daemon.reload("test") is True
    await until(lambda: len(asyncio.all_tasks()) <= tasks, "the removed lanes' workers gone", timeout=5)
    assert sorted(lane for lane in daemon.gateways if lane.startswith("kafka-connect/")) == ["kafka-connect/workers-10"]
    assert lane_series() == {"kafka-connect/workers-10"}
    # A removed name added back gets a lane again, and its restarts go out.
    only("workers-3")
    assert await daemon.reload("test") is True
    await until(lambda: "kafka-connect/workers-10" not in daemon.gateways, "the lane of workers-10 let go", timeout=5)
    record = daemon.engine.on_request(ConnectorKey("workers-3", "orders"), None, trigger=Trigger.MANUAL,
                                      rule=MANUAL_RULE, reason="test", known_missing=False)
    assert record.job is not None
    await asyncio.wait_for(record.job.done.wait(), 5)
    assert record.job.outcome is Outcome.ACCEPTED, record.job.message
    await daemon.stop()
