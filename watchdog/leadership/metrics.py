"""The leadership's metrics, on the daemon's registry: whether this replica leads, the epoch it
leads under (or last saw), and how often it took or lost the lead."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class LeadershipMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.leader = Gauge("watchdog_leader", "1 while this replica is the leader (runs triggers and the "
                            "queue), else 0", registry=registry)
        self.epoch = Gauge("watchdog_leader_epoch", "The lease's epoch: the one this replica leads under, "
                           "or the last one it saw; NaN before it knows", registry=registry)
        self.changes = Counter("watchdog_leadership_changes_total", "Times this replica took (acquired) or "
                               "lost (lost) the lead", ["change"], registry=registry)
        # What WatchdogLeaderFlapping counts: `acquired` counts every handover, a clean one too (a
        # rollout's leader gives the lease back as it stops, and the standby takes it: one or two
        # per rollout), so a deploy and its rollback within the hour paged "the leader cannot keep
        # its lease" with nothing wrong. A takeover is a handover the old holder did not make.
        self.takeovers = Counter("watchdog_leadership_takeovers_total", "Times this replica took the lease over "
                                 "from a holder that had not given it back (expired: the leader died, froze or "
                                 "could not renew; or its own, after a step-down)", registry=registry)
        for change in ("acquired", "lost"):
            self.changes.labels(change)
        self.epoch.set(float("nan"))

    def show(self, *, leading: bool, epoch: int | None) -> None:
        self.leader.set(1 if leading else 0)
        if epoch is not None:
            self.epoch.set(epoch)
