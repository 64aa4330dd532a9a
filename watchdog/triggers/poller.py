"""One list call per cluster: every connector's status at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from ..connect import ConnectBackend, Gateway
from ..engine import Engine
from ..metrics import Metrics
from ..model import ConnectorStatus


class ClusterPoller:
    def __init__(
        self,
        cluster: str,
        backend: ConnectBackend,
        gateway: Gateway,
        engine: Engine,
        metrics: Metrics,
        now: Callable[[], datetime],
    ) -> None:
        self.cluster = cluster
        self._backend = backend
        self._gateway = gateway
        self._engine = engine
        self._metrics = metrics
        self._now = now
        # Ready means "we have tried", not "it worked": a cluster answering 403 must not keep the
        # pod out of its Service, or Prometheus would stop scraping exactly when it matters.
        self.first_poll_done = False

    async def list(self) -> Mapping[str, ConnectorStatus] | None:
        """The cluster's connectors, or None when the call failed (already counted and logged)."""
        result, _ = await self._gateway.call(self.cluster, self._backend.list_connectors)
        self.first_poll_done = True
        if not result.ok or result.value is None:
            self._engine.on_poll_failed(self.cluster, result.outcome, result.message)
            return None
        self._metrics.polls.labels(self.cluster, "ok").inc()
        self._metrics.last_poll.labels(self.cluster).set(self._now().timestamp())
        return result.value

    async def poll(self) -> None:
        """The status trigger: list, then let the engine judge every watched connector."""
        statuses = await self.list()
        if statuses is not None:
            self._engine.on_poll(self.cluster, statuses)
