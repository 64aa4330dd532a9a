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
