"""Hints for a name that names nothing: what to add to `unknown cluster 'LABEL'` or "connector
NAME is not in the listing", for the API's refusals and the CLI's (split from report.py, which
renders what exists)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .config.stray_variables import CLOSE_MATCH
from .report import ClusterPlace


def cluster_name_hint(label: str, places: Mapping[str, ClusterPlace], *, discovery: bool, listed_by: str) -> str:
    """What to add to `unknown cluster 'LABEL'` (a restart or a history asked for by a cluster no
    name answers to). A discovered cluster is named by its lkc- id, while people know it by its
    display name (the Confluent console's, and what `watchdog status` shows beside the id):
    `orders` was answered `unknown cluster 'orders'` and a list of ids, or, without a daemon,
    `configured: ` and nothing. A display name of a watched cluster (in `places`, in any letter
    case) names it; with discovery on, any other label is told how discovered clusters are
    named, and `listed_by` what shows them with their display names. "" without discovery."""
    folded = label.casefold()
    named = sorted(name for name, place in places.items()
                   if place.display_name is not None and place.display_name.casefold() == folded)
    if named:
        return f"; it is the display name of {', '.join(named)}: a discovered cluster is named by its lkc- id"
    if discovery:
        return f"; a discovered cluster is named by its lkc- id, not its display name ({listed_by} shows both)"
    return ""


def connector_name_hint(name: str, listed: Iterable[str]) -> str:
    """What to add to "connector NAME is not in the listing" of a restart asked for by name: the
    listed names closest to it (`orders-snik`: `did you mean 'orders-sink'?`), or "". Over a
    cluster's whole listing (up to api.max_listed_connectors, 20,000 names: 70 ms), so the API
    asks it off the event loop."""
    import difflib

    # As close as the config's misspelt keys and WATCHDOG_* variables are held to theirs.
    close = difflib.get_close_matches(name, list(listed), n=3, cutoff=CLOSE_MATCH)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
