"""What a standby says of who leads when it cannot know: the database down (WatchdogNoLeader), the
lease expired. Found by the runbook probe (2026-12-06): with PostgreSQL stopped, a standby's
/readyz and `watchdog status --daemon` went on naming as leader a replica that had stepped down
(`another replica leads (vm/17809/7e806b27, pod vm); run the command in the leader's pod`), another
said "one is elected within a lease: 17 s by default" with a 6 s lease configured and no election
possible while the database is down, and the hint, `kubectl exec vm -- watchdog ... --daemon URL`,
had no namespace and a literal `...`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from watchdog.asgi_server import start_server, stop_server
from watchdog.cli import main
from watchdog.server import create_app

from .test_api import TOKEN, world
from .test_database_silent import SilentProxy

NOTE = ("the lease cannot be read: the database cannot be reached (OperationalError: connection refused); the last "
        "holder seen was replica-a/1/k (pod replica-a), 12 s ago, and whether it still leads cannot be known from here")


async def test_a_standby_that_cannot_read_the_lease_names_no_leader_and_says_what_it_knows(
    postgres_server: Any, postgres_url: str,
) -> None:
    from prometheus_client import CollectorRegistry

    from watchdog.config.leadership import LeaseTiming
    from watchdog.leadership.elector import Elector
    from watchdog.leadership.metrics import LeadershipMetrics
    from watchdog.state.postgres import PostgresStateStore

    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, lease table included
    timing = LeaseTiming(lease_duration=6.0, renew_deadline=4.0, renew_interval=0.2)
    proxy = SilentProxy(postgres_server.port)  # the standby's way to the database, cut below

    def elector(name: str, url: str) -> Elector:
        return Elector(url, postgres_server.password, timing, LeadershipMetrics(CollectorRegistry()), identity=name)

    async def nothing(*args: Any) -> None:
        pass

    leader = elector("replica-a/1/k", postgres_url)
    standby = elector("replica-b/1/k", postgres_url.replace(f":{postgres_server.port}/", f":{proxy.port}/"))
    try:
        leader.start(nothing, nothing)
        async with asyncio.timeout(10):
            while not leader.leading:
                await asyncio.sleep(0.05)
        standby.start(nothing, nothing)
        async with asyncio.timeout(10):
            while standby.holder is None:
                await asyncio.sleep(0.05)
        assert standby.holder == "replica-a/1/k"
        proxy.close()  # the database out of this standby's reach
        async with asyncio.timeout(10):
            while standby.unreachable is None:
                await asyncio.sleep(0.05)
        said = standby.holder, standby.no_leader_note()
    finally:
        for each in (standby, leader):
            await each.stop()

    assert said[0] is None, "a holder it can no longer read is not named as the leader"
    assert said[1].startswith("the lease cannot be read: the database cannot be reached ("), said[1]
    assert "the last holder seen was replica-a/1/k (pod replica-a)" in said[1], said[1]
    assert "whether it still leads cannot be known from here" in said[1], said[1]
    assert "no replica can take the lease while the database does not answer" in said[1], said[1]
    assert "within the lease (6 s (state.leader_election.lease_duration))" in said[1], said[1]
    assert "17 s" not in said[1]


def _standby(leader: str | None) -> tuple[Any, Any]:
    w, _ = world()
    ctx = w.daemon.api_context()
    ctx.not_leading = lambda: "this replica is not the leader"
    ctx.leader, ctx.leader_note = (lambda: leader), (lambda: NOTE)
    w.daemon.probes.not_leader = lambda: "this replica is not the leader"
    w.daemon.probes.leader, w.daemon.probes.leader_note = (lambda: leader), (lambda: NOTE)
    return w, create_app(w.daemon.metrics.registry, w.daemon.probes, ctx)


async def _status_there(app: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("POD_NAMESPACE", "team-ns")  # the downward API's, as the deployment sets it
    server, task = await start_server(app, "127.0.0.1", 0, max_connections=16, request_timeout=10.0)
    url = f"http://127.0.0.1:{server.bound_port}"
    try:
        code = await asyncio.to_thread(main, ["status", "--daemon", url])
    finally:
        await stop_server(server, task)
    return code, capsys.readouterr().err, url


async def test_readyz_and_status_daemon_on_a_standby_that_knows_no_leader_say_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    w, app = _standby(None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        ready = (await http.get("/readyz")).json()
    assert ready["role"] == "standby" and ready["leader"] is None
    assert ready["leader_unknown"] == NOTE

    code, err, url = await _status_there(app, monkeypatch, capsys)
    await w.daemon.queue.close(1, 1)
    assert code == 1
    assert f"is a standby replica, which does nothing: it knows of no leader now ({NOTE})" in err, err
    assert "17 s by default" not in err
    assert (f"once a replica leads (its /readyz says \"role\": \"leader\"), run the command in its pod: "
            f"kubectl -n team-ns exec POD -- watchdog status --daemon {url}") in err, err


async def test_the_leaders_pod_command_is_whole_with_its_namespace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    w, app = _standby("connect-watchdog-7d9f-abcde/1/k3y")
    code, err, url = await _status_there(app, monkeypatch, capsys)
    await w.daemon.queue.close(1, 1)
    assert code == 1
    assert ("another replica leads (connect-watchdog-7d9f-abcde/1/k3y, pod connect-watchdog-7d9f-abcde); run the "
            f"command in the leader's pod: kubectl -n team-ns exec connect-watchdog-7d9f-abcde -- watchdog status "
            f"--daemon {url}\n") in err, err
