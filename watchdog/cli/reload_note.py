"""`watchdog status --daemon`'s note on a reload that failed or was refused (`config_reload` of
GET /v1/connectors). Without it the person who had just edited the ConfigMap (`dry_run: true`
in an incident) saw the usual table, exit 0, and nothing saying that the edit was not in effect:
only the log and `watchdog_config_last_reload_successful` said so."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def reload_note(said: Any, now: datetime) -> str | None:
    """The note for the daemon's `config_reload`, or None when there is nothing to say: the last
    reload applied, none since the start, or a daemon older than the field (absent)."""
    if not isinstance(said, dict) or said.get("result") not in ("failed", "refused"):
        return None
    at = _when(said.get("at"), now)
    applied = _when(said.get("config_applied_at"), now)
    running = f"the config applied at {applied} is running" if applied else "the config the daemon started with is running"
    what = "failed" if said["result"] == "failed" else "was refused"
    error = said.get("error") or "see its config_reload_failed or config_reload_refused log line"
    return (f"note: the last reload{f' at {at}' if at else ''} {what}: {error}; {running}; "
            "the edit is not in effect (fix the file: the watcher reloads it once it changes)")


def _when(text: Any, now: datetime) -> str | None:
    """HH:MM:SS UTC, with the date when it is not today's."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None and now.tzinfo is not None:
        moment = moment.astimezone(now.tzinfo)
    return moment.strftime("%H:%M:%S UTC" if moment.date() == now.date() else "%Y-%m-%d %H:%M:%S UTC")
