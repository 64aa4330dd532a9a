"""With `stalled` rules only, `watchdog status --daemon` and GET /v1/connectors list the connectors
being stall-checked, as their cluster's listing shows them, with the stall check's last word on
each (its verdict, or why it is not judged) and when.

Found by a probe (s77 probe_metrics, F5): the daemon stall-checked 71 connectors of a cluster every
minute while status said "no watched connector of cluster 'c6'" (before the first restart, "No
watched connectors."), and the unjudged reasons (points_vanished, data_late...) were in log lines
and counters only. A connector a stall rule restarted showed HEALTH "-" and STATE "-"."""

from __future__ import annotations

from typing import Any

from watchdog.model import ConnectorKey
from watchdog.report import EVERY_ROW, render_status, status_rows_from_json

from .support import CLUSTER, World
from .test_stall_points_vanished import BUSY, leaving_world
from .test_stalled import run, world

BROKEN = {"name": "broken-source", "records_per_second": 10, "script": {"fail_at": 0}}


def _rows(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["connector"]: row for row in document["connectors"]}


def _line(table: str, connector: str) -> str:
    return next(line for line in table.splitlines() if line.strip().startswith(connector + " "))


async def _answers(w: World) -> tuple[dict[str, dict[str, Any]], str]:
    """GET /v1/connectors' rows (read in steps, as the API does: the same as in one go) and the
    table `watchdog status --daemon` renders of them."""
    document = await w.daemon.connector_reading(EVERY_ROW)
    assert _rows(document) == _rows(w.daemon.connector_answer(EVERY_ROW))
    assert w.clock is not None
    return _rows(document), render_status(status_rows_from_json(document), now=w.clock.wall())


async def test_stall_checked_connectors_are_listed_with_their_state_and_the_checks_last_word() -> None:
    w = leaving_world(since=1800, until=1920, connectors=[*BUSY, BROKEN])
    await w.daemon.pollers[CLUSTER].poll()
    rows, table = await _answers(w)
    # Before: no row at all ("No watched connectors.").
    assert set(rows) == {"src-0", "src-1", "src-2", "sink-0", "sink-1", "broken-source"}, table
    assert rows["src-0"]["seen_state"] == "RUNNING" and rows["src-0"]["health"] == "healthy", rows["src-0"]
    assert rows["broken-source"]["seen_state"] == "FAILED" and rows["broken-source"]["health"] == "failed"
    assert not any(row["unwatched"] or row["gone"] for row in rows.values()), rows
    # Running since this first poll: no check judges it for grace + delay + three windows, which its
    # row says (it read "not checked yet" all that time: tests/test_stall_only_rows.py).
    assert rows["src-0"]["stall"] == {"rule": "stalled", "verdict": None, "unjudged": None, "detail": None,
                                      "at": None, "waits": "running_too_short",
                                      "running_since": "2026-03-01T12:00:00.000000+00:00",
                                      "judged_from": "2026-03-01T12:23:00.000000+00:00"}, rows["src-0"]
    assert _line(table, "src-0").split()[1:3] == ["healthy", "RUNNING"], table
    assert "waits: running since 12:00Z, judged from 12:23Z" in _line(table, "src-0"), table

    await run(w, 1860)  # the Metrics API leaves every point out from 1800 s: points_vanished
    rows, table = await _answers(w)
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="points_vanished") > 0
    said = rows["src-0"]["stall"]
    assert said["rule"] == "stalled" and said["unjudged"] == "points_vanished" and said["verdict"] is None, said
    assert said["at"] is not None and "stall_points_vanished" in said["detail"], said
    assert "unjudged: points_vanished" in _line(table, "src-0"), table

    await run(w, 120)  # the points are back: a verdict again
    rows, table = await _answers(w)
    said = rows["src-0"]["stall"]
    assert said["verdict"] == "moving" and said["unjudged"] is None and said["at"] is not None, said
    assert "moving" in _line(table, "src-0"), table
    # Never RUNNING, never checked; and no status rule: a stall-only connector FAILED is not restarted.
    # (It read "not checked yet", as if a check were to come: tests/test_stall_only_rows.py.)
    assert rows["broken-source"]["stall"]["verdict"] is None
    assert "a check judges RUNNING connectors only" in _line(table, "broken-source"), table
    assert rows["broken-source"]["seen_state"] == "FAILED"
    assert w.simulator.restarts(connector="broken-source") == []
    assert w.simulator.restarts() == []


async def test_a_stall_restart_leaves_the_row_with_its_listed_state_and_verdict() -> None:
    w = world()
    await run(w, 1800)
    rows, table = await _answers(w)
    assert len(w.simulator.restarts(connector="orders-source")) == 1
    # Before: HEALTH "-" and STATE "-", though every poll listed it RUNNING.
    assert rows["orders-source"]["seen_state"] == "RUNNING" and rows["orders-source"]["health"] == "healthy"
    assert rows["orders-source"]["attempts"] == 1, rows["orders-source"]
    assert rows["idle-sink"]["stall"]["verdict"] == "idle", rows["idle-sink"]
    assert _line(table, "idle-sink").split()[1:3] == ["healthy", "RUNNING"], table
    # A replica that stops leading knows none of the checks the new leader makes: not checked yet.
    w.daemon.engine.stand_by()
    rows, table = await _answers(w)
    assert rows["idle-sink"]["stall"]["verdict"] is None and "not checked yet" in _line(table, "idle-sink"), rows


async def test_a_stall_only_connectors_state_outlives_polls_that_fail_as_a_status_rules_does() -> None:
    # Its row is stamped by every poll now; while its cluster's polls fail (no new stamp), the
    # hourly sweep must keep its state as it keeps a status rule's: its cluster's last listing
    # showed it and a stalled rule selects it. Before the stamps, its row had no stamp at all and
    # was kept as listed; stamped and not counted as watched, it went after forget_vanished_after.
    w = world()
    await run(w, 1800)
    key = ConnectorKey(CLUSTER, "orders-source")
    assert w.daemon.state.load(key).attempts == 1
    assert w.clock is not None
    w.clock.advance(w.daemon.config.state.forget_vanished_after + 3600)  # no poll worked since
    await w.daemon.engine.forget_vanished()
    assert w.daemon.state.load(key).attempts == 1, "its stall restart's count and backoff were forgotten"
    assert key in {row.key for row in w.daemon.state.rows()}


async def test_a_check_that_could_not_read_its_cluster_says_so_on_each_row() -> None:
    # Before: a check whose Metrics API queries failed left every row "not checked yet", as if no
    # check had been tried (verification of F5: c9's sinks after stall_check_failed "Invalid metric").
    w = world()
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"from": 1500},
                             "action": {"status": 503}}])
    await run(w, 1800)
    rows, table = await _answers(w)
    said = rows["orders-source"]["stall"]
    assert said["unjudged"] == "check_failed" and said["verdict"] is None and said["at"] is not None, said
    assert "503" in said["detail"] or "server_error" in said["detail"], said
    assert "unjudged: check_failed" in _line(table, "orders-source"), table
    assert w.simulator.restarts() == [], "no verdict on points never read"
    await w.daemon.stop()
