"""What `watchdog status` and GET /v1/connectors say of the connectors of a cluster the daemon no
longer watches (discovery removed it, or a reload did), while their state is kept for
`state.forget_vanished_after`.

Found by a churn probe (probe_churn, finding 1): once discovery dropped a deleted cluster, its
connectors read as live for three days: `"gone": false`, `failed  FAILED ... in 1m`, and
`status --problems` listed them as failing, though nothing would ever poll or restart them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from watchdog.model import ConnectorKey
from watchdog.report import places_from_json, render_status, rows_shown, status_rows_from_json

from .support import in_process, sim_scenario
from .test_discovery import (
    FAILING,
    config_data,
    discovered,
    environment,
    lkc,
    scenario,
    wait_for,
    world,
)
from .test_removed_clusters import with_other


async def _after_discovery_removed_a_cluster() -> dict[str, Any]:
    """GET /v1/connectors once discovery has removed lkc-goes (deleted), whose `broken` was FAILED."""
    sim = scenario(environment("env-prod", "production", [
        lkc("lkc-stays", connectors=[FAILING]), lkc("lkc-goes", "goes", [FAILING], lifecycle={"deleted_at": 100}),
    ]))
    w = world(sim, config_data({}))
    assert w.clock is not None
    daemon = w.daemon
    daemon.queue.start()
    try:
        await daemon.refresh_discovery()
        for cluster in ("lkc-goes", "lkc-stays"):
            for _ in range(2):
                await daemon.pollers[cluster].poll()
            await wait_for(lambda c=cluster: daemon.state.load(ConnectorKey(c, "broken")).attempts == 1)
        w.clock.advance(150)
        await daemon.refresh_discovery()
        w.clock.advance(300)
        await daemon.refresh_discovery()
        assert discovered(w) == ["lkc-stays"]
        return {"connectors": daemon.connector_rows()}
    finally:
        await daemon.stop()


async def test_the_connectors_of_a_cluster_discovery_removed_say_it_is_no_longer_watched() -> None:
    document = await _after_discovery_removed_a_cluster()
    rows = {row["cluster"]: row for row in document["connectors"]}
    # Before: "gone": false, "unwatched": false, health failed, as last seen, for days.
    assert rows["lkc-goes"]["unwatched"] is True and rows["lkc-goes"]["gone"] is False, rows
    assert rows["lkc-goes"]["cluster_unwatched"] is True, rows
    assert rows["lkc-stays"]["cluster_unwatched"] is False and rows["lkc-stays"]["unwatched"] is False, rows

    now = datetime.now(UTC)
    shown = status_rows_from_json(document)
    table = render_status(shown, now=now)
    goes = next(line for line in table.splitlines()[table.splitlines().index("  CLUSTER lkc-goes"):]
                if line.strip().startswith("broken "))
    # Before: `broken  failed  FAILED  1  ...  in 1m  no`.
    assert goes.split()[1:5] == ["-", "cluster", "no", "longer"], table
    assert "(last seen FAILED " in goes, table
    assert goes.split()[-2:] == ["-", "no"], table  # no NEXT ALLOWED: nothing restarts it

    # --problems: the live cluster's failing connector, not the removed cluster's; one line says why.
    problems = rows_shown(shown, {}, problems=True)
    assert [row.key.cluster for row in problems] == ["lkc-stays"], problems
    table = render_status(problems, now=now, not_shown=["lkc-goes"])
    assert "CLUSTER lkc-goes" not in table, table
    assert "Not shown: the connectors of 1 cluster(s) no longer watched" in table and "lkc-goes" in table, table


async def test_the_connectors_of_a_cluster_a_reload_removed_say_it_is_no_longer_watched() -> None:
    sim = sim_scenario([])
    sim["environments"][0]["clusters"].append({"id": "lkc-other1", "connectors": [FAILING]})
    w = in_process(sim, with_other(True))
    daemon = w.daemon
    daemon._reload_config = lambda: with_other(False)
    daemon.queue.start()
    try:
        await daemon.pollers["other"].poll()
        await wait_for(lambda: daemon.state.load(ConnectorKey("other", "broken")).attempts == 1)
        assert await daemon.reload("test") is True
        rows = {(row["cluster"], row["connector"]): row for row in daemon.connector_rows()}
    finally:
        await daemon.stop()
    assert rows["other", "broken"]["unwatched"] is True and rows["other", "broken"]["gone"] is False, rows
    assert rows["other", "broken"]["cluster_unwatched"] is True, rows


async def test_status_from_the_daemon_files_removed_clusters_under_their_own_heading_not_under_use_daemon() -> None:
    # probe_churn finding 5: `status --daemon URL` filed them under "ENVIRONMENT unknown (not in
    # the config: discovered clusters are placed by `--daemon URL`)", which the user had just passed.
    document = await _after_discovery_removed_a_cluster()
    table = render_status(status_rows_from_json(document), now=datetime.now(UTC), places=places_from_json(document))
    lines = table.splitlines()
    assert "placed by `--daemon URL`" not in table, table
    heading = lines.index("  CLUSTER lkc-goes") - 1
    assert lines[heading].startswith("CLUSTERS NO LONGER WATCHED (discovery or a reload removed them"), table
