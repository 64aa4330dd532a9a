"""Connector names no connector can have (control characters) are counted, never labelled.

Before, a listing with `new\\nline` and `tab\\tand}brace{` (both FAILED) said one warning,
`unusable_connector_names_ignored count=2`, and no metric showed them: `watchdog_connectors`
summed 2 fewer than the API listed, and `watchdog_unusable_entries_total` had no such reason
(an outside probe, 2026-12-06)."""

from __future__ import annotations

from prometheus_client import generate_latest

from .support import CLUSTER
from .test_daemon import run_polls
from .test_hostile_answers import faulty_world, polls

BODY = ('{"new\\nline": {"status": {"name": "x", "type": "source", "tasks": [],'
        ' "connector": {"state": "FAILED", "worker_id": "w"}}},'
        ' "tab\\tand}brace{": {"status": {"name": "y", "type": "source", "tasks": [],'
        ' "connector": {"state": "FAILED", "worker_id": "w"}}},'
        ' "broken": {"status": {"name": "broken", "type": "source", "tasks": [],'
        ' "connector": {"state": "FAILED", "worker_id": "broken"}}}}')


async def test_names_with_control_characters_are_counted_as_unusable_entries_without_their_names() -> None:
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 3}, "action": {"status": 200, "body": BODY}}])

    await run_polls(w, 3)

    assert polls(w, "ok") == 3
    assert w.sample("watchdog_unusable_entries_total", cluster=CLUSTER, reason="connector_name_unusable") == 6, \
        "2 names at each of 3 listings"
    exposition = generate_latest(w.daemon.metrics.registry).decode()
    assert "line" not in exposition and "brace" not in exposition, "no name in any label"
    assert [c.connector for c in w.simulator.restarts(accepted_only=False)] == ["broken"]
