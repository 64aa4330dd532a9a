"""Alertmanager's webhook payload (version 4; another whose shape is readable is read all the same).

Alertmanager delivers at least once and re-sends a firing alert every `repeat_interval`; in HA
mode several instances may each send it. Re-sends are harmless without any memory of them here:
each one is decided like a status poll, so it finds the restart it caused queued (`duplicate`)
or the connector inside its backoff (`backoff`), and it restarts again only when the backoff
policy allows, i.e. when the connector is still failing after the gap.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .logs import without_known_secrets

# The webhook version Alertmanager sends and docs/alerts-and-api.md documents. Another is read all
# the same where its shape is (api/webhook_version.py says it once): refused, a future Alertmanager
# that changed only the version would have had every notification dropped (a 4xx is not sent again).
DOCUMENTED_VERSION = "4"
# The most alerts a webhook may say Alertmanager left out (`truncatedAlerts`); more is a 422.
MAX_TRUNCATED_ALERTS = 1_000_000_000


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
        """The fingerprint, or a stable hash of the labels when a sender leaves it out (or sends
        one far longer than Alertmanager's 16 hex digits: it is kept with every request), or one
        holding a secret of the config (kept as the history's `origin`, shown by GET /v1/history
        and `watchdog history`; a hash of the labels is as stable, and holds nothing)."""
        fingerprint = self.fingerprint
        if (fingerprint and len(fingerprint) <= 64 and fingerprint.isprintable()
                and without_known_secrets(fingerprint) == fingerprint):
            return self.fingerprint
        digest = hashlib.sha256(json.dumps(self.labels, sort_keys=True).encode()).hexdigest()
        return f"labels:{digest[:16]}"


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str  # DOCUMENTED_VERSION, or another read all the same
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""  # noqa: N815
    groupLabels: dict[str, str] = {}  # noqa: N815
    commonLabels: dict[str, str] = {}  # noqa: N815
    # No count of its own: the body limit (server.max_body_bytes) bounds it. A cap of 10,000 refused
    # for good, with a 422, a group that a raised max_body_bytes (as docs/alerts-and-api.md advises)
    # let in.
    alerts: list[Alert]
    # How many of the group's alerts Alertmanager left out to keep to the receiver's
    # `max_alerts`: those are not delivered at all while the group stays as it is. Bounded: the
    # count is added to a float counter, and 10**400 made every webhook a 500 (OverflowError),
    # 1.7 * 10**308 twice left it at +Inf for good. No Alertmanager holds a billion alerts in a
    # group; a negative count is no count.
    truncatedAlerts: int = Field(0, ge=0, le=MAX_TRUNCATED_ALERTS)  # noqa: N815
