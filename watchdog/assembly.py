"""The parts a cluster needs in service (its backend, and for a self-managed cluster its own HTTP
client and rate-limit lane), made apart from the running daemon: a reload builds every part
first and installs them only once all could be made."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .clients import kafka_connect_client
from .config import Config, KafkaConnectCluster
from .connect import ConfluentCloudBackend, ConnectBackend, Gateway
from .connect.kafka_connect import KafkaConnectBackend
from .connect.transfer import CallLimits
from .metrics import Metrics
from .ratelimit import RateLimiter
from .redirects import redirect_hook


@dataclass(frozen=True)
class BuiltCluster:
    name: str
    lane: str
    backend: ConnectBackend
    client: httpx.AsyncClient | None  # a self-managed cluster's own HTTP client
    gateway: Gateway | None  # set when the cluster brings a new rate-limit lane


def build_cluster(
    config: Config,
    name: str,
    *,
    cloud_clients: Mapping[str, httpx.AsyncClient],
    lanes: Mapping[str, Gateway],
    metrics: Metrics,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
) -> BuiltCluster:
    """Everything cluster `name` of `config` needs, made without touching the running daemon.
    `cloud_clients` and `lanes`: the clients and gateways already in service, by lane."""
    cluster = config.clusters[name]
    lane = config.lane_for(name)
    limits = CallLimits(config.api.timeouts.total, config.api.max_response_bytes, config.api.max_listed_connectors)
    if isinstance(cluster, KafkaConnectCluster):
        client = kafka_connect_client(config, cluster, transport, [redirect_hook(lane, metrics)])
        gateway = None
        if lane not in lanes:  # a new self-managed cluster: a lane of its own
            # A worker has no rate limit to discover (no 429, no X-RateLimit headers): calls go
            # side by side up to max_concurrent_requests, paced by max_requests_per_second only.
            limiter = RateLimiter(lane, config.rate_limit, clock=clock, rng=rng, observer=metrics, discover_limit=False)
            # A restart may wait 30 to 90 s per worker for a stuck leader or broker (an outage
            # fails many connectors at once): restarts keep one slot free for the poll, which
            # the worker answers at once from its cache.
            slots = max(1, config.rate_limit.max_concurrent_requests - 1)
            gateway = Gateway(limiter, metrics, restart_slots=slots)
        backend: ConnectBackend = KafkaConnectBackend(client, [str(url) for url in cluster.urls], limits=limits)
        return BuiltCluster(name, lane, backend, client, gateway)
    # Confluent Cloud lanes are per credential, made at start (credentials need a restart).
    backend = ConfluentCloudBackend(cloud_clients[lane], cluster.environment_id, cluster.kafka_cluster_id, limits=limits)
    return BuiltCluster(name, lane, backend, None, None)


class Retired:
    """HTTP clients a reload replaced, each closed once the calls it carries have ended. Kept
    until the daemon stopped, every reload that redefined a self-managed cluster left a client
    and its pool of connections open: a socket and about 0.3 MB more per such reload, for good."""

    def __init__(self) -> None:
        self._closing: dict[asyncio.Task[None], httpx.AsyncClient] = {}

    def retire(self, client: httpx.AsyncClient, backend: ConnectBackend | None,
               after: Awaitable[None] | None = None) -> None:
        """Close `client`, after `after` (a removed cluster's queued restarts sent), and once
        `backend`'s calls have ended when it is the backend using it."""
        uses = isinstance(backend, KafkaConnectBackend) and backend.client is client
        closing = backend.aclose() if uses and isinstance(backend, KafkaConnectBackend) else client.aclose()
        task = asyncio.get_running_loop().create_task(_after(after, closing), name="close-retired-client")
        self._closing[task] = client
        task.add_done_callback(lambda done: self._closing.pop(done, None))

    def __len__(self) -> int:
        return len(self._closing)

    async def close(self) -> None:
        """At the stop: close at once those still waiting for their calls (the queue has ended)."""
        waiting = list(self._closing.items())
        for task, _ in waiting:
            task.cancel()
        await asyncio.gather(*(task for task, _ in waiting), return_exceptions=True)
        for _, client in waiting:
            await client.aclose()


async def _after(first: Awaitable[None] | None, then: Coroutine[Any, Any, None]) -> None:
    try:
        if first is not None:
            await first
    except BaseException:
        then.close()  # never awaited: said so, rather than warned about at collection
        raise
    await then
