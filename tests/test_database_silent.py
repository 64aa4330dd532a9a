"""A PostgreSQL that stops answering while its connections stay up: a pooler or a proxy in front of
it (PgBouncer, a sidecar, a cloud SQL proxy) whose way to the database a firewall cut, or a server
stuck on its disk. The peer acknowledges every byte, so neither TCP_USER_TIMEOUT nor keepalives end
the wait, and the server never sees the statement its statement_timeout would end. Played by a TCP
proxy on loopback that, once told to, forwards nothing more (its connections kept open, new ones
accepted and never forwarded).

Before, the store's synchronous wait on the event loop never ended: the leader answered no
/healthz, renewed no lease and logged nothing, for good (the standby took over, by the lease)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from bench.ha import HaWorld, scenario, wait_until
from bench.postgres import PostgresServer
from watchdog.config.leadership import LeaseTiming
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.model import ConnectorKey
from watchdog.state.errors import StateStoreError
from watchdog.state.postgres import PostgresStateStore
from watchdog.state.postgres_connection import ANSWER_TIMEOUT

KEY = ConnectorKey("prod", "orders")


class SilentProxy:
    """Forwards to the database until `silence()`; from then on forwards nothing (until `speak()`,
    for connections made after it). `close()` ends every connection it holds."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._loop = asyncio.new_event_loop()
        self._silent = False
        self._writers: list[asyncio.StreamWriter] = []
        self._silenced: asyncio.Event
        self._stop: asyncio.Event
        started = threading.Event()
        self.port = 0

        async def serve() -> None:
            self._silenced, self._stop = asyncio.Event(), asyncio.Event()
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            await self._stop.wait()
            server.close()
            for writer in self._writers:
                writer.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(serve(),), daemon=True)
        self._thread.start()
        started.wait(10)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.append(client_writer)
        if self._silent:
            return  # accepted (the kernel answers the handshake), never forwarded
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers.append(server_writer)
        silenced = self._silenced

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            silence = asyncio.ensure_future(silenced.wait())
            try:
                while True:
                    read = asyncio.ensure_future(reader.read(65536))
                    await asyncio.wait({read, silence}, return_when=asyncio.FIRST_COMPLETED)
                    if silence.done():
                        read.cancel()
                        return  # the connection stays open, silent
                    if not (data := read.result()):
                        break
                    writer.write(data)
                    await writer.drain()
                writer.close()
            except OSError:
                writer.close()
            finally:
                silence.cancel()

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    def silence(self) -> None:
        def now() -> None:
            self._silent = True
            self._silenced.set()

        self._loop.call_soon_threadsafe(now)

    def cut(self) -> None:
        """Ends every connection it holds (the client reads the end of its connection)."""
        def now() -> None:
            for writer in self._writers:
                writer.close()

        self._loop.call_soon_threadsafe(now)

    def speak(self) -> None:
        def now() -> None:
            self._silent = False
            self._silenced = asyncio.Event()

        self._loop.call_soon_threadsafe(now)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()

    def url(self, database_url: str, server: PostgresServer) -> str:
        return database_url.replace(f":{server.port}/", f":{self.port}/")


@pytest.fixture
def proxy(postgres_server: PostgresServer) -> Iterator[SilentProxy]:
    made = SilentProxy(postgres_server.port)
    try:
        yield made
    finally:
        made.close()  # ends a wait that never ended (the test failed), so that the test ends


def timed(call: Any, bound: float) -> tuple[float, BaseException | None]:
    """Runs `call` in a thread: how long it took and what it raised; fails once `bound` is past."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(bound)
    assert outcome, f"the store still waited for the silent database after {bound:g}s"
    return time.monotonic() - started, outcome[0]


def test_a_database_that_stops_answering_costs_a_bounded_wait_and_a_clear_error(
    postgres_server: PostgresServer, postgres_url: str, proxy: SilentProxy,
) -> None:
    store = PostgresStateStore(proxy.url(postgres_url, postgres_server), password=postgres_server.password)
    try:
        assert store.load(KEY).attempts == 0
        proxy.silence()
        took, error = timed(lambda: store.load(KEY), ANSWER_TIMEOUT + 8)
        assert isinstance(error, StateStoreError), error
        assert took < ANSWER_TIMEOUT + 2, took
        assert f"no answer from the database within {ANSWER_TIMEOUT:g}s" in str(error)
        assert postgres_server.password.get_secret_value() not in str(error)
        # A new connection reaches nothing either: the connect timeout ends it.
        took, error = timed(lambda: (time.sleep(1.1), store.load(KEY)), ANSWER_TIMEOUT + 8)
        assert isinstance(error, StateStoreError) and took < 6, (took, error)
        proxy.speak()
        time.sleep(1.1)  # the store's pause after a failed connection attempt
        assert store.load(KEY).attempts == 0, "the store works again once the database answers, by itself"
    finally:
        store.close()


@pytest.mark.process
def test_a_leader_whose_database_stops_answering_stays_alive_says_so_and_stands_by(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str, proxy: SilentProxy,
) -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
              "select": {"include": ["*"]}, "backoff": {"base": 1, "cap": 4, "jitter": 0}, "max_restarts": None}]
    world = HaWorld(tmp_path, postgres_server, proxy.url(postgres_url, postgres_server), rules,
                    lease={"lease_duration": 6, "renew_deadline": 4, "renew_interval": 1})
    try:
        world.start_simulator(scenario([{"name": "orders"}]))
        leader = world.start("a")
        wait_until(lambda: leader.ready() == 200 and leader.leading(), 30, "the replica leads and has polled")
        proxy.silence()
        silenced = time.monotonic()
        wait_until(lambda: bool(leader.events("standing_by")), 40, "the leader stands by")
        # /healthz is answered throughout what is left (a wait on the store lasts ANSWER_TIMEOUT at most).
        for _ in range(3):
            assert httpx.get(f"{leader.url}/healthz", timeout=ANSWER_TIMEOUT + 1).status_code == 200
            time.sleep(1)
        said = [e for e in leader.events() if "no answer from the database" in str(e.get("error", ""))]
        assert said, "a store call that met the silent database is logged, naming why"
        assert time.monotonic() - silenced < 45
        assert leader.metric("watchdog_leader") == 0.0
    finally:
        world.stop()
        print(world.tails())


async def test_a_leader_whose_database_stops_answering_steps_down_by_its_renew_deadline(
    postgres_server: PostgresServer, postgres_url: str, proxy: SilentProxy,
) -> None:
    """The renewal is bounded so that the leader stands by at its renew deadline, before its lease
    can expire and a standby take it. Before, asyncio.wait_for cancelled the renewal, and psycopg,
    cancelled, sent the server a cancel request (5 s at most) and waited for the query to end (5 s
    more): the leader stepped down 10 s after its deadline, 16 s after the silence with the default
    lease (15 s), said 'TimeoutError: TimeoutError', and both replicas showed watchdog_leader 1."""
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, the lease's row with it
    timing = LeaseTiming(lease_duration=6.0, renew_deadline=4.0, renew_interval=1.0)
    metrics = LeadershipMetrics(CollectorRegistry())
    elector = Elector(proxy.url(postgres_url, postgres_server), postgres_server.password, timing, metrics,
                      identity="silenced")
    elected: asyncio.Queue[int] = asyncio.Queue()
    lost: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

    async def on_elected(epoch: int) -> None:
        elected.put_nowait(epoch)

    async def on_lost(reason: str) -> None:
        lost.put_nowait((time.monotonic(), reason))

    elector.start(on_elected, on_lost)
    try:
        await asyncio.wait_for(elected.get(), 30)
        await asyncio.sleep(1.5)  # a renewal or two
        proxy.silence()
        silenced = time.monotonic()
        at, reason = await asyncio.wait_for(lost.get(), 40)
        # Before its lease could expire (lease_duration from the start of its last renewal, which
        # came before the silence): half the margin before it, by the elector's own bound.
        bound = timing.lease_duration - timing.margin / 2
        assert at - silenced <= bound + 0.5, f"stood by {at - silenced:.1f}s after the silence"
        assert re.search(r"no (answer from|connection to) the database within", reason), reason
        assert not elector.leading and elector.may_send() is not None
    finally:
        await elector.stop(release=False)
