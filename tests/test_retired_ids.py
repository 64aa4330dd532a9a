"""The lcc- ids of deleted or replaced connectors, kept for their alerts' resolutions: bounded."""

from __future__ import annotations

from watchdog.engine.retired_ids import RetiredIds
from watchdog.model import ConnectorKey


def test_a_teardown_of_more_connectors_than_the_cap_keeps_the_latest_ids_only() -> None:
    retired = RetiredIds(kept=3)
    for i in range(5):
        retired.retire(f"lcc-{i}", ConnectorKey("prod", f"c{i}"))
    assert len(retired) == 3
    assert retired.named("lcc-1") is None and retired.named("lcc-4") == ConnectorKey("prod", "c4")
    retired.revive("lcc-4")  # listed again: live, not retired
    retired.forget_cluster("prod")
    assert len(retired) == 0
