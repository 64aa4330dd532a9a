"""The rows of connectors only a `stalled` rule selects (no status rule): what `watchdog status`
(from the daemon and from the state file) and GET /v1/connectors say of one a stall check does not
judge now, and why.

Left alone by session 78 (56a9351 listed these rows): a stall-only connector FAILED showed NEXT
ALLOWED `now`, though no status rule selects it and a stall check judges RUNNING connectors only,
so nothing was going to restart it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from watchdog.report import (
    EVERY_ROW,
    parse_timestamp,
    render_status,
    status_rows_from_json,
    unwatched_rows,
    with_gone,
)

from .support import World, sim_cluster
from .test_stall_points_vanished import BUSY, leaving_world
from .test_stalled import DELAY, GRACE, run

BROKEN = {"name": "broken-source", "records_per_second": 10, "script": {"fail_at": 0}}
NEXT_ALLOWED = 5  # the NEXT ALLOWED cell's place among a row's words (no LAST RESTART: `-`)


def _rows(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["connector"]: row for row in document["connectors"]}


def _line(table: str, connector: str) -> str:
    return next(line for line in table.splitlines() if line.strip().startswith(connector + " "))


async def _daemon_view(w: World) -> tuple[dict[str, dict[str, Any]], str]:
    """GET /v1/connectors' rows (read in steps, as the API does) and `status --daemon`'s table."""
    document = await w.daemon.connector_reading(EVERY_ROW)
    assert w.clock is not None
    return _rows(document), render_status(status_rows_from_json(document), now=w.clock.wall())


def _file_view(w: World) -> str:
    """`watchdog status` read from the state file with the daemon's config (cli/reports.py's steps)."""
    assert w.clock is not None
    rows = with_gone(unwatched_rows(w.daemon.state.rows(), w.daemon.config))
    return render_status(rows, now=w.clock.wall())


async def test_a_stall_only_connector_not_running_shows_no_restart_due_and_says_why() -> None:
    w = leaving_world(since=10**6, until=10**6, connectors=[*BUSY, BROKEN])
    await run(w, 120)
    rows, table = await _daemon_view(w)
    broken = rows["broken-source"]
    assert broken["seen_state"] == "FAILED" and broken["stall_only"] is True, broken
    assert rows["src-0"]["stall_only"] is True
    # Before: `now`, read at 3 a.m. as a restart about to go; nothing restarts it.
    assert _line(table, "broken-source").split()[NEXT_ALLOWED] == "-", table
    assert broken["stall"]["waits"] == "not_running", broken["stall"]
    assert "judges RUNNING connectors only" in _line(table, "broken-source"), table
    # A RUNNING one: a stall restart may be made of it, its backoff allowing: `now` stays.
    assert _line(table, "src-0").split()[NEXT_ALLOWED] == "now", table
    assert rows["src-0"]["stall"]["waits"] != "not_running", rows["src-0"]["stall"]
    assert w.simulator.restarts() == []

    # Read from the state file (daemon down, no stall word kept): the same `-`, and why under the table.
    table = _file_view(w)
    assert _line(table, "broken-source").split()[NEXT_ALLOWED] == "-", table
    assert _line(table, "src-0").split()[NEXT_ALLOWED] == "now", table
    assert "judges RUNNING connectors only" in table and "broken-source" in table.split("\n\n")[-1], table
    await w.daemon.stop()


async def test_a_connector_running_too_short_to_be_judged_says_since_when_and_from_when() -> None:
    # Before: "not checked yet" for the whole grace + delay + three windows (23 minutes here, 45 with
    # the defaults), read as a check that never came; nothing said when it would be judged.
    w = leaving_world(since=10**6, until=10**6)
    assert w.clock is not None
    start = w.clock.wall()
    judged = start + timedelta(seconds=GRACE + DELAY + 3 * 300 + 60)  # the windows end on a whole minute
    await run(w, 120)
    rows, table = await _daemon_view(w)
    said = rows["src-0"]["stall"]
    assert said["waits"] == "running_too_short" and said["verdict"] is None, said
    assert parse_timestamp(said["running_since"]) == start and parse_timestamp(said["judged_from"]) == judged, said
    assert (f"waits: running since {start:%H:%M}Z, judged from {judged:%H:%M}Z (in 21m)"
            in _line(table, "src-0")), table
    assert _line(table, "src-0").split()[NEXT_ALLOWED] == "now", table  # RUNNING: a stall restart may come

    await run(w, int((judged - w.clock.wall()).total_seconds()) + 60)  # its first check: a verdict, no wait
    rows, table = await _daemon_view(w)
    said = rows["src-0"]["stall"]
    assert said["verdict"] == "moving" and said["waits"] is None, said
    assert "waits" not in _line(table, "src-0") and "moving" in _line(table, "src-0"), table
    await w.daemon.stop()


async def test_a_deleted_stall_only_connector_reads_gone_from_the_state_file_as_from_the_daemon() -> None:
    # Each poll stamps the connectors only a stalled rule selects (engine/stall_rows.py), so one
    # left out of the last poll's listing was deleted, as a status rule's is. Before: the state-file
    # view took every row no status rule selects for unwatched, `unwatched (last seen RUNNING 1m
    # ago)`, where the daemon said `gone (last seen RUNNING 1m ago)`.
    w = leaving_world(since=10**6, until=10**6)
    await run(w, 120)
    w.simulator.delete_connector(sim_cluster(), "src-1")
    await run(w, 60)
    rows, table = await _daemon_view(w)
    assert rows["src-1"]["gone"] is True and rows["src-1"]["unwatched"] is False, rows["src-1"]
    assert _line(table, "src-1").split()[2] == "gone", table
    file_table = _file_view(w)
    assert _line(file_table, "src-1").split()[2] == "gone", file_table
    assert _line(file_table, "src-0").split()[2] == "RUNNING", file_table  # the others stay as listed
    await w.daemon.stop()
