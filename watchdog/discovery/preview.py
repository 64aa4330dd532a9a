"""`watchdog check-config`'s view of discovery: its settings, and with `--discover` what it would
watch right now, from one round of list calls (the environments, then each selected one's
clusters) and nothing else: no poll, no restart, no state file."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from ..clients import cloud_client
from ..config import CloudCluster, Config
from ..connect import Gateway
from ..connect.transfer import CallLimits
from ..engine import utc_now
from ..logs import printable
from ..metrics import Metrics
from ..ratelimit import RateLimiter
from .client import DiscoveryClient
from .fleet import Fleet, static_cluster_ids
from .inventory import ClusterState, EnvironmentOutcome
from .metrics import DiscoveryMetrics


def settings_summary(config: Config) -> list[str]:
    """The discovery section in one or two lines (check-config without --discover)."""
    settings = config.discovery
    if settings is None:
        return []
    selection = settings.environments
    if selection.everything:
        where = "every environment the key can see"
    else:
        parts = ([", ".join(selection.ids)] if selection.ids else []) + (
            [f"those named {' or '.join(selection.names)}"] if selection.names else [])
        where = "environments " + " and ".join(parts)
    clusters = f"include {','.join(settings.clusters.include)}"
    if settings.clusters.exclude:
        clusters += f"; exclude {','.join(settings.clusters.exclude)}"
    minutes = f"{settings.interval / 60:g}m" if settings.interval % 60 == 0 else f"{settings.interval:g}s"
    return [f"discovery: {where}; clusters {clusters}; credential {config.credential_for(settings)}; every {minutes}",
            "  (watchdog check-config --discover lists what it would watch now)"]


async def discover_once(config: Config, transport: httpx.AsyncBaseTransport | None = None) -> tuple[bool, str]:
    """One round of discovery's list calls. Returns (whether every selected environment could
    be read, the text to print)."""
    settings = config.discovery
    assert settings is not None
    credential = config.credential_for(settings)
    assert credential is not None  # cross_check requires one
    metrics = Metrics(CollectorRegistry())
    limiter = RateLimiter(credential, config.rate_limit, observer=metrics)
    async with cloud_client(config, config.credentials[credential], transport) as http:
        client = DiscoveryClient(http, Gateway(limiter, metrics), CallLimits(config.api.timeouts.total, config.api.max_response_bytes))
        fleet = Fleet(config, DiscoveryMetrics(metrics.registry), utc_now)
        refresh = await fleet.refresh(client, settings)
    return refresh.result == "ok", render(config, fleet, refresh.calls)


def render(config: Config, fleet: Fleet, calls: int) -> str:
    refresh = fleet.last
    assert refresh is not None and config.discovery is not None
    settings = config.discovery
    lines = [f"discovery now ({calls} list call(s), nothing else): {refresh.result}"]
    if refresh.sweep.failure is not None:
        lines.append(f"  the environments could not be listed: {printable(refresh.sweep.failure)}")
        return "\n".join(lines)
    static = static_cluster_ids(config)
    static_names = {c.kafka_cluster_id: name for name, c in config.clusters.items() if isinstance(c, CloudCluster)}
    inventory = fleet.inventory
    for result in refresh.sweep.results:
        environment = result.environment
        name = inventory.environment_names.get(environment.id)
        shown = f"{environment.id} ({printable(name)})" if name and name != environment.id else environment.id
        if result.outcome is EnvironmentOutcome.READ:
            lines.append(f"  ENVIRONMENT {shown}: {len(result.clusters)} cluster(s)")
        elif result.outcome is EnvironmentOutcome.GONE:
            lines.append(f"  ENVIRONMENT {shown}: refused ({printable(result.detail)}); the key needs a role there")
        else:
            lines.append(f"  ENVIRONMENT {shown}: could not be read ({printable(result.detail)})")
        width = max((len(c.id) for c in result.clusters), default=0)
        display = max((len(c.display_name) for c in result.clusters), default=0)
        for cluster in sorted(result.clusters, key=lambda c: c.id):
            state = inventory.state_of(cluster.id, settings, static)
            verdict = {
                ClusterState.WATCHED: "watched, as " + cluster.id,
                ClusterState.EXCLUDED: "excluded by discovery.clusters",
                ClusterState.NOT_READY: f"not watched until PROVISIONED (phase {cluster.phase or 'unknown'})",
                ClusterState.STATIC: f"watched as clusters.{static_names.get(cluster.id, '?')} (the static entry wins)",
            }.get(state, "not watched") if state is not None else "not watched"
            if cluster.deleted_at:
                verdict += f" (being deleted: metadata.deleted_at {cluster.deleted_at})"
            lines.append(f"    {cluster.id:<{width}}  {printable(cluster.display_name):<{display}}  {verdict}")
    watched = fleet.inventory.watched(settings, static)
    lines.append(f"would watch {len(watched)} discovered cluster(s) and {len(config.clusters)} configured one(s)")
    return "\n".join(lines)
