"""A scheduled run that cannot list a discovered cluster discovery already holds as missing from
its environment (`discovery_cluster_missing`, a deletion under way) says so at warning, with why;
any other listing that fails stays an error.

Found by a churn probe (probe_churn, finding 4): every schedule run between the first refresh
that missed a deleted cluster and its removal logged `scheduled_restart_skipped` at error (up to
about 10 per deleted cluster with the default intervals), paging whoever alerts on error lines for
an ordinary deletion the daemon had itself just warned about."""

from __future__ import annotations

from structlog.testing import capture_logs

from .test_forget_unpolled import one_cluster_stays_one_goes


async def test_a_schedule_run_that_cannot_list_a_cluster_discovery_holds_missing_warns_and_does_not_error() -> None:
    w = one_cluster_stays_one_goes([{"name": "sched-nightly"}])
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        await daemon.refresh_discovery()
        w.clock.advance(150)
        with capture_logs() as logs:
            await daemon.refresh_discovery()
            assert "lkc-goes" in daemon.config.clusters, "missing from one refresh: still watched"
            await daemon.run_schedule_rule("nightly")
            await daemon.queue.join()
    finally:
        await daemon.stop()
    assert [e["cluster"] for e in logs if e["event"] == "discovery_cluster_missing"] == ["lkc-goes"], logs
    (skipped,) = [e for e in logs if e["event"] == "scheduled_restart_skipped"]
    # Before: log_level "error", reason "could not list the cluster's connectors (not_found ...); see poll_failed".
    assert (skipped["cluster"], skipped["log_level"]) == ("lkc-goes", "warning"), skipped
    assert "did not find the cluster in its environment" in skipped["reason"], skipped
    assert [e for e in logs if e["log_level"] == "error"] == [], logs
    assert [(r.cluster, r.connector) for r in w.simulator.restarts()] == [("lkc-stays", "sched-nightly")]
