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


def test_the_id_a_name_had_last_is_kept_as_long_as_that_id_is() -> None:
    retired = RetiredIds(kept=2)
    key = ConnectorKey("prod", "c")
    retired.retire("lcc-1", key)
    retired.retire("lcc-2", key)
    assert retired.last_of(key) == "lcc-2"
    retired.revive("lcc-2")  # listed again under its old id: not a replacement
    assert retired.last_of(key) is None
    retired.retire("lcc-3", key)
    retired.retire("lcc-4", ConnectorKey("prod", "d"))
    retired.retire("lcc-5", ConnectorKey("prod", "e"))  # lcc-3 evicted
    assert retired.last_of(key) is None and retired.last_of(ConnectorKey("prod", "e")) == "lcc-5"
    retired.forget_cluster("prod")
    assert retired.last_of(ConnectorKey("prod", "e")) is None
