"""A webhook whose `version` is not the one documented (Alertmanager's "4"): read all the same
where its shape is readable, and said once per version, for a few versions at most."""

from __future__ import annotations

from ..alerts import DOCUMENTED_VERSION
from ..logs import get_logger

log = get_logger("watchdog.api")

# How many versions other than the documented one are said (each once), and how much of one is
# shown: a version is whatever the sender put there.
VERSIONS_SAID = 5
VERSION_SHOWN = 20


def note_version(said: set[str], version: str) -> None:
    """Say, once per version, that a webhook's version is not the documented one. Refused 422, as
    before, a future Alertmanager that only changed its version would have had every notification
    dropped: Alertmanager does not send a 4xx again within a notification, and the next would be
    refused the same. What cannot be read is still refused (alerts.WebhookPayload)."""
    if version == DOCUMENTED_VERSION:
        return
    shown = version[:VERSION_SHOWN]
    if shown in said or len(said) >= VERSIONS_SAID:
        return
    said.add(shown)
    log.warning("webhook_version_unknown", version=shown, documented=DOCUMENTED_VERSION,
                note=f"Alertmanager's webhook says version {shown!r}, not the {DOCUMENTED_VERSION!r} this daemon "
                     "documents: read all the same, its alerts acted on, as the fields it reads are there; check "
                     "Alertmanager's release notes for what changed (said once per version)")
