"""Discovery: Kafka clusters found in Confluent Cloud environments instead of listed by hand.

One job per file:

    found.py      the org/v2 and cmk/v2 list answers, read page by page (pure)
    inventory.py  what is known across refreshes; missing, gone, watched (pure)
    held.py       a removal of every watched cluster at once, held (pure)
    former_names.py  Cloud clusters a swap removed, by their ids: found again under another
                  name (discovery's lkc- id), their connectors' state is carried
    client.py     the paged list calls, through the credential's Gateway
    fleet.py      a refresh, and the config with the discovered clusters merged in
    loop.py       when refreshes happen
    metrics.py    watchdog_discovery_* and watchdog_discovered_cluster_info
    preview.py    `watchdog check-config --discover`: one round of list calls, shown
    host.py       `DiscoveryHost` (a mixin of `app.Daemon`): the loop in the daemon, each
                  refresh's clusters built then swapped in as a reload does
"""

from .client import DiscoveryClient
from .fleet import Fleet, Refresh, static_cluster_ids
from .inventory import Change, ClusterState, EnvironmentOutcome, WatchedCluster
from .loop import DiscoveryLoop
from .metrics import DiscoveryMetrics

__all__ = [
    "Change",
    "ClusterState",
    "DiscoveryClient",
    "DiscoveryLoop",
    "DiscoveryMetrics",
    "EnvironmentOutcome",
    "Fleet",
    "Refresh",
    "WatchedCluster",
    "static_cluster_ids",
]
