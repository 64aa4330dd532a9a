"""Connector names no connector can have (control characters, over 255 characters) are named in
`unusable_connector_names_ignored`, escaped and cut short, the first five: the line gave only a
count (`count=2`), and the operator could not tell which FAILED connector nothing watches."""

from __future__ import annotations

import json

from structlog.testing import capture_logs

from .test_daemon import run_polls
from .test_hostile_answers import faulty_world, polls

ENTRY = '{"status": {"name": "x", "type": "source", "tasks": [], "connector": {"state": "FAILED", "worker_id": "w"}}}'
NAMES = ["new\nline", "tab\tand}brace{", "\x1b[2Jclear", "L" * 300, "bell\x07", "del\x7f", "nul-ish\x01"]
BODY = "{" + ", ".join(f"{json.dumps(name)}: {ENTRY}" for name in [*NAMES, "broken"]) + "}"


async def test_unusable_names_are_named_escaped_cut_short_and_bounded() -> None:
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 1}, "action": {"status": 200, "body": BODY}}])
    with capture_logs() as logs:
        await run_polls(w, 1)
    assert polls(w, "ok") == 1
    [line] = [e for e in logs if e["event"] == "unusable_connector_names_ignored"]
    assert line["log_level"] == "warning" and line["count"] == 7
    assert line["names"] == [r"'new\nline'", r"'tab\tand}brace{'", r"'\x1b[2Jclear'",
                             "'" + "L" * 80 + "'... (300 characters)", r"'bell\x07'"]
    assert all(name.isascii() and name.isprintable() for name in line["names"]), "nothing reaches a terminal raw"
    assert "the first 5" in line["note"]
