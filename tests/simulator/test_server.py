"""Serving over real loopback sockets: start, stop, and faults that cut the connection."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from watchdog.simulator import Scenario, Simulator, serve

from .support import AUTH, CLUSTER, path, scenario

Serve = Callable[[Simulator], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def served() -> AsyncIterator[Serve]:
    """served(simulator) -> a client for it over 127.0.0.1; stopped and closed afterwards."""
    running: list[tuple[asyncio.Task[None], asyncio.Event, httpx.AsyncClient]] = []

    async def start(simulator: Simulator) -> httpx.AsyncClient:
        started, stop = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(simulator, started=started, stop=stop))
        await _first_of(task, started)
        http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{simulator.bound_port}", auth=AUTH, timeout=5
        )
        running.append((task, stop, http))
        return http

    yield start
    for task, stop, http in running:
        await http.aclose()
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def _first_of(task: asyncio.Task[None], started: asyncio.Event) -> None:
    """Wait until the server listens; if serve() fails first, raise its error."""
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()
    assert started.is_set(), "the simulator did not start listening within 5 s"


def _simulator(**settings: Any) -> Simulator:
    return Simulator(Scenario.model_validate(scenario(**settings)))


async def test_serve_listens_on_a_free_loopback_port_until_stopped() -> None:
    simulator = _simulator()
    started, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(simulator, port=0, started=started, stop=stop))
    await _first_of(task, started)
    port = simulator.bound_port

    async with httpx.AsyncClient(auth=AUTH) as http:
        response = await http.get(f"http://127.0.0.1:{port}{path()}")
    stop.set()
    await asyncio.wait_for(task, timeout=10)

    assert port is not None and port > 0
    assert response.status_code == 200 and response.json() == ["orders-source", "billing-sink"]
    assert response.headers["x-request-id"]
    assert simulator.bound_port is None
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_cancelling_serve_closes_the_port() -> None:
    simulator = _simulator()
    started = asyncio.Event()
    task = asyncio.create_task(serve(simulator, started=started))
    await _first_of(task, started)
    port = simulator.bound_port

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert simulator.bound_port is None
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_binding_a_taken_port_raises() -> None:
    first, second = _simulator(), _simulator()
    started, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(first, started=started, stop=stop))
    await _first_of(task, started)
    try:
        with pytest.raises(OSError):
            await serve(second, port=first.bound_port or 0)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_truncated_answers_fail_in_the_client(served: Serve) -> None:
    simulator = _simulator(
        faults=[
            {
                "name": "cut",
                "match": {"endpoint": "list"},
                "when": {"count": 1},
                "action": {"truncated": True},
            }
        ]
    )
    http = await served(simulator)

    with pytest.raises(httpx.RemoteProtocolError):
        await http.get(path(), params={"expand": "status"})
    after = await http.get(path())

    assert after.status_code == 200
    assert [(c.status_code, c.fault) for c in simulator.calls] == [(200, "cut"), (200, None)]


async def test_truncated_empty_answers_fail_too(served: Serve) -> None:
    simulator = _simulator(
        faults=[{"match": {"endpoint": "restart"}, "action": {"truncated": True}}]
    )
    http = await served(simulator)

    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(path(connector="orders-source", operation="restart"))

    assert simulator.connector(CLUSTER, "orders-source").restarts_accepted == 1


async def test_reset_connections_fail_in_the_client_after_the_restart_happened(
    served: Serve,
) -> None:
    simulator = _simulator(faults=[{"match": {"endpoint": "restart"}, "action": {"reset": True}}])
    http = await served(simulator)

    with pytest.raises(httpx.TransportError):
        await http.post(path(connector="orders-source", operation="restart"))
    status = await http.get(path(connector="orders-source", operation="status"))

    assert status.json()["tasks"][0]["state"] == "RESTARTING"
    assert [c.fault for c in simulator.restarts()] == ["faults[0]"]


async def test_a_delay_longer_than_the_client_timeout_times_out(served: Serve) -> None:
    simulator = _simulator(faults=[{"when": {"count": 1}, "action": {"delay_seconds": 30}}])
    http = await served(simulator)

    with pytest.raises(httpx.ReadTimeout):
        await http.get(path(), timeout=0.2)
    after = await http.get(path())

    assert after.status_code == 200


@pytest.mark.process
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_the_demo_until_signalled(signum: signal.Signals) -> None:
    code = "from watchdog.simulator import run; run(None, '127.0.0.1', 0)"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            url = line.strip().rsplit(" ", 1)[-1]
            response = httpx.get(
                f"{url}/connect/v1/environments/env-demo01/clusters/lkc-demo01/connectors",
                auth=("demo-key", "demo-secret"),
                timeout=5,
            )
            process.send_signal(signum)
            returncode = process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()

    assert url.startswith("http://127.0.0.1:")
    assert response.status_code == 200 and "billing-sink" in response.json()
    assert returncode == 0


async def test_the_announcement_says_which_key_and_clusters_a_config_needs(capsys: pytest.CaptureFixture[str]) -> None:
    # README: "point api.base_url at it"; the key id and the environment and cluster ids the
    # config then needs were only in the scenario file (every call was a 401 or a 404 without them).
    from watchdog.simulator import builtin_scenario
    from watchdog.simulator.server import _announce

    simulator = Simulator(builtin_scenario("demo"))
    simulator.bound_port = 8080
    started = asyncio.Event()
    started.set()
    await _announce(started, simulator, "127.0.0.1")
    shown = capsys.readouterr().out
    assert "API keys: demo-key (" in shown and "demo-secret" not in shown
    assert "environment env-demo01: clusters lkc-demo01, lkc-demo02" in shown


async def test_a_long_running_simulator_keeps_the_newest_calls_and_says_how_many_it_forgot(
    served: Serve,
) -> None:
    """`watchdog simulate` runs for days in the compose playground: its call record kept every
    call (about 450 bytes each, 40 MB a day at its one call a second, all serialised by each
    `GET /_sim/calls`). It keeps the newest `calls_kept` now, and says how many fell off."""
    simulator = Simulator(Scenario.model_validate(scenario()), calls_kept=3)
    http = await served(simulator)
    for name in ("orders-source", "billing-sink", "orders-source", "billing-sink", "orders-source"):
        assert (await http.get(path(connector=name, operation="status"))).status_code == 200
    await http.get(path())

    answer = await http.get("/_sim/calls")

    calls = answer.json()
    assert [(c["endpoint"], c["connector"]) for c in calls] == [
        ("status", "billing-sink"),
        ("status", "orders-source"),
        ("list", None),
    ]
    assert answer.headers["X-Calls-Forgotten"] == "3"
    assert simulator.calls_forgotten == 3 and len(simulator.calls) == 3
