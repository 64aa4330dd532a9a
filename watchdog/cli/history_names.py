"""`watchdog history CONNECTOR` of a name nothing knows: said, with the close names, where
"No restarts recorded." alone read as "the watchdog never touched it" for a typo
(`ordres-sink`) or a name pasted with a space at its end (found 2026-12-07), while
`watchdog restart` answered the same typo `did you mean 'orders-sink'?`.

Said as a note beside "No restarts recorded." (exit 0), not as a refusal: the status and the
history are not the listing. A connector that only alert or schedule rules watch has no status
row until it is restarted, so a name they do not know may be spelt right; refused (exit 1, "a
typo?"), such a connector was called a typo (found by the session's verification)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..logs import printable
from ..name_hints import connector_name_hint

if TYPE_CHECKING:
    from ..state import StateStore

# The most restarts read for the names they hold: the history's newest (a daemon serves 1,000).
_HISTORY_NAMES_READ = 1000


def unknown_connector_line(connector: str, known: Iterable[str], where: str) -> str | None:
    """The note to say of `connector` when no row of the status and no restart of the history
    (`known`, their names) names it: None when one does (it is known, and has no restart)."""
    names = set(known)
    if connector in names:
        return None
    return printable(f"note: {connector!r} is in neither {where}'s status nor its history (a connector only alert or "
                     "schedule rules watch has no status row until restarted; else a typo?)"
                     f"{connector_name_hint(connector, sorted(names))}")


def store_names(store: StateStore) -> set[str]:
    """The connector names the state store knows: its rows and its newest restarts."""
    names = {row.key.connector for row in store.rows()}
    return names | {record.key.connector for record in store.history(None, _HISTORY_NAMES_READ)}


def daemon_names(args: argparse.Namespace) -> set[str] | None:
    """The connector names the daemon at --daemon knows (GET /v1/connectors, and its newest
    restarts), or None when it could not be asked for them: then nothing more is said, as
    before (the history it answered was read, so this is rare: a daemon stopping meanwhile)."""
    import httpx

    from .daemon import daemon_client, daemon_headers

    headers = daemon_headers(args)
    if headers is None:
        return None
    base = args.daemon.rstrip("/")
    try:
        with daemon_client(args.daemon, headers) as http:
            connectors = http.get(f"{base}/v1/connectors")
            history = http.get(f"{base}/v1/history", params={"limit": _HISTORY_NAMES_READ})
    except httpx.HTTPError:
        return None
    if connectors.status_code != 200 or history.status_code != 200:
        return None
    try:
        return _names(connectors.json(), "connectors") | _names(history.json(), "restarts")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _names(document: Any, field: str) -> set[str]:
    return {item["connector"] for item in document[field] if isinstance(item.get("connector"), str)}
