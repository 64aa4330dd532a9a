"""What one pass of `watchdog run --once` could not read, and so judged nothing of.

A pass that could not list a cluster (a revoked key's 401, a 403 or 404 for a cluster id that is
wrong or gone, a 5xx, an answer it could not read) decided and restarted nothing there, and a
schedule run skipped it (scheduled_restart_skipped). One whose discovery could not read the
environment list, or an environment's clusters, passed over none of the clusters there. Either
exited 0 before, read as a pass made by the CronJob or script that ran it, night after night; so
did one whose stall check could not query the Metrics API (stall_check_failed: no verdict).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .discovery.fleet import Refresh
from .discovery.inventory import EnvironmentOutcome
from .logs import get_logger
from .triggers.poller import ClusterPoller
from .triggers.stall import StallChecker

log = get_logger("watchdog.app")


@dataclass(frozen=True, slots=True)
class PassStart:
    """Taken when the pass begins: each cluster's failed listings so far, and the stall checks'
    failed Metrics API queries."""

    failed_listings: Mapping[str, int] = field(default_factory=dict)
    failed_queries: int = 0

    @classmethod
    def of(cls, pollers: Mapping[str, ClusterPoller], stall: StallChecker | None) -> PassStart:
        return cls({name: poller.failed_listings for name, poller in pollers.items()},
                   0 if stall is None else len(stall.failed_queries))


def unread_metrics(start: PassStart, stall: StallChecker | None) -> dict[str, str]:
    """The clusters a stall check of the pass could not query the Metrics API for (its points
    unread: no verdict), each with the last failure."""
    return {} if stall is None else dict(stall.failed_queries[start.failed_queries:])


def unread_clusters(start: PassStart, pollers: Mapping[str, ClusterPoller]) -> dict[str, str]:
    """The clusters a listing of the pass (its poll, a schedule run's) failed for and none read
    after, each with the last failure (outcome: message). A schedule run's listing asked for
    again after a 429 and read then is no failure of the pass."""
    return {name: poller.failure for name, poller in sorted(pollers.items())
            if poller.failed_listings > start.failed_listings.get(name, 0) and poller.last_listing_failed}


def unread_discovery(refresh: Refresh | None) -> dict[str, str]:
    """What discovery's refresh could not read: `environments` (the environment list), or each
    environment whose clusters could not be listed, with why. One answered 403 or 404 counts as
    read and empty, as discovery takes it (inventory.py) and `check-config --discover` shows it."""
    if refresh is None:
        return {}
    if refresh.sweep.failure is not None:
        return {"environments": refresh.sweep.failure}
    return {r.environment.id: r.detail or "not read" for r in refresh.sweep.results
            if r.outcome is EnvironmentOutcome.UNKNOWN}


def report_unread(clusters: Mapping[str, str], discovery: Mapping[str, str], metrics: Mapping[str, str]) -> bool:
    """Say what the pass could not read (once_incomplete); True when it read everything."""
    if not clusters and not discovery and not metrics:
        return True
    log.error("once_incomplete", clusters=dict(clusters), discovery=dict(discovery), metrics_api=dict(metrics),
              note="nothing was judged or restarted where the pass could not read; exit 1")
    return False
