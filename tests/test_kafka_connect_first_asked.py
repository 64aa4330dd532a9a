"""Which worker a call asks first, when calls to a self-managed cluster run at once (F1 of the
s74 Kafka probe): each call asks each worker at most once, from the worker asked first when it
began, and a worker whose own failure ended a call never becomes the one asked first.

Before, each try read the worker to ask first anew: a restart's 504 moved it under a poll that
waited on the same hung worker, so the poll asked that worker twice and never the healthy one
(real 4.3.1 workers behind a proxy answering nginx's 504 page), and a FAILED sink's restart was
sent three times to a worker whose herder was stuck."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx

from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.model import Outcome
from watchdog.simulator import Scenario, Simulator, create_app

from .support import KAFKA_CONNECT_NAME, SELF_MANAGED, sim_scenario

PREFIX = f"/kafka-connect/{KAFKA_CONNECT_NAME}"
CONNECTORS: list[dict[str, Any]] = [
    {"name": "sink-a", "type": "sink", "tasks": 1, "script": {"initial": "FAILED"}},
    {"name": "sink-b", "type": "sink", "tasks": 1, "script": {"initial": "FAILED"}},
    {"name": "source", "tasks": 1},
]
# What nginx answers when its worker did not answer within proxy_read_timeout.
GATEWAY_TIMEOUT = httpx.Response(504, headers={"Content-Type": "text/html"}, content=(
    b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1>"
    b"</center><hr><center>nginx</center></body></html>"))
# What a worker whose herder is stuck answers after its request timeout (it still runs the request).
REQUEST_TIMED_OUT = httpx.Response(500, json={"error_code": 500, "message": "Request timed out"})


class _SlowWorker(httpx.AsyncBaseTransport):
    """The worker at host `hung` answers `answer` after `delays[path suffix]` seconds (a worker
    that hangs behind its proxy, or whose herder is stuck); every other host is the simulator."""

    def __init__(self, sim: Simulator, answer: httpx.Response, delays: dict[str, float]) -> None:
        self._app = httpx.ASGITransport(app=create_app(sim))
        self._answer, self._delays = answer, delays
        self.asked: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        self.asked.append(f"{request.url.host} {path}")
        if request.url.host == "hung":
            await asyncio.sleep(next(d for suffix, d in self._delays.items() if path.endswith(suffix)))
            return httpx.Response(self._answer.status_code, headers=self._answer.headers, content=self._answer.content)
        return await self._app.handle_async_request(request)

    def count(self, host: str, path: str) -> int:
        return self.asked.count(f"{host} {path}")


def _backend(answer: httpx.Response, delays: dict[str, float]) -> tuple[Simulator, _SlowWorker, KafkaConnectBackend]:
    sim = Simulator(Scenario.model_validate(sim_scenario(copy.deepcopy(CONNECTORS), SELF_MANAGED)))
    transport = _SlowWorker(sim, answer, delays)
    http = httpx.AsyncClient(transport=transport, timeout=5)
    return sim, transport, KafkaConnectBackend(http, [f"http://hung{PREFIX}", f"http://sim{PREFIX}"])


async def test_a_poll_waiting_on_a_hung_worker_asks_the_other_even_when_a_restart_moved_the_worker_asked_first() -> None:
    # The restart of every instance meets the proxy's 504 first (the worker asked first passes to
    # the next one); the poll, sent to the same hung worker meanwhile, meets its 504 later.
    sim, transport, client = _backend(GATEWAY_TIMEOUT, {"/restart": 0.1, "/connectors": 0.3})

    listed, restarted = await asyncio.wait_for(asyncio.gather(
        client.list_connectors(), client.restart("source", only_failed=False)), 5)

    assert restarted.outcome is Outcome.UNCONFIRMED, restarted
    assert transport.count("hung", "/connectors") == 1, transport.asked
    assert listed.ok and set(listed.value or {}) == {"sink-a", "sink-b", "source"}, listed
    assert transport.count("sim", "/connectors") == 1, "the healthy worker answered the poll"
    # The healthy worker answered last: the next poll asks it first, and the hung one not at all.
    again = await asyncio.wait_for(client.list_connectors(), 5)
    assert again.ok and transport.count("hung", "/connectors") == 1, transport.asked


async def test_two_restarts_safe_to_repeat_each_ask_a_stuck_worker_once() -> None:
    # Both FAILED sinks' restarts go to the worker asked first, whose herder is stuck: sink-b's
    # 500 comes first and it goes on to the healthy worker, which answers; sink-a's 500 comes later.
    sim, transport, client = _backend(REQUEST_TIMED_OUT, {"sink-b/restart": 0.1, "sink-a/restart": 0.3})

    a, b = await asyncio.wait_for(asyncio.gather(client.restart("sink-a"), client.restart("sink-b")), 5)

    assert (a.outcome, a.status_code, b.outcome, b.status_code) == (Outcome.ACCEPTED, 202, Outcome.ACCEPTED, 202)
    for name in ("sink-a", "sink-b"):
        path = f"/connectors/{name}/restart"
        assert (transport.count("hung", path), transport.count("sim", path)) == (1, 1), transport.asked


async def test_a_call_every_worker_failed_does_not_make_its_last_worker_the_one_asked_first() -> None:
    # The healthy worker answered last, so it is asked first; then one read fails on both (a
    # 500 of its own, the other's 504). That read's last answer came from the hung worker: made
    # the one asked first, every later call waited on it before the healthy one was asked.
    sim, transport, client = _backend(GATEWAY_TIMEOUT, {"/status": 0.01, "/connectors": 0.01})
    assert (await client.list_connectors()).ok  # passes the hung worker over: the healthy one is first now
    sim.set_faults([{"match": {"endpoint": "status"}, "when": {"count": 1},
                     "action": {"status": 500, "body": {"error_code": 500, "message": "Request timed out"}}}])

    failed = await asyncio.wait_for(client.connector_status("source"), 5)
    listed = await asyncio.wait_for(client.list_connectors(), 5)

    assert failed.outcome is Outcome.SERVER_ERROR and failed.status_code == 504, failed
    assert listed.ok and not listed.passed_over, listed.passed_over
    assert transport.count("hung", "/connectors") == 1, transport.asked
