"""The expanded list (`GET .../connectors?expand=...`), read entry by entry.

Each entry gives the connector's status, its lcc- id (`id`) and, from `info`, its connector
class and whether it is a custom connector. Where `status.type` is not source or sink (Confluent's
recorded answers show "unknown"), `info.type` is used when it says more.

One malformed entry must not cost the whole cluster its poll: an entry that cannot be read is
kept as an *unusable* connector (listed, so its remembered state stays; health unknown, so
nothing is decided for it) with a bounded reason for the metrics. Only an answer that is not a
map fails the poll here; an answer whose entries are all unusable fails it in the poller (a
non-empty map of nothing usable is not an empty cluster: see triggers/poller.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..model import ConnectorStatus, Unusable
from .statuses import TasksNotList, parse_status
from .transfer import DEFAULT_MAX_LISTED

# Why a list answer holds names only, said per backend: the API answers so without `expand`.
# Kafka Connect before 2.3 (KIP-465) ignores `expand` and lists names only.
KAFKA_CONNECT_NAMES_ONLY = "Kafka Connect before 2.3 ignores ?expand"
# Confluent Cloud lists names only when no `expand` reaches it (connect/v1 spec: "Without expand
# query parameter, this list connector's endpoint will return a list of only the connector names").
CLOUD_NAMES_ONLY = "Confluent answers so when the request's ?expand did not reach it (a proxy dropping the query?)"


class NamesOnly(ValueError):
    """The list answer is an array of names, not the expanded map (`names_only` says why)."""


def parse_expanded_list(
    data: Any, names_only: str = KAFKA_CONNECT_NAMES_ONLY, *, max_listed: int = DEFAULT_MAX_LISTED
) -> dict[str, ConnectorStatus]:
    """Every entry of the map, each read on its own; ValueError only when `data` is no map
    (`names_only` says why an array of names may have come instead), or a map of more than
    `max_listed` entries: each would be a connector with its series and its state, and entries of
    a few dozen bytes fit 280,000 of them in api.max_response_bytes (100,000 cost 300,000 series,
    325 MB and a poll of a minute). Not read at all: a part of them would make the rest vanish."""
    if isinstance(data, list):
        raise NamesOnly(f"expanded list is not an object but an array (of names?): {names_only}")
    if not isinstance(data, dict):
        raise ValueError("expanded list is not an object")
    if len(data) > max_listed:
        raise ValueError(f"the list holds {len(data)} connectors, more than api.max_listed_connectors ({max_listed}); "
                         "not read (raise the setting if the cluster has that many)")
    return {str(name): parse_entry(str(name), entry) for name, entry in data.items()}


def parse_entry(name: str, entry: Any) -> ConnectorStatus:
    if not isinstance(entry, dict):
        return ConnectorStatus(name=name, state="", unusable=Unusable.ENTRY_NOT_OBJECT)
    ident = entry.get("id")
    resource_id = ident.get("id") if isinstance(ident, dict) and isinstance(ident.get("id"), str) else None
    if "status" not in entry:
        return ConnectorStatus(name=name, state="", resource_id=resource_id, unusable=Unusable.STATUS_MISSING)
    status = entry["status"]
    if not isinstance(status, dict):
        return ConnectorStatus(name=name, state="", resource_id=resource_id, unusable=Unusable.STATUS_NOT_OBJECT)
    try:
        parsed = parse_status(status, resource_id=resource_id)
    except TasksNotList:
        return ConnectorStatus(name=name, state="", resource_id=resource_id, unusable=Unusable.TASKS_NOT_LIST)
    except ValueError:
        return ConnectorStatus(name=name, state="", resource_id=resource_id, unusable=Unusable.CONNECTOR_STATE_MISSING)
    # The map's key is the connector's name: the one every other call addresses it by.
    return replace(parsed, name=name, **_from_info(entry.get("info"), parsed.type))


KNOWN_TYPES = ("source", "sink")


def _from_info(info: Any, status_type: str) -> dict[str, Any]:
    """What `info` adds to the status; nothing when it is missing or not an object."""
    if not isinstance(info, dict):
        return {}
    found: dict[str, Any] = {}
    config = info.get("config")
    if isinstance(config, dict):
        if isinstance(config.get("connector.class"), str):
            found["connector_class"] = config["connector.class"]
        kind = config.get("confluent.connector.type")
        found["custom"] = isinstance(kind, str) and kind.strip().upper() == "CUSTOM"
    info_type = info.get("type")
    if status_type.lower() not in KNOWN_TYPES and isinstance(info_type, str) and info_type.lower() in KNOWN_TYPES:
        found["type"] = info_type.lower()
    return found
