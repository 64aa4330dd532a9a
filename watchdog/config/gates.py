"""The safety gates' settings: maintenance windows, the breaker, and blocking alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from ..windows import Windows, parse_window
from .types import HttpUrl, PositiveDuration, Strict


def _check_window(text: str) -> str:
    parse_window(text)  # raises WindowError (a ValueError) naming the bad text
    return text


WindowText = Annotated[str, AfterValidator(_check_window)]


class WindowSettings(Strict):
    """When restarts may happen: inside any `allowed` window (all the time if none) and outside
    every `blackout` window. Forms: `Mon-Fri 06:30-20:30 Europe/Berlin`, an ISO-8601 range
    `2026-12-24T00:00:00+01:00-2026-12-27T00:00:00+01:00`, `always`, `never`."""

    allowed: list[WindowText] | None = None
    blackout: list[WindowText] = []

    @property
    def configured(self) -> bool:
        return self.allowed is not None or bool(self.blackout)

    def compile(self) -> Windows:
        allowed = None if self.allowed is None else [parse_window(text) for text in self.allowed]
        return Windows(allowed, [parse_window(text) for text in self.blackout])


class BreakerSettings(Strict):
    """Stop every restart while too much fails at once: a systemic outage is not healed by
    restarting everything, and a storm of restarts can make it worse. Leave a limit out to
    disable it."""

    max_failing_share: Annotated[float, Field(gt=0, le=1)] | None = 0.5  # of a cluster's watched connectors
    min_failing: Annotated[int, Field(ge=1)] = 3  # the share only counts from this many failing
    max_restarts: Annotated[int, Field(ge=1)] | None = 30  # restarts sent fleet-wide within `window`
    window: PositiveDuration = 600.0


class BlockingSettings(Strict):
    """Before a restart, ask Alertmanager whether a blocking alert (a Confluent incident, a
    cluster outage) is firing; silenced and inhibited alerts do not block."""

    alertmanager_url: HttpUrl
    # Alertmanager matchers, ANDed, e.g. 'alertname=~"ConfluentCloudIncident|KafkaClusterDown"'.
    filters: list[Annotated[str, Field(min_length=3)]] = []
    receiver: str | None = None
    cache_ttl: PositiveDuration = 30.0
    timeout: PositiveDuration = 5.0
    on_error: Literal["block", "allow"] = "block"  # fail closed by default, as Kured does
