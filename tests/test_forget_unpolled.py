"""A connector no poll ever stamped (only a schedule, an alert or a person restarted it) is
forgotten once its cluster is gone (or its cluster's listing leaves it out), after the same
`state.forget_vanished_after` grace, counted from its newest restart time.

Found by a churn probe (probe_churn, finding 2): `sched-nightly`, restarted by a schedule rule
only, kept its row in the state file, `watchdog status` and GET /v1/connectors for every cluster
ever deleted, past the grace and past history.max_age: the sweep read `WHERE seen_at <= ?`, which
a NULL seen_at never matches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from watchdog.model import ConnectorKey, ConnectorState
from watchdog.state import StateStore

from .support import World
from .test_discovery import config_data, environment, lkc, scenario, wait_for, world
from .test_state_contract import T0, backend_of_store, store  # noqa: F401  (fixtures: both stores)

HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 60}, "select": {"include": ["*"], "exclude": ["sched-*"]}}
NIGHTLY = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"},
           "select": {"clusters": ["lkc-*"], "connectors": ["sched-nightly"]}}


def one_cluster_stays_one_goes(connectors: list[dict[str, Any]]) -> World:
    """Two discovered clusters holding `connectors`, lkc-goes deleted 100 s in; rules HEAL and NIGHTLY."""
    sim = scenario(environment("env-prod", "production", [
        lkc("lkc-stays", connectors=connectors), lkc("lkc-goes", "goes", connectors, lifecycle={"deleted_at": 100}),
    ]))
    return world(sim, config_data({}, rules=[HEAL, NIGHTLY]))


def test_a_row_no_poll_stamped_is_read_for_the_sweep_by_its_newest_restart_time(store: StateStore) -> None:  # noqa: F811
    old, recent, undated = (ConnectorKey("prod", name) for name in ("old", "recent", "undated"))
    store.save(old, ConnectorState(attempts=1, last_restart_at=T0 - timedelta(days=2),
                                   next_allowed_at=T0 - timedelta(days=2) + timedelta(minutes=1)))
    store.save(recent, ConnectorState(attempts=1, last_restart_at=T0 - timedelta(days=2),
                                      next_allowed_at=T0 + timedelta(minutes=1)))
    store.save(undated, ConnectorState(attempts=1))
    # Before: none of them (`seen_at <= ?` never matches a NULL).
    assert [row.key for row in store.rows_seen_before(T0)] == [old]


async def test_a_connector_only_a_schedule_restarted_is_forgotten_with_its_deleted_cluster_not_in_a_live_one() -> None:
    w = one_cluster_stays_one_goes([{"name": "ok"}, {"name": "sched-nightly"}])
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    goes, stays = ConnectorKey("lkc-goes", "sched-nightly"), ConnectorKey("lkc-stays", "sched-nightly")
    try:
        await daemon.refresh_discovery()
        await daemon.run_schedule_rule("nightly")
        await daemon.queue.join()
        await wait_for(lambda: daemon.state.load(goes).last_restart_at is not None and daemon.state.load(stays).last_restart_at is not None)
        w.clock.advance(150)
        await daemon.refresh_discovery()
        w.clock.advance(300)
        await daemon.refresh_discovery()
        assert "lkc-goes" not in daemon.config.clusters
        w.clock.advance(daemon.config.state.forget_vanished_after + 60)
        await daemon.pollers["lkc-stays"].poll()  # lists sched-nightly: it still exists there
        await daemon.engine.forget_vanished()
        shown = {(row["cluster"], row["connector"]) for row in daemon.connector_rows()}
        kept = daemon.state.load(stays)
    finally:
        await daemon.stop()
    # Before: ("lkc-goes", "sched-nightly") stayed, in the file and the API, for good.
    assert ("lkc-goes", "sched-nightly") not in shown, shown
    assert ("lkc-stays", "sched-nightly") in shown, "a live cluster still lists it: its state is kept"
    assert kept.last_restart_at is not None
