"""The forget sweep at a start runs before discovery's first refresh: a discovered cluster not
known yet then proves nothing, and its connectors' state (backoff, budget, gave-up flag) is left
alone until discovery has answered.

Found by a churn probe (probe_churn, finding 3): a daemon down longer than
`state.forget_vanished_after` erased, at its start, the state of every live connector of the
discovered clusters (`connector_forgotten` before the first `discovery_refreshed`), so a
connector it had given up on was restarted again; the same connector of a cluster listed in the
config kept it."""

from __future__ import annotations

from datetime import timedelta

from structlog.testing import capture_logs

from watchdog.model import ConnectorKey, ConnectorState

from .test_discovery import FAILING, config_data, environment, lkc, scenario, world


async def test_a_start_after_a_long_outage_keeps_the_state_of_discovered_connectors_until_discovery_answers() -> None:
    sim = scenario(environment("env-prod", "production", [lkc("lkc-live1", connectors=[FAILING])]))
    w = world(sim, config_data({}))
    daemon = w.daemon
    grace = timedelta(seconds=daemon.config.state.forget_vanished_after)
    live, removed = ConnectorKey("lkc-live1", "broken"), ConnectorKey("lkc-gone1", "broken")
    given_up = ConnectorState(attempts=5, gave_up=True, last_restart_at=daemon._now() - 2 * grace)
    for key in (live, removed):  # last seen two graces ago: the daemon was down that long
        daemon.state.observe_status(key, "FAILED", daemon._now() - 2 * grace, state=given_up)
    try:
        with capture_logs() as logs:
            daemon._prune_history()  # as _lead does, before discovery's first refresh
            assert daemon._forgetting is not None
            await daemon._forgetting
        # Before: both forgotten here, the live one's gave-up flag with them.
        assert [e for e in logs if e["event"] == "connector_forgotten"] == [], logs
        assert daemon.state.load(live).gave_up is True

        sweep = daemon._forgetting
        with capture_logs() as logs:
            await daemon.refresh_discovery()
            assert daemon._forgetting is not sweep, "swept again once discovery answered, not an hour later"
            await daemon._forgetting
        # Once discovery has answered, a cluster it did not find is one no longer watched.
        assert [(e["cluster"], e["connector"]) for e in logs if e["event"] == "connector_forgotten"] == [
            ("lkc-gone1", "broken")], logs
        assert daemon.state.load(live).gave_up is True
    finally:
        await daemon.stop()
