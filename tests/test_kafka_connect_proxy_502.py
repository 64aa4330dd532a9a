"""Kafka Connect workers each behind their own reverse proxy, one of them down: nginx answers a
refused upstream with its HTML `502 Bad Gateway` page, not a 503 (probe s73, finding 1: with real
4.3.1 workers, 7 of 10 restarts of every instance ended `unconfirmed`, "the worker may have run
it", sent to the dead worker alone, and asked again by name were refused "restarted 6 s ago")."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from watchdog.app import Daemon
from watchdog.connect.kafka_connect import NONE_RAN
from watchdog.engine import MANUAL_RULE
from watchdog.engine.decisions import Decision
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.simulator import create_app

from .support import CLUSTER, SELF_MANAGED, daemon_config
from .test_kafka_connect_workers import FAST, HEAL, PREFIX, backend, simulator

NGINX_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
             "</center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n")
CONNECT_ROOT = {"version": "4.3.1", "commit": "0123456789abcdef", "kafka_cluster_id": "q1Sh-9_ISia_zwGINzRvyQ"}
FORWARD_REFUSED = {"error_code": 500, "message": "IO Error trying to forward REST request: java.net.ConnectException: "
                                                 "Connection refused"}
WORKERS = ("w1", "w2", "w3")


class _Proxies(httpx.AsyncBaseTransport):
    """Three workers, each behind its own proxy (its host): the simulator answers the live ones.
    `dead`: the proxies whose worker is down, answering nginx's 502 page to every call (the
    worker's root `/` too). `late`: the proxies that answer a restart 502 after their worker took
    it (it is up: its root answers Connect's JSON). `refusing`: the workers answering a restart
    Connect's 500 for a forward to a dead leader. Every call is kept, per worker."""

    def __init__(self, sim: Any) -> None:
        self._app = httpx.ASGITransport(app=create_app(sim))
        self.dead: set[str] = set()
        self.late: set[str] = set()
        self.refusing: set[str] = set()
        self.calls: list[tuple[str, str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path.removeprefix(PREFIX)
        self.calls.append((host, request.method, path))
        if host in self.dead:
            return httpx.Response(502, text=NGINX_502, headers={"content-type": "text/html"})
        if path == "/":
            return httpx.Response(200, json=CONNECT_ROOT)
        if request.method == "POST" and host in self.refusing:
            return httpx.Response(500, json=FORWARD_REFUSED)
        if request.method == "POST" and host in self.late:
            await self._app.handle_async_request(request)  # the worker ran it; its answer was lost
            return httpx.Response(502, text=NGINX_502, headers={"content-type": "text/html"})
        return await self._app.handle_async_request(request)

    def restarts(self) -> Counter[str]:
        return Counter(host for host, method, _ in self.calls if method == "POST")

    def roots(self) -> Counter[str]:
        return Counter(host for host, _, path in self.calls if path == "/")


def _daemon(transport: _Proxies) -> Daemon:
    urls = [f"http://{worker}{PREFIX}" for worker in WORKERS]
    config = daemon_config([HEAL], backend=SELF_MANAGED, rate_limit=FAST,
                           clusters={CLUSTER: {"backend": SELF_MANAGED, "urls": urls}})
    return Daemon(config, transport=transport, rng=lambda: 0.5)


async def _restart_every_instance(d: Daemon, transport: _Proxies, *names: str) -> list[Any]:
    """A restart by name (of every instance: not safe to repeat) of each of `names`, one after the
    other, asked once the poll had read the cluster through w1 and w1's worker then died."""
    d.queue.start()
    statuses = await d.pollers[CLUSTER].list()
    assert statuses is not None
    jobs = []
    for name in names:
        record = d.engine.on_request(ConnectorKey(CLUSTER, name), statuses[name], trigger=Trigger.MANUAL,
                                     rule=MANUAL_RULE, reason="test")
        await asyncio.wait_for(d.queue.join(), 10)
        jobs.append(record.job)
    return jobs


async def test_a_restart_of_every_instance_whose_worker_behind_its_proxy_is_down_goes_to_the_next_worker() -> None:
    sim = simulator()
    transport = _Proxies(sim)
    d = _daemon(transport)
    d.queue.start()
    statuses = await d.pollers[CLUSTER].list()  # read through w1, which stays the one asked first
    assert statuses is not None and [host for host, _, _ in transport.calls] == ["w1"]
    transport.dead.add("w1")  # its worker dies: its proxy answers 502 from now on

    jobs = []
    for name in ("billing-sink", "orders-source", "search-sink"):
        record = d.engine.on_request(ConnectorKey(CLUSTER, name), statuses[name], trigger=Trigger.MANUAL,
                                     rule=MANUAL_RULE, reason="test")
        await asyncio.wait_for(d.queue.join(), 10)
        jobs.append(record.job)
    await d.stop()

    # Before: each ended unconfirmed "502 ...: 502 Bad Gateway; the worker may have run it; not
    # sent again", all three sent to w1 alone, none made.
    assert [job.outcome for job in jobs] == [Outcome.ACCEPTED] * 3, [job.message for job in jobs]
    assert transport.restarts() == {"w1": 1, "w2": 3}, "w1 met once, then w2 asked first; each made once"
    assert transport.roots() == {"w1": 1}, "one GET of the dead worker's root, through its proxy"
    made = [c.path.removeprefix(PREFIX) for c in sim.restarts()]
    assert made == ["/connectors/billing-sink/restart", "/connectors/orders-source/restart",
                    "/connectors/search-sink/restart"]


async def test_a_proxys_502_after_its_worker_took_the_restart_is_unconfirmed_and_that_worker_no_longer_asked_first(
) -> None:
    sim = simulator()
    transport = _Proxies(sim)
    d = _daemon(transport)
    transport.late.add("w1")

    first, second = await _restart_every_instance(d, transport, "orders-source", "billing-sink")
    await d.stop()

    # The worker behind the proxy is up (its root answers Connect's JSON): it may have run it,
    # so it is not sent again, and said so.
    assert first.outcome is Outcome.UNCONFIRMED and first.status_code == 502
    assert "502 Bad Gateway; the worker may have run it; not sent again" in first.message
    assert [c.path.removeprefix(PREFIX) for c in sim.restarts(connector="orders-source")] == [
        "/connectors/orders-source/restart"], "made once, never again"
    # Before: the second went to w1 too (kept first: only an answer moved it), and ended likewise.
    assert second.outcome is Outcome.ACCEPTED
    assert transport.restarts() == {"w1": 1, "w2": 1}


async def test_a_restart_by_name_after_an_unconfirmed_one_is_not_refused_as_restarted() -> None:
    sim = simulator()
    transport = _Proxies(sim)
    d = _daemon(transport)
    transport.late.add("w1")
    (first,) = await _restart_every_instance(d, transport, "orders-source")
    key = ConnectorKey(CLUSTER, "orders-source")

    again = d.engine.on_request(key, d.engine.statuses[key], trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="test")
    await d.stop()

    assert first.outcome is Outcome.UNCONFIRMED
    assert again.decision is Decision.RECENTLY_RESTARTED
    # Before: "restarted 0 s ago; asked for by name, ...", of a restart no answer said had run.
    assert again.detail.startswith("a restart that may have run 0 s ago (unconfirmed: no answer said it ran); "
                                   "asked for by name, it may go again in "), again.detail


async def test_followers_that_could_not_reach_the_leader_and_a_dead_workers_502_ran_nothing() -> None:
    # storm-08 of the probe: both live followers answered "IO Error trying to forward ...
    # ConnectException" (not run), then the dead leader's proxy 502; it ended "the worker may
    # have run it", not run anywhere and never made.
    sim = simulator()
    transport = _Proxies(sim)
    transport.refusing.update({"w1", "w2"})
    transport.dead.add("w3")
    client = backend(sim, transport, urls=[f"http://{worker}{PREFIX}" for worker in WORKERS])

    result = await client.restart("orders-source", only_failed=False)

    assert result.between_leaders and result.not_run, result
    assert result.message.startswith(f"{NONE_RAN}: "), result.message
    assert transport.restarts() == {"w1": 1, "w2": 1, "w3": 1} and not sim.restarts()
