"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import httpx

from watchdog.metrics import Metrics
from watchdog.server import Probes, create_app


class Clock:
    t = 100.0

    def __call__(self) -> float:
        return self.t


def client(probes: Probes, metrics: Metrics | None = None) -> httpx.AsyncClient:
    app = create_app((metrics or Metrics()).registry, probes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


async def test_metrics_are_served_at_metrics_without_a_redirect() -> None:
    async with client(Probes()) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert "watchdog_build_info{" in response.text
    assert 'watchdog_config_reloads_total{result="error"} 0.0' in response.text


async def test_liveness_fails_when_the_loop_stops_ticking() -> None:
    clock = Clock()
    probes = Probes(clock)
    async with client(probes) as http:
        assert (await http.get("/healthz")).status_code == 200
        clock.t += 60
        response = await http.get("/healthz")
        assert response.status_code == 503 and response.json()["status"] == "stalled"
        probes.tick()
        assert (await http.get("/healthz")).status_code == 200


async def test_ready_only_after_config_and_first_polls() -> None:
    probes = Probes()
    pending = {"prod", "staging"}
    probes.pending_clusters = lambda: pending
    async with client(probes) as http:
        assert (await http.get("/readyz")).status_code == 503
        probes.config_loaded = True
        response = await http.get("/readyz")
        assert response.status_code == 503 and response.json()["clusters_not_yet_polled"] == ["prod", "staging"]
        pending.clear()
        assert (await http.get("/readyz")).status_code == 200


async def test_a_stalled_rule_that_cannot_judge_yet_is_said_and_keeps_the_daemon_ready() -> None:
    probes = Probes()
    probes.config_loaded = True
    waiting: list[dict[str, object]] = [{"rule": "stalled", "cluster": "prod", "connectors": 3,
                                         "judged_from": "2026-12-08T03:46:00+00:00"}]
    probes.stall_waiting = lambda: waiting
    async with client(probes) as http:
        response = await http.get("/readyz")
        assert response.status_code == 200 and response.json()["stall_checks_waiting"] == waiting
        waiting.clear()
        assert "stall_checks_waiting" not in (await http.get("/readyz")).json()


async def test_unknown_paths_are_404() -> None:
    async with client(Probes()) as http:
        assert (await http.get("/nope")).status_code == 404


async def test_a_port_taken_at_the_bind_itself_is_cannot_listen_not_an_exit() -> None:
    # uvicorn ends a failed bind with sys.exit(): a SystemExit out of its task ended the daemon
    # (exit code 3) past every handler; it is CannotListen, naming the address, instead.
    import socket

    import pytest

    from watchdog.asgi_server import CannotListen, start_server

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(CannotListen, match=f"cannot listen on 127.0.0.1:{port}: "):
            await start_server(create_app(Metrics().registry, Probes()), "127.0.0.1", port)


# -- readiness of a leader and of a standby (two replicas on PostgreSQL) -----------------------


def standby_probes(problem: str | None = None) -> Probes:
    probes = Probes()
    probes.config_loaded = True
    probes.pending_clusters = lambda: ["prod"]  # a standby polls nothing: never polled, and ready
    probes.not_leader = lambda: "this replica is not the leader"
    probes.leader = lambda: "connect-watchdog-7d9f-abcde/1/k3y"
    probes.lease_problem = lambda: problem
    return probes


async def test_a_standby_is_ready_and_says_that_it_stands_by_and_who_leads() -> None:
    # Only the leader Ready kept a Deployment of two at one available replica for ever: `kubectl
    # rollout status` ran into its progress deadline, KubeDeploymentReplicasMismatch fired.
    async with client(standby_probes()) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready" and body["role"] == "standby"
    assert body["leader"] == "connect-watchdog-7d9f-abcde/1/k3y"
    assert "not the leader" in body["standby"] and "503" in body["standby"]


async def test_a_standby_is_ready_although_a_write_failed_while_it_last_led() -> None:
    # A standby writes nothing, so the store's problem from a write that failed while it led (a
    # database restart) stays until it leads again: read as "not ready", the Deployment stayed at
    # one available replica for good after a database restart.
    probes = standby_probes()
    probes.state_problem = lambda: "could not record an attempt: the connection was closed"
    async with client(probes) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200 and response.json()["state_store"] == "ok", response.text


async def test_a_standby_that_cannot_reach_the_database_is_not_ready() -> None:
    probes = standby_probes("the database cannot be reached (OperationalError: connection refused)")
    async with client(probes) as http:
        response = await http.get("/readyz")
        assert response.status_code == 503 and response.json()["state_store"].startswith("the database cannot")
        probes.lease_problem = lambda: None
        probes.config_loaded = False  # before start() has loaded its config: not ready either
        assert (await http.get("/readyz")).status_code == 503


async def test_the_leader_is_ready_only_once_it_has_polled_and_can_write() -> None:
    probes = Probes()
    probes.config_loaded = True
    probes.leader = lambda: "me/1/k3y"
    pending = ["prod"]
    problem: list[str] = []
    probes.pending_clusters = lambda: pending
    probes.state_problem = lambda: problem[0] if problem else None
    async with client(probes) as http:
        assert (await http.get("/readyz")).status_code == 503
        pending.clear()
        response = await http.get("/readyz")
        assert response.status_code == 200 and response.json()["role"] == "leader"
        assert response.json()["leader"] == "me/1/k3y"
        problem.append("could not record an attempt: disk full")
        assert (await http.get("/readyz")).status_code == 503
