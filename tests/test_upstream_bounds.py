"""Upstream answers we do not control (issue 12, items 6, 7 and 15): every call is bounded as a
whole (an answer trickling in a byte at a time ends at the call's deadline, not when the server
likes), every body is capped (a 200 MB list is a failed poll, not a gigabyte of memory), and no
connector name changes which URL a call goes to."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
import tracemalloc
import zlib
from typing import Any

import httpx
import pytest

from watchdog.connect import ConfluentCloudBackend
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.connect.metrics_api import MetricsApiClient
from watchdog.connect.transfer import DEFAULT_LIMITS, CallLimits
from watchdog.model import Outcome
from watchdog.simulator import Scenario, Simulator

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, in_process, served, sim_scenario
from .test_daemon import status_rule

LIST = {"orders-source": {"id": {"id": "lcc-1"}, "status": {"name": "orders-source", "type": "source",
                                                            "connector": {"state": "RUNNING"}, "tasks": []}}}


def cloud(transport: httpx.AsyncBaseTransport, limits: CallLimits = DEFAULT_LIMITS) -> ConfluentCloudBackend:
    return ConfluentCloudBackend(httpx.AsyncClient(transport=transport, base_url="http://x"), "env-1", "lkc-1", limits)


# -- item 6: a trickling answer ends at the call's deadline --------------------------------------


async def test_an_answer_trickling_in_a_byte_at_a_time_ends_at_the_total_deadline() -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario(
        [{"name": f"c-{i}"} for i in range(20)], faults=[{"match": {"endpoint": "list"}, "action": {"trickle_seconds": 0.05}}])))
    async with served(simulator) as url, httpx.AsyncClient(base_url=url, auth=(TEST_API_KEY, TEST_API_SECRET), timeout=5.0) as http:
        backend = ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID, CallLimits(total_seconds=1.0))
        started = time.monotonic()
        result = await backend.list_connectors()
        took = time.monotonic() - started
    # Each byte arrives well within the 5 s read timeout: only the deadline can end the call.
    assert result.outcome is Outcome.NETWORK_ERROR and "(api.timeouts.total)" in result.message
    assert 0.9 <= took < 2.0, f"the call took {took:.1f}s with a 1s deadline"


async def test_a_trickling_poll_frees_its_lane_and_the_shutdown_is_bounded() -> None:
    """The daemon end to end over loopback: a poll whose answer trickles holds the lane for at
    most timeouts.total, and SIGTERM's stop waits at most in_flight_grace for a call on the wire."""
    simulator = Simulator(Scenario.model_validate(sim_scenario(
        [{"name": f"c-{i}"} for i in range(20)],
        faults=[{"match": {"endpoint": "list"}, "action": {"trickle_seconds": 0.05}},
                {"match": {"endpoint": "restart"}, "action": {"delay_seconds": 60}}])))
    from watchdog.app import Daemon

    from .support import daemon_config

    async with served(simulator) as url:
        config = daemon_config([status_rule()], base_url=url, api={"base_url": url, "timeouts": {"read": 1, "connect": 1, "total": 1}},
                               queue={"shutdown_deadline": 0.2, "in_flight_grace": 0.5})
        daemon = Daemon(config)
        daemon.queue.start()
        started = time.monotonic()
        await daemon.pollers[CLUSTER].poll()
        assert time.monotonic() - started < 2.0
        assert daemon.metrics.registry.get_sample_value("watchdog_polls_total", {"cluster": CLUSTER, "result": "network_error"}) == 1
        # A restart whose answer never comes: the stop does not wait for it beyond the grace.
        from watchdog.engine import MANUAL_RULE
        from watchdog.model import ConnectorKey, ConnectorStatus, Trigger

        record = daemon.engine.on_request(ConnectorKey(CLUSTER, "c-1"), ConnectorStatus("c-1", "RUNNING"),
                                          trigger=Trigger.MANUAL, rule=MANUAL_RULE, reason="test")
        assert record.job is not None
        while record.job.first_sent_at is None:
            await asyncio.sleep(0.01)
        stopping = time.monotonic()
        await daemon.stop()
        assert time.monotonic() - stopping < 2.0, "the shutdown waited for the call on the wire"
        assert record.job.outcome is Outcome.INTERRUPTED
        # Its call went out: one try (`tries: 0` beside "may have reached the API" read as nothing sent).
        assert record.job.tries == 1


# -- item 7: bodies are capped ------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_an_oversized_list_is_a_failed_call_read_no_further(declared: bool) -> None:
    big = b'{"x": "' + b"a" * 3_000_000 + b'"}'
    read: list[int] = []

    async def chunks() -> Any:
        for start in range(0, len(big), 65536):
            read.append(start)
            yield big[start:start + 65536]

    def answer(request: httpx.Request) -> httpx.Response:
        if declared:
            return httpx.Response(200, content=big, headers={"Content-Type": "application/json"})
        return httpx.Response(200, content=chunks(), headers={"Content-Type": "application/json"})

    result = await cloud(httpx.MockTransport(answer), CallLimits(max_bytes=1_000_000)).list_connectors()
    assert result.outcome is Outcome.SERVER_ERROR and "larger than 1000000 bytes" in result.message
    assert result.status_code == 200
    if not declared:
        assert len(read) <= 17, "the body was read on past the limit"


async def test_a_compressed_bomb_is_capped_after_decompression() -> None:
    bomb = gzip.compress(b'{"x": "' + b"0" * 50_000_000 + b'"}')
    assert len(bomb) < 100_000
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, content=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}))
    result = await cloud(transport, CallLimits(max_bytes=1_000_000)).list_connectors()
    assert result.outcome is Outcome.SERVER_ERROR and "larger than" in result.message


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_bomb_costs_no_more_memory_than_the_cap(encoding: str) -> None:
    # httpx inflated each read whole before the cap saw it: one read of 64 KB of gzip is 66 MB,
    # and a 1 MB answer cost 150 MB over a real socket whatever api.max_response_bytes (four polls
    # at once: more than the pod's 384 MiB). Here the whole bomb comes in one read.
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
    bomb = b"".join([compressor.compress(b"0" * 10_000_000) for _ in range(10)] + [compressor.flush()])
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, stream=httpx.ByteStream(bomb), headers={"Content-Encoding": encoding}))
    tracemalloc.start()
    try:
        result = await cloud(transport, CallLimits(max_bytes=1_000_000)).list_connectors()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result.outcome is Outcome.SERVER_ERROR and "larger than 1000000 bytes" in result.message
    assert peak < 5_000_000, f"{peak / 1e6:.0f} MB for a cap of 1 MB"


# A 200 so answered is an unreadable answer with its status (server_error), not a network error
# (session 75's probe, F-LOW-2).
@pytest.mark.parametrize(("status", "outcome"), [(200, Outcome.SERVER_ERROR), (202, Outcome.ACCEPTED)])
async def test_a_body_compressed_twice_is_not_decoded(status: int, outcome: Outcome) -> None:
    # httpx decodes each chunk through every layer before the cap sees it, each layer multiplying:
    # these 478 bytes (`Content-Encoding: gzip, gzip`) cost 449 MB whatever api.max_response_bytes.
    bomb = gzip.compress(gzip.compress(b"0" * 200_000_000, 9), 9)
    assert len(bomb) < 1_000
    transport = httpx.MockTransport(lambda request: httpx.Response(
        status, stream=httpx.ByteStream(bomb), headers={"Content-Encoding": "gzip, gzip"}))
    call = (cloud(transport).list_connectors() if status == 200
            else KafkaConnectBackend(httpx.AsyncClient(transport=transport), ["http://w:8083"]).restart("orders"))
    tracemalloc.start()
    try:
        result = await call
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result.outcome is outcome and "encoded 2 times (gzip, gzip)" in result.message, result
    assert peak < 5_000_000, f"{peak / 1e6:.0f} MB"


async def test_an_answer_within_the_cap_still_reads_as_before() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, content=gzip.compress(httpx.Response(200, json=LIST).content), headers={"Content-Encoding": "gzip"}))
    result = await cloud(transport, CallLimits(max_bytes=100_000)).list_connectors()
    assert result.ok and result.value is not None and result.value["orders-source"].resource_id == "lcc-1"


async def test_a_restart_accepted_with_an_oversized_body_is_still_accepted() -> None:
    # Kafka Connect answers 202 with the connector's status: the restart happened whatever its size.
    transport = httpx.MockTransport(lambda request: httpx.Response(202, content=b"{" + b" " * 200_000 + b"}"))
    backend = KafkaConnectBackend(httpx.AsyncClient(transport=transport), ["http://w:8083"], CallLimits(max_bytes=65536))
    result = await backend.restart("orders")
    assert result.outcome is Outcome.ACCEPTED


async def test_an_oversized_metrics_answer_is_no_verdict() -> None:
    from datetime import datetime, timedelta, timezone

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"{" + b" " * 200_000 + b"}"))
    client = MetricsApiClient(httpx.AsyncClient(transport=transport, base_url="http://m"), limits=CallLimits(max_bytes=65536))
    end = datetime(2026, 3, 1, tzinfo=timezone.utc)
    result = await client.query("io.confluent.kafka.connect/sent_records", ["lcc-1"], end - timedelta(minutes=10), end)
    assert result.outcome is Outcome.SERVER_ERROR and "larger than" in result.message


async def test_the_daemon_counts_an_oversized_list_as_a_failed_poll() -> None:
    w = in_process(sim_scenario([{"name": f"c-{i}"} for i in range(3)],
                                faults=[{"match": {"endpoint": "list"}, "action": {"pad_to_bytes": 200_000}}]),
                   daemon_config_with(api={"max_response_bytes": 65536}))
    await w.daemon.pollers[CLUSTER].poll()
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="server_error") == 1
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 0


def daemon_config_with(**sections: Any) -> Any:
    from .support import daemon_config

    return daemon_config([status_rule()], **sections)


# -- item 15: names made of dots stay one path segment --------------------------------------------


@pytest.mark.parametrize(("name", "segment"), [("..", "%2E%2E"), (".", "%2E"), ("...", "%2E%2E%2E"), ("a/..", "a%2F.."),
                                               ("a b", "a%20b")])
async def test_a_connector_name_never_changes_the_resource_a_restart_addresses(name: str, segment: str) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    await cloud(httpx.MockTransport(record)).restart(name)
    assert seen[0].url.raw_path.decode() == f"/connect/v1/environments/env-1/clusters/lkc-1/connectors/{segment}/restart"

    seen.clear()
    backend = KafkaConnectBackend(httpx.AsyncClient(transport=httpx.MockTransport(record)), ["http://gw:8080/kafka-connect/onprem"])
    await backend.restart(name)
    # `.` and `..` too: Kafka Connect before 4.0 routes %2E segments to the connector of that name,
    # 4.x refuses them with a 400 (tests/test_kafka_connect_workers.py): never another resource.
    assert seen[0].url.raw_path.decode().split("?")[0] == f"/kafka-connect/onprem/connectors/{segment}/restart"


async def test_a_429_whose_body_trickles_is_still_a_429_with_its_retry_after() -> None:
    """The status line and headers of a 429 are its answer; its body only words. Taken as lost at
    the deadline, it paused nothing (the next call went at once) and the refused restart was
    retried on our own backoff, as a call that may have reached the API."""

    async def refuse_slowly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nX-RateLimit-Limit: 20\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            for _ in range(100):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.1)
        writer.close()

    server = await asyncio.start_server(refuse_slowly, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as http:
            backend = ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID, CallLimits(total_seconds=0.5))
            result = await backend.restart("orders-sink")
    finally:
        server.close()
    assert (result.outcome, result.status_code) == (Outcome.RATE_LIMITED, 429)
    assert (result.headers.retry_after, result.headers.limit) == (30.0, 20)
