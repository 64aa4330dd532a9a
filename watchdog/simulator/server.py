"""Serving the simulator over real sockets: embedded in an event loop, or from the CLI."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from watchdog.asgi_server import EmbeddedServer
from watchdog.simulator.app import TRANSPORT_STATE_KEY, create_app
from watchdog.simulator.engine import Simulator
from watchdog.simulator.routing import KAFKA_CONNECT_PREFIX
from watchdog.simulator.scenario import builtin_scenario, load_scenario

log = logging.getLogger(__name__)

# How long a stop waits for answers still in flight (a delay fault may hold one for long).
SHUTDOWN_GRACE_SECONDS = 2


class _TransportInScopeProtocol(H11Protocol):
    """uvicorn's h11 protocol, handing each request its connection (see TRANSPORT_STATE_KEY)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app_state = {**self.app_state, TRANSPORT_STATE_KEY: transport}


class _EmbeddedServer(EmbeddedServer):
    """A uvicorn server that leaves signals to its host and reports when it listens."""

    def __init__(self, config: uvicorn.Config, started: asyncio.Event | None) -> None:
        super().__init__(config)
        self._started_event = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._started_event is not None:
            self._started_event.set()


async def serve(
    simulator: Simulator,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    started: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the simulator on host:port until `stop` is set (or this coroutine is cancelled).

    Port 0 picks a free port. The port actually bound is in `simulator.bound_port` by the time
    `started` is set, and stays there until serve returns (then it is None again). Binding
    errors raise OSError. Signals are not touched.
    """
    sock = _listen(host, port)
    config = uvicorn.Config(
        create_app(simulator),
        http=_TransportInScopeProtocol,
        ws="none",
        lifespan="off",
        log_config=None,  # leave logging to the host program
        access_log=False,  # the simulator records every call itself
        proxy_headers=False,
        server_header=False,
        date_header=False,  # the simulator sends its own, by its clock (engine.py)
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    server = _EmbeddedServer(config, started)
    simulator.bound_port = sock.getsockname()[1]
    watcher = asyncio.create_task(_exit_when_set(stop, server)) if stop is not None else None
    log.info("simulator listening on %s:%d", host, simulator.bound_port)
    try:
        await server.serve(sockets=[sock])
    except asyncio.CancelledError:
        if server.started:
            server.force_exit = True  # drop connections instead of waiting for them
            await server.shutdown(sockets=[sock])
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
        sock.close()
        simulator.bound_port = None


def _listen(host: str, port: int) -> socket.socket:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    # Say TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP,
    # and with Nagle's algorithm on, an answer's body (a second write) waits ~40 ms for the
    # client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


async def _exit_when_set(stop: asyncio.Event, server: uvicorn.Server) -> None:
    await stop.wait()
    server.should_exit = True


def run(scenario_path: str | None, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve a scenario file (None: the built-in `demo`) until SIGINT or SIGTERM.

    Prints one line with the URL once listening. For `watchdog simulate`.
    """
    scenario = builtin_scenario("demo") if scenario_path is None else load_scenario(scenario_path)
    asyncio.run(_serve_until_signalled(Simulator(scenario), host, port))


async def _serve_until_signalled(simulator: Simulator, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop, started = asyncio.Event(), asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    announcer = asyncio.create_task(_announce(started, simulator, host))
    try:
        await serve(simulator, host, port, started=started, stop=stop)
    finally:
        announcer.cancel()
        for signum in signals:
            loop.remove_signal_handler(signum)


async def _announce(started: asyncio.Event, simulator: Simulator, host: str) -> None:
    await started.wait()
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{simulator.bound_port}"
    lines = [
        f"Confluent Cloud Connect API simulator on {base}",
        f"  Metrics API: {base}/v2/metrics/cloud/query and {base}/v2/metrics/cloud/export",
        *(
            f"  Kafka Connect cluster {cluster.name}: {base}{KAFKA_CONNECT_PREFIX}/{cluster.name}"
            for cluster in simulator.scenario.kafka_connect_clusters
        ),
        # What a config pointed at it needs: without them every call was a 401 or a 404, and
        # the ids were only in the scenario file (the key's secret still is).
        f"  API keys: {', '.join(k.id for k in simulator.scenario.api_keys)} (each one's secret is in the scenario)",
        *(
            f"  environment {environment.id}: clusters {', '.join(c.id for c in environment.clusters) or 'none'}"
            for environment in simulator.scenario.environments
        ),
    ]
    print("\n".join(lines), flush=True)
