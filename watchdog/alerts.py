"""Alertmanager's webhook payload (version 4) and the memory that makes re-sends harmless.

Alertmanager delivers at least once and re-sends a firing alert every `repeat_interval`; in HA
mode several instances may each send it. One firing episode of one alert is identified by its
fingerprint and `startsAt` (a new episode gets a new `startsAt`), so that pair is remembered and a
repeat is answered 200 without a second restart. The backoff policy still guards a new episode.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# How long an episode is remembered, and how many: Alertmanager's default repeat_interval is 4 h.
EPISODE_MEMORY = timedelta(hours=24)
EPISODE_LIMIT = 50_000


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")  # newer Alertmanager fields are ignored

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime  # noqa: N815 - Alertmanager's field names
    endsAt: datetime | None = None  # noqa: N815
    fingerprint: str = ""
    generatorURL: str = ""  # noqa: N815

    @property
    def identity(self) -> str:
        """The fingerprint, or a stable hash of the labels when a sender leaves it out."""
        if self.fingerprint:
            return self.fingerprint
        digest = hashlib.sha256(json.dumps(self.labels, sort_keys=True).encode()).hexdigest()
        return f"labels:{digest[:16]}"


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""  # noqa: N815
    groupLabels: dict[str, str] = {}  # noqa: N815
    commonLabels: dict[str, str] = {}  # noqa: N815
    alerts: list[Alert] = Field(max_length=10_000)


class EpisodeMemory:
    """Firing episodes already acted on, bounded in age and size."""

    def __init__(self, keep: timedelta = EPISODE_MEMORY, limit: int = EPISODE_LIMIT) -> None:
        self._keep = keep
        self._limit = limit
        self._seen: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    def first_time(self, alert: Alert, now: datetime) -> bool:
        """Remember the episode; True if it was not known yet."""
        self._expire(now)
        key = (alert.identity, alert.startsAt.isoformat())
        if key in self._seen:
            return False
        self._seen[key] = now
        while len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True

    def _expire(self, now: datetime) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self._keep:
                return
            del self._seen[key]
