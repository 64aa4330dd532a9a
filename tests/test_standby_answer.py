"""A standby's answer to the webhook and the restart API, with every replica Ready behind one
Service: 503 with Retry-After, `Connection: close` so that the retry opens a new connection (which
the Service balances afresh), and the leader named."""

from __future__ import annotations

from typing import Any

import httpx

from watchdog.asgi_server import start_server, stop_server
from watchdog.server import create_app

from .test_api import AUTH, alert, payload, restart_calls, world

LEADER = "connect-watchdog-7d9f-abcde/1/k3y"


def standby_app() -> tuple[Any, Any]:
    w, _ = world()
    ctx = w.daemon.api_context()
    ctx.not_leading = lambda: "this replica is not the leader"
    ctx.leader = lambda: LEADER
    return w, create_app(w.daemon.metrics.registry, w.daemon.probes, ctx)


async def test_a_standby_answers_503_closing_the_connection_and_names_the_leader() -> None:
    w, app = standby_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        answers = [await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH),
                   await http.post("/v1/restarts", json={"cluster": "prod", "connector": "orders-sink"}, headers=AUTH),
                   # The leader's live view: a standby polls and discovers nothing.
                   await http.get("/v1/connectors", headers=AUTH)]
        # Restarts as the shared database holds them: either replica answers.
        assert (await http.get("/v1/history", headers=AUTH)).status_code == 200
    for response in answers:
        assert response.status_code == 503, response.text
        assert response.headers["connection"] == "close"
        assert int(response.headers["retry-after"]) > 0
        body = response.json()
        assert body["standby"] is True and body["leader"] == LEADER
        assert LEADER in body["error"]
    # A write did nothing, to be sent again; a read (the leader's live view) is sent to the leader.
    assert all("nothing was done" in r.json()["error"] for r in answers[:2])
    assert "only the leader knows this" in answers[2].json()["error"]
    assert restart_calls(w) == 0


async def test_after_a_standby_503_the_next_request_goes_on_a_new_connection() -> None:
    # Alertmanager (Go's http.Transport) and httpx alike dial anew after `Connection: close`;
    # on the kept-alive connection, every retry came back to the same standby.
    _, app = standby_app()
    server, task = await start_server(app, "127.0.0.1", 0, max_connections=16, request_timeout=10.0)
    connections = 0

    async def trace(event: str, info: dict[str, Any]) -> None:
        nonlocal connections
        if event == "connection.connect_tcp.complete":
            connections += 1

    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.bound_port}", timeout=5) as http:
            # Answers that keep the connection: one connection for both.
            for _ in range(2):
                assert (await http.get("/healthz", extensions={"trace": trace})).status_code == 200
            assert connections == 1
            refused = await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH,
                                      extensions={"trace": trace})
            assert refused.status_code == 503
            assert (await http.get("/healthz", extensions={"trace": trace})).status_code == 200
            assert connections == 2, "the request after the standby's 503 went on the same connection"
    finally:
        await stop_server(server, task)


async def test_a_standby_knows_who_leads_and_whether_it_reaches_the_database(postgres_server: Any, postgres_url: str) -> None:
    """What a standby's /readyz and 503 say, from a real lease on a real PostgreSQL."""
    import asyncio

    from prometheus_client import CollectorRegistry

    from watchdog.config.leadership import LeaseTiming
    from watchdog.leadership.elector import Elector
    from watchdog.leadership.metrics import LeadershipMetrics
    from watchdog.state.postgres import PostgresStateStore

    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, lease table included
    timing = LeaseTiming(lease_duration=10.0, renew_deadline=6.0, renew_interval=0.2)

    def elector(name: str, url: str = postgres_url) -> Elector:
        return Elector(url, postgres_server.password, timing, LeadershipMetrics(CollectorRegistry()), identity=name)

    async def nothing(*args: Any) -> None:
        pass

    leader, standby = elector("replica-a/1/k"), elector("replica-b/1/k")
    gone = elector("replica-c/1/k", postgres_url.replace(f":{postgres_server.port}/", ":1/"))
    assert standby.unreachable == "the database has not been reached yet"
    try:
        leader.start(nothing, nothing)
        async with asyncio.timeout(10):
            while not leader.leading:
                await asyncio.sleep(0.05)
        standby.start(nothing, nothing)
        gone.start(nothing, nothing)
        async with asyncio.timeout(10):
            while standby.holder is None or gone.unreachable == "the database has not been reached yet":
                await asyncio.sleep(0.05)
        assert leader.holder == "replica-a/1/k" and leader.unreachable is None
        assert standby.holder == "replica-a/1/k" and standby.unreachable is None and not standby.leading
        assert gone.unreachable is not None and gone.unreachable.startswith("the database cannot be reached")
        assert postgres_server.password.get_secret_value() not in gone.unreachable
    finally:
        for each in (gone, standby, leader):
            await each.stop()


async def test_a_leader_fenced_while_deciding_answers_as_a_standby(monkeypatch: Any) -> None:
    # The lead lost between the check and the write (another replica took the lease over): the
    # same answer as a standby's, so that the retry is balanced afresh too.
    from watchdog.state import Fenced

    from .test_api import polled

    w, _ = world()
    await polled(w)

    def fenced(*args: Any, **kwargs: Any) -> Any:
        raise Fenced("write refused: this replica leads under epoch 3, the lease is at epoch 4")

    monkeypatch.setattr(w.daemon.engine, "on_request", fenced)
    ctx = w.daemon.api_context()
    ctx.leader = lambda: LEADER
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, ctx)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        response = await http.post("/v1/restarts", json={"cluster": "prod", "connector": "orders-sink"}, headers=AUTH)
    await w.daemon.queue.close(1, 1)
    assert response.status_code == 503 and response.headers["connection"] == "close", response.text
    assert response.json()["leader"] == LEADER and "not the leader any more" in response.json()["error"]


async def test_a_standby_sends_history_of_a_cluster_it_does_not_know_to_the_leader() -> None:
    # A cluster only the leader's discovery found is unknown to a standby, which discovers
    # nothing: its 404 said "unknown cluster" where the leader lists the cluster's restarts.
    _, app = standby_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        unknown = await http.get("/v1/history", params={"cluster": "lkc-found1"}, headers=AUTH)
        configured = await http.get("/v1/history", params={"cluster": "prod"}, headers=AUTH)
    assert unknown.status_code == 503 and unknown.json()["standby"] is True, unknown.text
    assert unknown.headers["connection"] == "close" and unknown.json()["leader"] == LEADER
    assert configured.status_code == 200, configured.text
