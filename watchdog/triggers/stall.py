"""The stalled trigger: reads Confluent's Metrics API for RUNNING connectors, hands the verdicts
to the engine. One query per metric per batch of connectors (grouped by connector id), paced by
the Metrics API's own limiter."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from ..config import Rule, StalledTrigger
from ..connect import Gateway
from ..connect.metrics_api import MetricsApiClient
from ..engine import Engine
from ..logs import get_logger
from ..model import ConnectorKey, ConnectorStatus
from ..stall import LAG, RECEIVED, SENT, Judgement, Points, Windows, judge_sink, judge_source

log = get_logger("watchdog.stall")

# Ids per query: the Metrics API allows `limit` up to 1000 points; 100 connectors of one metric
# stay well inside it for windows up to several hours at one point a minute when grouped.
BATCH = 100


class StallChecker:
    def __init__(self, client: MetricsApiClient, gateway: Gateway, engine: Engine, now: Callable[[], datetime]) -> None:
        self._client = client
        self._gateway = gateway
        self._engine = engine
        self._now = now

    async def check(self, rule: Rule, clusters: list[str]) -> None:
        trigger = rule.trigger
        assert isinstance(trigger, StalledTrigger)
        windows = Windows.ending(self._now(), trigger.window, trigger.delay)
        for cluster in clusters:
            candidates = self._engine.stall_candidates(rule, cluster, windows.start)
            sources = [(k, s) for k, s in candidates if s.type == "source"]
            sinks = [(k, s) for k, s in candidates if s.type == "sink"]
            sent = await self._points(cluster, SENT, sources, windows)
            received = await self._points(cluster, RECEIVED, sinks, windows)
            lag = await self._points(cluster, LAG, sinks, windows)
            judgements: list[tuple[ConnectorKey, Judgement]] = []
            if sent is not None:
                judgements += [(k, judge_source(windows, sent.get(_id(s), []))) for k, s in sources]
            if received is not None and lag is not None:
                judgements += [(k, judge_sink(windows, received.get(_id(s), []), lag.get(_id(s), []))) for k, s in sinks]
            for key, judgement in judgements:
                self._engine.on_stall_check(rule, key, judgement)

    async def _points(
        self, cluster: str, metric: str, connectors: list[tuple[ConnectorKey, ConnectorStatus]], windows: Windows
    ) -> dict[str, Points] | None:
        """Every connector's points of one metric, or None when a query failed (no verdicts then:
        missing data must not look like a stall)."""
        ids = [_id(status) for _, status in connectors]
        points: dict[str, Points] = {}
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]
            query = functools.partial(self._client.query, metric, batch, windows.start, windows.end)
            result, _ = await self._gateway.call(cluster, query, metric=metric)
            if not result.ok or result.value is None:
                log.warning("stall_check_failed", cluster=cluster, metric=metric, outcome=result.outcome.value,
                            message=result.message, connectors=len(batch))
                return None
            points.update(result.value)
        return points


def _id(status: ConnectorStatus) -> str:
    assert status.resource_id is not None  # stall_candidates keeps only connectors with an id
    return status.resource_id
