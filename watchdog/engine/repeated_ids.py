"""lcc- ids a listing gives more than one connector.

The id is the Metrics API's only key for a connector, and an alert's when it carries no name: a
series or an alert of one id is one connector's. A unique id never repeats, but a broken upstream
or a caching gateway mixing entries may list two connectors with one (the spec's own example is
`lcc-xxxxx`). Judged on that id, both were judged on one connector's series: a moving connector
was restarted as stalled on another's data, and nothing said the id came twice. While an id
repeats in a cluster's listing it names none of them: the stall check reports them unjudged
(`id_not_unique`) and an alert of that id acts on neither (engine/stall_intake.py,
engine/alert_intake.py); said once when it starts and once when it ends."""

from __future__ import annotations

from collections.abc import Mapping

from ..model import ConnectorStatus
from .core import log

# Names shown in one `connector_ids_repeated` line; the rest are counted.
NAMES_SHOWN = 20


def repeated_ids(statuses: Mapping[str, ConnectorStatus]) -> dict[str, tuple[str, ...]]:
    """id -> the names (sorted) of the listing's connectors that share it, for ids listed more than once."""
    names: dict[str, list[str]] = {}
    for name, status in statuses.items():
        if status.resource_id:
            names.setdefault(status.resource_id, []).append(name)
    return {resource_id: tuple(sorted(listed)) for resource_id, listed in names.items() if len(listed) > 1}


def say_changes(cluster: str, before: Mapping[str, tuple[str, ...]], now: Mapping[str, tuple[str, ...]]) -> None:
    """`connector_ids_repeated` at warning for an id that began repeating (or whose names changed),
    at info for one that no longer does: said once each, not at every poll."""
    for resource_id, names in sorted(now.items()):
        if before.get(resource_id) != names:
            log.warning("connector_ids_repeated", cluster=cluster, id=resource_id, connectors=list(names[:NAMES_SHOWN]),
                        count=len(names),
                        note="the listing gives these connectors one lcc- id, which names one connector: none of them is "
                             "judged by it (stall checks: `id_not_unique`; alerts of that id act on none) until each is "
                             "listed with its own. A broken upstream or a gateway mixing entries: status polls and "
                             "restarts by name go on")
    for resource_id, names in sorted(before.items()):
        if resource_id not in now:
            log.info("connector_ids_repeated", cluster=cluster, id=resource_id, connectors=[], count=0,
                     was=list(names[:NAMES_SHOWN]), note="the listing no longer repeats the id: judged by it again")
