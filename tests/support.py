"""Helpers for daemon tests: a simulated Confluent Cloud (or self-managed Kafka Connect cluster)
and a config pointing at it.

`backend` chooses which: the same rules and guards must hold for both, so the tests of rules and
guards run against each (the `backend` fixture in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.config import Config, Credential, build_config
from watchdog.leadership.elector import Elector
from watchdog.simulator import Scenario, Simulator, create_app, serve

from .conftest import TEST_API_KEY, TEST_API_SECRET

ENVIRONMENT = "env-abc123"
CLUSTER_ID = "lkc-prod01"
CLUSTER = "prod"
CLOUD, SELF_MANAGED = "confluent_cloud", "kafka_connect"
KAFKA_CONNECT_NAME = "connect-prod"  # the simulator's name for the self-managed cluster


def sim_cluster(backend: str = CLOUD) -> str:
    """How the simulator names the cluster (for its control calls and its call record)."""
    return CLUSTER_ID if backend == CLOUD else KAFKA_CONNECT_NAME


def sim_scenario(connectors: list[dict[str, Any]], backend: str = CLOUD, **settings: Any) -> dict[str, Any]:
    scenario: dict[str, Any] = {"api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}]}
    if backend == CLOUD:
        scenario["environments"] = [{"id": ENVIRONMENT, "clusters": [{"id": CLUSTER_ID, "connectors": copy.deepcopy(connectors)}]}]
    else:
        scenario["environments"] = []
        scenario["kafka_connect_clusters"] = [{"name": KAFKA_CONNECT_NAME, "connectors": copy.deepcopy(connectors)}]
    return {**scenario, **settings}


def cluster_config(backend: str, base_url: str) -> dict[str, Any]:
    if backend == CLOUD:
        return {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}
    return {"backend": SELF_MANAGED, "urls": [f"{base_url}/kafka-connect/{KAFKA_CONNECT_NAME}"]}


def daemon_config(
    rules: list[dict[str, Any]], base_url: str = "http://sim", token: str | None = None, backend: str = CLOUD, **settings: Any
) -> Config:
    data: dict[str, Any] = {
        "api": {"base_url": base_url},
        "credentials": {"main": {}},
        "clusters": {CLUSTER: cluster_config(backend, base_url)},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "rules": rules,
        **settings,
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    secrets: dict[str, Any] = {"credentials": {"main": credential}}
    if token is not None:
        secrets["server"] = {"auth_token": SecretStr(token)}
    return build_config(data, "test config", secrets=secrets)


class Clock:
    """One fake time for the simulator (monotonic seconds) and the daemon (UTC wall time)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.epoch = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

    def monotonic(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return self.epoch + timedelta(seconds=self.t - 1000.0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class World:
    simulator: Simulator
    daemon: Daemon
    clock: Clock | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def sample(self, name: str, **labels: str) -> float:
        value = self.daemon.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    def total(self, name: str, **labels: str) -> float:
        """Sum of every series of `name` whose labels include `labels`."""
        total = 0.0
        for metric in self.daemon.metrics.registry.collect():
            for sample in metric.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total


async def take_over_kept(before: World, successor: World) -> list[dict[str, Any]]:
    """`successor` takes over the restarts `before` kept (its shared state, as a new leader reads
    it), sends them, and stops: the log lines of the takeover and the sending."""
    for pending in before.daemon.state.pending():
        successor.daemon.state.add_pending(pending.request, pending.job_id)
    with capture_logs() as logs:
        successor.daemon.engine.recover(absence=None)
        successor.daemon.queue.start()
        await asyncio.wait_for(successor.daemon.queue.join(), 30)
    await successor.daemon.queue.close(1.0)
    return logs


def in_process(scenario: dict[str, Any], config: Config, *, fake_time: bool = False, rng: float | None = None) -> World:
    """A Daemon whose HTTP client talks to the simulator through httpx.ASGITransport."""
    clock = Clock() if fake_time else None
    simulator = Simulator(Scenario.model_validate(scenario), **({"clock": clock.monotonic} if clock else {}))
    transport = httpx.ASGITransport(app=create_app(simulator))
    kwargs: dict[str, Any] = {"transport": transport}
    if clock is not None:
        kwargs["now"] = clock.wall
    if rng is not None:
        kwargs["rng"] = lambda: rng
    return World(simulator, Daemon(config, **kwargs), clock)


class HeldCalls:
    """Holds the calls a World's daemon sends whose URL contains `part` on their way (before the
    simulator sees them) until `release()`: a test that acts while a call is under way waits for
    `reached` instead of sleeping while a slow simulator answers. A wait of a fixed time relies
    on the machine's pace (a loaded machine may not have sent the call yet, or may take longer
    than the answer's delay to do what the test does meanwhile); a call held cannot end before
    it is released."""

    def __init__(self, world: World, part: str) -> None:
        self.reached = asyncio.Event()
        self._released = asyncio.Event()
        transport = world.daemon._transport
        assert transport is not None
        handle = transport.handle_async_request

        async def held(request: httpx.Request) -> httpx.Response:
            if part in str(request.url) and not self._released.is_set():
                self.reached.set()
                await self._released.wait()
            return await handle(request)

        transport.handle_async_request = held  # type: ignore[method-assign]

    def release(self) -> None:
        self._released.set()


@contextlib.asynccontextmanager
async def served(simulator: Simulator) -> AsyncIterator[str]:
    """Serve the simulator on a real loopback socket; yields its base URL."""
    started, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(simulator, "127.0.0.1", 0, started=started, stop=stop))
    await started.wait()
    try:
        yield f"http://127.0.0.1:{simulator.bound_port}"
    finally:
        stop.set()
        await task


def process_config(sim_port: int, daemon_port: int, state_file: Any, rules: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    """A config file's contents for `watchdog run` as a separate process against a simulator
    process; the credential comes from the environment (see conftest's test key and secret)."""
    return {
        "api": {"base_url": f"http://127.0.0.1:{sim_port}"},
        "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": daemon_port},
        "state": {"path": str(state_file)},
        "rules": rules,
        **settings,
    }


async def until(condition: Callable[[], object], what: str, timeout: float = 30.0, *, step: float = 0.01) -> None:
    """Wait for a condition with a generous deadline (never a fixed budget of real time), looking
    every `step` seconds of the event loop's clock."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(step)


async def start_and_wait_until_elected(elector: Elector, timeout: float = 30) -> int:
    """Starts `elector` (losing its term does nothing) and returns the epoch of its first term."""
    elected: asyncio.Queue[int] = asyncio.Queue()

    async def on_elected(epoch: int) -> None:
        elected.put_nowait(epoch)

    async def on_lost(reason: str) -> None:
        pass

    elector.start(on_elected, on_lost)
    return await asyncio.wait_for(elected.get(), timeout)


# Set by .ci/run: there every test must run, and one that cannot is a failure of the CI machine's
# setup, never a silent skip (a machine without ::1, a runner that is not root).
REQUIRE_ALL_TESTS = "CI_REQUIRE_ALL_TESTS"


def cannot_run_here(reason: str) -> None:
    """Skips the test on a developer's machine that lacks what it needs; fails it in CI."""
    if os.environ.get(REQUIRE_ALL_TESTS):
        pytest.fail(f"{reason}, and CI ({REQUIRE_ALL_TESTS} set) runs every test")
    pytest.skip(reason)


async def logs_of_reloads(first: Config, *then: Config) -> list[dict[str, Any]]:
    """The log of a daemon started on `first` (one connector, `a`) and reloaded to each of
    `then` in turn, each reload applied."""
    configs = [first]
    w = in_process(sim_scenario([{"name": "a"}]), first)
    w.daemon._reload_config = lambda: configs[-1]  # type: ignore[attr-defined]
    with capture_logs() as logs:
        for config in then:
            configs.append(config)
            assert await w.daemon.reload("test") is True
    return logs


def kubelet_swap(mount: Path, files: dict[str, str]) -> None:
    """Write a Secret's (or ConfigMap's) files as the kubelet does: a new timestamped directory,
    a `..data_tmp` link to it renamed over `..data`, the keys linked through `..data`, the old
    directory removed."""
    mount.mkdir(parents=True, exist_ok=True)
    new = mount / f"..{time.time_ns()}"
    new.mkdir()
    for name, text in files.items():
        (new / name).write_text(text)
    old = os.readlink(mount / "..data") if (mount / "..data").is_symlink() else None
    os.symlink(new.name, mount / "..data_tmp")
    os.rename(mount / "..data_tmp", mount / "..data")
    for name in files:
        if not (mount / name).is_symlink():
            os.symlink(f"..data/{name}", mount / name)
    if old is not None:
        for leftover in (mount / old).iterdir():
            leftover.unlink()
        (mount / old).rmdir()
