"""What a poll costs the state volume: a slice of connectors is one transaction, not a commit
each (docs/benchmarks.md, "A working day in real time")."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from .support import CLUSTER, daemon_config, in_process, sim_scenario

FRAME = 24  # each page SQLite appends to its write-ahead log carries a header of 24 bytes
CONNECTORS = 400


def _pages_logged(wal: Path, page_size: int) -> int:
    size = wal.stat().st_size if wal.exists() else 0
    return max(0, size - 32) // (page_size + FRAME)  # less the log's own header


async def test_a_poll_of_many_healthy_connectors_logs_a_few_pages_not_one_per_connector(tmp_path: Path) -> None:
    # Each connector's row was its own transaction: 5,000 connectors polled every 60 s appended
    # a 4 KiB page each to the log, 22.8 MB a minute written to the state volume (33 GB a day)
    # by a fleet where nothing failed. A slice of a poll is one transaction now, as it is on
    # PostgreSQL; its rows share pages.
    path = tmp_path / "state.db"
    rule = {"name": "heal", "trigger": {"type": "status", "interval": 60}, "select": {"include": ["*"]}}
    w = in_process(sim_scenario([{"name": f"sink-{i:04d}"} for i in range(CONNECTORS)]),
                   daemon_config([rule], state={"path": str(path)}))
    poll = w.daemon.pollers[CLUSTER].poll
    await poll()  # the first poll makes the rows
    with closing(sqlite3.connect(path)) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = Path(f"{path}-wal")
    assert _pages_logged(wal, page_size) == 0
    await poll()  # every connector seen again, healthy: each row rewritten (seen_at)
    pages = _pages_logged(wal, page_size)
    # 400 rows of about 100 bytes fill some ten pages; a few slices may each log them again.
    assert 0 < pages <= CONNECTORS // 10, f"{pages} pages logged for one poll of {CONNECTORS} connectors"
    w.daemon.state.close()
