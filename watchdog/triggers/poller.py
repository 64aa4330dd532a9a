"""One list call per cluster: every connector's status at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from ..connect import ConnectBackend, Gateway
from ..engine import Engine
from ..logs import get_logger
from ..metrics import Metrics
from ..model import ConnectorStatus

log = get_logger("watchdog.poller")

# Unusable entries named in one log line; the count and the metric cover the rest.
LOGGED_ENTRIES = 10


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
        self._last_unusable: frozenset[tuple[str, str]] = frozenset()

    async def list(self) -> Mapping[str, ConnectorStatus] | None:
        """The cluster's connectors, or None when the call failed (already counted and logged)."""
        result, _ = await self._gateway.call(self.cluster, self._backend.list_connectors)
        self.first_poll_done = True
        if not result.ok or result.value is None:
            self._engine.on_poll_failed(self.cluster, result.outcome.value, result.message)
            return None
        statuses = result.value
        unusable = {name: s.unusable for name, s in statuses.items() if s.unusable is not None}
        self._report_unusable(unusable)
        if statuses and len(unusable) == len(statuses):
            # A map of nothing usable is not an empty cluster: a 200 carrying an error message
            # (`{"message": "Service temporarily unavailable"}`) reads that way. Believing it
            # would make every connector vanish; it is a failed poll. An empty map `{}` is a
            # cluster without connectors, which the API may legally answer.
            self._engine.on_poll_failed(
                self.cluster, "unusable", f"the answer held {len(unusable)} entries and none could be read"
            )
            return None
        self._metrics.polls.labels(self.cluster, "ok").inc()
        self._metrics.last_poll.labels(self.cluster).set(self._now().timestamp())
        return statuses

    def _report_unusable(self, unusable: Mapping[str, object]) -> None:
        """Count every unusable entry; log them when the set changes (at debug while it stays)."""
        for reason in unusable.values():
            self._metrics.unusable_entries.labels(self.cluster, str(reason)).inc()
        seen = frozenset((name, str(reason)) for name, reason in unusable.items())
        if not seen and not self._last_unusable:
            return
        entries = dict(sorted(seen)[:LOGGED_ENTRIES])
        if seen != self._last_unusable:
            log.warning("unusable_entries", cluster=self.cluster, count=len(seen), entries=entries,
                        note="judged transient; their state is kept")
        else:
            log.debug("unusable_entries", cluster=self.cluster, count=len(seen), entries=entries)
        self._last_unusable = seen

    async def poll(self) -> None:
        """The status trigger: list, then let the engine judge every watched connector."""
        statuses = await self.list()
        if statuses is not None:
            self._engine.on_poll(self.cluster, statuses)
